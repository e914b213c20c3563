//go:build long

package index

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/eventstored/eventstored/store/vfs"
)

// TestLongTenMillionEntries builds an index of 10M entries over 100k
// streams on the real disk with the default options (so memtables freeze,
// flush and merge as in production), checks every stream's last number and
// a sample of point lookups against the generator, then reopens it (every
// checksum verified) and checks again. It logs the add rate and the reopen
// time, the figure behind the storage issue's "restart within 10 s".
func TestLongTenMillionEntries(t *testing.T) {
	const total = 10_000_000
	dir := t.TempDir()
	ix, err := Open(Options{FS: vfs.Default, Dir: dir})
	requireNoError(t, err)
	w := newBenchWorkload(9)
	// pos of (stream, number) is recorded for a sample of streams.
	sample := map[int][]int64{}
	for s := 0; s < benchStreams; s += 997 {
		sample[s] = nil
	}
	batch := make([]Entry, 256)
	start := time.Now()
	for done := 0; done < total; done += len(batch) {
		for i := range batch {
			s := w.r.IntN(benchStreams)
			batch[i] = Entry{Hash: w.hashes[s], Number: w.next[s], Pos: w.pos}
			if ps, ok := sample[s]; ok {
				sample[s] = append(ps, w.pos)
			}
			w.next[s]++
			w.pos += 120
		}
		requireNoError(t, ix.Add(batch, w.pos))
	}
	t.Logf("added %d entries in %v (%.0f entries/s)", total, time.Since(start), total/time.Since(start).Seconds())
	check := func(ix *Index) {
		t.Helper()
		for s := 0; s < benchStreams; s++ {
			var last int64 = -1
			ix.Last(w.hashes[s], func(e Entry) bool { last = e.Number; return false })
			if last != w.next[s]-1 {
				t.Fatalf("unexpected last number of stream %d; got %d; want %d", s, last, w.next[s]-1)
			}
		}
		r := rand.New(rand.NewPCG(1, 1))
		for s, ps := range sample {
			for k := 0; k < 20 && len(ps) > 0; k++ {
				n := r.IntN(len(ps))
				var got []int64
				ix.Get(w.hashes[s], int64(n), func(p int64) bool { got = append(got, p); return true })
				if len(got) != 1 || got[0] != ps[n] {
					t.Fatalf("unexpected Get(stream %d, %d); got %v; want [%d]", s, n, got, ps[n])
				}
			}
			var n int64
			ix.Range(w.hashes[s], 0, 1<<62, true, func(e Entry) bool {
				if e.Pos != ps[n] {
					t.Fatalf("unexpected Range entry %d of stream %d; got pos %d; want %d", n, s, e.Pos, ps[n])
				}
				n++
				return true
			})
			if n != int64(len(ps)) {
				t.Fatalf("unexpected Range length of stream %d; got %d; want %d", s, n, len(ps))
			}
		}
	}
	check(ix)
	requireNoError(t, ix.Close())
	start = time.Now()
	ix, err = Open(Options{FS: vfs.Default, Dir: dir})
	requireNoError(t, err)
	t.Logf("reopened %d entries in %d tables with every checksum verified in %v", total, len(ix.tables), time.Since(start))
	if got := ix.CheckpointPos(); got != w.pos {
		t.Fatalf("unexpected CheckpointPos; got %d; want %d", got, w.pos)
	}
	check(ix)
	requireNoError(t, ix.Close())
}
