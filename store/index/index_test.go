package index

import (
	"errors"
	"fmt"
	"github.com/eventstored/eventstored/store/vfs"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/quick"
)

func requireNoError(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// refIndex is the naive reference: every entry in one slice, filtered and
// sorted on every query.
type refIndex struct{ all []Entry }

func (r *refIndex) add(es []Entry) {
	for _, e := range es {
		if !slices.Contains(r.all, e) {
			r.all = append(r.all, e)
		}
	}
}

func (r *refIndex) rangeOf(h uint64, from, to int64, forward bool) []Entry {
	var out []Entry
	for _, e := range r.all {
		if e.Hash == h && e.Number >= from && e.Number <= to {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, cmp)
	if !forward {
		slices.Reverse(out)
	}
	return out
}

func collectRange(ix *Index, h uint64, from, to int64, forward bool) []Entry {
	var out []Entry
	ix.Range(h, from, to, forward, func(e Entry) bool { out = append(out, e); return true })
	return out
}

func collectGet(ix *Index, h uint64, n int64) []int64 {
	var out []int64
	ix.Get(h, n, func(p int64) bool { out = append(out, p); return true })
	return out
}

func collectLast(ix *Index, h uint64, limit int) []Entry {
	var out []Entry
	ix.Last(h, func(e Entry) bool { out = append(out, e); return len(out) < limit })
	return out
}

type fsKind struct {
	name string
	make func(t *testing.T) (vfs.FS, string)
}

var fsKinds = []fsKind{
	{"memfs", func(t *testing.T) (vfs.FS, string) { return newMemFS(), "/ix" }},
	{"disk", func(t *testing.T) (vfs.FS, string) { return vfs.Default, t.TempDir() }},
}

func smallOptions(fsys vfs.FS, dir string) Options {
	return Options{FS: fsys, Dir: dir, MemTableMaxEntries: 16, MaxFrozenMemTables: 2, MaxTables: 5, MergeFanIn: 2, MergeConcurrency: 2}
}

// compareAll checks every query shape for every hash against the reference.
func compareAll(t *testing.T, ix *Index, ref *refIndex, hashes []uint64, maxNum int64) {
	t.Helper()
	for _, h := range hashes {
		for _, fwd := range []bool{true, false} {
			for _, b := range [][2]int64{{0, maxNum}, {math.MinInt64, math.MaxInt64}, {1, 3}, {2, 2}, {maxNum / 2, maxNum + 1}} {
				got := collectRange(ix, h, b[0], b[1], fwd)
				want := ref.rangeOf(h, b[0], b[1], fwd)
				if !slices.Equal(got, want) {
					t.Fatalf("unexpected Range(%x, %d, %d, fwd=%v); got %v; want %v", h, b[0], b[1], fwd, got, want)
				}
			}
		}
		for n := int64(0); n <= maxNum; n++ {
			got := collectGet(ix, h, n)
			var want []int64
			for _, e := range ref.rangeOf(h, n, n, false) {
				want = append(want, e.Pos)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("unexpected Get(%x, %d); got %v; want %v", h, n, got, want)
			}
		}
		got := collectLast(ix, h, 3)
		want := ref.rangeOf(h, math.MinInt64, math.MaxInt64, false)
		want = want[:min(3, len(want))]
		if !slices.Equal(got, want) {
			t.Fatalf("unexpected Last(%x); got %v; want %v", h, got, want)
		}
	}
}

// TestIndexMatchesReference feeds random batches (few hashes, so streams
// collide: same hash and number at different positions) through a tiny
// memtable so that entries spread over the active memtable, frozen ones,
// ptables and merged ptables, compares every query with the naive
// reference after each batch, and again after a reopen.
func TestIndexMatchesReference(t *testing.T) {
	for _, k := range fsKinds {
		t.Run(k.name, func(t *testing.T) {
			f := func(seed uint64) bool {
				fsys, dir := k.make(t)
				dir = fmt.Sprintf("%s/%d", dir, seed)
				r := rand.New(rand.NewPCG(seed, 7))
				ix, err := Open(smallOptions(fsys, dir))
				requireNoError(t, err)
				ref := &refIndex{}
				hashes := []uint64{1, 2, 3, math.MaxUint64}
				next := map[uint64]int64{}
				pos := int64(0)
				const maxNum = 40
				for b := 0; b < 12; b++ {
					var batch []Entry
					for i := r.IntN(10); i > 0; i-- {
						h := hashes[r.IntN(len(hashes))]
						n := next[h]
						if n < maxNum {
							next[h]++
						}
						if r.IntN(5) == 0 {
							n = int64(r.IntN(maxNum)) // a colliding stream's event
						}
						batch = append(batch, Entry{Hash: h, Number: n, Pos: pos})
						pos += int64(1 + r.IntN(100))
					}
					if r.IntN(8) == 0 && len(batch) > 0 { // a replayed duplicate
						batch = append(batch, batch[0])
					}
					requireNoError(t, ix.Add(batch, pos))
					ref.add(batch)
					compareAll(t, ix, ref, append(hashes, 4), maxNum)
				}
				requireNoError(t, ix.Close())
				ix, err = Open(smallOptions(fsys, dir))
				requireNoError(t, err)
				defer ix.Close()
				if got := ix.CheckpointPos(); got != pos {
					t.Fatalf("unexpected CheckpointPos after reopen; got %d; want %d", got, pos)
				}
				compareAll(t, ix, ref, append(hashes, 4), maxNum)
				return true
			}
			requireNoError(t, quick.Check(f, &quick.Config{MaxCount: 25}))
		})
	}
}

func TestIndexEmptyAndBounds(t *testing.T) {
	ix, err := Open(Options{FS: newMemFS(), Dir: "/e"})
	requireNoError(t, err)
	defer ix.Close()
	if got := ix.CheckpointPos(); got != 0 {
		t.Fatalf("unexpected CheckpointPos of a new index; got %d; want 0", got)
	}
	if got := collectRange(ix, 1, 0, math.MaxInt64, true); got != nil {
		t.Fatalf("unexpected entries in an empty index: %v", got)
	}
	requireNoError(t, ix.Add([]Entry{{Hash: 1, Number: math.MaxInt64, Pos: 5}, {Hash: 1, Number: 0, Pos: 1}}, 10))
	if got := collectLast(ix, 1, 1); len(got) != 1 || got[0].Number != math.MaxInt64 {
		t.Fatalf("unexpected Last with a tombstone; got %v", got)
	}
	if got := collectRange(ix, 1, 5, 4, true); got != nil {
		t.Fatalf("unexpected entries for from > to: %v", got)
	}
	// Stopping early stops.
	calls := 0
	ix.Range(1, 0, math.MaxInt64, true, func(Entry) bool { calls++; return false })
	if calls != 1 {
		t.Fatalf("unexpected callback count after returning false; got %d; want 1", calls)
	}
}

func TestAddBatchLimit(t *testing.T) {
	ix, err := Open(Options{FS: newMemFS(), Dir: "/b"})
	requireNoError(t, err)
	defer ix.Close()
	err = ix.Add(make([]Entry, MaxAddBatchEntries+1), 1)
	if !errors.Is(err, ErrBatchTooLarge) {
		t.Fatalf("unexpected error for an oversized batch; got %v; want ErrBatchTooLarge", err)
	}
}

func TestOptionsLimits(t *testing.T) {
	bad := []Options{
		{MemTableMaxEntries: memTableMaxEntriesLimit + 1},
		{MaxFrozenMemTables: maxFrozenLimit + 1},
		{MaxTables: maxTablesLimit + 1},
		{MergeConcurrency: mergeConcurrencyLimit + 1},
		{MergeFanIn: 1},
		{MergeFanIn: 4, MaxTables: 4},
		{MemTableMaxEntries: -1},
	}
	for _, o := range bad {
		o.FS, o.Dir = newMemFS(), "/o"
		if _, err := Open(o); err == nil {
			t.Fatalf("unexpected success opening with %+v", o)
		}
	}
	if _, err := Open(Options{FS: newMemFS()}); err == nil {
		t.Fatalf("unexpected success opening without a Dir")
	}
}
