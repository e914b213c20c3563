package tlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/eventstored/eventstored/store/vfs"
)

// quietLogger discards log output in tests that expect warnings.
var quietLogger = slog.New(slog.DiscardHandler)

func requireNoError(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func testOpts(fsys vfs.FS, chunkSize int64) Options {
	// NB: the checkpoint timer would fsync writer.chk from its own
	// goroutine at a time no test controls; tests that count or record
	// filesystem operations need them all on the test's goroutine.
	// TestCheckpointTimer covers the timer.
	return Options{FS: fsys, Dir: "/db", ChunkSizeBytes: chunkSize, Logger: quietLogger, WriteBufferBytes: minBufferBytes, IteratorBlockBytes: minBufferBytes,
		CheckpointSyncInterval: time.Hour}
}

// forEachBackend runs f against the in-memory FS and the real disk, with
// mapped and with pread chunk reads. mk returns options for a fresh log;
// call it once per log and reuse the result to reopen.
func forEachBackend(t *testing.T, f func(t *testing.T, mk func(chunkSize int64) Options)) {
	backends := []struct {
		name string
		mk   func(t *testing.T, chunkSize int64) Options
	}{
		{"mem", func(t *testing.T, cs int64) Options { return testOpts(vfs.NewMem(), cs) }},
		{"os-mmap", func(t *testing.T, cs int64) Options {
			o := testOpts(vfs.Default, cs)
			o.Dir = t.TempDir()
			return o
		}},
		{"os-pread", func(t *testing.T, cs int64) Options {
			o := testOpts(vfs.Default, cs)
			o.Dir = t.TempDir()
			o.NoMmap = true
			return o
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f(t, func(cs int64) Options { return b.mk(t, cs) })
		})
	}
}

func mustOpen(t testing.TB, opts Options) *Log {
	t.Helper()
	l, err := Open(opts)
	requireNoError(t, err)
	return l
}

// payloadFor returns a deterministic payload of n bytes for record i.
func payloadFor(i, n int) []byte {
	p := make([]byte, n)
	for j := range p {
		p[j] = byte(i*31 + j)
	}
	return p
}

type rec struct {
	pos     int64
	payload []byte
}

func appendN(t testing.TB, l *Log, start, n int, size func(i int) int) []rec {
	t.Helper()
	var out []rec
	for i := start; i < start+n; i++ {
		p := payloadFor(i, size(i))
		pos, err := l.Append(p)
		requireNoError(t, err)
		out = append(out, rec{pos, p})
	}
	return out
}

func readAll(t testing.TB, l *Log) []rec {
	t.Helper()
	it := l.NewIterator(0)
	defer it.Close()
	var out []rec
	for {
		pos, p, err := it.Next()
		if err == io.EOF {
			return out
		}
		requireNoError(t, err)
		out = append(out, rec{pos, bytes.Clone(p)})
	}
}

func checkRecords(t testing.TB, got, want []rec) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("unexpected record count; got %d; want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].pos != want[i].pos || !bytes.Equal(got[i].payload, want[i].payload) {
			t.Fatalf("unexpected record %d; got pos %d len %d; want pos %d len %d", i, got[i].pos, len(got[i].payload), want[i].pos, len(want[i].payload))
		}
	}
}

func TestAppendFlushReadAcrossChunks(t *testing.T) {
	forEachBackend(t, testAppendFlushReadAcrossChunks)
}

func testAppendFlushReadAcrossChunks(t *testing.T, mk func(int64) Options) {
	o := mk(256)
	l := mustOpen(t, o)
	size := func(i int) int { return i % 60 }
	want := appendN(t, l, 0, 200, size)
	if d := l.Durable(); d != 0 {
		t.Fatalf("unexpected durable before flush; got %d; want 0", d)
	}
	if _, _, err := l.ReadAt(0, nil); err != io.EOF {
		t.Fatalf("unexpected ReadAt before flush; got %v; want io.EOF", err)
	}
	requireNoError(t, l.Flush())
	checkRecords(t, readAll(t, l), want)
	// Positions strictly increase and no record spans a chunk.
	for i, r := range want {
		if i > 0 && r.pos <= want[i-1].pos {
			t.Fatalf("positions do not increase at %d: %d after %d", i, r.pos, want[i-1].pos)
		}
		if r.pos/256 != (r.pos+int64(len(r.payload))+RecordOverheadBytes-1)/256 {
			t.Fatalf("record %d at %d spans a chunk", i, r.pos)
		}
	}
	// ReadAt walks the same chain.
	scratch := make([]byte, 0, 128)
	pos := int64(0)
	for i, r := range want {
		p, next, err := l.ReadAt(pos, scratch)
		requireNoError(t, err)
		if !bytes.Equal(p, r.payload) {
			t.Fatalf("ReadAt record %d differs", i)
		}
		if i+1 < len(want) && next != want[i+1].pos {
			// next may name a sealed chunk's end; it must read the same record.
			p2, _, err := l.ReadAt(next, scratch)
			requireNoError(t, err)
			if !bytes.Equal(p2, want[i+1].payload) {
				t.Fatalf("ReadAt next of record %d does not lead to record %d", i, i+1)
			}
		}
		pos = next
	}
	if _, _, err := l.ReadAt(pos, scratch); err != io.EOF {
		t.Fatalf("unexpected read past the end; got %v; want io.EOF", err)
	}
	requireNoError(t, l.Close())
	l = mustOpen(t, o)
	defer l.Close()
	checkRecords(t, readAll(t, l), want)
	if r := l.Recovery(); r.CutBytes != 0 || len(r.RemovedChunks) != 0 {
		t.Fatalf("unexpected cut after a clean close: %+v", r)
	}
}

func TestBackwardIteration(t *testing.T) {
	forEachBackend(t, testBackwardIteration)
}

func testBackwardIteration(t *testing.T, mk func(int64) Options) {
	sizes := []int64{64, 256, 4096, 1 << 20}
	if mk(256).FS == vfs.Default {
		// One chunk per record costs three fsyncs each on a real disk; the
		// in-memory run covers the tiny chunks.
		sizes = sizes[1:]
	}
	for _, cs := range sizes {
		t.Run(fmt.Sprintf("chunk size %d", cs), func(t *testing.T) {
			l := mustOpen(t, mk(cs))
			defer l.Close()
			maxP := l.MaxPayloadBytes()
			want := appendN(t, l, 0, 300, func(i int) int { return min(maxP, (i*7)%100) })
			requireNoError(t, l.Flush())
			it := l.NewBackwardIterator(l.Durable())
			defer it.Close()
			for i := len(want) - 1; i >= 0; i-- {
				pos, p, err := it.Next()
				requireNoError(t, err)
				if pos != want[i].pos || !bytes.Equal(p, want[i].payload) {
					t.Fatalf("unexpected record %d; got pos %d; want %d", i, pos, want[i].pos)
				}
			}
			if _, _, err := it.Next(); err != io.EOF {
				t.Fatalf("unexpected end; got %v; want io.EOF", err)
			}
			// From the middle.
			mid := want[150].pos
			it2 := l.NewBackwardIterator(mid)
			defer it2.Close()
			pos, _, err := it2.Next()
			requireNoError(t, err)
			if pos != want[149].pos {
				t.Fatalf("unexpected first record from the middle; got %d; want %d", pos, want[149].pos)
			}
		})
	}
}

func TestRecordsLargerThanBuffers(t *testing.T) {
	forEachBackend(t, testRecordsLargerThanBuffers)
}

func testRecordsLargerThanBuffers(t *testing.T, mk func(int64) Options) {
	o := mk(1 << 20)
	l := mustOpen(t, o)
	sizes := []int{10, 3 * minBufferBytes, 5, minBufferBytes*2 + 7, 0, 100}
	want := appendN(t, l, 0, len(sizes), func(i int) int { return sizes[i] })
	requireNoError(t, l.Flush())
	checkRecords(t, readAll(t, l), want)
	for _, r := range want {
		p, _, err := l.ReadAt(r.pos, nil)
		requireNoError(t, err)
		if !bytes.Equal(p, r.payload) {
			t.Fatalf("ReadAt of %d-byte record differs", len(r.payload))
		}
	}
	it := l.NewBackwardIterator(l.Durable())
	for i := len(want) - 1; i >= 0; i-- {
		_, p, err := it.Next()
		requireNoError(t, err)
		if !bytes.Equal(p, want[i].payload) {
			t.Fatalf("backward record %d differs", i)
		}
	}
	it.Close()
	requireNoError(t, l.Close())
	l = mustOpen(t, o)
	defer l.Close()
	checkRecords(t, readAll(t, l), want)
}

func TestPayloadLimit(t *testing.T) {
	l := mustOpen(t, testOpts(vfs.NewMem(), 256))
	defer l.Close()
	if got, want := l.MaxPayloadBytes(), 256-RecordOverheadBytes; got != want {
		t.Fatalf("unexpected limit; got %d; want %d", got, want)
	}
	_, err := l.Append(make([]byte, 256-RecordOverheadBytes+1))
	if !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("unexpected error; got %v; want ErrRecordTooLarge", err)
	}
	// Not latched: the biggest allowed record still goes in.
	pos, err := l.Append(make([]byte, 256-RecordOverheadBytes))
	requireNoError(t, err)
	requireNoError(t, l.Flush())
	p, _, err := l.ReadAt(pos, nil)
	requireNoError(t, err)
	if len(p) != 256-RecordOverheadBytes {
		t.Fatalf("unexpected payload length %d", len(p))
	}
	big := mustOpen(t, Options{FS: vfs.NewMem(), Dir: "/big", Logger: quietLogger, SkipVerify: true})
	defer big.Close()
	if got := big.MaxPayloadBytes(); got != MaxPayloadBytesLimit {
		t.Fatalf("unexpected default limit; got %d; want %d", got, MaxPayloadBytesLimit)
	}
}

func TestIteratorTailsTheLog(t *testing.T) {
	forEachBackend(t, testIteratorTailsTheLog)
}

func testIteratorTailsTheLog(t *testing.T, mk func(int64) Options) {
	l := mustOpen(t, mk(512))
	defer l.Close()
	it := l.NewIterator(0)
	defer it.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	var want []rec
	got := 0
	for round := 0; round < 50; round++ {
		want = append(want, appendN(t, l, len(want), rng.IntN(20), func(i int) int { return rng.IntN(120) })...)
		requireNoError(t, l.Flush())
		for {
			pos, p, err := it.Next()
			if err == io.EOF {
				break
			}
			requireNoError(t, err)
			if pos != want[got].pos || !bytes.Equal(p, want[got].payload) {
				t.Fatalf("unexpected record %d", got)
			}
			got++
		}
		if got != len(want) {
			t.Fatalf("iterator stopped at %d of %d", got, len(want))
		}
	}
}

func TestOpenRejectsSecondOpen(t *testing.T) {
	fsys := vfs.NewMem()
	l := mustOpen(t, testOpts(fsys, 256))
	_, err := Open(testOpts(fsys, 256))
	if !errors.Is(err, vfs.ErrLocked) {
		t.Fatalf("unexpected second open; got %v; want vfs.ErrLocked", err)
	}
	requireNoError(t, l.Close())
	l = mustOpen(t, testOpts(fsys, 256))
	requireNoError(t, l.Close())
}

func TestOpenRejectsOtherChunkSize(t *testing.T) {
	fsys := vfs.NewMem()
	l := mustOpen(t, testOpts(fsys, 256))
	appendN(t, l, 0, 30, func(int) int { return 20 })
	requireNoError(t, l.Close())
	_, err := Open(testOpts(fsys, 512))
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unexpected open with another chunk size; got %v; want ErrCorrupt", err)
	}
}

func TestNamedCheckpoints(t *testing.T) {
	fsys := vfs.NewMem()
	l := mustOpen(t, testOpts(fsys, 256))
	c, err := l.Checkpoint("chaser", 0)
	requireNoError(t, err)
	e, err := l.Checkpoint("epoch", -1)
	requireNoError(t, err)
	if c.Read() != 0 || e.Read() != -1 {
		t.Fatalf("unexpected initial values %d %d", c.Read(), e.Read())
	}
	for v := int64(1); v <= 5; v++ {
		c.Write(v * 100)
		if c.Read() != (v-1)*100 || c.ReadNonFlushed() != v*100 {
			t.Fatalf("unexpected values before flush; got %d/%d", c.Read(), c.ReadNonFlushed())
		}
		requireNoError(t, c.Flush())
	}
	for _, bad := range []string{"writer", "truncate", "", "a/b", "A"} {
		if _, err := l.Checkpoint(bad, 0); err == nil {
			t.Fatalf("checkpoint name %q accepted", bad)
		}
	}
	requireNoError(t, l.Close())
	for _, crashed := range []bool{false, true} {
		f := fsys
		if crashed {
			f = fsys.CrashClone()
		}
		l = mustOpen(t, testOpts(f, 256))
		c, err = l.Checkpoint("chaser", 0)
		requireNoError(t, err)
		if c.Read() != 500 {
			t.Fatalf("unexpected chaser after reopen (crash %v); got %d; want 500", crashed, c.Read())
		}
		requireNoError(t, l.Close())
	}
}

func TestTruncate(t *testing.T) {
	fsys := vfs.NewMem()
	l := mustOpen(t, testOpts(fsys, 256))
	want := appendN(t, l, 0, 100, func(i int) int { return 10 + i%30 })
	requireNoError(t, l.Flush())
	it := l.NewIterator(0)
	_, _, err := it.Next()
	requireNoError(t, err)

	// Not a boundary.
	if err := l.Truncate(want[40].pos + 1); !errors.Is(err, ErrBadPosition) {
		t.Fatalf("unexpected truncation inside a record; got %v; want ErrBadPosition", err)
	}
	if err := l.Truncate(l.Durable() + 1); !errors.Is(err, ErrBadPosition) {
		t.Fatalf("unexpected truncation past the end; got %v; want ErrBadPosition", err)
	}
	cut := want[40].pos
	requireNoError(t, l.Truncate(cut))
	if l.Durable() != cut {
		t.Fatalf("unexpected durable after truncation; got %d; want %d", l.Durable(), cut)
	}
	if _, _, err := it.Next(); !errors.Is(err, ErrTruncated) {
		t.Fatalf("unexpected iterator after truncation; got %v; want ErrTruncated", err)
	}
	it.Close()
	checkRecords(t, readAll(t, l), want[:40])
	// Appends continue at the cut, with different sizes than before, and
	// nothing of the old tail comes back after a crash.
	more := appendN(t, l, 1000, 30, func(i int) int { return 3 + i%7 })
	if more[0].pos != cut {
		t.Fatalf("unexpected first position after truncation; got %d; want %d", more[0].pos, cut)
	}
	requireNoError(t, l.Flush())
	all := append(append([]rec(nil), want[:40]...), more...)
	checkRecords(t, readAll(t, l), all)
	crash := fsys.CrashClone()
	requireNoError(t, l.Close())
	for _, f := range []*vfs.MemFS{fsys, crash} {
		l2 := mustOpen(t, testOpts(f, 256))
		checkRecords(t, readAll(t, l2), all)
		// The zeros an online truncation leaves are not a torn tail.
		if r := l2.Recovery(); r.CutBytes != 0 {
			t.Fatalf("unexpected cut after a truncation: %+v", r)
		}
		requireNoError(t, l2.Close())
	}
	// Truncate to 0 and to a chunk start.
	l = mustOpen(t, testOpts(fsys, 256))
	requireNoError(t, l.Truncate(256))
	checkRecords(t, readAll(t, l), recsBefore(all, 256))
	requireNoError(t, l.Truncate(0))
	checkRecords(t, readAll(t, l), nil)
	requireNoError(t, l.Close())
	l = mustOpen(t, testOpts(fsys, 256))
	checkRecords(t, readAll(t, l), nil)
	requireNoError(t, l.Close())
}

func recsBefore(rs []rec, pos int64) []rec {
	var out []rec
	for _, r := range rs {
		if r.pos < pos {
			out = append(out, r)
		}
	}
	return out
}

func TestIteratorReset(t *testing.T) {
	forEachBackend(t, testIteratorReset)
}

// testIteratorReset: Reset moves an iterator to any record boundary, also
// backwards and across chunks, clears Close and truncation errors, and
// reads exactly what a fresh iterator reads.
func testIteratorReset(t *testing.T, mk func(int64) Options) {
	l := mustOpen(t, mk(512))
	defer l.Close()
	want := appendN(t, l, 0, 60, func(i int) int { return 10 + i%90 })
	requireNoError(t, l.Flush())
	it := l.NewIterator(0)
	defer it.Close()
	readFrom := func(k int) {
		t.Helper()
		it.Reset(want[k].pos)
		for i := k; i < len(want); i++ {
			pos, p, err := it.Next()
			requireNoError(t, err)
			if pos != want[i].pos || !bytes.Equal(p, want[i].payload) {
				t.Fatalf("after Reset to record %d: unexpected record at %d (want record %d)", k, pos, i)
			}
		}
		if _, _, err := it.Next(); err != io.EOF {
			t.Fatalf("after Reset to record %d: got %v at the end; want io.EOF", k, err)
		}
	}
	for _, k := range []int{0, 59, 30, 1, 45, 0} {
		readFrom(k)
	}
	it.Close()
	readFrom(10) // Reset after Close: usable again
	requireNoError(t, l.Truncate(want[40].pos))
	if _, _, err := it.Next(); !errors.Is(err, ErrTruncated) {
		t.Fatalf("after a truncation: got %v; want ErrTruncated", err)
	}
	want = want[:40]
	readFrom(20) // Reset after a truncation reads the log as it is now
	it.Reset(-1)
	if _, _, err := it.Next(); !errors.Is(err, ErrBadPosition) {
		t.Fatalf("Reset(-1): got %v; want ErrBadPosition", err)
	}
}
