package index

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"
)

// TestMemTableConcurrentReaders: one writer inserts events 0, 1, 2, … of 8
// hashes in turn; readers search each hash forward and backward and must
// see at least every published entry, in order.
func TestMemTableConcurrentReaders(t *testing.T) {
	m := newMemTable(1, 0)
	const hashes, perHash = 8, 3000
	var published atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				h := uint64(i%hashes) + 1
				want := published.Load()
				lo, hi := keyMin(h, 0), keyMax(h, perHash)
				var got int64
				if (i+r)%2 == 0 {
					for n := m.findGE(lo); n != 0 && !less(hi, m.node(n).e); n = m.nextOf(n) {
						if e := m.node(n).e; e.Number != got {
							errs <- fmt.Errorf("forward hash %d: got %+v; want number %d", h, e, got)
							return
						}
						got++
					}
				} else {
					prev := int64(-1)
					for n := m.findLE(hi); n != 0 && !less(m.node(n).e, lo); n = m.prevOf(n) {
						e := m.node(n).e
						if prev >= 0 && e.Number != prev-1 {
							errs <- fmt.Errorf("backward hash %d: got %d after %d", h, e.Number, prev)
							return
						}
						prev = e.Number
						got++
					}
				}
				if got < want {
					errs <- fmt.Errorf("hash %d: saw %d entries; %d published", h, got, want)
					return
				}
			}
		}(r)
	}
	for n := int64(0); n < perHash; n++ {
		for h := uint64(1); h <= hashes; h++ {
			m.add(Entry{Hash: h, Number: n, Pos: n*hashes + int64(h)})
		}
		published.Store(n + 1)
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestMemTableFindGEAfterEachInsert checks the search after every insert
// of the same pattern, single-threaded.
func TestMemTableFindGEAfterEachInsert(t *testing.T) {
	m := newMemTable(1, 0)
	for n := int64(0); n < 3000; n++ {
		for h := uint64(1); h <= 8; h++ {
			m.add(Entry{Hash: h, Number: n, Pos: n*8 + int64(h)})
			if n%100 == 0 || n > 2000 {
				for hh := uint64(1); hh <= h; hh++ {
					if g := m.findGE(keyMin(hh, 0)); g == 0 || m.node(g).e.Number != 0 {
						t.Fatalf("after (%d,%d): findGE(%d) = %v", h, n, hh, m.node(g).e)
					}
				}
			}
		}
	}
}

// TestMemTableTallExhaustion: when a chunk's tall slots run out, nodes get
// towers of mtInline levels and the list stays correct.
func TestMemTableTallExhaustion(t *testing.T) {
	m := newMemTable(1, 0)
	r := uint64(1)
	var all []Entry
	add := func(n int) {
		for i := 0; i < n; i++ {
			r = r*6364136223846793005 + 1442695040888963407
			e := Entry{Hash: r >> 60, Number: int64(r>>20) & 0xFFFF, Pos: int64(i)}
			if m.add(e) {
				all = append(all, e)
			}
		}
	}
	add(3000)
	m.tallUsed = mtChunkTall - 1 // one tall tower left in this chunk
	add(6000)
	if m.tallUsed > mtChunkTall {
		t.Fatalf("unexpected tall slots used %d; limit %d", m.tallUsed, mtChunkTall)
	}
	slices.SortFunc(all, cmp)
	var got []Entry
	m.each(func(e Entry) bool { got = append(got, e); return true })
	if !slices.Equal(got, all) {
		t.Fatalf("unexpected list after exhaustion: %d entries; want %d", len(got), len(all))
	}
	for i, e := range all {
		if n := m.findGE(e); n == 0 || m.node(n).e != e {
			t.Fatalf("unexpected findGE(%v) at %d", e, i)
		}
		if n := m.findLE(e); n == 0 || m.node(n).e != e {
			t.Fatalf("unexpected findLE(%v) at %d", e, i)
		}
		if i > 0 {
			if p := m.prevOf(m.findGE(e)); m.node(p).e != all[i-1] {
				t.Fatalf("unexpected prevOf at %d", i)
			}
		}
	}
}

func TestMemTableNodeSize(t *testing.T) {
	if got := unsafe.Sizeof(mtNode{}); got != 48 {
		t.Fatalf("unexpected memtable node size %d; want 48", got)
	}
}

// TestMemTableTowerFingersBuildTheSameList: the finger towers are a
// shortcut to the predecessors a search from the top finds, so the same
// inserts (same random heights) must give the very same links at every
// level with and without them. The inserts mix appends to many streams,
// new streams, out-of-order events (hash collisions, replays), duplicates
// and tall-slot exhaustion.
func TestMemTableTowerFingersBuildTheSameList(t *testing.T) {
	for _, mode := range []int{mtFingersFull, mtFingersLevel0} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) { testFingersBuildTheSameList(t, mode) })
	}
}

func testFingersBuildTheSameList(t *testing.T, mode int) {
	build := func(mode int) *memTable {
		mtFingerMode = mode
		defer func() { mtFingerMode = mtFingersFull }()
		m := newMemTable(7, 0)
		r := uint64(3)
		next := map[uint64]int64{}
		for i := 0; i < 40000; i++ {
			r = r*6364136223846793005 + 1442695040888963407
			h := r>>58 + 1 // 64 streams
			var e Entry
			switch x := (r >> 20) % 100; {
			case x < 85: // the stream's next event
				e = Entry{Hash: h, Number: next[h], Pos: int64(i)}
				next[h]++
			case x < 93: // an earlier number: another stream of the same hash
				e = Entry{Hash: h, Number: int64(r>>30) % (next[h] + 1), Pos: int64(i)}
			case x < 97: // a new stream
				e = Entry{Hash: r | 1<<63, Number: 0, Pos: int64(i)}
			default: // a duplicate of the stream's last event, if any
				e = Entry{Hash: h, Number: next[h] - 1, Pos: int64(i - 1)}
			}
			m.add(e)
			if i == 20000 {
				m.tallUsed = mtChunkTall - 2 // exhaust the tall slots of this chunk
			}
		}
		return m
	}
	a, b := build(mode), build(mtFingersNone)
	if a.nodes != b.nodes || a.height.Load() != b.height.Load() || a.tail.Load() != b.tail.Load() {
		t.Fatalf("nodes %d/%d height %d/%d tail %d/%d", a.nodes, b.nodes, a.height.Load(), b.height.Load(), a.tail.Load(), b.tail.Load())
	}
	for c := uint32(0); c <= (a.nodes-1)>>mtChunkShift; c++ {
		ca, cb := a.chunks[c].Load(), b.chunks[c].Load()
		for i := range ca.nodes {
			na, nb := &ca.nodes[i], &cb.nodes[i]
			if na.e != nb.e || na.tall != nb.tall || na.prev.Load() != nb.prev.Load() {
				t.Fatalf("node %d: %+v vs %+v", c<<mtChunkShift+uint32(i), na.e, nb.e)
			}
			for l := range na.next {
				if na.next[l].Load() != nb.next[l].Load() {
					t.Fatalf("node %d level %d: next %d vs %d", c<<mtChunkShift+uint32(i), l, na.next[l].Load(), nb.next[l].Load())
				}
			}
		}
		for i := range ca.tall {
			for l := range ca.tall[i] {
				if ca.tall[i][l].Load() != cb.tall[i][l].Load() {
					t.Fatalf("chunk %d tall %d level %d differs", c, i, l+mtInline)
				}
			}
		}
	}
}

// TestFingerTable: hashes that share their low bits (so they probe past
// each other), hash 0, and enough of them to grow the table several times;
// every one is found with its own finger, and absent ones are not.
func TestFingerTable(t *testing.T) {
	var ft fingerTable
	var hashes []uint64
	for i := uint64(0); i < 5000; i++ {
		h := i << 40 // the same low bits for all: one long probe run
		if i%2 == 1 {
			h = i*0x9E3779B97F4A7C15 + 1
		}
		hashes = append(hashes, h)
	}
	for i, h := range hashes {
		if ft.find(h) != nil {
			t.Fatalf("hash %#x found before its insert", h)
		}
		ft.insert(h).last = uint32(i + 1)
	}
	if len(ft.slots) < 4*len(hashes)/3 || ft.used != len(hashes) {
		t.Fatalf("%d slots, %d used for %d hashes", len(ft.slots), ft.used, len(hashes))
	}
	for i, h := range hashes {
		if f := ft.find(h); f == nil || f.last != uint32(i+1) {
			t.Fatalf("hash %#x: finger %+v, want node %d", h, f, i+1)
		}
	}
	if ft.find(5000<<40) != nil || ft.find(12345) != nil {
		t.Fatal("an absent hash was found")
	}
}
