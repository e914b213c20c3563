package tlog

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/eventstored/eventstored/store/vfs"
)

// Checkpoint is a named int64 kept durably in "<name>.chk" next to the
// chunks, as Event Store's FileCheckpoint (TransactionLog/Checkpoint in
// 4.0.3): Write sets a value, Flush makes it durable, Read returns the last
// durable value.
//
// The file holds two slots written alternately, each with a sequence number
// and a checksum, so a write torn by a crash leaves the previous value
// readable instead of losing the checkpoint.
//
// Concurrency: Write and Flush from one goroutine (the checkpoint's owner);
// Read and ReadNonFlushed from any goroutine. The first failed write or
// fsync latches: every later Flush returns it.
type Checkpoint struct {
	name string
	path string

	mu      sync.Mutex // guards f, seq, failed, buf against Close
	f       vfs.File
	noSync  bool // --unsafe-disable-flush-to-disk, writer checkpoint only
	seq     uint64
	stored  int64 // value in the file's newest slot, fsynced or not
	failed  error
	buf     [checkpointSlotBytes]byte
	written atomic.Int64
	flushed atomic.Int64
}

// openCheckpoint opens path, creating it with initial (synced, with its
// directory) when it does not exist or is empty.
func openCheckpoint(fsys vfs.FS, path, name string, initial int64) (*Checkpoint, error) {
	c := &Checkpoint{name: name, path: path}
	f, err := fsys.OpenReadWrite(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return createCheckpoint(fsys, path, name, initial)
	case err != nil:
		return nil, fmt.Errorf("cannot open checkpoint %s: %w", path, err)
	}
	var b [CheckpointFileBytes]byte
	n, rerr := f.ReadAt(b[:], 0)
	if n == 0 {
		// NB: an empty file is a checkpoint whose creation never reached
		// the disk; it holds nothing, so start from initial.
		f.Close()
		if rerr != nil && !errors.Is(rerr, errEOF) {
			return nil, fmt.Errorf("cannot read checkpoint %s: %w", path, rerr)
		}
		return createCheckpoint(fsys, path, name, initial)
	}
	if n < CheckpointFileBytes && rerr != nil && !errors.Is(rerr, errEOF) {
		f.Close()
		return nil, fmt.Errorf("cannot read checkpoint %s: %w", path, rerr)
	}
	v0, s0, ok0 := decodeCheckpointSlot(b[0:checkpointSlotBytes])
	v1, s1, ok1 := decodeCheckpointSlot(b[checkpointSlotBytes:])
	switch {
	case ok0 && (!ok1 || s0 > s1):
		c.seq = s0
		c.written.Store(v0)
	case ok1:
		c.seq = s1
		c.written.Store(v1)
	default:
		f.Close()
		return nil, fmt.Errorf("%w: checkpoint %s: neither slot is valid", ErrCorrupt, path)
	}
	c.flushed.Store(c.written.Load())
	c.stored = c.written.Load()
	c.f = f
	return c, nil
}

func createCheckpoint(fsys vfs.FS, path, name string, initial int64) (*Checkpoint, error) {
	c := &Checkpoint{name: name, path: path}
	var b [CheckpointFileBytes]byte
	encodeCheckpointSlot(b[0:checkpointSlotBytes], initial, 0)
	if err := vfs.WriteFileSync(fsys, path, b[:]); err != nil {
		return nil, fmt.Errorf("cannot create checkpoint %s: %w", path, err)
	}
	f, err := fsys.OpenReadWrite(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open checkpoint %s: %w", path, err)
	}
	c.f = f
	c.written.Store(initial)
	c.flushed.Store(initial)
	c.stored = initial
	return c, nil
}

// Name returns the checkpoint's name (without ".chk").
func (c *Checkpoint) Name() string { return c.name }

// Read returns the last flushed (fsynced) value. Any goroutine.
func (c *Checkpoint) Read() int64 { return c.flushed.Load() }

// ReadNonFlushed returns the last written value, flushed or not. Any
// goroutine.
func (c *Checkpoint) ReadNonFlushed() int64 { return c.written.Load() }

// Write sets the value Flush will persist. Owner goroutine only.
func (c *Checkpoint) Write(v int64) { c.written.Store(v) }

// Flush persists the written value (one 24-byte write and one fdatasync)
// unless it is already durable. Owner goroutine only.
func (c *Checkpoint) Flush() error {
	if err := c.store(); err != nil {
		return err
	}
	return c.sync()
}

// store writes the written value into the file's next slot without fsync,
// unless the file already holds it; sync makes it durable. The log's
// writer checkpoint uses the pair to fsync lazily (see Log.flush). Owner
// goroutine only.
func (c *Checkpoint) store() error {
	v := c.written.Load()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failed != nil {
		return c.failed
	}
	if c.f == nil {
		return ErrClosed
	}
	if v == c.stored {
		return nil
	}
	seq := c.seq + 1
	encodeCheckpointSlot(c.buf[:], v, seq)
	off := int64(seq%2) * checkpointSlotBytes
	if _, err := c.f.WriteAt(c.buf[:], off); err != nil {
		c.failed = fmt.Errorf("%w: cannot write checkpoint %s: %w", ErrLogFailed, filepath.Base(c.path), err)
		return c.failed
	}
	c.seq = seq
	c.stored = v
	return nil
}

// sync makes the stored value durable (one fdatasync) unless it already
// is. Owner goroutine only.
func (c *Checkpoint) sync() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failed != nil {
		return c.failed
	}
	if c.f == nil {
		return ErrClosed
	}
	if c.stored == c.flushed.Load() {
		return nil
	}
	if c.noSync {
		// NB: unsafe by request; see Options.UnsafeDisableFlushToDisk.
	} else if err := c.f.Sync(); err != nil {
		c.failed = fmt.Errorf("%w: cannot sync checkpoint %s: %w", ErrLogFailed, filepath.Base(c.path), err)
		return c.failed
	}
	c.flushed.Store(c.stored)
	return nil
}

// unsynced reports whether the file holds a value not yet fsynced. Owner
// goroutine only.
func (c *Checkpoint) unsynced() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stored != c.flushed.Load()
}

// close releases the file; later Flushes return ErrClosed.
func (c *Checkpoint) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}

// Checkpoint opens (creating it with initial if missing) the named
// checkpoint "<name>.chk" in the log's directory, e.g. "chaser" (initial 0)
// or "epoch" (initial -1) as in Event Store. The same *Checkpoint is
// returned for the same name; the log closes it on Close. Any goroutine;
// the returned checkpoint's Write/Flush belong to one owner goroutine.
func (l *Log) Checkpoint(name string, initial int64) (*Checkpoint, error) {
	if !validCheckpointName(name) {
		return nil, fmt.Errorf("tlog: invalid checkpoint name %q", name)
	}
	if name == writerCheckpointName || name == truncateCheckpointName {
		return nil, fmt.Errorf("tlog: checkpoint name %q is reserved by the log", name)
	}
	l.ckMu.Lock()
	defer l.ckMu.Unlock()
	// NB: checked under ckMu: Close sets closed before closeFiles takes
	// ckMu, so a checkpoint is either refused here or closed by Close.
	if l.closed.Load() {
		return nil, ErrClosed
	}
	if c, ok := l.checkpoints[name]; ok {
		return c, nil
	}
	c, err := openCheckpoint(l.fs, l.path(checkpointFileName(name)), name, initial)
	if err != nil {
		return nil, err
	}
	l.checkpoints[name] = c
	return c, nil
}

func validCheckpointName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
