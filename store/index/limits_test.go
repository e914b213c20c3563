package index

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func seqEntries(h uint64, from, n int, pos *int64) []Entry {
	es := make([]Entry, n)
	for i := range es {
		es[i] = Entry{Hash: h, Number: int64(from + i), Pos: *pos}
		*pos += 10
	}
	return es
}

func TestMemTableFreezesAtItsLimit(t *testing.T) {
	ix, err := Open(Options{FS: newMemFS(), Dir: "/m", MemTableMaxEntries: 5})
	requireNoError(t, err)
	defer ix.Close()
	pos := int64(0)
	for i := 0; i < 40; i++ {
		requireNoError(t, ix.Add(seqEntries(1, i*2, 2, &pos), pos))
		if n := ix.mem.len(); n >= 5 {
			t.Fatalf("unexpected active memtable of %d entries; limit 5", n)
		}
	}
	if got := len(collectRange(ix, 1, 0, 1000, true)); got != 80 {
		t.Fatalf("unexpected entry count; got %d; want 80", got)
	}
}

// TestAddBlocksAtMaxFrozen: with the flush held, the feeder may freeze
// MaxFrozenMemTables memtables and then blocks until the flush proceeds;
// readers keep seeing every entry meanwhile.
func TestAddBlocksAtMaxFrozen(t *testing.T) {
	release := make(chan struct{})
	ix, err := Open(Options{FS: newMemFS(), Dir: "/z", MemTableMaxEntries: 2, MaxFrozenMemTables: 2, testFlushRelease: release})
	requireNoError(t, err)
	pos := int64(0)
	requireNoError(t, ix.Add(seqEntries(1, 0, 2, &pos), pos))
	requireNoError(t, ix.Add(seqEntries(1, 2, 2, &pos), pos))
	done := make(chan error)
	go func() { done <- ix.Add(seqEntries(1, 4, 2, &pos), 1000) }()
	checkFor(t, 10*time.Second, time.Millisecond, func() error {
		if ix.stats.addBlocked.Load() == 0 {
			return errors.New("Add has not blocked yet")
		}
		return nil
	})
	select {
	case err := <-done:
		t.Fatalf("unexpected return of a blocked Add: %v", err)
	default:
	}
	if got := len(collectRange(ix, 1, 0, 100, true)); got != 6 {
		t.Fatalf("unexpected entries visible while the feeder is blocked; got %d; want 6", got)
	}
	close(release)
	requireNoError(t, <-done)
	requireNoError(t, ix.Close())
}

// TestTablesStayWithinMaxTables holds every merge, feeds many memtables and
// checks that the table count never exceeds MaxTables (the flush waits, then
// the feeder), and that everything completes once merges run.
func TestTablesStayWithinMaxTables(t *testing.T) {
	release := make(chan struct{})
	fsys := newMemFS()
	ix, err := Open(Options{FS: fsys, Dir: "/t", MemTableMaxEntries: 3, MaxFrozenMemTables: 1, MaxTables: 3, MergeFanIn: 2, testMergeRelease: release})
	requireNoError(t, err)
	ref := &refIndex{}
	fed := make(chan error)
	go func() {
		pos := int64(0)
		for i := 0; i < 30; i++ {
			es := seqEntries(uint64(i%4)+1, i, 3, &pos)
			if err := ix.Add(es, pos); err != nil {
				fed <- err
				return
			}
			ref.add(es)
		}
		fed <- nil
	}()
	checkFor(t, 10*time.Second, time.Millisecond, func() error {
		if ix.stats.addBlocked.Load() == 0 {
			return errors.New("the feeder has not blocked yet")
		}
		return nil
	})
	ix.mu.Lock()
	n := len(ix.tables)
	ix.mu.Unlock()
	if n > 3 {
		t.Fatalf("unexpected table count %d with merges held; limit 3", n)
	}
	if got := fileNames(fsys, "/t", ptablePrefix); len(got) > 3 {
		t.Fatalf("unexpected ptable files %v with merges held; limit 3", got)
	}
	close(release)
	requireNoError(t, <-fed)
	requireSameAs(t, ix, ref, 4)
	requireNoError(t, ix.Close())
}

func TestMergeConcurrencyIsBounded(t *testing.T) {
	for _, conc := range []int{1, 2} {
		t.Run(fmt.Sprint("MergeConcurrency ", conc), func(t *testing.T) {
			release := make(chan struct{})
			var mu sync.Mutex
			running, peak := 0, 0
			started := func(int) {
				mu.Lock()
				running++
				peak = max(peak, running)
				mu.Unlock()
			}
			ix, err := Open(Options{FS: newMemFS(), Dir: "/c", MemTableMaxEntries: 2, MaxTables: 20, MergeFanIn: 2,
				MergeConcurrency: conc, testMergeStarted: started, testMergeRelease: release})
			requireNoError(t, err)
			pos := int64(0)
			for i := 0; i < 12; i++ { // 12 level-0 tables: 6 merges possible at once
				requireNoError(t, ix.Add(seqEntries(1, 2*i, 2, &pos), pos))
			}
			checkFor(t, 10*time.Second, time.Millisecond, func() error {
				mu.Lock()
				defer mu.Unlock()
				if running < conc {
					return fmt.Errorf("%d merges started, want %d", running, conc)
				}
				return nil
			})
			mu.Lock()
			if peak != conc {
				t.Fatalf("unexpected peak of concurrent merges; got %d; want %d", peak, conc)
			}
			mu.Unlock()
			close(release)
			checkFor(t, 10*time.Second, time.Millisecond, func() error {
				if ix.stats.merges.Load() < 6 {
					return errors.New("merges not done")
				}
				return nil
			})
			if got := ix.stats.mergesPeak.Load(); got > int64(conc) {
				t.Fatalf("unexpected peak of concurrent merges; got %d; want ≤ %d", got, conc)
			}
			if got := len(collectRange(ix, 1, 0, 100, true)); got != 24 {
				t.Fatalf("unexpected entry count after merges; got %d; want 24", got)
			}
			requireNoError(t, ix.Close())
		})
	}
}

func TestIndexMapTableLimit(t *testing.T) {
	m := indexMap{nextSeq: maxMapTables + 10}
	for i := 0; i <= maxMapTables; i++ {
		m.tables = append(m.tables, mapTable{seq: uint64(i)})
	}
	if _, err := decodeIndexMap(appendIndexMap(nil, m)); err == nil {
		t.Fatalf("unexpected success decoding a map of %d tables; limit %d", len(m.tables), maxMapTables)
	}
	m.tables = m.tables[:maxMapTables]
	if _, err := decodeIndexMap(appendIndexMap(nil, m)); err != nil {
		t.Fatalf("unexpected error decoding a map of %d tables: %v", len(m.tables), err)
	}
}

// TestCloseAbortsARunningMerge: Close does not wait for a merge to finish:
// the merge stops, its partial output is removed, and the index reopens
// with the unmerged tables.
func TestCloseAbortsARunningMerge(t *testing.T) {
	release := make(chan struct{})
	started := make(chan int, 16)
	fsys := newMemFS()
	opts := Options{FS: fsys, Dir: "/a", MemTableMaxEntries: 4, MergeFanIn: 2, MaxTables: 10,
		testMergeStarted: func(n int) { started <- n }, testMergeRelease: release}
	ix, err := Open(opts)
	requireNoError(t, err)
	ref := &refIndex{}
	pos := int64(0)
	for i := 0; i < 2; i++ {
		es := seqEntries(1, 4*i, 4, &pos)
		requireNoError(t, ix.Add(es, pos))
		ref.add(es)
	}
	<-started // a merge of the two tables is about to write
	closed := make(chan error)
	go func() { closed <- ix.Close() }()
	checkFor(t, 10*time.Second, time.Millisecond, func() error {
		if !ix.closing.Load() {
			return errors.New("Close has not started")
		}
		return nil
	})
	close(release)
	requireNoError(t, <-closed)
	if got := ix.stats.merges.Load(); got != 0 {
		t.Fatalf("unexpected completed merges %d; want the merge aborted", got)
	}
	tables := fileNames(fsys, "/a", ptablePrefix)
	if len(tables) != 2 {
		t.Fatalf("unexpected ptable files after an aborted merge: %v; want the 2 inputs", tables)
	}
	opts.testMergeStarted, opts.testMergeRelease = nil, nil
	ix, err = Open(opts)
	requireNoError(t, err)
	requireSameAs(t, ix, ref, 1)
	requireNoError(t, ix.Close())
}
