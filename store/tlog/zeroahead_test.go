package tlog

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/eventstored/eventstored/store/vfs"
)

// zeroAheadStep is the zeroAhead step of these tests: eight steps per
// 4 KiB chunk, so records cross many of them.
const zeroAheadStep = 512

// openInPlace opens a log whose every chunk is created in place and kept
// zeroed zeroAheadStep bytes ahead (no background preparation).
func openInPlace(t testing.TB, opts Options) *Log {
	t.Helper()
	opts.Prealloc = PreallocZeroFill
	l := mustOpen(t, opts)
	l.zaStep = zeroAheadStep
	l.prepStop.Store(true) // NB: startPrepare does nothing; roll creates in place
	return l
}

func fileSize(t testing.TB, c *chunk) int64 {
	t.Helper()
	st, err := c.f.Stat()
	requireNoError(t, err)
	return st.Size()
}

// checkZeroAhead checks the writer's chunk: its file holds the data and
// only zeros past it. Unless a truncation cut the chunk (which erases in
// place and keeps the file's size, even a sealed chunk's full size), it
// holds at most one step of zeros past the data, and never more than the
// data area (no footer before the seal).
func checkZeroAhead(t *testing.T, l *Log, truncated bool) {
	t.Helper()
	if l.cur == nil {
		return
	}
	size := fileSize(t, l.cur)
	data := size - HeaderSizeBytes
	switch {
	case data < l.fileOff:
		t.Fatalf("chunk %s: file holds %d data bytes, the writer wrote %d", l.cur.name, data, l.fileOff)
	case data > l.ds+FooterSizeBytes:
		t.Fatalf("chunk %s: file holds %d data bytes, past the chunk's full size", l.cur.name, data)
	case truncated:
	case data > l.ds:
		t.Fatalf("chunk %s: file holds %d data bytes, past the data area of %d (footer area written before the seal)", l.cur.name, data, l.ds)
	case data-l.fileOff >= l.zaStep && data != l.ds:
		t.Fatalf("chunk %s: file holds %d data bytes, more than a step past the data end %d", l.cur.name, data, l.fileOff)
	case data%l.zaStep != 0 && data != l.ds && data != l.fileOff:
		t.Fatalf("chunk %s: file holds %d data bytes, not a step boundary", l.cur.name, data)
	}
	zero, err := l.allZero(l.cur, HeaderSizeBytes+l.fileOff, size)
	requireNoError(t, err)
	if !zero {
		t.Fatalf("chunk %s: non-zero bytes past the data end %d", l.cur.name, l.fileOff)
	}
}

// TestZeroAheadGrowsOncePerStep: the file of a chunk created in place stays
// zeroed up to the next step boundary past its data, so its size changes
// at most once per step (not on every flush), never reaches the footer
// area before the seal, and a sealed chunk is full size.
func TestZeroAheadGrowsOncePerStep(t *testing.T) {
	forEachBackend(t, func(t *testing.T, mk func(int64) Options) {
		const chunkSize = 4096
		l := openInPlace(t, mk(chunkSize))
		defer l.Close()
		rng := rand.New(rand.NewPCG(3, 3))
		sizes := map[int64]map[int64]bool{} // chunk -> file sizes seen after flushes
		flushes := 0
		for i := 0; l.writePos < 3*chunkSize; i++ {
			appendN(t, l, i, 1, func(int) int { return rng.IntN(200) })
			if rng.IntN(2) == 0 {
				requireNoError(t, l.Flush())
				flushes++
				checkZeroAhead(t, l, false)
				if sizes[l.cur.num] == nil {
					sizes[l.cur.num] = map[int64]bool{}
				}
				sizes[l.cur.num][fileSize(t, l.cur)] = true
			}
		}
		full := int64(HeaderSizeBytes + chunkSize + FooterSizeBytes)
		for _, c := range l.chunkList()[:l.cur.num] {
			if got := fileSize(t, c); got != full {
				t.Fatalf("sealed chunk %s is %d bytes, want %d", c.name, got, full)
			}
		}
		for n, s := range sizes {
			if max := chunkSize/zeroAheadStep + 1; len(s) > max {
				t.Fatalf("chunk %d took %d sizes over %d flushes; zeroAhead allows %d", n, len(s), flushes, max)
			}
		}
	})
}

// TestZeroAheadChunkFilledExactly: records that fill a chunk to its last
// byte leave the file at the data area's size (no zeros written past it,
// the footer area untouched) until the next record seals the chunk.
func TestZeroAheadChunkFilledExactly(t *testing.T) {
	forEachBackend(t, func(t *testing.T, mk func(int64) Options) {
		const chunkSize = 4096
		opts := mk(chunkSize)
		l := openInPlace(t, opts)
		// 16 records of 256 bytes framed fill 4096 exactly.
		want := appendN(t, l, 0, 16, func(int) int { return 256 - RecordOverheadBytes })
		requireNoError(t, l.Flush())
		if l.fileOff != chunkSize {
			t.Fatalf("data end %d, want %d", l.fileOff, chunkSize)
		}
		if got := fileSize(t, l.cur); got != HeaderSizeBytes+chunkSize {
			t.Fatalf("full unsealed chunk is %d bytes, want %d", got, HeaderSizeBytes+chunkSize)
		}
		checkZeroAhead(t, l, false)
		want = append(want, appendN(t, l, 16, 1, func(int) int { return 10 })...)
		requireNoError(t, l.Flush())
		if got, full := fileSize(t, l.chunkList()[0]), int64(HeaderSizeBytes+chunkSize+FooterSizeBytes); got != full {
			t.Fatalf("sealed chunk is %d bytes, want %d", got, full)
		}
		checkZeroAhead(t, l, false)
		requireNoError(t, l.Close())
		l = mustOpen(t, opts)
		defer l.Close()
		checkRecords(t, readAll(t, l), want)
	})
}

// TestZeroAheadReopen: a zeroed tail is not a torn tail. Reopening keeps
// the records and the zeros (the file is not shrunk back to the data), and
// the writer carries on zeroing ahead from the file's size.
func TestZeroAheadReopen(t *testing.T) {
	forEachBackend(t, func(t *testing.T, mk func(int64) Options) {
		const chunkSize = 4096
		opts := mk(chunkSize)
		l := openInPlace(t, opts)
		want := appendN(t, l, 0, 7, func(int) int { return 100 }) // 784 B: zeroed to 1024
		requireNoError(t, l.Close())
		l = openInPlace(t, opts)
		rc := l.Recovery()
		if rc.CutBytes != 0 || rc.CutPos != -1 {
			t.Fatalf("reopen cut %d bytes at %d from a zeroed tail", rc.CutBytes, rc.CutPos)
		}
		if got := fileSize(t, l.cur); got != HeaderSizeBytes+2*zeroAheadStep {
			t.Fatalf("chunk is %d bytes after reopen, want %d (zeros kept)", got, HeaderSizeBytes+2*zeroAheadStep)
		}
		checkZeroAhead(t, l, false)
		want = append(want, appendN(t, l, 7, 10, func(int) int { return 100 })...)
		requireNoError(t, l.Flush())
		checkZeroAhead(t, l, false)
		checkRecords(t, readAll(t, l), want)
		requireNoError(t, l.Close())
	})
}

// TestZeroAheadTruncate: truncating back across zeroed steps erases the
// cut records in place (the file keeps its size, for mapped readers),
// leaves only zeros past the new end, and the records written after it
// survive a reopen and a crash.
func TestZeroAheadTruncate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, mk func(int64) Options) {
		const chunkSize = 4096
		opts := mk(chunkSize)
		mem, _ := opts.FS.(*vfs.MemFS)
		l := openInPlace(t, opts)
		all := appendN(t, l, 0, 25, func(int) int { return 100 }) // 2800 B: six steps
		requireNoError(t, l.Flush())
		before := fileSize(t, l.cur)
		requireNoError(t, l.Truncate(all[3].pos)) // back into the first step
		if got := fileSize(t, l.cur); got != before {
			t.Fatalf("truncation changed the file size from %d to %d", before, got)
		}
		checkZeroAhead(t, l, true)
		want := append(all[:3:3], appendN(t, l, 100, 5, func(int) int { return 150 })...)
		requireNoError(t, l.Flush())
		checkZeroAhead(t, l, true)
		if mem != nil {
			checkConsistent(t, mem.CrashClone(), chunkSize, want, len(want))
		}
		requireNoError(t, l.Close())
		l = mustOpen(t, opts)
		defer l.Close()
		checkRecords(t, readAll(t, l), want)
	})
}

// TestZeroAheadSurvivesCrashes runs appends, flushes and truncations over
// several chunks all created in place and zeroed ahead in small steps
// (with even seeds, flushes of more than 700 bytes grow the file instead),
// taking crash clones between steps: every clone reopens with its
// acknowledged records, whatever part of the zeros reached the disk.
func TestZeroAheadSurvivesCrashes(t *testing.T) {
	const chunkSize = 4096
	for seed := uint64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewPCG(seed, 11))
		mem := vfs.NewMem()
		l := openInPlace(t, testOpts(mem, chunkSize))
		if seed%2 == 0 {
			l.zaMaxFlush = 700 // some flushes grow the file, others zero ahead
		}
		type clone struct {
			fs    *vfs.MemFS
			model []rec
			acked int
		}
		var (
			clones []clone
			model  []rec
			acked  int
			cutIn  = int64(-1) // chunk the last truncation cut
		)
		for step := 0; step < 400; step++ {
			switch r := rng.IntN(20); {
			case r < 14:
				p := payloadFor(step, rng.IntN(300))
				pos, err := l.Append(p)
				requireNoError(t, err)
				model = append(model, rec{pos, p})
			case r < 19:
				requireNoError(t, l.Flush())
				acked = len(model)
				checkZeroAhead(t, l, l.cur != nil && l.cur.num <= cutIn)
			default:
				if len(model) == 0 {
					continue
				}
				cut := rng.IntN(len(model))
				requireNoError(t, l.Truncate(model[cut].pos))
				cutIn = model[cut].pos / chunkSize
				model = model[:cut]
				acked = cut
				checkZeroAhead(t, l, true)
			}
			if rng.IntN(8) == 0 {
				clones = append(clones, clone{mem.CrashClone(), append([]rec(nil), model...), acked})
			}
		}
		requireNoError(t, l.Close())
		clones = append(clones, clone{mem.CrashClone(), model, len(model)})
		for i, c := range clones {
			t.Run(fmt.Sprintf("seed %d clone %d", seed, i), func(t *testing.T) {
				checkConsistent(t, c.fs, chunkSize, c.model, c.acked)
			})
		}
	}
}

// TestZeroAheadSkipsLargeFlushes: a flush of more than zaMaxFlush bytes
// just grows the file (zeros would cost as much as its data); the next
// small flush zeroes ahead again.
func TestZeroAheadSkipsLargeFlushes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, mk func(int64) Options) {
		const chunkSize = 4096
		opts := mk(chunkSize)
		l := openInPlace(t, opts)
		l.zaMaxFlush = 600
		want := appendN(t, l, 0, 10, func(int) int { return 100 }) // 1120 B in one flush
		requireNoError(t, l.Flush())
		if got := fileSize(t, l.cur); got != HeaderSizeBytes+1120 {
			t.Fatalf("chunk is %d bytes after a large flush, want %d (no zeros)", got, HeaderSizeBytes+1120)
		}
		checkZeroAhead(t, l, false)
		want = append(want, appendN(t, l, 10, 1, func(int) int { return 100 })...) // 112 B
		requireNoError(t, l.Flush())
		if got := fileSize(t, l.cur); got != HeaderSizeBytes+3*zeroAheadStep {
			t.Fatalf("chunk is %d bytes after a small flush, want %d (zeroed to the next step)", got, HeaderSizeBytes+3*zeroAheadStep)
		}
		checkZeroAhead(t, l, false)
		requireNoError(t, l.Close())
		l = mustOpen(t, opts)
		defer l.Close()
		checkRecords(t, readAll(t, l), want)
	})
}
