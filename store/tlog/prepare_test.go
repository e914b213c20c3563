package tlog

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventstored/eventstored/store/vfs"
	"github.com/eventstored/eventstored/store/vfs/errorfs"
)

// TestZeroFilledChunksSurviveCrashes runs appends, flushes and truncations
// with chunks prepared in the background (PreallocZeroFill), taking crash
// clones between steps (the preparer may be mid-way): every clone reopens
// with its acknowledged records and no leftover .tmp file, and the chunks
// the writer moved into were full size (prepared, not grown).
func TestZeroFilledChunksSurviveCrashes(t *testing.T) {
	const chunkSize = 4096
	for seed := uint64(1); seed <= 3; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		mem := vfs.NewMem()
		opts := testOpts(mem, chunkSize)
		opts.Prealloc = PreallocZeroFill
		l := mustOpen(t, opts)
		type clone struct {
			fs    *vfs.MemFS
			model []rec
			acked int
		}
		var (
			clones []clone
			model  []rec
			acked  int
		)
		for step := 0; step < 400; step++ {
			switch r := rng.IntN(20); {
			case r < 14:
				p := payloadFor(step, rng.IntN(300))
				waitPrepared(l) // NB: roll takes only a finished preparation
				pos, err := l.Append(p)
				requireNoError(t, err)
				model = append(model, rec{pos, p})
			case r < 19:
				requireNoError(t, l.Flush())
				acked = len(model)
			default:
				if len(model) == 0 {
					continue
				}
				cut := rng.IntN(len(model))
				requireNoError(t, l.Truncate(model[cut].pos))
				model = model[:cut]
				acked = cut
			}
			if rng.IntN(10) == 0 {
				clones = append(clones, clone{mem.CrashClone(), append([]rec(nil), model...), acked})
			}
		}
		full := int64(HeaderSizeBytes + chunkSize + FooterSizeBytes)
		grown := 0
		for _, c := range l.chunkList()[1:] {
			st, err := c.f.Stat()
			requireNoError(t, err)
			if st.Size() != full {
				grown++
			}
		}
		if grown > 1 {
			// NB: one chunk may have been created in place after a
			// truncation discarded the preparation.
			t.Fatalf("seed %d: %d chunks past the first were not prepared full size", seed, grown)
		}
		requireNoError(t, l.Close())
		clones = append(clones, clone{mem.CrashClone(), model, len(model)})
		for i, c := range clones {
			t.Run(fmt.Sprintf("seed %d clone %d", seed, i), func(t *testing.T) {
				checkConsistent(t, c.fs, chunkSize, c.model, c.acked)
				names, err := c.fs.List("/db")
				requireNoError(t, err)
				for _, n := range names {
					if strings.HasSuffix(n, prepSuffix) {
						t.Fatalf("leftover %s after reopen", n)
					}
				}
			})
		}
	}
}

// TestCloseRemovesPreparedChunk: Close stops and removes the preparation
// in flight; nothing but chunks and checkpoints remains.
func TestCloseRemovesPreparedChunk(t *testing.T) {
	mem := vfs.NewMem()
	opts := testOpts(mem, 4096)
	opts.Prealloc = PreallocZeroFill
	l := mustOpen(t, opts)
	appendN(t, l, 0, 30, func(int) int { return 100 }) // past half of chunk 0
	requireNoError(t, l.Flush())
	if l.prep == nil {
		t.Fatal("no preparation started half-way through the chunk")
	}
	requireNoError(t, l.Close())
	names, err := mem.List("/db")
	requireNoError(t, err)
	for _, n := range names {
		if strings.HasSuffix(n, prepSuffix) {
			t.Fatalf("%s left after Close", n)
		}
	}
}

// waitPrepared waits until the preparation in flight, if any, has
// finished, and leaves its result for roll. Writer goroutine.
func waitPrepared(l *Log) {
	if l.prep != nil {
		p := <-l.prep
		l.prep <- p
	}
}

// TestRollDoesNotWaitForPreparation: when the writer reaches the end of a
// chunk before the next one's preparation has finished, roll creates the
// next chunk in place (zeroed ahead) instead of waiting; the abandoned
// preparation stops, its .tmp file is removed, the next one starts, and
// every record survives a reopen.
func TestRollDoesNotWaitForPreparation(t *testing.T) {
	const chunkSize = 4096
	release := make(chan struct{})
	var blocked atomic.Bool
	efs := errorfs.Wrap(vfs.NewMem(), errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpFileWrite && strings.HasSuffix(op.Path, prepSuffix) && blocked.Load() {
			<-release // a slow disk: the preparation of chunk 1 hangs
		}
		return nil
	}))
	opts := testOpts(efs, chunkSize)
	opts.Prealloc = PreallocZeroFill
	l := mustOpen(t, opts)
	blocked.Store(true)
	want := appendN(t, l, 0, 30, func(int) int { return 100 }) // past half of chunk 0
	requireNoError(t, l.Flush())
	if l.prep == nil {
		t.Fatal("no preparation started half-way through chunk 0")
	}
	done := make(chan []rec)
	go func() {
		// NB: t.Fatal must not run here; errors reach the test as a nil result.
		var out []rec
		for i := 30; i < 45; i++ { // into chunk 1
			p := payloadFor(i, 100)
			pos, err := l.Append(p)
			if err != nil {
				done <- nil
				return
			}
			out = append(out, rec{pos, p})
		}
		if l.Flush() != nil {
			out = nil
		}
		done <- out
	}()
	var more []rec
	select {
	case more = <-done:
	case <-time.After(time.Minute):
		t.Fatal("roll waited for a preparation that cannot finish")
	}
	if more == nil {
		t.Fatal("appending into chunk 1 failed")
	}
	want = append(want, more...)
	if l.cur.num != 1 {
		t.Fatalf("writer in chunk %d, want 1", l.cur.num)
	}
	if got := fileSize(t, l.cur); got == HeaderSizeBytes+chunkSize+FooterSizeBytes {
		t.Fatalf("chunk 1 is full size: it was the prepared file, not created in place")
	}
	checkZeroAhead(t, l, false)
	blocked.Store(false)
	close(release)
	// Once stopped, the abandoned preparation is collected and chunk 2's
	// starts at the next flush (not half-way through chunk 1).
	waitPrepared(l)
	want = append(want, appendN(t, l, len(want), 1, func(int) int { return 100 })...)
	requireNoError(t, l.Flush())
	if l.prepFor != 2 || l.prep == nil {
		t.Fatalf("preparing chunk %d (in flight: %v) after the abandoned one stopped, want chunk 2", l.prepFor, l.prep != nil)
	}
	if l.fileOff >= chunkSize/2 {
		t.Fatalf("test needs chunk 1 less than half full, it holds %d bytes", l.fileOff)
	}
	requireNoError(t, l.Close())
	names, err := efs.List("/db")
	requireNoError(t, err)
	for _, n := range names {
		if strings.HasSuffix(n, prepSuffix) {
			t.Fatalf("%s left after Close", n)
		}
	}
	l = mustOpen(t, opts)
	defer l.Close()
	checkRecords(t, readAll(t, l), want)
}
