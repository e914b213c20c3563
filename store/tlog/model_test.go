package tlog

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/eventstored/eventstored/store/vfs"
)

// TestRandomOperationsAgainstAModel drives the log with a seeded random mix
// of appends (some larger than the write buffer), flushes, truncations and
// reopens, and after each step compares what the three read paths return
// (ReadAt, Iterator, BackIterator) with a plain slice of the records that
// should be durable. It runs on every backend, so mapped reads meet
// roll-overs, truncations that erase sealed chunks, and reopened files.
func TestRandomOperationsAgainstAModel(t *testing.T) {
	forEachBackend(t, func(t *testing.T, mk func(int64) Options) {
		o := mk(8 << 10) // room for records larger than the 4 KiB write buffer
		steps := 400
		if o.FS == vfs.Default {
			o.ChunkSizeBytes = 16 << 10 // fewer chunk fsyncs on a real disk
			steps = 150
		}
		for seed := uint64(1); seed <= 3; seed++ {
			rng := rand.New(rand.NewPCG(seed, 7))
			l := mustOpen(t, o)
			var model, pending []rec
			check := func(step int) {
				t.Helper()
				checkRecords(t, readAll(t, l), model)
				if len(model) == 0 {
					return
				}
				r := model[rng.IntN(len(model))]
				p, _, err := l.ReadAt(r.pos, make([]byte, 0, 64))
				requireNoError(t, err)
				if !bytes.Equal(p, r.payload) {
					t.Fatalf("seed %d step %d: ReadAt(%d) differs", seed, step, r.pos)
				}
				it := l.NewBackwardIterator(l.Durable())
				for i := len(model) - 1; i >= max(0, len(model)-50); i-- {
					pos, p, err := it.Next()
					requireNoError(t, err)
					if pos != model[i].pos || !bytes.Equal(p, model[i].payload) {
						t.Fatalf("seed %d step %d: backward record %d differs", seed, step, i)
					}
				}
				it.Close()
			}
			for step := 0; step < steps; step++ {
				switch r := rng.IntN(100); {
				case r < 60:
					size := rng.IntN(300)
					if rng.IntN(20) == 0 {
						size = minBufferBytes + rng.IntN(l.MaxPayloadBytes()-minBufferBytes)
					}
					p := payloadFor(step, size)
					pos, err := l.Append(p)
					requireNoError(t, err)
					pending = append(pending, rec{pos, p})
				case r < 85:
					requireNoError(t, l.Flush())
					model = append(model, pending...)
					pending = nil
					check(step)
				case r < 93:
					requireNoError(t, l.Flush())
					model = append(model, pending...)
					pending = nil
					if len(model) > 0 {
						cut := rng.IntN(len(model))
						requireNoError(t, l.Truncate(model[cut].pos))
						model = model[:cut]
					}
					check(step)
				default:
					requireNoError(t, l.Close())
					model = append(model, pending...)
					pending = nil
					l = mustOpen(t, o)
					if r := l.Recovery(); r.CutBytes != 0 || len(r.RemovedChunks) != 0 {
						t.Fatalf("seed %d step %d: a clean reopen cut data: %+v", seed, step, r)
					}
					check(step)
				}
			}
			requireNoError(t, l.Close())
			// Start the next seed on an empty log.
			cs := o.ChunkSizeBytes
			o = mk(cs)
			o.ChunkSizeBytes = cs
		}
	})
}
