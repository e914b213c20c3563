package tlog

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync/atomic"

	"github.com/eventstored/eventstored/store/vfs"
)

// Chunk preparation. A write inside a file's existing, written blocks
// changes data only, so its fdatasync writes the data and nothing else;
// a write that grows the file (fallocate KEEP_SIZE) or lands in an
// "unwritten" extent (fallocate without KEEP_SIZE) also has fdatasync commit
// the inode through the journal. Measured on this project's build machine
// (ext4, BenchmarkFdatasyncAfterAppend, 4 KiB pwrite + fdatasync, three
// runs): keep_size 243-810 us, full_size 341-1090 us, zero_filled 174-436 us;
// zero-filled was the fastest in every run. Through the log
// (BenchmarkAppendFlushPrealloc, one 100-byte record per Flush, three runs):
// keep_size 253-279 us, zero_fill 158-197 us per Flush.
//
// So with PreallocZeroFill the next chunk is created ahead of time, in the
// background, as "<chunk name>.tmp": header written, the rest of the file
// (data and footer area) written with zeros, fsynced. Writing 256 MiB of
// zeros takes a second or more, which must not stall a group commit, hence
// one background goroutine per chunk, started when the writer is half-way
// through the current chunk or has just sealed one (a log that never fills
// its first chunk, like most tests', never pays for a second one). roll
// renames the prepared file into place (and fsyncs the directory); if it
// is not finished roll abandons it rather than stall the group commit,
// and if it is not finished or failed roll creates the chunk in place,
// which reports a full disk as ErrDiskFull. Zeroed bytes are never a record, so recovery scans a
// zero-filled chunk exactly like a growing one; Open removes leftover
// .tmp files.
//
// A chunk created in place (the first chunk of a new log, or one created
// when no prepared chunk was ready) gets the same from the writer itself
// (zeroAhead, writer.go): just before a flush's fsync it writes zeros from
// the data end to the next 256 KiB boundary, so the file grows once per
// 256 KiB and most fsyncs carry data only. BenchmarkAppendFlushInPlace
// (chunk 0, 100-byte records, background preparation off, 5 interleaved
// runs on the 2-core build machine under a load average of ~13; median p50
// latency per Flush / median process CPU per Flush, in us):
//
//	records per flush  keep_size    zero_ahead   zero_ahead_always  prepared
//	1                  235 / 130    153 / 88     145 / 73           151 / 70
//	100    (11 KB)     268 / 141    177 / 96     191 / 109          188 / 114
//	500    (56 KB)     446 / 288    258 / 194    283 / 197          287 / 160
//	1000  (112 KB)     441 / 279    (no zeros)   469 / 305          351 / 234
//	10000 (1.1 MB)    2179 / 1211   (no zeros)  2126 / 1359        1668 / 1181
//
// So small flushes, a fresh database's common case, fsync a third faster
// in chunk 0, as fast as in a prepared chunk. Zeros cost as much to write
// as data, so for a large flush they cost more than the inode commit they
// save (break-even ~100 KB here; at 1.1 MB per Flush zeroing cost 12% more
// CPU): a flush of more than 64 KiB does not zero ahead, it just grows
// the file. The step: 256 KiB, 1 MiB and 4 MiB at 100 records per Flush
// (7 interleaved runs) gave p50 194/206/221 us and CPU 111/112/143 us;
// larger steps only make the flush that carries the zeros slower (the
// inode commit is already rare: once per ~23 such flushes at 256 KiB).
// Reproduce: go test ./store/tlog -run XXX -bench
// 'InPlace/records_per_flush=(1|100)$' -benchtime 3000x -cpu 1 (300x for
// '=(500|1000)$', 50x for '=10000$').

// Prealloc selects how a new chunk file reserves its space.
type Prealloc int

const (
	// PreallocAuto is PreallocZeroFill on the OS filesystem and
	// PreallocKeepSize elsewhere (an in-memory FS would hold every zero).
	PreallocAuto Prealloc = iota
	// PreallocKeepSize reserves the space with fallocate(KEEP_SIZE): the
	// file grows with the data.
	PreallocKeepSize
	// PreallocZeroFill prepares each next chunk in the background, full
	// size and zero-filled.
	PreallocZeroFill
)

const prepSuffix = ".tmp"

type preparedChunk struct {
	num int64
	f   vfs.File
	hdr [HeaderSizeBytes]byte
	id  [16]byte
	err error
}

// errPrepAbandoned ends a preparation the writer no longer wants.
var errPrepAbandoned = errors.New("tlog: chunk preparation abandoned")

// startPrepare begins preparing chunk num in the background, unless that
// was already done or another preparation is in flight. An abandoned
// preparation (see takePrepared) still in l.prep is collected here once it
// has stopped. Writer goroutine.
func (l *Log) startPrepare(num int64) {
	if !l.zeroFill || l.prepFor >= num || l.prepStop.Load() {
		return
	}
	if l.prep != nil {
		// NB: prepFor < num, so this preparation is for a chunk the writer
		// has already created: abandoned, and stopping.
		select {
		case p := <-l.prep:
			l.prep = nil
			l.dropPrepared(p)
		default:
			return // try again at the next flush
		}
	}
	l.prepFor = num
	ch := make(chan preparedChunk, 1)
	cancel := new(atomic.Bool)
	l.prep, l.prepCancel = ch, cancel
	go func() { ch <- l.prepareChunk(num, cancel) }()
}

// prepareChunk creates "<name>.tmp" for chunk num: preallocated, header,
// zeros, fsynced; it gives up (removing the file) when cancel or prepStop
// is set. It runs on its own goroutine and touches only immutable fields
// of l.
func (l *Log) prepareChunk(num int64, cancel *atomic.Bool) (p preparedChunk) {
	p.num = num
	path := l.path(chunkFileName(num, 0) + prepSuffix)
	if err := l.fs.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		p.err = err
		return p
	}
	f, err := l.fs.Create(path)
	if err != nil {
		p.err = err
		return p
	}
	defer func() {
		if p.err != nil {
			f.Close()
			l.fs.Remove(path)
			p.f = nil
		}
	}()
	full := HeaderSizeBytes + l.ds + FooterSizeBytes
	if p.err = f.Preallocate(0, full); p.err != nil {
		return p
	}
	h := chunkHeader{Number: num, DataSizeBytes: l.ds, ID: newChunkID()}
	h.encode(&p.hdr)
	p.id = h.ID
	if _, p.err = f.WriteAt(p.hdr[:], 0); p.err != nil {
		return p
	}
	zeros := make([]byte, min(full-HeaderSizeBytes, 1<<20))
	for off := int64(HeaderSizeBytes); off < full; {
		if l.prepStop.Load() {
			p.err = ErrClosed
			return p
		}
		if cancel.Load() {
			p.err = errPrepAbandoned
			return p
		}
		n := min(full-off, int64(len(zeros)))
		if _, p.err = f.WriteAt(zeros[:n], off); p.err != nil {
			return p
		}
		off += n
	}
	if p.err = f.Sync(); p.err != nil {
		return p
	}
	p.f = f
	return p
}

// takePrepared returns the preparation in flight when it is finished, is
// chunk num and succeeded. One that is not finished yet is abandoned rather
// than waited for: writing a chunk of zeros takes long (0.8 s for 256 MiB
// on the build machine), and the chunk created in place instead is zeroed
// ahead by the writer (zeroAhead), nearly as cheap to fsync. The abandoned
// preparation stops at its next step and is collected by startPrepare or
// discardPrepared. Writer goroutine.
func (l *Log) takePrepared(num int64) (preparedChunk, bool) {
	if l.prep == nil {
		return preparedChunk{}, false
	}
	var p preparedChunk
	select {
	case p = <-l.prep:
	default:
		l.prepCancel.Store(true)
		l.logger.Info("the next chunk's preparation is not finished; creating the chunk in place", "chunk", chunkFileName(num, 0))
		return preparedChunk{}, false
	}
	l.prep = nil
	if p.err == nil && p.num == num {
		return p, true
	}
	if p.err != nil && !errors.Is(p.err, errPrepAbandoned) {
		l.logger.Warn("preparing the next chunk failed; creating it in place", "chunk", chunkFileName(p.num, 0), "err", p.err)
	}
	l.dropPrepared(p)
	return preparedChunk{}, false
}

// discardPrepared stops the preparation in flight, if any, waits for it
// and removes its file. Writer goroutine.
func (l *Log) discardPrepared() {
	if l.prep == nil {
		return
	}
	l.prepCancel.Store(true)
	p := <-l.prep
	l.prep = nil
	l.dropPrepared(p)
}

func (l *Log) dropPrepared(p preparedChunk) {
	if p.f == nil {
		return
	}
	p.f.Close()
	path := l.path(chunkFileName(p.num, 0) + prepSuffix)
	if err := l.fs.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.logger.Warn("cannot remove a prepared chunk file", "file", path, "err", err)
	}
}

// installPrepared renames prepared chunk p into place and fsyncs the
// directory.
func (l *Log) installPrepared(p preparedChunk) (*chunk, error) {
	name := chunkFileName(p.num, 0)
	if err := l.fs.Rename(l.path(name+prepSuffix), l.path(name)); err != nil {
		p.f.Close()
		return nil, l.fail(fmt.Errorf("cannot rename prepared chunk %s: %w", name, err))
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		p.f.Close()
		return nil, l.fail(fmt.Errorf("cannot sync log directory after creating %s: %w", name, err))
	}
	l.hdrBuf = p.hdr
	c := &chunk{num: p.num, name: name, f: p.f, id: p.id}
	c.refs.Store(1)
	c.dataEnd.Store(-1)
	l.mapChunk(c)
	return c, nil
}

// removePreparedLeftovers removes .tmp chunk files a previous process left
// (they never hold records). Called by Open before recovery.
func (l *Log) removePreparedLeftovers() error {
	names, err := l.fs.List(l.dir)
	if err != nil {
		return fmt.Errorf("cannot list log directory %s: %w", l.dir, err)
	}
	for _, n := range names {
		if strings.HasPrefix(n, chunkPrefix) && strings.HasSuffix(n, prepSuffix) {
			if err := l.fs.Remove(l.path(n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("cannot remove leftover %s: %w", n, err)
			}
		}
	}
	return nil
}
