package tlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// On-disk sizes. See doc.go for the byte diagrams.
const (
	// HeaderSizeBytes and FooterSizeBytes match Event Store's 128-byte
	// ChunkHeader/ChunkFooter (TransactionLog/Chunks/ChunkHeader.cs in
	// 4.0.3), so a chunk file is header + ChunkSizeBytes + footer.
	HeaderSizeBytes = 128
	FooterSizeBytes = 128
	// RecordOverheadBytes is the frame around a payload: length prefix,
	// checksum and length suffix.
	RecordOverheadBytes = 12
	// MaxPayloadBytesLimit caps one record's payload. The semantic layer
	// needs events up to 16 MiB (spec tcp-client-protocol §4.10); a commit
	// record can carry several, so the cap is 64 MiB, or the chunk data
	// size minus the frame when chunks are smaller (records never span
	// chunks).
	MaxPayloadBytesLimit = 64 << 20

	formatVersion = 1

	checkpointSlotBytes = 24
	// CheckpointFileBytes is the size of a .chk file: two slots.
	CheckpointFileBytes = 2 * checkpointSlotBytes
)

var (
	headerMagic     = [8]byte{'E', 'S', 'D', 'C', 'H', 'U', 'N', 'K'}
	footerMagic     = [8]byte{'E', 'S', 'D', 'F', 'O', 'O', 'T', 'R'}
	checkpointMagic = [4]byte{'E', 'S', 'C', 'K'}
	castagnoli      = crc32.MakeTable(crc32.Castagnoli)
)

// Sentinel errors callers branch on.
var (
	// ErrCorrupt: bytes the log had declared durable (before the writer
	// checkpoint, or in a sealed chunk) fail their checksum or framing.
	ErrCorrupt = errors.New("tlog: corrupt data")
	// ErrTornTail: the frame is incomplete or zeroed, as a write cut short
	// by a crash leaves it. Recovery cuts such a tail; it is only an error
	// for DecodeRecord callers.
	ErrTornTail = errors.New("tlog: torn or incomplete record")
	// ErrLogFailed wraps the first failed write or fsync; the log refuses
	// every later write until it is reopened.
	ErrLogFailed = errors.New("tlog: log failed; reopen to recover")
	// ErrDiskFull: a new chunk could not be allocated. Nothing of the
	// record was written and the log did not fail; retry later.
	ErrDiskFull = errors.New("tlog: no space left to allocate a new chunk")
	// ErrRecordTooLarge: the payload exceeds Log.MaxPayloadBytes.
	ErrRecordTooLarge = errors.New("tlog: record too large")
	// ErrClosed: the log was closed.
	ErrClosed = errors.New("tlog: closed")
	// ErrBadPosition: a position outside the log or not at a record
	// boundary.
	ErrBadPosition = errors.New("tlog: bad position")
	// ErrTruncated: the log was truncated after the iterator was made;
	// make a new one.
	ErrTruncated = errors.New("tlog: log truncated under the iterator")
)

// AppendRecord appends the frame of payload to dst and returns the extended
// slice. REQUIRES: len(payload) <= MaxPayloadBytesLimit.
func AppendRecord(dst, payload []byte) []byte {
	// NB: the prefix is built inside dst, not in a local array: crc32.Update
	// makes its argument escape, which would cost an allocation per record.
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
	putRecordHeader(dst[start:], payload)
	dst = append(dst, payload...)
	return binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
}

// putRecordHeader writes the 8-byte prefix of payload's frame into dst.
func putRecordHeader(dst []byte, payload []byte) {
	binary.LittleEndian.PutUint32(dst[0:4], uint32(len(payload)))
	crc := crc32.Update(0, castagnoli, dst[0:4])
	crc = crc32.Update(crc, castagnoli, payload)
	binary.LittleEndian.PutUint32(dst[4:8], crc)
}

// DecodeRecord decodes the frame at the start of src. It returns the
// payload (a sub-slice of src, valid as long as src is) and the frame's
// size. A frame cut short or zeroed yields ErrTornTail; a complete frame
// whose checksum or suffix does not match yields ErrCorrupt. Callers decide
// what a bad frame means from where it is (recovery treats every bad frame
// past the writer checkpoint as a torn tail).
func DecodeRecord(src []byte) (payload []byte, n int, err error) {
	if len(src) < RecordOverheadBytes {
		return nil, 0, ErrTornTail
	}
	l := binary.LittleEndian.Uint32(src[0:4])
	crc := binary.LittleEndian.Uint32(src[4:8])
	if l == 0 && crc == 0 {
		// Zeroed bytes: preallocated space never written. An empty
		// payload's checksum is never 0 (crc32c of four zero bytes is
		// 0x48674bc7), so this cannot be a real record.
		return nil, 0, ErrTornTail
	}
	if uint64(l) > MaxPayloadBytesLimit {
		return nil, 0, fmt.Errorf("%w: length %d exceeds the limit", ErrCorrupt, l)
	}
	size := int(l) + RecordOverheadBytes
	if size > len(src) {
		return nil, 0, ErrTornTail
	}
	payload = src[8 : 8+l]
	got := crc32.Update(crc32.Update(0, castagnoli, src[0:4]), castagnoli, payload)
	if got != crc {
		return nil, 0, fmt.Errorf("%w: checksum %08x, want %08x", ErrCorrupt, got, crc)
	}
	if suf := binary.LittleEndian.Uint32(src[size-4 : size]); suf != l {
		return nil, 0, fmt.Errorf("%w: length suffix %d, want %d", ErrCorrupt, suf, l)
	}
	return payload, size, nil
}

// chunkHeader is the first HeaderSizeBytes of a chunk file.
type chunkHeader struct {
	Number        int64
	DataSizeBytes int64
	ID            [16]byte
}

func (h chunkHeader) encode(dst *[HeaderSizeBytes]byte) {
	*dst = [HeaderSizeBytes]byte{}
	copy(dst[0:8], headerMagic[:])
	binary.LittleEndian.PutUint16(dst[8:10], formatVersion)
	binary.LittleEndian.PutUint32(dst[12:16], uint32(h.Number))
	binary.LittleEndian.PutUint64(dst[16:24], uint64(h.DataSizeBytes))
	copy(dst[24:40], h.ID[:])
	binary.LittleEndian.PutUint32(dst[124:128], crc32.Checksum(dst[0:124], castagnoli))
}

func decodeChunkHeader(src []byte) (chunkHeader, error) {
	var h chunkHeader
	if len(src) < HeaderSizeBytes {
		return h, fmt.Errorf("%w: chunk header is %d bytes", ErrCorrupt, len(src))
	}
	if [8]byte(src[0:8]) != headerMagic {
		return h, fmt.Errorf("%w: bad chunk header magic %q", ErrCorrupt, src[0:8])
	}
	if got, want := crc32.Checksum(src[0:124], castagnoli), binary.LittleEndian.Uint32(src[124:128]); got != want {
		return h, fmt.Errorf("%w: chunk header checksum %08x, want %08x", ErrCorrupt, got, want)
	}
	if v := binary.LittleEndian.Uint16(src[8:10]); v != formatVersion {
		return h, fmt.Errorf("%w: chunk format version %d, this build reads %d", ErrCorrupt, v, formatVersion)
	}
	h.Number = int64(binary.LittleEndian.Uint32(src[12:16]))
	h.DataSizeBytes = int64(binary.LittleEndian.Uint64(src[16:24]))
	h.ID = [16]byte(src[24:40])
	return h, nil
}

const footerFlagCompleted = 1

// chunkFooter is the last FooterSizeBytes of a sealed chunk file.
type chunkFooter struct {
	DataEndBytes int64  // bytes of records in the chunk
	Hash         uint64 // xxhash64 of header || data[0:DataEndBytes]
}

func (f chunkFooter) encode(dst *[FooterSizeBytes]byte) {
	*dst = [FooterSizeBytes]byte{}
	copy(dst[0:8], footerMagic[:])
	binary.LittleEndian.PutUint32(dst[8:12], footerFlagCompleted)
	binary.LittleEndian.PutUint64(dst[16:24], uint64(f.DataEndBytes))
	binary.LittleEndian.PutUint64(dst[24:32], f.Hash)
	binary.LittleEndian.PutUint32(dst[124:128], crc32.Checksum(dst[0:124], castagnoli))
}

// decodeChunkFooter returns ok=false for anything that is not a valid
// footer (zeros, torn bytes); a chunk without a valid footer is open.
func decodeChunkFooter(src []byte) (chunkFooter, bool) {
	var f chunkFooter
	if len(src) < FooterSizeBytes || [8]byte(src[0:8]) != footerMagic {
		return f, false
	}
	if crc32.Checksum(src[0:124], castagnoli) != binary.LittleEndian.Uint32(src[124:128]) {
		return f, false
	}
	if binary.LittleEndian.Uint32(src[8:12])&footerFlagCompleted == 0 {
		return f, false
	}
	f.DataEndBytes = int64(binary.LittleEndian.Uint64(src[16:24]))
	f.Hash = binary.LittleEndian.Uint64(src[24:32])
	return f, true
}

// encodeCheckpointSlot writes one checkpoint slot.
func encodeCheckpointSlot(dst []byte, value int64, seq uint64) {
	copy(dst[0:4], checkpointMagic[:])
	binary.LittleEndian.PutUint64(dst[4:12], uint64(value))
	binary.LittleEndian.PutUint64(dst[12:20], seq)
	binary.LittleEndian.PutUint32(dst[20:24], crc32.Checksum(dst[0:20], castagnoli))
}

func decodeCheckpointSlot(src []byte) (value int64, seq uint64, ok bool) {
	if len(src) < checkpointSlotBytes || [4]byte(src[0:4]) != checkpointMagic {
		return 0, 0, false
	}
	if crc32.Checksum(src[0:20], castagnoli) != binary.LittleEndian.Uint32(src[20:24]) {
		return 0, 0, false
	}
	return int64(binary.LittleEndian.Uint64(src[4:12])), binary.LittleEndian.Uint64(src[12:20]), true
}
