package index

import (
	"errors"
	"fmt"
	"github.com/eventstored/eventstored/store/vfs"
	"github.com/eventstored/eventstored/store/vfs/errorfs"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// checkFor polls fn until it returns nil or total elapses.
func checkFor(t *testing.T, total, every time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", total, err)
		}
		time.Sleep(every)
	}
}

// batches builds n batches of entries over nh hashes with increasing
// positions; batch i covers the log up to upTos[i].
func batches(seed uint64, n, per, nh int) (bs [][]Entry, upTos []int64) {
	r := rand.New(rand.NewPCG(seed, 1))
	next := map[uint64]int64{}
	pos := int64(0)
	for i := 0; i < n; i++ {
		var b []Entry
		for j := 0; j < per; j++ {
			h := uint64(r.IntN(nh)) + 1
			b = append(b, Entry{Hash: h, Number: next[h], Pos: pos})
			next[h]++
			pos += 50
		}
		bs = append(bs, b)
		upTos = append(upTos, pos)
	}
	return bs, upTos
}

// requireSameAs checks that ix holds exactly the entries of ref for hashes
// 1..nh.
func requireSameAs(t *testing.T, ix *Index, ref *refIndex, nh int) {
	t.Helper()
	for h := uint64(1); h <= uint64(nh); h++ {
		got := collectRange(ix, h, math.MinInt64, math.MaxInt64, true)
		want := ref.rangeOf(h, math.MinInt64, math.MaxInt64, true)
		if !slices.Equal(got, want) {
			t.Fatalf("unexpected entries of hash %d; got %d entries %v; want %d entries %v", h, len(got), got, len(want), want)
		}
	}
}

func TestReopenGivesSameAnswers(t *testing.T) {
	for _, k := range fsKinds {
		t.Run(k.name, func(t *testing.T) {
			fsys, dir := k.make(t)
			opts := smallOptions(fsys, dir)
			ix, err := Open(opts)
			requireNoError(t, err)
			bs, upTos := batches(1, 40, 7, 9)
			ref := &refIndex{}
			for i, b := range bs {
				requireNoError(t, ix.Add(b, upTos[i]))
				ref.add(b)
			}
			requireSameAs(t, ix, ref, 9)
			requireNoError(t, ix.Close())
			for round := 0; round < 2; round++ {
				ix, err = Open(opts)
				requireNoError(t, err)
				if got, want := ix.CheckpointPos(), upTos[len(upTos)-1]; got != want {
					t.Fatalf("unexpected CheckpointPos after reopen; got %d; want %d", got, want)
				}
				requireSameAs(t, ix, ref, 9)
				requireNoError(t, ix.Close())
			}
		})
	}
}

// TestCheckpointAdvancesWithoutEntries: a Close after Adds that carried no
// entries still persists how far the log was covered.
func TestCheckpointAdvancesWithoutEntries(t *testing.T) {
	fsys := newMemFS()
	ix, err := Open(Options{FS: fsys, Dir: "/c"})
	requireNoError(t, err)
	requireNoError(t, ix.Add(nil, 4096))
	requireNoError(t, ix.Close())
	ix, err = Open(Options{FS: fsys, Dir: "/c"})
	requireNoError(t, err)
	defer ix.Close()
	if got := ix.CheckpointPos(); got != 4096 {
		t.Fatalf("unexpected CheckpointPos; got %d; want 4096", got)
	}
}

// writeSomeTables leaves a closed index in /x with several ptables.
func writeSomeTables(t *testing.T) (*vfs.MemFS, Options, *refIndex) {
	fsys := newMemFS()
	opts := Options{FS: fsys, Dir: "/x", MemTableMaxEntries: 300, MergeFanIn: 8, MaxTables: 20}
	ix, err := Open(opts)
	requireNoError(t, err)
	ref := &refIndex{}
	bs, upTos := batches(2, 10, 100, 50)
	for i, b := range bs {
		requireNoError(t, ix.Add(b, upTos[i]))
		ref.add(b)
	}
	requireNoError(t, ix.Close())
	return fsys, opts, ref
}

func TestCorruptPtableIsDetectedAtOpen(t *testing.T) {
	fsys, _, _ := writeSomeTables(t)
	tables := fileNames(fsys, "/x", ptablePrefix)
	if len(tables) < 2 {
		t.Fatalf("unexpected table count %d; want several", len(tables))
	}
	name := "/x/" + tables[0]
	size := sizeOf(t, fsys, name)
	// Every byte of a small table would be slow under -race; probe each
	// region: header, entries, checksums, sparse index, bloom, footer.
	offs := []int64{0, 9, 20, ptHeaderSize, ptHeaderSize + 5, ptHeaderSize + 300*ptEntrySize - 1,
		size - ptFooterSize - 1, size - ptFooterSize, size - 40, size - 1}
	for i := 0; i < 20; i++ {
		offs = append(offs, rand.Int64N(size))
	}
	for _, off := range offs {
		t.Run(fmt.Sprintf("byte %d of %d", off, size), func(t *testing.T) {
			c := fsys.CrashClone()
			corruptByte(t, c, name, off)
			ix, err := Open(Options{FS: c, Dir: "/x"})
			if !errors.Is(err, ErrCorrupt) {
				if ix != nil {
					ix.Close()
				}
				t.Fatalf("unexpected error opening with byte %d flipped; got %v; want ErrCorrupt", off, err)
			}
		})
	}
}

func TestCorruptMapIsDetectedAtOpen(t *testing.T) {
	fsys, _, _ := writeSomeTables(t)
	size := sizeOf(t, fsys, "/x/"+mapFileName)
	for off := int64(0); off < size; off++ {
		c := fsys.CrashClone()
		corruptByte(t, c, "/x/"+mapFileName, off)
		if _, err := Open(Options{FS: c, Dir: "/x"}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("unexpected error opening with map byte %d flipped; got %v; want ErrCorrupt", off, err)
		}
	}
}

func TestMissingPtableIsDetectedAtOpen(t *testing.T) {
	fsys, opts, _ := writeSomeTables(t)
	tables := fileNames(fsys, "/x", ptablePrefix)
	requireNoError(t, fsys.Remove("/x/"+tables[len(tables)-1]))
	_, err := Open(opts)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unexpected error opening with a missing ptable; got %v; want ErrCorrupt", err)
	}
	// Reset, then the index opens empty and the store rebuilds it.
	requireNoError(t, Reset(fsys, "/x"))
	ix, err := Open(opts)
	requireNoError(t, err)
	defer ix.Close()
	if got := ix.CheckpointPos(); got != 0 {
		t.Fatalf("unexpected CheckpointPos after Reset; got %d; want 0", got)
	}
	if got := fileNames(fsys, "/x", ptablePrefix); len(got) != 0 {
		t.Fatalf("unexpected files after Reset: %v", got)
	}
}

func TestSkipVerifyStillChecksFooter(t *testing.T) {
	fsys, opts, ref := writeSomeTables(t)
	opts.SkipVerify = true
	ix, err := Open(opts)
	requireNoError(t, err)
	requireSameAs(t, ix, ref, 50)
	requireNoError(t, ix.Close())
	tables := fileNames(fsys, "/x", ptablePrefix)
	corruptByte(t, fsys, "/x/"+tables[0], sizeOf(t, fsys, "/x/"+tables[0])-3)
	if _, err := Open(opts); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unexpected error with a corrupt footer and SkipVerify; got %v; want ErrCorrupt", err)
	}
}

func TestUnreferencedFilesAreRemovedAtOpen(t *testing.T) {
	fsys, opts, ref := writeSomeTables(t)
	f, err := fsys.Create("/x/" + ptableFileName(999999))
	requireNoError(t, err)
	f.Write([]byte("half a table"))
	f, err = fsys.Create("/x/" + mapTempFileName)
	requireNoError(t, err)
	f.Write([]byte("half a map"))
	ix, err := Open(opts)
	requireNoError(t, err)
	defer ix.Close()
	requireSameAs(t, ix, ref, 50)
	for _, n := range []string{ptableFileName(999999), mapTempFileName} {
		if _, err := fsys.Open("/x/" + n); err == nil {
			t.Fatalf("unexpected survival of unreferenced file %s", n)
		}
	}
}

// TestCrashClonesReopenConsistent feeds batches while flushes and merges run
// in the background, takes crash clones of the mem FS at random points, and
// checks that each clone opens (no map ever names a missing or partial file)
// and holds exactly the batches up to its checkpoint.
func TestCrashClonesReopenConsistent(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			fsys := newMemFS()
			opts := Options{FS: fsys, Dir: "/k", MemTableMaxEntries: 20, MaxFrozenMemTables: 2, MaxTables: 4, MergeFanIn: 2, MergeConcurrency: 2}
			ix, err := Open(opts)
			requireNoError(t, err)
			r := rand.New(rand.NewPCG(seed, 3))
			bs, upTos := batches(seed, 60, 6, 12)
			var clones []*vfs.MemFS
			for i, b := range bs {
				requireNoError(t, ix.Add(b, upTos[i]))
				if r.IntN(4) == 0 {
					clones = append(clones, fsys.CrashClone())
				}
			}
			requireNoError(t, ix.Close())
			clones = append(clones, fsys.CrashClone())
			for ci, c := range clones {
				cix, err := Open(Options{FS: c, Dir: "/k"})
				if err != nil {
					t.Fatalf("clone %d: unexpected error reopening a crash clone: %v", ci, err)
				}
				cp := cix.CheckpointPos()
				ref := &refIndex{}
				for i, b := range bs {
					if upTos[i] <= cp {
						ref.add(b)
					}
				}
				if cp != 0 && !slices.Contains(upTos, cp) {
					t.Fatalf("clone %d: unexpected checkpoint %d, not at a batch boundary", ci, cp)
				}
				requireSameAs(t, cix, ref, 12)
				t.Logf("clone %d: checkpoint %d, %d tables", ci, cp, len(cix.tables))
				requireNoError(t, cix.Close())
			}
		})
	}
}

// TestInjectedFaultsFailCleanly runs "open, add, close" with a fault injected
// at the Nth mutating filesystem operation for N = 1, 2, … until a run
// completes. Each run must report the fault (Add or Close returns it,
// wrapped in ErrFailed once latched) and leave a directory that reopens to
// a consistent prefix of the batches.
func TestInjectedFaultsFailCleanly(t *testing.T) {
	bs, upTos := batches(5, 20, 5, 6)
	for n := 1; ; n++ {
		mem := newMemFS()
		fault := &stickyFault{}
		fsys := errorfs.Wrap(mem, fault)
		opts := Options{FS: fsys, Dir: "/f", MemTableMaxEntries: 15, MaxTables: 4, MergeFanIn: 2}
		ix, err := Open(opts)
		if err != nil {
			t.Fatalf("N=%d: unexpected error at Open: %v", n, err)
		}
		fault.arm(n)
		var runErr error
		for i, b := range bs {
			if runErr = ix.Add(b, upTos[i]); runErr != nil {
				break
			}
		}
		if err := ix.Close(); runErr == nil {
			runErr = err
		}
		if !fault.hasFailed() {
			requireNoError(t, runErr)
			if n < 10 {
				t.Fatalf("unexpected: the run completed after only %d operations", n)
			}
			t.Logf("the run completed without a fault at N=%d", n)
			return
		}
		if !errors.Is(runErr, errorfs.ErrInjected) {
			t.Fatalf("N=%d: unexpected run error %v; want the injected fault", n, runErr)
		}
		cix, err := Open(Options{FS: mem.CrashClone(), Dir: "/f"})
		if err != nil {
			t.Fatalf("N=%d: unexpected error reopening after the fault: %v", n, err)
		}
		ref := &refIndex{}
		for i, b := range bs {
			if upTos[i] <= cix.CheckpointPos() {
				ref.add(b)
			}
		}
		requireSameAs(t, cix, ref, 6)
		requireNoError(t, cix.Close())
	}
}

// TestFailedFlushLatches: after a failed fsync the index refuses entries
// for good (a failed fsync is never retried) and readers keep working.
func TestFailedFlushLatches(t *testing.T) {
	fault := &stickyFault{}
	ix, err := Open(Options{FS: errorfs.Wrap(newMemFS(), fault), Dir: "/l", MemTableMaxEntries: 4})
	requireNoError(t, err)
	fault.arm(1)
	es := []Entry{{1, 0, 0}, {1, 1, 10}, {1, 2, 20}, {1, 3, 30}}
	requireNoError(t, ix.Add(es, 40)) // freezes; the flush fails in the background
	checkFor(t, 10*time.Second, time.Millisecond, func() error {
		if ix.Err() == nil {
			return errors.New("flush has not failed yet")
		}
		return nil
	})
	for i := 0; i < 3; i++ {
		err := ix.Add([]Entry{{2, int64(i), int64(100 + i)}}, int64(200+i))
		if !errors.Is(err, ErrFailed) || !errors.Is(err, errorfs.ErrInjected) {
			t.Fatalf("unexpected Add error after a failed flush; got %v; want ErrFailed wrapping the fault", err)
		}
	}
	if got := collectRange(ix, 1, 0, 10, true); !slices.Equal(got, es) {
		t.Fatalf("unexpected reads after a failed flush; got %v; want %v", got, es)
	}
	if err := ix.Close(); !errors.Is(err, ErrFailed) {
		t.Fatalf("unexpected Close error; got %v; want ErrFailed", err)
	}
}
