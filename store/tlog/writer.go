package tlog

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// Append frames payload and buffers it; it returns the record's logical
// position. The record is not durable, nor visible to readers, until Flush
// returns nil. Writer goroutine only. The payload is copied before Append
// returns (records larger than the write buffer are written straight to
// the file instead).
//
// When the record does not fit in the current chunk, Append first creates
// the next chunk, preallocated to full size, and then seals the current one.
// If there is no space for the new chunk Append returns ErrDiskFull having
// changed nothing: the log does not fail, buffered records are still
// pending, and the caller may retry later. Any other write error is final:
// it is latched and returned, wrapped in ErrLogFailed, by every later Append
// and Flush.
func (l *Log) Append(payload []byte) (int64, error) {
	if l.failed != nil {
		return 0, l.failed
	}
	if l.closed.Load() {
		return 0, ErrClosed
	}
	if len(payload) > l.maxPayload {
		return 0, fmt.Errorf("%w: %d bytes, limit %d", ErrRecordTooLarge, len(payload), l.maxPayload)
	}
	size := int64(len(payload)) + RecordOverheadBytes
	if l.cur == nil || l.writePos-l.cur.num*l.ds+size > l.ds {
		if err := l.roll(); err != nil {
			return 0, err
		}
	}
	if len(l.buf)+int(size) > cap(l.buf) {
		if err := l.writeOut(); err != nil {
			return 0, err
		}
	}
	if int(size) > cap(l.buf) {
		if err := l.writeDirect(payload); err != nil {
			return 0, err
		}
	} else {
		l.buf = AppendRecord(l.buf, payload)
	}
	pos := l.writePos
	l.writePos += size
	return pos, nil
}

// Flush writes the buffered records, fsyncs the chunk, writes the writer
// checkpoint (fsynced lazily, see Options.CheckpointSyncInterval) and
// advances Durable. Writer goroutine only. A Flush with nothing new to
// persist does no I/O.
func (l *Log) Flush() error {
	if l.failed != nil {
		return l.failed
	}
	if l.closed.Load() {
		return ErrClosed
	}
	return l.flush()
}

func (l *Log) flush() error {
	if l.writePos == l.durable.Load() && len(l.buf) == 0 && (l.cur == nil || l.fileOff == l.syncedOff) {
		return nil
	}
	start := time.Now()
	if l.cur != nil {
		if err := l.writeOut(); err != nil {
			return err
		}
		if l.fileOff > l.syncedOff {
			if !l.noSync {
				if err := l.zeroAhead(); err != nil {
					return err
				}
				if err := l.cur.f.Sync(); err != nil {
					return l.fail(fmt.Errorf("cannot sync chunk %s: %w", l.cur.name, err))
				}
			}
			l.syncedOff = l.fileOff
		}
	}
	if l.writePos != l.durable.Load() {
		// NB: the checkpoint is written only after the chunk's fsync, so
		// whatever value of it reaches the disk, the records below it are
		// already there. Its own fsync is deferred: recovery keeps the whole
		// records past a stale checkpoint (scanTail), so an acknowledged
		// record never depends on it.
		l.wchk.Write(l.writePos)
		if err := l.wchk.store(); err != nil {
			return l.fail(err)
		}
		l.metrics.bytesFlushed.Add(uint64(l.writePos - l.durable.Load()))
		l.durable.Store(l.writePos)
	}
	if !l.ckArmed.Swap(true) {
		// writer.chk now holds a value not yet fsynced: fsync it within
		// ckEvery, off the writer goroutine, so no group commit waits for
		// it and an idle log's checkpoint does not stay behind.
		if l.ckTimer == nil {
			l.ckTimer = time.AfterFunc(l.ckEvery, l.checkpointTimer)
		} else {
			l.ckTimer.Reset(l.ckEvery)
		}
	}
	if l.zeroFill && l.cur != nil && (l.fileOff >= l.ds/2 || l.prep != nil) {
		// Half-way through a chunk: prepare the next (a no-op when started).
		// And while an abandoned preparation is still stopping (roll could
		// not start the next one), try again at every flush, so the next
		// chunk's preparation gets the whole of this chunk's time.
		l.startPrepare(l.cur.num + 1)
	}
	l.metrics.observeFlush(time.Since(start))
	return nil
}

// syncCheckpoint fsyncs the writer checkpoint if its file holds a value
// not yet fsynced. Writer goroutine.
func (l *Log) syncCheckpoint() error {
	if err := l.wchk.sync(); err != nil {
		return l.fail(err)
	}
	return nil
}

// checkpointTimer runs on the timer's goroutine ckEvery after a flush left
// writer.chk not fsynced. Checkpoint serializes it with the writer's store
// and with Close under its lock; a failure is latched in the checkpoint, so
// the writer's next flush fails with it (and latches the log).
func (l *Log) checkpointTimer() {
	l.ckArmed.Store(false)
	if err := l.wchk.sync(); err != nil && !errors.Is(err, ErrClosed) {
		l.logger.Error("cannot sync the writer checkpoint", "err", err)
	}
}

// Failed returns the latched failure, nil while the log works. Any
// goroutine.
func (l *Log) Failed() error {
	if p := l.failedA.Load(); p != nil {
		return *p
	}
	return nil
}

// fail latches err. The first failure wins; a failed fsync is never retried
// because the kernel may already have dropped the dirty pages it could not
// write (the "fsyncgate" lesson).
func (l *Log) fail(err error) error {
	if l.failed != nil {
		return l.failed
	}
	if !errors.Is(err, ErrLogFailed) {
		err = fmt.Errorf("%w: %w", ErrLogFailed, err)
	}
	l.failed = err
	l.failedA.Store(&err)
	l.logger.Error("transaction log failed; refusing further writes", "err", err, "pos", l.writePos)
	return err
}

// writeOut writes the buffered bytes to the current chunk without fsync.
func (l *Log) writeOut() error {
	if len(l.buf) == 0 {
		return nil
	}
	if l.digestOK {
		l.digest.Write(l.buf)
	}
	if _, err := l.cur.f.WriteAt(l.buf, HeaderSizeBytes+l.fileOff); err != nil {
		return l.fail(fmt.Errorf("cannot write chunk %s: %w", l.cur.name, err))
	}
	l.fileOff += int64(len(l.buf))
	l.buf = l.buf[:0]
	return nil
}

// zeroAhead's limits (see prepare.go for the measurements behind them).
const (
	// zeroAheadBytes is the step by which the writer extends a chunk that
	// was created in place (not prepared) with zeros.
	zeroAheadBytes = 256 << 10
	// zeroAheadMaxFlushBytes: a flush that writes more data than this
	// does not zero ahead. Zeros cost as much to write as data, so for a
	// large flush they cost more than the inode commit they save.
	zeroAheadMaxFlushBytes = 64 << 10
)

// zeroAhead keeps the file of a chunk created in place (the first chunk of
// a new log, or when no prepared one was ready) zero-filled up to the next
// step boundary past the data, when zero-filling is on: the size then
// changes once per step instead of on every flush, so most fdatasyncs have
// no inode to commit (see prepare.go). Called by flush just before the
// fsync, which carries the zeros; only for a flush of at most zaMaxFlush
// bytes (a larger one just grows the file). Zeros are never a record; they
// stay inside the data area (target <= ds), so the footer area is written
// only by seal; and the chunk's space was reserved at creation
// (fallocate), so the writes cannot run out of space.
func (l *Log) zeroAhead() error {
	if !l.zeroFill || l.fileOff <= l.zeroedTo || l.fileOff-l.syncedOff > l.zaMaxFlush {
		return nil
	}
	target := min((l.fileOff+l.zaStep)/l.zaStep*l.zaStep, l.ds)
	if target <= l.fileOff {
		return nil
	}
	if int64(cap(l.zeros)) < target-l.fileOff {
		l.zeros = make([]byte, l.zaStep)
	}
	if _, err := l.cur.f.WriteAt(l.zeros[:target-l.fileOff], HeaderSizeBytes+l.fileOff); err != nil {
		return l.fail(fmt.Errorf("cannot extend chunk %s: %w", l.cur.name, err))
	}
	l.zeroedTo = target
	return nil
}

// noteFileSize sets zeroedTo from the size of the writer's chunk file.
func (l *Log) noteFileSize() error {
	l.zeroedTo = 0
	if l.cur == nil || !l.zeroFill {
		return nil
	}
	st, err := l.cur.f.Stat()
	if err != nil {
		return fmt.Errorf("cannot stat chunk %s: %w", l.cur.name, err)
	}
	l.zeroedTo = st.Size() - HeaderSizeBytes
	return nil
}

// writeDirect writes a record larger than the write buffer in three
// writes, skipping the copy. REQUIRES: the buffer is empty.
func (l *Log) writeDirect(payload []byte) error {
	var hdr, suf [8]byte
	putRecordHeader(hdr[:], payload)
	suf[0], suf[1], suf[2], suf[3] = hdr[0], hdr[1], hdr[2], hdr[3]
	parts := [3][]byte{hdr[:], payload, suf[:4]}
	for _, p := range parts {
		if l.digestOK {
			l.digest.Write(p)
		}
		if _, err := l.cur.f.WriteAt(p, HeaderSizeBytes+l.fileOff); err != nil {
			return l.fail(fmt.Errorf("cannot write chunk %s: %w", l.cur.name, err))
		}
		l.fileOff += int64(len(p))
	}
	return nil
}

// roll makes the chunk the next record goes to: it creates the next chunk
// and, once that succeeded, seals the current one.
func (l *Log) roll() error {
	next := l.writePos / l.ds
	if l.cur != nil {
		next = l.cur.num + 1
	}
	c, err := l.createChunk(next)
	if err != nil {
		return err
	}
	sealed := l.cur != nil
	if l.cur != nil {
		if err := l.seal(); err != nil {
			c.release()
			return err
		}
	}
	cs := l.chunkList()
	ncs := make([]*chunk, next+1)
	copy(ncs, cs)
	ncs[next] = c
	l.publishChunks(ncs)
	l.cur = c
	l.writePos = next * l.ds
	l.fileOff = 0
	l.syncedOff = 0
	if err := l.noteFileSize(); err != nil {
		return l.fail(err)
	}
	l.digest.Reset()
	l.digest.Write(l.hdrBuf[:])
	l.digestOK = true
	if sealed {
		// A log that filled a chunk is likely to fill the next one too.
		l.startPrepare(next + 1)
	}
	return nil
}

func isNoSpace(err error) bool { return errors.Is(err, syscall.ENOSPC) }

// createChunk creates chunk num: preallocated to full size, header written
// and synced, directory synced. Running out of space yields ErrDiskFull
// with nothing left behind and the log still working.
func (l *Log) createChunk(num int64) (*chunk, error) {
	if p, ok := l.takePrepared(num); ok {
		return l.installPrepared(p)
	}
	name := chunkFileName(num, 0)
	path := l.path(name)
	f, err := l.fs.Create(path)
	if err != nil {
		if isNoSpace(err) {
			return nil, fmt.Errorf("%w: cannot create %s: %w", ErrDiskFull, name, err)
		}
		return nil, l.fail(fmt.Errorf("cannot create chunk %s: %w", name, err))
	}
	noSpace := func(err error) error {
		f.Close()
		if rerr := l.fs.Remove(path); rerr != nil {
			return l.fail(fmt.Errorf("cannot remove chunk %s after running out of space: %w", name, rerr))
		}
		l.logger.Warn("no space for a new chunk; writes will fail until space is freed", "chunk", name, "err", err)
		return fmt.Errorf("%w: %s: %w", ErrDiskFull, name, err)
	}
	if err := f.Preallocate(0, HeaderSizeBytes+l.ds+FooterSizeBytes); err != nil {
		if isNoSpace(err) {
			return nil, noSpace(err)
		}
		f.Close()
		return nil, l.fail(fmt.Errorf("cannot preallocate chunk %s: %w", name, err))
	}
	h := chunkHeader{Number: num, DataSizeBytes: l.ds, ID: newChunkID()}
	h.encode(&l.hdrBuf)
	if _, err := f.WriteAt(l.hdrBuf[:], 0); err != nil {
		if isNoSpace(err) {
			return nil, noSpace(err)
		}
		f.Close()
		return nil, l.fail(fmt.Errorf("cannot write chunk header %s: %w", name, err))
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, l.fail(fmt.Errorf("cannot sync chunk %s: %w", name, err))
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		f.Close()
		return nil, l.fail(fmt.Errorf("cannot sync log directory after creating %s: %w", name, err))
	}
	c := &chunk{num: num, name: name, f: f, id: h.ID}
	c.refs.Store(1)
	c.dataEnd.Store(-1)
	l.mapChunk(c)
	return c, nil
}

// seal writes the buffered records and the footer of the current chunk and
// fsyncs it; readers then see its data end.
func (l *Log) seal() error {
	if err := l.writeOut(); err != nil {
		return err
	}
	c := l.cur
	if !l.digestOK {
		// The chunk was reopened by recovery or truncation: hash what it
		// holds now (once per such chunk, on the writer goroutine).
		if err := l.rehash(c, l.fileOff); err != nil {
			return l.fail(err)
		}
	}
	ft := chunkFooter{DataEndBytes: l.fileOff, Hash: l.digest.Sum64()}
	ft.encode(&l.ftrBuf)
	if _, err := c.f.WriteAt(l.ftrBuf[:], HeaderSizeBytes+l.ds); err != nil {
		return l.fail(fmt.Errorf("cannot write footer of chunk %s: %w", c.name, err))
	}
	if err := c.f.Sync(); err != nil {
		return l.fail(fmt.Errorf("cannot sync chunk %s: %w", c.name, err))
	}
	// The checkpoint is fsynced at each seal so that Open never has more
	// than one chunk to scan past it.
	if err := l.syncCheckpoint(); err != nil {
		return err
	}
	c.hash.Store(ft.Hash)
	c.dataEnd.Store(ft.DataEndBytes)
	return nil
}

// rehash recomputes the digest of c's header and first end data bytes.
func (l *Log) rehash(c *chunk, end int64) error {
	l.digest.Reset()
	if err := hashChunkInto(l.digest, c, end, make([]byte, 1<<20), nil); err != nil {
		return err
	}
	l.digestOK = true
	return nil
}

// Truncate cuts the log back to pos, a record boundary at or before the
// end of what was appended: used when a replica's log diverged from the
// master's (spec cluster-and-options §6.3). Everything appended so far is
// first flushed; then the truncation is recorded in truncate.chk, so a
// crash part-way is completed by the next Open, and the durable end drops
// to pos before any byte is cut. Writer goroutine only. Iterators made
// before the call return ErrTruncated.
func (l *Log) Truncate(pos int64) error {
	if l.failed != nil {
		return l.failed
	}
	if l.closed.Load() {
		return ErrClosed
	}
	if pos < 0 || pos > l.writePos {
		return fmt.Errorf("%w: truncation to %d outside [0, %d]", ErrBadPosition, pos, l.writePos)
	}
	if err := l.flush(); err != nil {
		return err
	}
	if pos == l.writePos {
		return nil
	}
	n, off := pos/l.ds, pos%l.ds
	cs := l.chunkList()
	var c *chunk
	if n < int64(len(cs)) {
		c = cs[n]
	}
	if off != 0 {
		if c == nil {
			return fmt.Errorf("%w: no chunk holds %d", ErrBadPosition, pos)
		}
		if de := c.dataEnd.Load(); de >= 0 && off > de {
			return fmt.Errorf("%w: %d is past the data of chunk %s", ErrBadPosition, pos, c.name)
		}
		if err := l.checkRecordEndingAt(c, off); err != nil {
			return fmt.Errorf("%w: %d is not a record boundary: %w", ErrBadPosition, pos, err)
		}
	}
	l.tchk.Write(pos)
	if err := l.tchk.Flush(); err != nil {
		return l.fail(err)
	}
	l.truncGen.Add(1) // odd: truncation running
	defer l.truncGen.Add(1)
	l.durable.Store(pos)
	l.wchk.Write(pos)
	if err := l.wchk.Flush(); err != nil {
		return l.fail(err)
	}
	var closeErr error
	if n+1 < int64(len(cs)) {
		ncs := make([]*chunk, n+1)
		copy(ncs, cs)
		l.publishChunks(ncs)
		for _, dc := range cs[n+1:] {
			if err := l.fs.Remove(l.path(dc.name)); err != nil {
				return l.fail(fmt.Errorf("cannot remove chunk %s: %w", dc.name, err))
			}
			if err := dc.release(); err != nil && closeErr == nil {
				// The file is gone; finish the truncation, then report.
				closeErr = fmt.Errorf("truncated to %d, but closing removed chunk %s failed: %w", pos, dc.name, err)
			}
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			return l.fail(fmt.Errorf("cannot sync log directory: %w", err))
		}
	}
	if c != nil {
		if err := l.zeroChunkTail(c, off); err != nil {
			return l.fail(err)
		}
	}
	l.tchk.Write(-1)
	if err := l.tchk.Flush(); err != nil {
		return l.fail(err)
	}
	l.setWriter(c, pos)
	l.syncedOff = l.fileOff
	l.discardPrepared()
	l.prepFor = -1
	l.logger.Warn("truncated the transaction log", "pos", pos)
	return closeErr
}

// zeroChunkTail erases c's records from data offset end on, and its footer,
// by writing zeros in place: readers may hold a mapping of the file, which
// must not shrink under them. REQUIRES: everything written is flushed.
func (l *Log) zeroChunkTail(c *chunk, end int64) error {
	dataEnd := c.dataEnd.Load()
	sealed := dataEnd >= 0
	if !sealed {
		dataEnd = l.fileOff // c is the writer's chunk
	}
	var zeros []byte
	zero := func(from, to int64) error {
		for off := from; off < to; {
			n := min(to-off, 1<<20)
			if int64(len(zeros)) < n {
				zeros = make([]byte, n)
			}
			if _, err := c.f.WriteAt(zeros[:n], off); err != nil {
				return fmt.Errorf("cannot erase chunk %s: %w", c.name, err)
			}
			off += n
		}
		return nil
	}
	// NB: the data area past the data end is already zero (never written,
	// or erased by an earlier truncation, or cut by recovery).
	if err := zero(HeaderSizeBytes+end, HeaderSizeBytes+dataEnd); err != nil {
		return err
	}
	if sealed {
		c.dataEnd.Store(-1)
		if err := zero(HeaderSizeBytes+l.ds, HeaderSizeBytes+l.ds+FooterSizeBytes); err != nil {
			return err
		}
	}
	if err := c.f.Sync(); err != nil {
		return fmt.Errorf("cannot sync chunk %s: %w", c.name, err)
	}
	return nil
}

// Close flushes what was appended (unless the log failed), stops the
// background verification and releases the files; readers still holding a
// chunk keep it open until they are done. Writer goroutine; no writer
// method may be called after it.
func (l *Log) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	l.stopVerify()
	if l.ckTimer != nil {
		l.ckTimer.Stop()
	}
	// NB: before the final flush, which could otherwise start a
	// preparation after the discard.
	l.prepStop.Store(true)
	l.discardPrepared()
	var ferr error
	if l.failed == nil {
		if ferr = l.flush(); ferr == nil {
			ferr = l.syncCheckpoint()
		}
	}
	return errors.Join(ferr, l.closeFiles())
}
