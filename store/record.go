package store

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Record payloads. The transaction log (store/tlog) frames, checksums and
// positions each payload; this file owns what is inside. Layouts are pinned
// byte for byte by record_test.go and drawn in doc.go. All integers are
// little-endian.

// RecordType is the first byte of every payload.
type RecordType uint8

const (
	// RecordPrepare carries one event (or a transaction begin, an empty-write
	// marker or a hard-delete tombstone), as Event Store's PrepareLogRecord.
	RecordPrepare RecordType = 1
	// RecordCommit commits an explicit transaction, as CommitLogRecord.
	RecordCommit RecordType = 2
	// RecordSystem and RecordEpoch are reserved for the cluster, which keeps
	// its consensus state in this log (no second WAL). The store skips them
	// in every read.
	RecordSystem RecordType = 3
	RecordEpoch  RecordType = 4
)

// recordVersion is the payload format version written today.
const recordVersion = 1

// PrepareFlags mirror Event Store's PrepareFlags (TransactionLog/LogRecords/
// PrepareFlags.cs in 4.0.3) where a meaning exists there.
type PrepareFlags uint16

const (
	// FlagData: the record carries an event.
	FlagData PrepareFlags = 0x0001
	// FlagTransactionBegin / FlagTransactionEnd delimit the records of one
	// implicitly committed write (both set on a single-record write). A group
	// without its end record was never acknowledged; the store cuts it at
	// recovery (see recover.go).
	FlagTransactionBegin PrepareFlags = 0x0002
	FlagTransactionEnd   PrepareFlags = 0x0004
	// FlagStreamDelete marks a hard-delete tombstone ($streamDeleted at
	// EventNumberDeletedStream).
	FlagStreamDelete PrepareFlags = 0x0008
	// FlagIsCommitted: implicitly committed (a WriteEvents); without it the
	// record belongs to an explicit transaction and waits for a commit
	// record.
	FlagIsCommitted PrepareFlags = 0x0020
	// FlagIsJSON: the data was written with data_content_type 1.
	FlagIsJSON PrepareFlags = 0x0100
)

// Fixed header sizes.
const (
	prepareHeaderSize = 60
	commitHeaderSize  = 40
)

// Limits a decoder enforces so that a corrupt length can never make it read
// out of bounds or allocate.
const (
	// maxRecordPayloadBytes bounds one payload: an event of the maximum size
	// plus its header and stream name fits comfortably.
	maxRecordPayloadBytes = 64 << 20
	// maxCommitEvents bounds the prepare positions in one commit record.
	maxCommitEvents = 1 << 20
)

// ErrBadRecord reports a payload that does not decode (wrong type, version or
// lengths). The log's checksums make this a bug or real corruption.
var ErrBadRecord = errors.New("store: malformed log record")

// Prepare is a decoded prepare record. Decode returns a view: the byte slices
// and Stream/Type strings alias the payload (see PeekPrepare).
type Prepare struct {
	Flags PrepareFlags
	// Number is the event number for an implicitly committed event or a
	// tombstone; -1 ("assigned at commit") for an explicit transaction's
	// event; the expected version for a transaction begin record; the
	// stream's current version for an empty-write marker.
	Number int64
	// TransactionPos is -1 for the first record of an implicit write (the
	// record itself), the position of that first record for the following
	// records of the same write, and the transaction id (position of the
	// begin record) for explicit transaction events.
	TransactionPos  int64
	CreatedUnixNano int64
	EventID         [16]byte
	Stream          []byte
	Type            []byte
	Data            []byte
	Metadata        []byte
}

// AppendPrepare appends the payload of a prepare record to dst.
//
//	off size field
//	0   1    record type (1)
//	1   1    version (1)
//	2   2    flags
//	4   8    number
//	12  8    transaction position
//	20  8    created (unix ns)
//	28  16   event id
//	44  4    stream length S
//	48  4    type length T
//	52  4    data length D
//	56  4    metadata length M
//	60  S+T+D+M  stream, type, data, metadata
func AppendPrepare(dst []byte, p *Prepare) []byte {
	var h [prepareHeaderSize]byte
	h[0] = byte(RecordPrepare)
	h[1] = recordVersion
	binary.LittleEndian.PutUint16(h[2:], uint16(p.Flags))
	binary.LittleEndian.PutUint64(h[4:], uint64(p.Number))
	binary.LittleEndian.PutUint64(h[12:], uint64(p.TransactionPos))
	binary.LittleEndian.PutUint64(h[20:], uint64(p.CreatedUnixNano))
	copy(h[28:44], p.EventID[:])
	binary.LittleEndian.PutUint32(h[44:], uint32(len(p.Stream)))
	binary.LittleEndian.PutUint32(h[48:], uint32(len(p.Type)))
	binary.LittleEndian.PutUint32(h[52:], uint32(len(p.Data)))
	binary.LittleEndian.PutUint32(h[56:], uint32(len(p.Metadata)))
	dst = append(dst, h[:]...)
	dst = append(dst, p.Stream...)
	dst = append(dst, p.Type...)
	dst = append(dst, p.Data...)
	dst = append(dst, p.Metadata...)
	return dst
}

// appendPrepareStrings is AppendPrepare for string stream and type (the
// writer's hot path), avoiding conversions.
func appendPrepareStrings(dst []byte, flags PrepareFlags, number, txPos, created int64, id *[16]byte,
	stream, typ string, data, meta []byte) []byte {
	var h [prepareHeaderSize]byte
	h[0] = byte(RecordPrepare)
	h[1] = recordVersion
	binary.LittleEndian.PutUint16(h[2:], uint16(flags))
	binary.LittleEndian.PutUint64(h[4:], uint64(number))
	binary.LittleEndian.PutUint64(h[12:], uint64(txPos))
	binary.LittleEndian.PutUint64(h[20:], uint64(created))
	copy(h[28:44], id[:])
	binary.LittleEndian.PutUint32(h[44:], uint32(len(stream)))
	binary.LittleEndian.PutUint32(h[48:], uint32(len(typ)))
	binary.LittleEndian.PutUint32(h[52:], uint32(len(data)))
	binary.LittleEndian.PutUint32(h[56:], uint32(len(meta)))
	dst = append(dst, h[:]...)
	dst = append(dst, stream...)
	dst = append(dst, typ...)
	dst = append(dst, data...)
	dst = append(dst, meta...)
	return dst
}

// PeekRecordType returns the type of a payload without decoding it.
func PeekRecordType(payload []byte) (RecordType, error) {
	if len(payload) < 2 {
		return 0, fmt.Errorf("%w: %d-byte payload", ErrBadRecord, len(payload))
	}
	if payload[1] != recordVersion {
		return 0, fmt.Errorf("%w: unknown version %d", ErrBadRecord, payload[1])
	}
	return RecordType(payload[0]), nil
}

// PeekPrepare decodes a prepare payload into p without allocating: p's
// slices alias payload and stay valid only as long as payload does.
func PeekPrepare(payload []byte, p *Prepare) error {
	if len(payload) < prepareHeaderSize {
		return fmt.Errorf("%w: prepare of %d bytes", ErrBadRecord, len(payload))
	}
	if RecordType(payload[0]) != RecordPrepare || payload[1] != recordVersion {
		return fmt.Errorf("%w: not a prepare (type %d, version %d)", ErrBadRecord, payload[0], payload[1])
	}
	p.Flags = PrepareFlags(binary.LittleEndian.Uint16(payload[2:]))
	p.Number = int64(binary.LittleEndian.Uint64(payload[4:]))
	p.TransactionPos = int64(binary.LittleEndian.Uint64(payload[12:]))
	p.CreatedUnixNano = int64(binary.LittleEndian.Uint64(payload[20:]))
	copy(p.EventID[:], payload[28:44])
	s := uint64(binary.LittleEndian.Uint32(payload[44:]))
	t := uint64(binary.LittleEndian.Uint32(payload[48:]))
	d := uint64(binary.LittleEndian.Uint32(payload[52:]))
	m := uint64(binary.LittleEndian.Uint32(payload[56:]))
	if prepareHeaderSize+s+t+d+m != uint64(len(payload)) {
		return fmt.Errorf("%w: prepare lengths %d+%d+%d+%d do not match %d-byte payload", ErrBadRecord, s, t, d, m, len(payload))
	}
	o := uint64(prepareHeaderSize)
	p.Stream = payload[o : o+s : o+s]
	o += s
	p.Type = payload[o : o+t : o+t]
	o += t
	p.Data = payload[o : o+d : o+d]
	o += d
	p.Metadata = payload[o : o+m : o+m]
	return nil
}

// peekRecordStream returns only the stream name of a prepare or commit
// payload (index collision checks read nothing else).
func peekRecordStream(payload []byte) ([]byte, bool) {
	if len(payload) < 2 || payload[1] != recordVersion {
		return nil, false
	}
	var s, h int
	switch RecordType(payload[0]) {
	case RecordPrepare:
		if len(payload) < prepareHeaderSize {
			return nil, false
		}
		s, h = int(binary.LittleEndian.Uint32(payload[44:])), prepareHeaderSize
	case RecordCommit:
		if len(payload) < commitHeaderSize {
			return nil, false
		}
		s, h = int(binary.LittleEndian.Uint32(payload[28:])), commitHeaderSize
	default:
		return nil, false
	}
	if s > len(payload)-h {
		return nil, false
	}
	return payload[h : h+s], true
}

// Commit is a decoded commit record: it commits the explicit transaction
// whose begin record is at TransactionPos, numbering its events from
// FirstNumber. PreparePositions lists the transaction's event records in
// order, so readers never search the log for them.
type Commit struct {
	TransactionPos  int64
	FirstNumber     int64
	CreatedUnixNano int64
	// Stream is the transaction's stream.
	Stream []byte
	// preparePositions is the raw array (8 bytes each); use PreparePos(i).
	positions []byte
}

// Count is the number of events the commit covers.
func (c *Commit) Count() int { return len(c.positions) / 8 }

// PreparePos returns the position of the i-th event record.
func (c *Commit) PreparePos(i int) int64 {
	return int64(binary.LittleEndian.Uint64(c.positions[i*8:]))
}

// AppendCommit appends the payload of a commit record to dst.
//
//	off size field
//	0   1    record type (2)
//	1   1    version (1)
//	2   2    reserved (0)
//	4   8    transaction position (the transaction id)
//	12  8    first event number
//	20  8    created (unix ns)
//	28  4    stream length S
//	32  4    event count N
//	36  4    reserved (0)
//	40  S    stream
//	40+S 8×N prepare positions
func AppendCommit(dst []byte, txPos, firstNumber, created int64, stream string, preparePositions []int64) []byte {
	var h [commitHeaderSize]byte
	h[0] = byte(RecordCommit)
	h[1] = recordVersion
	binary.LittleEndian.PutUint64(h[4:], uint64(txPos))
	binary.LittleEndian.PutUint64(h[12:], uint64(firstNumber))
	binary.LittleEndian.PutUint64(h[20:], uint64(created))
	binary.LittleEndian.PutUint32(h[28:], uint32(len(stream)))
	binary.LittleEndian.PutUint32(h[32:], uint32(len(preparePositions)))
	dst = append(dst, h[:]...)
	dst = append(dst, stream...)
	for _, p := range preparePositions {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(p))
	}
	return dst
}

// PeekCommit decodes a commit payload into c without allocating; c aliases
// payload.
func PeekCommit(payload []byte, c *Commit) error {
	if len(payload) < commitHeaderSize {
		return fmt.Errorf("%w: commit of %d bytes", ErrBadRecord, len(payload))
	}
	if RecordType(payload[0]) != RecordCommit || payload[1] != recordVersion {
		return fmt.Errorf("%w: not a commit (type %d, version %d)", ErrBadRecord, payload[0], payload[1])
	}
	c.TransactionPos = int64(binary.LittleEndian.Uint64(payload[4:]))
	c.FirstNumber = int64(binary.LittleEndian.Uint64(payload[12:]))
	c.CreatedUnixNano = int64(binary.LittleEndian.Uint64(payload[20:]))
	s := uint64(binary.LittleEndian.Uint32(payload[28:]))
	n := uint64(binary.LittleEndian.Uint32(payload[32:]))
	if n > maxCommitEvents || commitHeaderSize+s+8*n != uint64(len(payload)) {
		return fmt.Errorf("%w: commit lengths %d+8×%d do not match %d-byte payload", ErrBadRecord, s, n, len(payload))
	}
	c.Stream = payload[commitHeaderSize : commitHeaderSize+s : commitHeaderSize+s]
	c.positions = payload[commitHeaderSize+s:]
	return nil
}

// AppendSystem appends a reserved cluster record: type (3 system or 4
// epoch), version, 2 reserved bytes, then an opaque body the cluster owns.
func AppendSystem(dst []byte, typ RecordType, body []byte) []byte {
	if typ != RecordSystem && typ != RecordEpoch {
		panic(fmt.Sprintf("BUG: AppendSystem with record type %d", typ))
	}
	dst = append(dst, byte(typ), recordVersion, 0, 0)
	return append(dst, body...)
}

// PeekSystemBody returns the body of a system or epoch record.
func PeekSystemBody(payload []byte) ([]byte, error) {
	if len(payload) < 4 || (RecordType(payload[0]) != RecordSystem && RecordType(payload[0]) != RecordEpoch) || payload[1] != recordVersion {
		return nil, fmt.Errorf("%w: not a system record", ErrBadRecord)
	}
	return payload[4:], nil
}
