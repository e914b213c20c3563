package tlog

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/eventstored/eventstored/store/vfs"
)

var errEOF = io.EOF

// Defaults and limits of Options.
const (
	// DefaultChunkSizeBytes is Event Store's chunk data size (256 MiB,
	// TFConsts.ChunkSize in 4.0.3).
	DefaultChunkSizeBytes = 256 << 20
	// MinChunkSizeBytes keeps room for at least one small record; tests use
	// tiny chunks to exercise roll-over.
	MinChunkSizeBytes = 64
	// MaxChunkSizeBytes keeps chunk offsets inside the uint32 record
	// length and a chunk number inside the uint32 header field.
	MaxChunkSizeBytes = 1 << 31
	// DefaultWriteBufferBytes bounds the bytes Append buffers before it
	// writes them out (without fsync). 1 MiB holds a 256-event group
	// commit of 4 KiB events in one write.
	DefaultWriteBufferBytes = 1 << 20
	// DefaultIteratorBlockBytes is the read size of iterators: one read
	// returns ~1000 records of 100 bytes.
	DefaultIteratorBlockBytes = 128 << 10
	// DefaultCheckpointSyncInterval is the default of
	// Options.CheckpointSyncInterval: one extra fdatasync a second.
	DefaultCheckpointSyncInterval = time.Second
	maxCheckpointSyncInterval     = time.Hour
	minBufferBytes                = 4 << 10
	maxBufferBytes                = 64 << 20
)

// Options configure Open.
type Options struct {
	// FS is the filesystem; vfs.Default when nil.
	FS vfs.FS
	// Dir holds the chunks and checkpoints; created if missing.
	Dir string
	// ChunkSizeBytes is the data size of a chunk (without header and
	// footer); DefaultChunkSizeBytes when 0. It must match the size the
	// log was created with.
	ChunkSizeBytes int64
	// Logger receives recovery and verification reports; slog.Default()
	// when nil.
	Logger *slog.Logger
	// WriteBufferBytes bounds Append's buffer; DefaultWriteBufferBytes
	// when 0.
	WriteBufferBytes int
	// IteratorBlockBytes is the read size of iterators;
	// DefaultIteratorBlockBytes when 0.
	IteratorBlockBytes int
	// SkipVerify disables the background verification of sealed chunks
	// (--skip-db-verify).
	SkipVerify bool
	// VerifyBytesPerSecond caps the read rate of the background
	// verification so it does not crowd out serving reads; 0 means no cap.
	VerifyBytesPerSecond int64
	// UnsafeDisableFlushToDisk (--unsafe-disable-flush-to-disk) makes Flush
	// write the records and the writer checkpoint without fsync: Durable
	// then means "written to the OS", and a power cut can lose or tear what
	// it covers. Chunk creation and sealing still sync (they are rare).
	UnsafeDisableFlushToDisk bool
	// CheckpointSyncInterval bounds how long the writer checkpoint may go
	// without fsync after a flush; DefaultCheckpointSyncInterval when 0.
	// Flush fsyncs only the chunk and writes the checkpoint without fsync
	// (one fdatasync per group commit instead of two); a timer fsyncs the
	// checkpoint this long after, off the writer goroutine, and it is also
	// fsynced when a chunk is sealed, on Truncate and on Close. Records past the last fsynced checkpoint are durable (their
	// chunk was fsynced before Flush returned) and recovery keeps them after
	// checking each one's crc, so the interval bounds only how much of the
	// log is protected by the per-record crc alone (a corrupt record there
	// is cut as a torn tail, not reported as ErrCorrupt) and how much Open
	// scans.
	CheckpointSyncInterval time.Duration
	// Prealloc selects how new chunks reserve space (see prepare.go);
	// PreallocAuto when 0.
	Prealloc Prealloc
	// NoMmap makes ReadAt use pread even where chunks can be mapped.
	// A mapped ReadAt costs no syscall (measured 1.0 us vs 3.4 us for a
	// random 100-byte record on a warm 112 MB log); the price is that a
	// disk read error raises SIGBUS instead of returning an error.
	// Iterators always use block reads (see Iterator).
	NoMmap bool
}

// Recovery reports what Open found and cut.
type Recovery struct {
	// WriterCheckpoint is the durable end recorded before the restart.
	WriterCheckpoint int64
	// End is the logical end of the log after recovery.
	End int64
	// CutPos and CutBytes describe the torn tail cut off (CutBytes 0 when
	// nothing was cut). CutBytes counts the bytes past the last whole
	// record in the chunk file, footer included if there was one.
	CutPos   int64
	CutBytes int64
	// RemovedChunks lists chunk files past the torn point that were
	// deleted.
	RemovedChunks []string
	// TruncatedTo is the position of a pending truncation that Open
	// completed (truncate.chk), -1 when none.
	TruncatedTo int64
}

// chunk is one chunk file, shared by the writer and readers. Readers hold a
// reference (acquire/release) while they use the file, so Truncate and
// Close can drop a chunk without waiting for them.
type chunk struct {
	num  int64
	name string
	f    vfs.File
	id   [16]byte
	// data maps the whole chunk file read-only (nil without mmap). Readers
	// only touch bytes below the durable end, which the file always holds;
	// online truncation zeroes bytes instead of shrinking the file, so a
	// mapped reader never meets the file's end (SIGBUS).
	data []byte
	refs atomic.Int32
	// dataEnd is the records' end (bytes) once the chunk is sealed, -1
	// while it is open for writing.
	dataEnd atomic.Int64
	// hash is the footer hash, valid while sealed; atomic because the
	// verifier reads it while a truncation may reseal the chunk.
	hash atomic.Uint64
}

func (c *chunk) acquire() bool {
	for {
		r := c.refs.Load()
		if r <= 0 {
			return false
		}
		if c.refs.CompareAndSwap(r, r+1) {
			return true
		}
	}
}

// release drops a reference; the last one closes the file and returns the
// close error.
func (c *chunk) release() error {
	if c.refs.Add(-1) == 0 {
		var uerr error
		if c.data != nil {
			uerr = vfs.Unmap(c.data)
			c.data = nil
		}
		return errors.Join(uerr, c.f.Close())
	}
	return nil
}

// Log is a chunked transaction log. See doc.go for the threading contract.
type Log struct {
	fs         vfs.FS
	dir        string
	ds         int64 // chunk data size
	maxPayload int
	blockBytes int
	noMmap     bool
	noSync     bool
	logger     *slog.Logger
	lock       io.Closer
	recovery   Recovery

	chunks  atomic.Pointer[[]*chunk] // index = chunk number; copy on write
	durable atomic.Int64
	// truncGen is odd while a truncation runs and grows by 2 per
	// truncation, so readers can tell bytes cut under them from corruption.
	truncGen atomic.Int64
	closed   atomic.Bool

	// Writer state: the writer goroutine only.
	wchk       *Checkpoint
	tchk       *Checkpoint
	cur        *chunk // chunk being written; nil when the next Append must create one
	writePos   int64  // logical position of the next record
	fileOff    int64  // chunk offset (data) where buf's bytes go
	syncedOff  int64  // chunk offset (data) up to which cur is fsynced
	ckEvery    time.Duration
	ckTimer    *time.Timer // fsyncs wchk ckEvery after a flush (checkpointTimer)
	ckArmed    atomic.Bool // ckTimer is pending
	zeroFill   bool
	zeroedTo   int64              // data offset up to which zeroAhead (or Open: the file's size) extended cur's file
	zaStep     int64              // zeroAhead's step: zeroAheadBytes (tests shrink it)
	zaMaxFlush int64              // largest flush that zeroes ahead: zeroAheadMaxFlushBytes
	zeros      []byte             // zeroAhead's source
	prep       chan preparedChunk // preparation of the next chunk in flight, nil if none
	prepFor    int64              // chunk number of the last preparation started
	prepStop   atomic.Bool        // asks the preparation in flight to give up (Close)
	prepCancel *atomic.Bool       // asks l.prep's preparation to give up (abandoned, discarded)
	buf        []byte
	digest     *xxhash.Digest // hash of cur's header and data written so far
	digestOK   bool           // false when cur was reopened and must be rehashed at seal
	failed     error          // latched write/fsync failure
	failedA    atomic.Pointer[error]
	hdrBuf     [HeaderSizeBytes]byte
	ftrBuf     [FooterSizeBytes]byte

	metrics metrics

	ckMu        sync.Mutex
	checkpoints map[string]*Checkpoint

	verify verifier
}

// Open opens or creates the log in opts.Dir and recovers it: data past the
// writer checkpoint is verified record by record and a torn or zeroed tail
// is cut back to the last whole record (logged, and reported by
// Recovery()). Sealed chunks are verified in the background afterwards.
func Open(opts Options) (*Log, error) {
	l := &Log{
		fs:          opts.FS,
		dir:         opts.Dir,
		ds:          opts.ChunkSizeBytes,
		logger:      opts.Logger,
		blockBytes:  opts.IteratorBlockBytes,
		noMmap:      opts.NoMmap,
		noSync:      opts.UnsafeDisableFlushToDisk,
		ckEvery:     opts.CheckpointSyncInterval,
		checkpoints: map[string]*Checkpoint{},
	}
	l.prepFor = -1
	l.zaStep = zeroAheadBytes
	l.zaMaxFlush = zeroAheadMaxFlushBytes
	switch opts.Prealloc {
	case PreallocZeroFill:
		l.zeroFill = true
	case PreallocAuto:
		l.zeroFill = l.fs == nil || l.fs == vfs.Default
	}
	if l.ckEvery == 0 {
		l.ckEvery = DefaultCheckpointSyncInterval
	}
	if l.ckEvery < 0 || l.ckEvery > maxCheckpointSyncInterval {
		return nil, fmt.Errorf("tlog: checkpoint sync interval %v outside (0, %v]", l.ckEvery, maxCheckpointSyncInterval)
	}
	if l.fs == nil {
		l.fs = vfs.Default
	}
	if l.logger == nil {
		l.logger = slog.Default()
	}
	l.logger = l.logger.With("component", "tlog")
	if l.ds == 0 {
		l.ds = DefaultChunkSizeBytes
	}
	if l.ds < MinChunkSizeBytes || l.ds > MaxChunkSizeBytes {
		return nil, fmt.Errorf("tlog: chunk size %d outside [%d, %d]", l.ds, MinChunkSizeBytes, int64(MaxChunkSizeBytes))
	}
	if l.blockBytes == 0 {
		l.blockBytes = DefaultIteratorBlockBytes
	}
	if l.blockBytes < minBufferBytes || l.blockBytes > maxBufferBytes {
		return nil, fmt.Errorf("tlog: iterator block size %d outside [%d, %d]", l.blockBytes, minBufferBytes, maxBufferBytes)
	}
	wb := opts.WriteBufferBytes
	if wb == 0 {
		wb = DefaultWriteBufferBytes
	}
	if wb < minBufferBytes || wb > maxBufferBytes {
		return nil, fmt.Errorf("tlog: write buffer size %d outside [%d, %d]", wb, minBufferBytes, maxBufferBytes)
	}
	l.buf = make([]byte, 0, wb)
	l.maxPayload = int(min(int64(MaxPayloadBytesLimit), l.ds-RecordOverheadBytes))
	l.digest = xxhash.New()
	empty := []*chunk{}
	l.chunks.Store(&empty)

	if l.dir == "" {
		return nil, errors.New("tlog: Options.Dir is empty")
	}
	if err := l.fs.MkdirAll(l.dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create log directory %s: %w", l.dir, err)
	}
	lock, err := l.fs.Lock(l.path(lockFileName))
	if err != nil {
		return nil, fmt.Errorf("cannot lock log directory %s: %w", l.dir, err)
	}
	l.lock = lock
	if err := l.removePreparedLeftovers(); err != nil {
		l.closeFiles()
		return nil, err
	}
	if err := l.recover(); err != nil {
		l.closeFiles()
		return nil, err
	}

	if opts.SkipVerify {
		// Stats documents VerifyDone as true when verification is skipped.
		l.verify.finished = true
	} else {
		l.verify.rate = opts.VerifyBytesPerSecond
		l.startVerify()
	}
	return l, nil
}

// Recovery returns what Open found and cut.
func (l *Log) Recovery() Recovery { return l.recovery }

// ChunkSizeBytes returns the chunk data size.
func (l *Log) ChunkSizeBytes() int64 { return l.ds }

// MaxPayloadBytes returns the largest payload Append accepts.
func (l *Log) MaxPayloadBytes() int { return l.maxPayload }

// Durable returns the logical end of durable data: every record before it
// survived an fsync and the writer checkpoint says so. Any goroutine.
func (l *Log) Durable() int64 { return l.durable.Load() }

func (l *Log) chunkList() []*chunk { return *l.chunks.Load() }

func (l *Log) publishChunks(cs []*chunk) { l.chunks.Store(&cs) }

// raced reports whether a truncation ran (or runs) since a reader loaded
// gen; a read failure then means "cut under the reader", not corruption.
func (l *Log) raced(gen int64) bool {
	now := l.truncGen.Load()
	return now != gen || gen&1 == 1
}

// acquireChunk returns chunk num with a reference held, or nil.
func (l *Log) acquireChunk(num int64) *chunk {
	cs := l.chunkList()
	if num < 0 || num >= int64(len(cs)) || cs[num] == nil {
		return nil
	}
	c := cs[num]
	if !c.acquire() {
		return nil
	}
	return c
}

type chunkFile struct {
	num     int64
	version int
	name    string
}

func (l *Log) listChunkFiles() ([]chunkFile, error) {
	names, err := l.fs.List(l.dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list log directory %s: %w", l.dir, err)
	}
	byNum := map[int64]chunkFile{}
	for _, name := range names {
		num, ver, ok := parseChunkFileName(name)
		if !ok {
			continue
		}
		if prev, dup := byNum[num]; dup {
			// Only scavenging (not built yet) makes versions > 0; the newest
			// version of a chunk number wins, as in Event Store's TFChunkDb.
			if prev.version > ver {
				continue
			}
		}
		byNum[num] = chunkFile{num: num, version: ver, name: name}
	}
	files := make([]chunkFile, 0, len(byNum))
	for _, f := range byNum {
		files = append(files, f)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].num < files[j].num })
	return files, nil
}

// recover builds the writer and reader state from the files. See doc.go,
// "Recovery", for the rules.
func (l *Log) recover() error {
	files, err := l.listChunkFiles()
	if err != nil {
		return err
	}
	wpath := l.path(checkpointFileName(writerCheckpointName))
	if _, err := l.fs.Stat(wpath); errors.Is(err, fs.ErrNotExist) {
		if len(files) > 0 {
			return fmt.Errorf("%w: %d chunk files but no writer checkpoint in %s", ErrCorrupt, len(files), l.dir)
		}
	} else if err != nil {
		return fmt.Errorf("cannot stat writer checkpoint: %w", err)
	}
	if l.wchk, err = openCheckpoint(l.fs, wpath, writerCheckpointName, 0); err != nil {
		return err
	}
	l.wchk.noSync = l.noSync
	if l.tchk, err = openCheckpoint(l.fs, l.path(checkpointFileName(truncateCheckpointName)), truncateCheckpointName, -1); err != nil {
		return err
	}
	w := l.wchk.Read()
	t := l.tchk.Read()
	l.recovery = Recovery{WriterCheckpoint: w, TruncatedTo: -1, CutPos: -1}
	if w < 0 {
		return fmt.Errorf("%w: writer checkpoint %d is negative", ErrCorrupt, w)
	}
	tail := w
	if t >= 0 {
		if t > w {
			// A truncation never extends the log; the checkpoint was
			// written while a truncation to t was pending.
			l.logger.Warn("pending truncation is past the writer checkpoint; ignoring it",
				"truncate", t, "writer", w)
			t = -1
		} else {
			tail = t
		}
	}
	c0, tailOff := tail/l.ds, tail%l.ds

	// Chunks before the tail chunk hold durable data only: each must exist,
	// be the right chunk and be sealed.
	var cs []*chunk
	fi := 0
	for n := int64(0); n < c0; n++ {
		if fi >= len(files) || files[fi].num != n {
			return fmt.Errorf("%w: chunk %d is missing but the writer checkpoint is %d", ErrCorrupt, n, w)
		}
		c, err := l.openChunk(files[fi])
		fi++
		if err != nil {
			return err
		}
		if c.dataEnd.Load() < 0 {
			if n == c0-1 && tail%l.ds == 0 {
				// The last record filled this chunk to its last byte, so the
				// writer had no reason to seal it yet: it is the tail chunk,
				// scanned from its end.
				c.release()
				fi--
				c0, tailOff = n, l.ds
				break
			}
			c.release()
			return fmt.Errorf("%w: chunk %d is not sealed but the writer checkpoint %d is past it", ErrCorrupt, n, w)
		}
		cs = append(cs, c)
		l.publishChunks(cs)
	}
	rest := files[fi:]
	if len(rest) > 0 && rest[0].num != c0 {
		// No file for the tail chunk: everything from rest[0] on is beyond
		// a gap, so nothing in it can be durable.
		if tailOff != 0 {
			return fmt.Errorf("%w: chunk %d holding the writer checkpoint %d is missing", ErrCorrupt, c0, w)
		}
		if err := l.removeChunkFiles(rest, "chunk beyond a missing chunk"); err != nil {
			return err
		}
		rest = nil
	}

	if t >= 0 {
		if rest, err = l.finishTruncation(t, rest); err != nil {
			return err
		}
	}
	return l.scanTail(c0, tailOff, rest, cs)
}

// scanTail verifies records from tail onwards, cutting the first bad one
// and everything after it. cs holds the chunks before tail's chunk; rest the
// chunk files from tail's chunk on.
func (l *Log) scanTail(n, off int64, rest []chunkFile, cs []*chunk) error {
	tail := n*l.ds + off
	for i := 0; ; i++ {
		if i >= len(rest) {
			// Every chunk so far was sealed; the next Append creates chunk n.
			if off != 0 {
				return fmt.Errorf("%w: chunk %d holding position %d is missing", ErrCorrupt, n, tail)
			}
			l.setWriter(nil, n*l.ds)
			break
		}
		if rest[i].num != n {
			// A gap in numbering: nothing after it can be used.
			if off != 0 {
				return fmt.Errorf("%w: chunk %d holding position %d is missing", ErrCorrupt, n, tail)
			}
			if err := l.removeChunkFiles(rest[i:], "chunk after a gap"); err != nil {
				return err
			}
			l.setWriter(nil, n*l.ds)
			break
		}
		c, err := l.openChunk(rest[i])
		if err != nil {
			if off == 0 && errors.Is(err, ErrCorrupt) {
				// The header of a chunk with no durable data in it is
				// garbage from a creation cut short.
				l.logger.Warn("removing chunk with a bad header past the durable end", "chunk", rest[i].name, "err", err)
				if err := l.removeChunkFiles(rest[i:], "chunk past a bad header"); err != nil {
					return err
				}
				l.setWriter(nil, n*l.ds)
				break
			}
			return err
		}
		cs = append(cs, c)
		l.publishChunks(cs)
		if off > 0 {
			// Pair assertion: the record ending at the checkpoint must be
			// whole, or data the log had called durable is gone.
			if err := l.checkRecordEndingAt(c, off); err != nil {
				if !errors.Is(err, ErrCorrupt) {
					err = fmt.Errorf("%w: %w", ErrCorrupt, err)
				}
				return fmt.Errorf("the record before the writer checkpoint %d: %w", n*l.ds+off, err)
			}
		}
		end, err := l.scanChunk(c, off)
		if err != nil {
			return err
		}
		if de := c.dataEnd.Load(); de >= 0 && de == end {
			// Sealed and whole: continue in the next chunk.
			n++
			off = 0
			continue
		}
		if err := l.cutChunk(c, end, true); err != nil {
			return err
		}
		if i+1 < len(rest) {
			if err := l.removeChunkFiles(rest[i+1:], "chunk after a torn tail"); err != nil {
				return err
			}
		}
		l.setWriter(c, n*l.ds+end)
		break
	}
	l.recovery.End = l.writePos
	if l.writePos != l.wchk.Read() {
		// Records past the checkpoint may sit only in the page cache (the
		// process died, not the machine): make them durable before the
		// checkpoint says they are.
		cs := l.chunkList()
		for _, c := range cs[min(tail/l.ds, int64(len(cs))):] {
			if err := c.f.Sync(); err != nil {
				return fmt.Errorf("cannot sync chunk %s: %w", c.name, err)
			}
		}
		l.wchk.Write(l.writePos)
		if err := l.wchk.Flush(); err != nil {
			return err
		}
	}
	l.durable.Store(l.writePos)
	l.logger.Info("transaction log opened", "dir", l.dir, "end", l.writePos,
		"writer_checkpoint", l.recovery.WriterCheckpoint, "chunks", len(l.chunkList()))
	return nil
}

func (l *Log) setWriter(c *chunk, pos int64) {
	l.cur = c
	l.writePos = pos
	l.fileOff = 0
	if c != nil {
		// NB: not pos % ds: a chunk filled to its last byte ends at the
		// next chunk's start.
		l.fileOff = pos - c.num*l.ds
	}
	l.buf = l.buf[:0]
	l.syncedOff = l.fileOff
	l.digestOK = false
	if err := l.noteFileSize(); err != nil {
		// NB: zeroAhead only speeds fsyncs up; without the size it stays
		// off for this chunk.
		l.zeroedTo = l.ds
	}
}

// scanChunk reads records from off and returns the end of the last whole
// one: the first torn or corrupt frame ends the scan.
func (l *Log) scanChunk(c *chunk, off int64) (int64, error) {
	limit := l.ds
	if de := c.dataEnd.Load(); de >= 0 {
		limit = de
	}
	block := make([]byte, l.blockBytes)
	var big []byte
	for limit-off >= RecordOverheadBytes {
		want := min(int64(len(block)), limit-off)
		n, err := c.f.ReadAt(block[:want], HeaderSizeBytes+off)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("cannot read chunk %s at %d: %w", c.name, off, err)
		}
		buf := block[:n]
		if n >= 4 {
			// A frame longer than the block is read on its own.
			need := int64(le32(buf)) + RecordOverheadBytes
			if need > int64(n) && need <= limit-off && need-RecordOverheadBytes <= int64(l.maxPayload) {
				if int64(cap(big)) < need {
					big = make([]byte, need)
				}
				buf = big[:need]
				if err := vfs.ReadFull(c.f, buf, HeaderSizeBytes+off); err != nil {
					if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
						return off, nil
					}
					return 0, fmt.Errorf("cannot read chunk %s at %d: %w", c.name, off, err)
				}
			}
		}
		p := 0
		for p < len(buf) {
			_, size, derr := DecodeRecord(buf[p:])
			if derr != nil {
				break
			}
			p += size
		}
		if p == 0 {
			return off, nil
		}
		// A frame cut by the end of the block is read again from its start.
		off += int64(p)
	}
	return off, nil
}

// checkRecordEndingAt verifies the record whose frame ends at chunk offset
// end.
func (l *Log) checkRecordEndingAt(c *chunk, end int64) error {
	if end < RecordOverheadBytes {
		return fmt.Errorf("%w: no room for a record before offset %d", ErrCorrupt, end)
	}
	var suf [4]byte
	if err := vfs.ReadFull(c.f, suf[:], HeaderSizeBytes+end-4); err != nil {
		return err
	}
	size := int64(le32(suf[:])) + RecordOverheadBytes
	if size > end {
		return fmt.Errorf("%w: record length %d runs before the chunk start", ErrCorrupt, size)
	}
	frame := make([]byte, size)
	if err := vfs.ReadFull(c.f, frame, HeaderSizeBytes+end-size); err != nil {
		return err
	}
	_, _, err := DecodeRecord(frame)
	if errors.Is(err, ErrTornTail) {
		err = fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return err
}

// cutChunk drops everything in c from data offset end on (records, stale
// bytes, a footer), restores the preallocation and syncs, so the tail can
// never be mistaken for records again.
func (l *Log) cutChunk(c *chunk, end int64, torn bool) error {
	st, err := c.f.Stat()
	if err != nil {
		return fmt.Errorf("cannot stat chunk %s: %w", c.name, err)
	}
	keep := HeaderSizeBytes + end
	cut := st.Size() - keep
	if cut <= 0 && c.dataEnd.Load() < 0 {
		return nil
	}
	// Zeros past the last record are what an online truncation leaves (it
	// zeroes instead of shrinking the file, for mapped readers): tidy them
	// away without reporting a torn tail.
	full := HeaderSizeBytes + l.ds + FooterSizeBytes
	report := torn && cut > 0
	zeros := false
	if report || st.Size() == full {
		if zeros, err = l.allZero(c, keep, st.Size()); err != nil {
			return err
		}
		report = report && !zeros
	}
	if zeros && c.dataEnd.Load() < 0 {
		// A zero-filled chunk (prepare.go) or one the writer kept zeroed
		// ahead of its data (zeroAhead) past its last record: nothing to
		// cut, and truncating would lose the zeros the next writes land in.
		return nil
	}
	if err := c.f.Truncate(keep); err != nil {
		return fmt.Errorf("cannot truncate chunk %s: %w", c.name, err)
	}
	if err := c.f.Preallocate(0, HeaderSizeBytes+l.ds+FooterSizeBytes); err != nil {
		return fmt.Errorf("cannot preallocate chunk %s: %w", c.name, err)
	}
	if err := c.f.Sync(); err != nil {
		return fmt.Errorf("cannot sync chunk %s: %w", c.name, err)
	}
	c.dataEnd.Store(-1)
	pos := c.num*l.ds + end
	if report {
		l.recovery.CutPos = pos
		l.recovery.CutBytes += cut
		l.logger.Warn("cut torn tail of the transaction log", "pos", pos, "bytes", cut, "chunk", c.name)
	}
	return nil
}

func (l *Log) removeChunkFiles(files []chunkFile, why string) error {
	for _, f := range files {
		if err := l.fs.Remove(l.path(f.name)); err != nil {
			return fmt.Errorf("cannot remove %s: %w", f.name, err)
		}
		l.recovery.RemovedChunks = append(l.recovery.RemovedChunks, f.name)
		l.logger.Warn("removed chunk file past the end of the log", "chunk", f.name, "reason", why)
	}
	if len(files) > 0 {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return fmt.Errorf("cannot sync log directory: %w", err)
		}
	}
	return nil
}

// finishTruncation completes a truncation to t recorded in truncate.chk:
// chunk files past t's chunk are removed, t's chunk is cut at t, the writer
// checkpoint is set to t, and truncate.chk is cleared. It returns the chunk
// files left from t's chunk on (t's chunk, if it exists).
func (l *Log) finishTruncation(t int64, rest []chunkFile) ([]chunkFile, error) {
	n := t / l.ds
	off := t % l.ds
	var left, later []chunkFile
	var tc *chunkFile
	for i, f := range rest {
		switch {
		case f.num < n:
			left = append(left, f) // a full, unsealed chunk before t
		case f.num == n:
			left = append(left, f)
			tc = &rest[i]
		default:
			later = append(later, f)
		}
	}
	if err := l.removeChunkFiles(later, "truncation"); err != nil {
		return nil, err
	}
	if tc != nil {
		c, err := l.openChunk(*tc)
		switch {
		case err != nil && off != 0:
			return nil, err
		case err != nil:
			// Nothing before t lives in this chunk; scanTail removes it.
		default:
			err := l.cutChunk(c, off, false)
			c.release()
			if err != nil {
				return nil, err
			}
		}
	} else if off != 0 {
		return nil, fmt.Errorf("%w: chunk %d holding the truncation point %d is missing", ErrCorrupt, n, t)
	}
	l.wchk.Write(t)
	if err := l.wchk.Flush(); err != nil {
		return nil, err
	}
	l.tchk.Write(-1)
	if err := l.tchk.Flush(); err != nil {
		return nil, err
	}
	l.recovery.TruncatedTo = t
	l.logger.Warn("completed truncation of the transaction log", "pos", t)
	return left, nil
}

// openChunk opens a chunk file, checks its header and reads its footer.
func (l *Log) openChunk(cf chunkFile) (*chunk, error) {
	f, err := l.fs.OpenReadWrite(l.path(cf.name))
	if err != nil {
		return nil, fmt.Errorf("cannot open chunk %s: %w", cf.name, err)
	}
	c := &chunk{num: cf.num, name: cf.name, f: f}
	c.refs.Store(1)
	c.dataEnd.Store(-1)
	var hb [HeaderSizeBytes]byte
	if err := vfs.ReadFull(f, hb[:], 0); err != nil {
		f.Close()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: chunk %s has no complete header", ErrCorrupt, cf.name)
		}
		return nil, fmt.Errorf("cannot read chunk %s: %w", cf.name, err)
	}
	h, err := decodeChunkHeader(hb[:])
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("chunk %s: %w", cf.name, err)
	}
	if h.Number != cf.num || h.DataSizeBytes != l.ds {
		f.Close()
		return nil, fmt.Errorf("%w: chunk %s header says chunk %d of %d bytes, want chunk %d of %d bytes",
			ErrCorrupt, cf.name, h.Number, h.DataSizeBytes, cf.num, l.ds)
	}
	c.id = h.ID
	var fb [FooterSizeBytes]byte
	n, err := f.ReadAt(fb[:], HeaderSizeBytes+l.ds)
	if err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, fmt.Errorf("cannot read chunk %s footer: %w", cf.name, err)
	}
	if ft, ok := decodeChunkFooter(fb[:n]); ok && ft.DataEndBytes >= 0 && ft.DataEndBytes <= l.ds {
		// A valid footer was read at its place, so the file is full size:
		// mapped reads of its data can never run past the file's end.
		c.dataEnd.Store(ft.DataEndBytes)
		c.hash.Store(ft.Hash)
	}
	l.mapChunk(c)
	return c, nil
}

// mapChunk maps c's file when the filesystem allows it; readers fall back
// to pread otherwise.
func (l *Log) mapChunk(c *chunk) {
	m, ok := c.f.(vfs.Mappable)
	if l.noMmap || !ok {
		return
	}
	data, err := m.MapReadOnly(HeaderSizeBytes + l.ds + FooterSizeBytes)
	if err != nil {
		l.logger.Warn("cannot map chunk; reading it with pread", "chunk", c.name, "err", err)
		return
	}
	c.data = data
}

func newChunkID() [16]byte {
	var id [16]byte
	rand.Read(id[:])
	return id
}

// closeFiles releases every file the log holds.
func (l *Log) closeFiles() error {
	var errs []error
	for _, c := range l.chunkList() {
		if c != nil {
			if err := c.release(); err != nil {
				errs = append(errs, fmt.Errorf("cannot close chunk %s: %w", c.name, err))
			}
		}
	}
	l.publishChunks(nil)
	if l.wchk != nil {
		errs = append(errs, l.wchk.close())
	}
	if l.tchk != nil {
		errs = append(errs, l.tchk.close())
	}
	l.ckMu.Lock()
	for _, c := range l.checkpoints {
		errs = append(errs, c.close())
	}
	l.ckMu.Unlock()
	if l.lock != nil {
		errs = append(errs, l.lock.Close())
	}
	return errors.Join(errs...)
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// allZero reports whether c's file holds only zero bytes in [from, to).
func (l *Log) allZero(c *chunk, from, to int64) (bool, error) {
	buf := make([]byte, min(to-from, 1<<20))
	for off := from; off < to; {
		n := min(int64(len(buf)), to-off)
		if err := vfs.ReadFull(c.f, buf[:n], off); err != nil {
			return false, fmt.Errorf("cannot read chunk %s: %w", c.name, err)
		}
		for _, b := range buf[:n] {
			if b != 0 {
				return false, nil
			}
		}
		off += n
	}
	return true, nil
}
