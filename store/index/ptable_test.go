package index

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"testing/quick"
)

// buildPtable writes es (sorted, unique) as a ptable in memory and opens it.
func buildPtable(t *testing.T, es []Entry) *ptable {
	t.Helper()
	fsys := newMemFS()
	requireNoError(t, fsys.MkdirAll("/p", 0o755))
	f, err := fsys.Create("/p/t")
	requireNoError(t, err)
	pw, err := newPtableWriter(f, 1, 0)
	requireNoError(t, err)
	for _, e := range es {
		requireNoError(t, pw.add(e))
	}
	requireNoError(t, pw.finish(99))
	requireNoError(t, f.Close())
	pt, err := openPtable(fsys, "/p", "t", true)
	requireNoError(t, err)
	return pt
}

// TestPtableBoundsMatchSortSearch checks lowerBound and upperBound (sparse
// index interpolation and gallop, then the block search) against
// sort.Search over the entries, for tables of skewed shapes: few hashes
// with long runs (the interpolation guess is far off), many hashes, edges
// of the hash space.
func TestPtableBoundsMatchSortSearch(t *testing.T) {
	f := func(seed uint64, nhashes uint8, skew bool) bool {
		r := rand.New(rand.NewPCG(seed, 9))
		nh := int(nhashes)%200 + 1
		hs := []uint64{0, math.MaxUint64}
		for len(hs) < nh+2 {
			h := r.Uint64()
			if skew {
				h >>= 60 // clustered at the bottom of the hash space
			}
			hs = append(hs, h)
		}
		var es []Entry
		for i := 0; i < 1+r.IntN(3000); i++ {
			es = append(es, Entry{Hash: hs[r.IntN(len(hs))], Number: int64(r.IntN(50)), Pos: int64(r.IntN(1000))})
		}
		slices.SortFunc(es, cmp)
		es = slices.Compact(es)
		pt := buildPtable(t, es)
		defer pt.m.release()
		for i := 0; i < 300; i++ {
			var k Entry
			if i%2 == 0 {
				k = es[r.IntN(len(es))]
			} else {
				k = Entry{Hash: hs[r.IntN(len(hs))], Number: int64(r.IntN(52)) - 1, Pos: int64(r.IntN(1002)) - 1}
			}
			k.Pos += int64(r.IntN(3)) - 1
			wantLB := sort.Search(len(es), func(i int) bool { return !less(es[i], k) })
			wantUB := sort.Search(len(es), func(i int) bool { return less(k, es[i]) })
			if got := pt.lowerBound(k); got != wantLB {
				t.Fatalf("unexpected lowerBound(%+v) in %d entries; got %d; want %d", k, len(es), got, wantLB)
			}
			if got := pt.upperBound(k); got != wantUB {
				t.Fatalf("unexpected upperBound(%+v) in %d entries; got %d; want %d", k, len(es), got, wantUB)
			}
		}
		return true
	}
	requireNoError(t, quick.Check(f, &quick.Config{MaxCount: 60}))
}

// TestPtableFormatPinned pins the byte layout of a ptable with two entries.
func TestPtableFormatPinned(t *testing.T) {
	pt := buildPtable(t, []Entry{{Hash: 0x0102030405060708, Number: 1, Pos: 2}, {Hash: 0x0102030405060708, Number: 2, Pos: -1}})
	data := pt.m.data
	want := []byte("ESIXPTB1\x01\x00\x00\x00\x18\x00\x00\x00\x80\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00" +
		"\x08\x07\x06\x05\x04\x03\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00" +
		"\x08\x07\x06\x05\x04\x03\x02\x01\x02\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff")
	if got := data[:len(want)]; string(got) != string(want) {
		t.Fatalf("unexpected header and entries;\ngot  %q\nwant %q", got, want)
	}
	// 32 header + 48 entries + 4 checksum + 24 sparse + 64 bloom + 80 footer.
	if len(data) != 32+48+4+24+64+80 {
		t.Fatalf("unexpected ptable size %d; want %d", len(data), 32+48+4+24+64+80)
	}
	ft := data[len(data)-ptFooterSize:]
	if string(ft[76:]) != "PTBF" || ft[0] != 2 || ft[8] != 1 || ft[16] != 99 {
		t.Fatalf("unexpected footer %x", ft)
	}
}

// TestIndexMapFormatPinned pins the map encoding.
func TestIndexMapFormatPinned(t *testing.T) {
	got := appendIndexMap(nil, indexMap{checkpoint: 0x1122, nextSeq: 7, tables: []mapTable{{seq: 3, level: 1}}})
	want := "ESIXMAP1\x01\x00\x00\x00\x01\x00\x00\x00\x22\x11\x00\x00\x00\x00\x00\x00\x07\x00\x00\x00\x00\x00\x00\x00" +
		"\x03\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00"
	if string(got[:len(got)-4]) != want {
		t.Fatalf("unexpected map bytes;\ngot  %q\nwant %q", got[:len(got)-4], want)
	}
	m, err := decodeIndexMap(got)
	requireNoError(t, err)
	if m.checkpoint != 0x1122 || m.nextSeq != 7 || len(m.tables) != 1 || m.tables[0] != (mapTable{3, 1}) {
		t.Fatalf("unexpected decoded map %+v", m)
	}
}

func TestBloomHasNoFalseNegatives(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	hs := make([]uint64, 5000)
	filter := make([]byte, bloomBlocksFor(len(hs))*bloomBlockBytes)
	for i := range hs {
		hs[i] = r.Uint64()
		bloomAdd(filter, hs[i])
	}
	for _, h := range hs {
		if !bloomMayContain(filter, h) {
			t.Fatalf("unexpected bloom false negative for %x", h)
		}
	}
	fp := 0
	for i := 0; i < 100000; i++ {
		if bloomMayContain(filter, r.Uint64()) {
			fp++
		}
	}
	// 10 bits per hash with 6 probes in a 512-bit block: ~1-2%.
	if fp > 3000 {
		t.Fatalf("unexpected bloom false-positive rate %d/100000; want under 3%%", fp)
	}
}
