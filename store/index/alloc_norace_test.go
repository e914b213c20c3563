//go:build !race

package index

import (
	"math"
	"testing"
)

// TestLookupsDoNotAllocate proves that Get, Range and Last allocate nothing
// in steady state, on ptables and on the memtable.
func TestLookupsDoNotAllocate(t *testing.T) {
	fsys := newMemFS()
	opts := Options{FS: fsys, Dir: "/a", MemTableMaxEntries: 1000}
	ix, err := Open(opts)
	requireNoError(t, err)
	pos := int64(0)
	for h := uint64(1); h <= 20; h++ {
		requireNoError(t, ix.Add(seqEntries(h, 0, 300, &pos), pos))
	}
	requireNoError(t, ix.Close())
	ix, err = Open(opts)
	requireNoError(t, err)
	defer ix.Close()
	requireNoError(t, ix.Add(seqEntries(21, 0, 300, &pos), pos)) // memtable
	var sink int64
	getFn := func(p int64) bool { sink += p; return true }
	rangeFn := func(e Entry) bool { sink += e.Pos; return true }
	for _, h := range []uint64{7, 21} {
		for name, f := range map[string]func(){
			"Get":           func() { ix.Get(h, 150, getFn) },
			"Range forward": func() { ix.Range(h, 100, 199, true, rangeFn) },
			"Range back":    func() { ix.Range(h, 100, 199, false, rangeFn) },
			"Last":          func() { ix.Last(h, func(e Entry) bool { sink += e.Number; return false }) },
			"Get absent":    func() { ix.Get(999, 1, getFn) },
			"Range all":     func() { ix.Range(h, math.MinInt64, math.MaxInt64, true, rangeFn) },
		} {
			if n := testing.AllocsPerRun(100, f); n != 0 {
				t.Fatalf("unexpected allocations in %s on hash %d; got %v; want 0", name, h, n)
			}
		}
	}
	if sink == 0 {
		t.Fatalf("lookups found nothing")
	}
}
