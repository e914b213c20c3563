package tlog

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/eventstored/eventstored/store/vfs"
)

// logBuffer captures log output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func captureLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, nil)), b
}

// setWriterCheckpoint rewrites writer.chk of a closed log.
func setWriterCheckpoint(t testing.TB, fsys vfs.FS, dir string, v int64) {
	t.Helper()
	c, err := openCheckpoint(fsys, dir+"/writer.chk", "writer", 0)
	requireNoError(t, err)
	c.Write(v)
	requireNoError(t, c.Flush())
	requireNoError(t, c.close())
}

func openRaw(t testing.TB, fsys vfs.FS, path string) vfs.File {
	t.Helper()
	f, err := fsys.OpenReadWrite(path)
	requireNoError(t, err)
	return f
}

// TestTornTailAtEveryOffset writes records, then pretends the last one was
// only partly written when the machine stopped: the writer checkpoint is
// set to the last record's start and the chunk is cut (or zeroed, or filled
// with garbage) at every byte offset inside that record. Each reopen must
// yield exactly the records before it, report and log the cut, and accept
// new appends that read back without any stale byte of the torn record.
func TestTornTailAtEveryOffset(t *testing.T) {
	const chunkSize = 4096
	modes := []string{"truncated", "zeroed", "garbage"}
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			base := vfs.NewMem()
			l := mustOpen(t, testOpts(base, chunkSize))
			want := appendN(t, l, 0, 20, func(i int) int { return 40 + i })
			requireNoError(t, l.Close())
			last := want[len(want)-1]
			size := int64(len(last.payload)) + RecordOverheadBytes
			for k := int64(0); k < size; k++ {
				fsys := base.CrashClone()
				setWriterCheckpoint(t, fsys, "/db", last.pos)
				f := openRaw(t, fsys, "/db/"+chunkFileName(0, 0))
				physEnd := HeaderSizeBytes + last.pos + k
				switch mode {
				case "truncated":
					requireNoError(t, f.Truncate(physEnd))
				case "zeroed", "garbage":
					fill := byte(0)
					if mode == "garbage" {
						fill = 0xA5
					}
					orig := make([]byte, size-k)
					requireNoError(t, vfs.ReadFull(f, orig, physEnd))
					if bytes.Count(orig, []byte{fill}) == len(orig) {
						// Overwriting with what is there tears nothing
						// (e.g. the zero high byte of the length suffix).
						f.Close()
						continue
					}
					_, err := f.WriteAt(bytes.Repeat([]byte{fill}, int(size-k)), physEnd)
					requireNoError(t, err)
				}
				requireNoError(t, f.Sync())
				f.Close()

				logger, logs := captureLogger()
				opts := testOpts(fsys, chunkSize)
				opts.Logger = logger
				l, err := Open(opts)
				requireNoError(t, err)
				checkRecords(t, readAll(t, l), want[:len(want)-1])
				r := l.Recovery()
				wantCut := k
				if mode != "truncated" {
					wantCut = size
				}
				if mode == "zeroed" && k == 0 {
					// Only zeros past the last record: nothing was lost,
					// nothing is reported.
					wantCut = 0
				}
				if r.End != last.pos || r.CutBytes != wantCut || (wantCut > 0 && r.CutPos != last.pos) {
					t.Fatalf("offset %d: unexpected recovery %+v; want end %d, cut %d bytes at %d", k, r, last.pos, wantCut, last.pos)
				}
				if wantCut > 0 && (!strings.Contains(logs.String(), "cut torn tail of the transaction log") || !strings.Contains(logs.String(), fmt.Sprintf("pos=%d bytes=%d", last.pos, wantCut))) {
					t.Fatalf("offset %d: the cut was not logged; log:\n%s", k, logs)
				}
				// A shorter record then a longer one: neither may pick up
				// stale bytes of the torn record.
				more := appendN(t, l, 100, 2, func(i int) int { return 3 + (i-100)*70 })
				requireNoError(t, l.Flush())
				requireNoError(t, l.Close())
				l = mustOpen(t, testOpts(fsys.CrashClone(), chunkSize))
				checkRecords(t, readAll(t, l), append(append([]rec(nil), want[:len(want)-1]...), more...))
				requireNoError(t, l.Close())
			}
		})
	}
}

// TestCorruptionBeforeCheckpoint damages bytes the log had declared
// durable: opening must refuse (the record at the checkpoint) or reads must
// report ErrCorrupt (records further back), never a torn tail.
func TestCorruptionBeforeCheckpoint(t *testing.T) {
	const chunkSize = 4096
	base := vfs.NewMem()
	l := mustOpen(t, testOpts(base, chunkSize))
	want := appendN(t, l, 0, 20, func(i int) int { return 40 + i })
	requireNoError(t, l.Close())
	flip := func(fsys vfs.FS, pos int64) {
		f := openRaw(t, fsys, "/db/"+chunkFileName(0, 0))
		b := make([]byte, 1)
		requireNoError(t, vfs.ReadFull(f, b, HeaderSizeBytes+pos))
		b[0] ^= 0xFF
		_, err := f.WriteAt(b, HeaderSizeBytes+pos)
		requireNoError(t, err)
		f.Close()
	}
	t.Run("when the record before the checkpoint is damaged", func(t *testing.T) {
		fsys := base.CrashClone()
		flip(fsys, want[19].pos+20)
		_, err := Open(testOpts(fsys, chunkSize))
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("unexpected open; got %v; want ErrCorrupt", err)
		}
	})
	t.Run("when an older record is damaged", func(t *testing.T) {
		fsys := base.CrashClone()
		flip(fsys, want[5].pos+9)
		l := mustOpen(t, testOpts(fsys, chunkSize))
		defer l.Close()
		if _, _, err := l.ReadAt(want[5].pos, nil); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("unexpected ReadAt; got %v; want ErrCorrupt", err)
		}
		it := l.NewIterator(0)
		defer it.Close()
		var err error
		for i := 0; i < 6; i++ {
			_, _, err = it.Next()
		}
		if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTornTail) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("unexpected iterator error; got %v; want ErrCorrupt", err)
		}
		bit := l.NewBackwardIterator(want[6].pos)
		defer bit.Close()
		if _, _, err := bit.Next(); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("unexpected backward iterator error; got %v; want ErrCorrupt", err)
		}
	})
}

// TestRecoveryRemovesChunksPastATornTail: a record torn in chunk n while
// chunk n+1 was already created (roll-over in progress): chunk n+1 goes.
func TestRecoveryRemovesChunksPastATornTail(t *testing.T) {
	fsys := vfs.NewMem()
	l := mustOpen(t, testOpts(fsys, 256))
	want := appendN(t, l, 0, 40, func(int) int { return 30 })
	requireNoError(t, l.Flush())
	requireNoError(t, l.Close())
	// Writer checkpoint back into chunk 1, and chunk 1 damaged right there.
	cut := want[8].pos // chunk 1 (6 records of 42 bytes per chunk)
	if cut/256 != 1 {
		t.Fatalf("test setup: record 8 is in chunk %d", cut/256)
	}
	setWriterCheckpoint(t, fsys, "/db", cut)
	f := openRaw(t, fsys, "/db/"+chunkFileName(1, 0))
	_, err := f.WriteAt([]byte{0xFF, 0xFF}, HeaderSizeBytes+cut%256+5)
	requireNoError(t, err)
	f.Close()
	l = mustOpen(t, testOpts(fsys, 256))
	defer l.Close()
	checkRecords(t, readAll(t, l), want[:8])
	r := l.Recovery()
	if len(r.RemovedChunks) == 0 || r.RemovedChunks[0] != chunkFileName(2, 0) {
		t.Fatalf("unexpected removed chunks %q", r.RemovedChunks)
	}
	names, _ := fsys.List("/db")
	for _, n := range names {
		if num, _, ok := parseChunkFileName(n); ok && num > 1 {
			t.Fatalf("chunk %s survived recovery", n)
		}
	}
}

func TestRecoveryRefusesMissingChunks(t *testing.T) {
	fsys := vfs.NewMem()
	l := mustOpen(t, testOpts(fsys, 256))
	appendN(t, l, 0, 40, func(int) int { return 30 })
	requireNoError(t, l.Close())
	requireNoError(t, fsys.Remove("/db/"+chunkFileName(1, 0)))
	if _, err := Open(testOpts(fsys, 256)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unexpected open without chunk 1; got %v; want ErrCorrupt", err)
	}
	fsys2 := vfs.NewMem()
	l = mustOpen(t, testOpts(fsys2, 256))
	appendN(t, l, 0, 3, func(int) int { return 30 })
	requireNoError(t, l.Close())
	requireNoError(t, fsys2.Remove("/db/writer.chk"))
	if _, err := Open(testOpts(fsys2, 256)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unexpected open without writer.chk; got %v; want ErrCorrupt", err)
	}
}

// TestChunkFilledToTheLastByte: a record that ends exactly at the chunk end
// leaves the chunk open (the writer seals it when the next record comes),
// and every path must cope with a durable end at that boundary.
func TestChunkFilledToTheLastByte(t *testing.T) {
	fsys := vfs.NewMem()
	l := mustOpen(t, testOpts(fsys, 256))
	want := appendN(t, l, 0, 2, func(int) int { return 128 - RecordOverheadBytes })
	requireNoError(t, l.Flush())
	if l.Durable() != 256 {
		t.Fatalf("unexpected durable; got %d; want 256", l.Durable())
	}
	crash := fsys.CrashClone()
	requireNoError(t, l.Close())
	for _, f := range []vfs.FS{fsys, crash} {
		l = mustOpen(t, testOpts(f, 256))
		checkRecords(t, readAll(t, l), want)
		bit := l.NewBackwardIterator(l.Durable())
		pos, _, err := bit.Next()
		requireNoError(t, err)
		if pos != 128 {
			t.Fatalf("unexpected last record; got %d; want 128", pos)
		}
		bit.Close()
		more := appendN(t, l, 2, 1, func(int) int { return 10 })
		if more[0].pos != 256 {
			t.Fatalf("unexpected position after a full chunk; got %d; want 256", more[0].pos)
		}
		requireNoError(t, l.Flush())
		checkRecords(t, readAll(t, l), append(append([]rec(nil), want...), more...))
		requireNoError(t, l.Truncate(256))
		requireNoError(t, l.Close())
	}
}

// TestCorruptionSeenThroughEveryReadPath damages a durable record on the
// real disk; ReadAt (mapped and pread) and both iterators report
// ErrCorrupt.
func TestCorruptionSeenThroughEveryReadPath(t *testing.T) {
	forEachBackend(t, func(t *testing.T, mk func(int64) Options) {
		o := mk(4096)
		l := mustOpen(t, o)
		want := appendN(t, l, 0, 20, func(i int) int { return 40 + i })
		requireNoError(t, l.Close())
		f := openRaw(t, o.FS, o.Dir+"/"+chunkFileName(0, 0))
		_, err := f.WriteAt([]byte{0xEE}, HeaderSizeBytes+want[5].pos+9)
		requireNoError(t, err)
		requireNoError(t, f.Close())
		l = mustOpen(t, o)
		defer l.Close()
		if _, _, err := l.ReadAt(want[5].pos, make([]byte, 0, 4096)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("unexpected ReadAt; got %v; want ErrCorrupt", err)
		}
		if _, _, err := l.ReadAt(want[4].pos, nil); err != nil {
			t.Fatalf("unexpected ReadAt of an intact record: %v", err)
		}
		it := l.NewIterator(want[5].pos)
		defer it.Close()
		if _, _, err := it.Next(); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("unexpected iterator; got %v; want ErrCorrupt", err)
		}
		bit := l.NewBackwardIterator(want[6].pos)
		defer bit.Close()
		if _, _, err := bit.Next(); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("unexpected backward iterator; got %v; want ErrCorrupt", err)
		}
	})
}
