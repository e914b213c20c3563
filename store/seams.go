package store

import (
	"errors"
	"fmt"

	"github.com/eventstored/eventstored/store/index"
)

// FS is the filesystem seam (store/vfs.FS). NB: it is declared as an alias
// so that callers keep compiling when the vfs package replaces it.
type FS = any

// logEngine is the subset of the transaction log (store/tlog) the store
// uses. Append, Flush and Truncate are called only by the writer goroutine;
// the read methods from any goroutine, and only below Durable().
type logEngine interface {
	Append(payload []byte) (pos int64, err error)
	Flush() error
	Durable() int64
	Truncate(pos int64) error
	// ReadAt returns the record at pos and the position after it. The
	// payload may alias scratch or the log's buffers; it stays valid until
	// the next call with the same scratch.
	ReadAt(pos int64, scratch []byte) (payload []byte, next int64, err error)
	// ReadBefore returns the record that ends at end and its position.
	ReadBefore(end int64, scratch []byte) (payload []byte, pos int64, err error)
	Close() error
}

// Sentinels a logEngine returns that the store branches on.
var (
	errLogDiskFull = ErrDiskFull
	errLogEnd      = errors.New("store: end of log")
)

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

func errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }
