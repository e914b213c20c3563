package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/eventstored/eventstored/store"
	"github.com/eventstored/eventstored/store/tlog"
)

// How raft entries live in the transaction log (TlogDisk). Every entry is
// one entry header record, a store system record (type 3), followed by the
// entry's own records when it is a batch:
//
//	+--------------------+----------+----------+-----+
//	| entry header (sys) | record 1 | record 2 | ... |   batch entry: count records
//	+--------------------+----------+----------+-----+
//	+------------------------------+
//	| entry header (sys, inline)   |                    any other entry
//	+------------------------------+
//
// Entry header record payload (little-endian):
//
//	off size
//	  0   4  store system record prefix: type 3, version, 0, 0 (store.AppendSystem)
//	  4   1  kind 'R': raft entry header
//	  5   1  raft entry type (0 normal, 1 conf change, 2 conf change v2)
//	  6   1  form: 0 inline, 1 batch
//	  7   1  zero
//	  8   8  term
//	 16   8  index
//	 24   4  batch: record count; inline: data length n
//	 28   n  inline: the entry's data
//
// A batch header is always EntryHeaderBytes long, so the master's writer
// can plan the log positions of its records before raft has given the
// entry a term and an index.
//
// Batch entry data (the raft entry's Data, what the master proposes and
// what travels in append messages):
//
//	off size
//	  0   1  magic 0xEB
//	  1   1  version 1
//	  2   2  zero
//	  4   8  planned log position of the entry header record (int64)
//	 12   4  record count c
//	 16  ...  c × (u32 length, payload)
//
// Saving a batch entry writes the header and then each payload as its own
// tlog record, and checks that the header lands at the planned position
// (the records then land where the writer planned them: tlog's chunk
// rule is deterministic). Reading it back rebuilds Data byte for byte from
// the header's position and the records, so every node serves the same
// entry to raft and every node's log is the same bytes up to the commit
// index: clients see the same (commit, prepare) positions on every node.

// EntryHeaderBytes is the payload size of a batch entry's header record:
// the space the master's writer leaves before each batch's records.
const EntryHeaderBytes = 28

const (
	headerKind  = 'R'
	formInline  = 0
	formBatch   = 1
	batchMagic  = 0xEB
	batchVer    = 1
	batchPrefix = 16
	// maxBatchRecords bounds the record count of one batch entry (a
	// proposal is at most MaxProposalBytes, and each record takes at
	// least 4 bytes of it).
	maxBatchRecords = MaxProposalBytes / 4
)

// Sentinel errors of the log format.
var (
	// ErrNotRaftLog: the transaction log holds records that are not raft
	// entries (a single node's database opened as a cluster node, or a
	// damaged log).
	ErrNotRaftLog = errors.New("consensus: the transaction log does not hold raft entries")
	// ErrBadBatchEntry: a batch entry's data is malformed.
	ErrBadBatchEntry = errors.New("consensus: malformed batch entry")
)

// AppendBatchHeader starts a batch entry's data: planned is the log
// position where the entry header record will be written, count the
// number of records that AppendBatchRecord will add.
func AppendBatchHeader(dst []byte, planned int64, count int) []byte {
	dst = append(dst, batchMagic, batchVer, 0, 0)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(planned))
	return binary.LittleEndian.AppendUint32(dst, uint32(count))
}

// AppendBatchRecord adds one record (a tlog payload) to a batch entry.
func AppendBatchRecord(dst, payload []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...)
}

// BatchSizeBytes is the data size of a batch entry holding records of
// the given total payload size.
func BatchSizeBytes(count, payloadBytes int) int { return batchPrefix + 4*count + payloadBytes }

// batchView is a parsed batch entry's data.
type batchView struct {
	planned int64
	count   int
	recs    []byte // count × (u32 length, payload)
}

// peekBatch parses data as a batch entry; ok is false when data is not
// one (any other entry is stored inline). A batch whose lengths do not
// add up is ErrBadBatchEntry.
func peekBatch(data []byte) (b batchView, ok bool, err error) {
	if len(data) < batchPrefix || data[0] != batchMagic {
		return b, false, nil
	}
	if data[1] != batchVer || data[2] != 0 || data[3] != 0 {
		return b, true, fmt.Errorf("%w: version %d", ErrBadBatchEntry, data[1])
	}
	b.planned = int64(binary.LittleEndian.Uint64(data[4:]))
	n := binary.LittleEndian.Uint32(data[12:])
	if n > maxBatchRecords {
		return b, true, fmt.Errorf("%w: %d records", ErrBadBatchEntry, n)
	}
	b.count, b.recs = int(n), data[batchPrefix:]
	rest := b.recs
	for i := 0; i < b.count; i++ {
		if len(rest) < 4 {
			return b, true, fmt.Errorf("%w: record %d of %d cut short", ErrBadBatchEntry, i, b.count)
		}
		l := binary.LittleEndian.Uint32(rest)
		if uint64(l) > uint64(len(rest)-4) {
			return b, true, fmt.Errorf("%w: record %d of %d: %d bytes, %d left", ErrBadBatchEntry, i, b.count, l, len(rest)-4)
		}
		rest = rest[4+l:]
	}
	if len(rest) != 0 {
		return b, true, fmt.Errorf("%w: %d bytes after the last record", ErrBadBatchEntry, len(rest))
	}
	return b, true, nil
}

// next returns the first record of rest and what follows it. REQUIRES:
// rest was validated by peekBatch.
func nextBatchRecord(rest []byte) (payload, tail []byte) {
	l := binary.LittleEndian.Uint32(rest)
	return rest[4 : 4+l], rest[4+l:]
}

// entryHeader is the decoded header record of one entry.
type entryHeader struct {
	typ    pb.EntryType
	form   byte
	term   uint64
	index  uint64
	count  int    // batch: records that follow
	inline []byte // inline: the entry's data (aliases the payload)
}

func appendEntryHeader(dst []byte, typ pb.EntryType, form byte, term, index uint64, count int, inline []byte) []byte {
	var body [EntryHeaderBytes - 4]byte
	body[0], body[1], body[2] = headerKind, byte(typ), form
	binary.LittleEndian.PutUint64(body[4:], term)
	binary.LittleEndian.PutUint64(body[12:], index)
	binary.LittleEndian.PutUint32(body[20:], uint32(count))
	dst = store.AppendSystem(dst, store.RecordSystem, body[:])
	return append(dst, inline...)
}

// decodeEntryHeader parses an entry header record; ErrNotRaftLog when the
// payload is not one.
func decodeEntryHeader(payload []byte) (entryHeader, error) {
	var h entryHeader
	body, err := store.PeekSystemBody(payload)
	if err != nil || payload[0] != byte(store.RecordSystem) || len(body) < EntryHeaderBytes-4 || body[0] != headerKind {
		return h, ErrNotRaftLog
	}
	h.typ, h.form = pb.EntryType(body[1]), body[2]
	h.term = binary.LittleEndian.Uint64(body[4:])
	h.index = binary.LittleEndian.Uint64(body[12:])
	n := binary.LittleEndian.Uint32(body[20:])
	switch h.form {
	case formInline:
		if uint64(n) != uint64(len(body)-(EntryHeaderBytes-4)) {
			return h, fmt.Errorf("%w: inline entry %d: %d bytes declared, %d present", ErrNotRaftLog, h.index, n, len(body)-(EntryHeaderBytes-4))
		}
		h.inline = body[EntryHeaderBytes-4:]
	case formBatch:
		if len(body) != EntryHeaderBytes-4 || n > maxBatchRecords {
			return h, fmt.Errorf("%w: batch entry %d: bad header", ErrNotRaftLog, h.index)
		}
		h.count = int(n)
	default:
		return h, fmt.Errorf("%w: entry %d: unknown form %d", ErrNotRaftLog, h.index, h.form)
	}
	if h.index == 0 || h.term == 0 {
		return h, fmt.Errorf("%w: entry with index %d, term %d", ErrNotRaftLog, h.index, h.term)
	}
	return h, nil
}

// PlanAppend is tlog's placement rule: a record of payloadBytes appended
// when the log ends at end lands at pos (the start of the next chunk when
// it does not fit in the current one) and the log then ends at next.
func PlanAppend(chunkSizeBytes, end int64, payloadBytes int) (pos, next int64) {
	size := int64(payloadBytes) + tlog.RecordOverheadBytes
	pos = end
	if end%chunkSizeBytes+size > chunkSizeBytes {
		pos = (end/chunkSizeBytes + 1) * chunkSizeBytes
	}
	return pos, pos + size
}
