package index

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// binaryLowerBound is the baseline for the interpolated search: a plain
// binary search over the sparse index, then the block.
func (t *ptable) binaryLowerBound(k Entry) int {
	nb := len(t.sparse) / ptEntrySize
	lo, hi := 0, nb
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if less(t.sparseEntry(mid), k) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return 0
	}
	blk := lo - 1
	lo, hi = blk*ptBlockEntries, min((blk+1)*ptBlockEntries, t.count)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if less(t.entry(mid), k) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// BenchmarkPtableLowerBound compares the interpolated sparse-index search
// with a binary search on one in-memory table of 4M entries over 100k
// streams (in the same run, so machine load affects both alike).
func BenchmarkPtableLowerBound(b *testing.B) {
	w := newBenchWorkload(7)
	es := make([]Entry, 4<<20)
	w.fill(es)
	slices.SortFunc(es, cmp)
	fsys := newMemFS()
	requireNoError(b, fsys.MkdirAll("/p", 0o755))
	f, err := fsys.Create("/p/t")
	requireNoError(b, err)
	pw, err := newPtableWriter(f, 1, 0)
	requireNoError(b, err)
	for _, e := range es {
		requireNoError(b, pw.add(e))
	}
	requireNoError(b, pw.finish(1))
	pt, err := openPtable(fsys, "/p", "t", false)
	requireNoError(b, err)
	keys := make([]Entry, 1<<16)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range keys {
		keys[i] = keyMin(es[r.IntN(len(es))].Hash, 0)
	}
	for i, k := range keys[:1000] {
		if pt.lowerBound(k) != pt.binaryLowerBound(k) {
			b.Fatalf("key %d: the searches disagree", i)
		}
	}
	b.Run("interpolated", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			benchSink += int64(pt.lowerBound(keys[i&(len(keys)-1)]))
		}
	})
	b.Run("binary", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			benchSink += int64(pt.binaryLowerBound(keys[i&(len(keys)-1)]))
		}
	})
}
