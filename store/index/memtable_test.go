package index

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
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
