package store

import (
	"github.com/cespare/xxhash/v2"
	"github.com/eventstored/eventstored/store/index"
	"github.com/eventstored/eventstored/store/vfs"
)

// FS is the filesystem seam (store/vfs.FS).
type FS = vfs.FS

// logEngine is the subset of the transaction log (store/tlog) the store
// uses. Append, Flush and Truncate are called only by the committer's goroutine
// (the single-node flusher) or, in cluster mode, by the Committer;
// the read methods from any goroutine, and only below Durable().
type logEngine interface {
	Append(payload []byte) (pos int64, err error)
	Flush() error
	Durable() int64
	Truncate(pos int64) error
	// PlanAppend predicts Append's position for a payload of n bytes when
	// the log ends at end, and the end after it (tlog.Log.PlanAppend).
	// Any goroutine.
	PlanAppend(end int64, n int) (pos, next int64)
	// MaxPayloadBytes is the largest payload Append accepts.
	MaxPayloadBytes() int
	// ReadAt returns the record at pos and the position after it; io.EOF at
	// or past Durable(). The payload lives in scratch when it fits.
	ReadAt(pos int64, scratch []byte) (payload []byte, next int64, err error)
	NewIterator(from int64) logIterator
	NewBackwardIterator(from int64) logIterator
	Chunks() int
	Close() error
}

// logIterator walks records forward or backward; payloads are valid until
// the next call. Pos is where the next forward record starts (forward) or
// the start of the record last returned (backward).
type logIterator interface {
	Next() (pos int64, payload []byte, err error)
	Pos() int64
	Close()
}

// indexEntry maps (hash of stream name, event number) to the log position of
// the event's record.
type indexEntry = index.Entry

// streamIndex is the subset of store/index the store uses. Add is called by
// one goroutine (the writer, after each flush, and Open's replay); lookups
// from any goroutine. Callbacks return false to stop.
type streamIndex interface {
	Add(entries []indexEntry, upTo int64) error
	Get(hash uint64, number int64, fn func(pos int64) bool)
	Range(hash uint64, from, to int64, forward bool, fn func(e indexEntry) bool)
	Last(hash uint64, fn func(e indexEntry) bool)
	CheckpointPos() int64
	Close() error
}

// streamHash is the index key of a stream name (xxhash64, as store/index
// expects). NB: a variable so that tests can force every stream onto one
// hash and prove that lookups confirm candidates by name.
var streamHash = xxhash.Sum64String
