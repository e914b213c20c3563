package tlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventstored/eventstored/store/vfs"
	"github.com/eventstored/eventstored/store/vfs/errorfs"
)

// checkConsistent opens fsys without faults and checks the log is a prefix
// of appended that holds at least the first acked records.
func checkConsistent(t *testing.T, fsys vfs.FS, chunkSize int64, appended []rec, acked int) []rec {
	t.Helper()
	l, err := Open(testOpts(fsys, chunkSize))
	if err != nil {
		t.Fatalf("reopen failed: %v", err)
	}
	defer l.Close()
	got := readAll(t, l)
	if len(got) < acked {
		t.Fatalf("lost acknowledged records: %d survive, %d were acknowledged", len(got), acked)
	}
	if len(got) > len(appended) {
		t.Fatalf("%d records survive but only %d were appended", len(got), len(appended))
	}
	checkRecords(t, got, appended[:len(got)])
	return got
}

// TestErrorAtEveryOperation is the Nth-operation loop: open, append across
// several chunks, flush, read everything back, close, with an error
// injected at operation N for N = 0, 1, 2, ... until a run completes
// without the injector firing. Every run must fail with the injected error
// (nothing else, no panic), and the filesystem it leaves, as is and after a
// crash, must reopen to a log holding every record whose Flush succeeded
// and nothing that was not appended.
func TestErrorAtEveryOperation(t *testing.T) {
	const chunkSize = 256
	run := func(fsys vfs.FS, prior []rec) (appended []rec, acked int, err error) {
		opts := testOpts(fsys, chunkSize)
		opts.SkipVerify = true // the verifier's reads would make op numbering racy
		l, err := Open(opts)
		if err != nil {
			return nil, 0, err
		}
		defer func() {
			if cerr := l.Close(); err == nil {
				err = cerr
			}
		}()
		for round := 0; round < 3; round++ {
			for i := 0; i < 8; i++ {
				p := payloadFor(len(appended), 20+len(appended)%17)
				pos, err := l.Append(p)
				if err != nil {
					return appended, acked, err
				}
				appended = append(appended, rec{pos, p})
			}
			if err := l.Flush(); err != nil {
				return appended, acked, err
			}
			acked = len(appended)
			it := l.NewIterator(0)
			n := 0
			for {
				_, p, err := it.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					it.Close()
					return appended, acked, err
				}
				if want := append(prior[:len(prior):len(prior)], appended...)[n]; !bytes.Equal(p, want.payload) {
					t.Fatalf("read back a different record %d", n)
				}
				n++
			}
			it.Close()
			if round == 1 {
				// Cut the last 5 records (a diverged tail). If this fails
				// part-way the log may hold either side: both are prefixes
				// of appended holding at least the kept records.
				cut := len(appended) - 5
				if err := l.Truncate(appended[cut].pos); err != nil {
					return appended, min(acked, cut), err
				}
				appended = appended[:cut]
				acked = cut
			}
		}
		return appended, acked, nil
	}
	// The log must exist before some faults make sense (recovery paths), so
	// run every N against both an empty filesystem and one holding a log.
	seed := vfs.NewMem()
	if _, _, err := run(seed, nil); err != nil {
		t.Fatal(err)
	}
	seeded := readAllFS(t, seed, chunkSize)
	for _, start := range []struct {
		name  string
		fresh func() *vfs.MemFS
		prior []rec
	}{
		{"empty", vfs.NewMem, nil},
		{"existing log", seed.CrashClone, seeded},
	} {
		t.Run(start.name, func(t *testing.T) {
			for n := int64(0); ; n++ {
				mem := start.fresh()
				inj := errorfs.NewInjectIndex(n)
				var failedOp errorfs.Op
				var count int64
				recInj := errorfs.InjectorFunc(func(op errorfs.Op) error {
					if count == n {
						failedOp = op
					}
					count++
					return inj.MaybeError(op)
				})
				appended, acked, err := run(errorfs.Wrap(mem, recInj), start.prior)
				if !inj.Fired() {
					requireNoError(t, err)
					t.Logf("completed after %d injected faults", n)
					return
				}
				if err == nil || !errors.Is(err, errorfs.ErrInjected) {
					t.Fatalf("op %d (%s %s): run ended with %v; want the injected error", n, failedOp.Kind, failedOp.Path, err)
				}
				all := append(append([]rec(nil), start.prior...), appended...)
				for _, fsys := range []*vfs.MemFS{mem.CrashClone(), mem} {
					checkConsistent(t, fsys, chunkSize, all, len(start.prior)+acked)
				}
			}
		})
	}
}

func readAllFS(t *testing.T, fsys vfs.FS, chunkSize int64) []rec {
	t.Helper()
	l := mustOpen(t, testOpts(fsys, chunkSize))
	defer l.Close()
	return readAll(t, l)
}

// TestCrashClonesAtRandomPoints appends, flushes and sometimes truncates in
// a seeded random loop, and takes a crash clone of the filesystem before a
// random fraction of all filesystem operations (so crashes land inside
// roll-overs, seals, checkpoint writes and truncations). Every clone must
// reopen to a prefix of what was appended holding every record whose
// Flush had returned nil when the clone was taken.
func TestCrashClonesAtRandomPoints(t *testing.T) {
	for _, perm := range permutations {
		t.Run(perm.name, func(t *testing.T) {
			for seed := uint64(1); seed <= 4; seed++ {
				crashClonesSeed(t, perm, seed, 300, 200)
			}
		})
	}
}

// permutation is a setting that changes the bytes on disk or the I/O
// pattern; storage property tests run under each (STYLE §7.7).
type permutation struct {
	name             string
	chunkSizeBytes   int64
	writeBufferBytes int
	blockBytes       int
	maxPayloadBytes  int
}

var permutations = []permutation{
	{"small chunks, small buffers", 512, minBufferBytes, minBufferBytes, 200},
	{"records bigger than the buffers", 64 << 10, minBufferBytes, minBufferBytes, 3 * minBufferBytes},
	{"large buffers", 64 << 10, 1 << 20, 1 << 20, 2000},
}

// crashClonesSeed runs one seed of TestCrashClonesAtRandomPoints with the
// given number of steps and at most maxClones crash clones.
func crashClonesSeed(t *testing.T, perm permutation, seed uint64, steps, maxClones int) {
	{
		rng := rand.New(rand.NewPCG(seed, 99))
		mem := vfs.NewMem()
		type clone struct {
			fs     *vfs.MemFS
			model  []rec // records the log holds (or held before a pending truncation)
			acked  int
			opName string
		}
		var (
			clones []clone
			model  []rec
			acked  int
		)
		inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
			if rng.IntN(12) == 0 && len(clones) < maxClones {
				clones = append(clones, clone{mem.CrashClone(), append([]rec(nil), model...), acked, op.Kind.String()})
			}
			return nil
		})
		opts := testOpts(errorfs.Wrap(mem, inj), perm.chunkSizeBytes)
		opts.WriteBufferBytes = perm.writeBufferBytes
		opts.IteratorBlockBytes = perm.blockBytes
		opts.SkipVerify = true
		l := mustOpen(t, opts)
		for step := 0; step < steps; step++ {
			switch r := rng.IntN(20); {
			case r < 14:
				p := payloadFor(step, rng.IntN(perm.maxPayloadBytes))
				pos, err := l.Append(p)
				requireNoError(t, err)
				model = append(model, rec{pos, p})
			case r < 19:
				requireNoError(t, l.Flush())
				acked = len(model)
			default:
				if len(model) == 0 {
					continue
				}
				requireNoError(t, l.Flush())
				acked = len(model)
				cut := rng.IntN(len(model))
				// While Truncate runs, a crash may leave either side of it:
				// both are prefixes of the model, and at least the kept
				// records are safe.
				acked = cut
				requireNoError(t, l.Truncate(model[cut].pos))
				model = model[:cut]
			}
		}
		requireNoError(t, l.Close())
		clones = append(clones, clone{mem.CrashClone(), model, len(model), "end"})
		for _, c := range clones {
			t.Run(fmt.Sprintf("seed %d crash before %s", seed, c.opName), func(t *testing.T) {
				checkConsistent(t, c.fs, perm.chunkSizeBytes, c.model, c.acked)
			})
		}
		t.Logf("seed %d: %d crash clones checked", seed, len(clones))
	}
}

// TestFailedSyncLatches: after a failed fsync the log refuses every later
// write, even once the disk works again; reopening recovers.
func TestFailedSyncLatches(t *testing.T) {
	mem := vfs.NewMem()
	inj := errorfs.NewInjectIf(func(op errorfs.Op) bool { return op.Kind == errorfs.OpFileSync })
	inj.SetArmed(false)
	l := mustOpen(t, testOpts(errorfs.Wrap(mem, inj), 4096))
	want := appendN(t, l, 0, 10, func(int) int { return 50 })
	requireNoError(t, l.Flush())
	pending := appendN(t, l, 10, 5, func(int) int { return 50 })
	inj.SetArmed(true)
	err := l.Flush()
	if !errors.Is(err, ErrLogFailed) || !errors.Is(err, errorfs.ErrInjected) {
		t.Fatalf("unexpected flush error; got %v; want ErrLogFailed wrapping the injected error", err)
	}
	inj.SetArmed(false)
	if _, err := l.Append([]byte("x")); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("append after a failed sync; got %v; want ErrLogFailed", err)
	}
	if err := l.Flush(); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("flush after a failed sync; got %v; want ErrLogFailed", err)
	}
	if err := l.Truncate(0); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("truncate after a failed sync; got %v; want ErrLogFailed", err)
	}
	if !errors.Is(l.Failed(), ErrLogFailed) || !errors.Is(l.Stats().Failed, ErrLogFailed) {
		t.Fatalf("failure not reported: %v", l.Failed())
	}
	// Reads of durable data keep working.
	p, _, err := l.ReadAt(want[3].pos, nil)
	requireNoError(t, err)
	if !bytes.Equal(p, want[3].payload) {
		t.Fatalf("read after failure differs")
	}
	l.Close()
	for _, fsys := range []*vfs.MemFS{mem.CrashClone(), mem} {
		checkConsistent(t, fsys, 4096, append(append([]rec(nil), want...), pending...), len(want))
	}
}

// TestFailedCheckpointSyncLatches: the writer checkpoint's fsync failing is
// as final as the chunk's, whether it comes from the timer (a later flush
// then fails), a seal or Close; the records fsynced before it survive.
func TestFailedCheckpointSyncLatches(t *testing.T) {
	for _, when := range []string{"timer", "seal", "close"} {
		t.Run(when, func(t *testing.T) {
			mem := vfs.NewMem()
			inj := errorfs.NewInjectIf(func(op errorfs.Op) bool {
				return op.Kind == errorfs.OpFileSync && op.Path == "/db/writer.chk"
			})
			inj.SetArmed(false)
			opts := testOpts(errorfs.Wrap(mem, inj), 4096)
			if when == "timer" {
				opts.CheckpointSyncInterval = time.Millisecond
			}
			l := mustOpen(t, opts)
			want := appendN(t, l, 0, 3, func(int) int { return 50 })
			appended := want
			inj.SetArmed(true)
			var err error
			switch when {
			case "timer":
				// The timer fsyncs (and fails) in the background; a flush
				// after it reports the failure. Polled, never timed.
				deadline := time.Now().Add(10 * time.Second)
				for i := len(want); err == nil && time.Now().Before(deadline); i++ {
					p := payloadFor(i, 20)
					pos, aerr := l.Append(p)
					requireNoError(t, aerr)
					appended = append(appended, rec{pos, p})
					err = l.Flush()
					time.Sleep(time.Millisecond)
				}
			case "seal":
				requireNoError(t, l.Flush())
				for i := len(want); err == nil; i++ {
					p := payloadFor(i, 1000)
					var pos int64
					if pos, err = l.Append(p); err == nil {
						appended = append(appended, rec{pos, p})
					}
				}
			case "close":
				requireNoError(t, l.Flush())
				err = l.Close()
			}
			if !errors.Is(err, ErrLogFailed) {
				t.Fatalf("checkpoint sync failed at %s; got %v; want ErrLogFailed", when, err)
			}
			inj.SetArmed(false)
			if when != "close" {
				if err := l.Flush(); !errors.Is(err, ErrLogFailed) {
					t.Fatalf("flush after a failed checkpoint sync; got %v; want ErrLogFailed", err)
				}
				l.Close()
			}
			checkConsistent(t, mem.CrashClone(), 4096, appended, len(want))
		})
	}
}

// TestCheckpointTimer: after a flush, writer.chk reaches the disk (a crash
// clone reads it) without any further call on the log.
func TestCheckpointTimer(t *testing.T) {
	mem := vfs.NewMem()
	opts := testOpts(mem, 4096)
	opts.CheckpointSyncInterval = time.Millisecond
	l := mustOpen(t, opts)
	defer l.Close()
	appendN(t, l, 0, 3, func(int) int { return 50 })
	requireNoError(t, l.Flush())
	want := l.Durable()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ck, err := openCheckpoint(mem.CrashClone(), "/db/writer.chk", "writer", 0)
		requireNoError(t, err)
		got := ck.Read()
		ck.close()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("writer.chk on disk is %d, want %d, long after the flush", got, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestDiskFull fills a small "disk" (errorfs capacity): the Append that
// needs a new chunk fails with ErrDiskFull before writing anything, the log
// does not fail, reads and flushes of what was appended keep working, and
// after space is freed appends resume.
func TestDiskFull(t *testing.T) {
	t.Run("keep size", func(t *testing.T) { testDiskFull(t, PreallocKeepSize) })
	t.Run("zero fill", func(t *testing.T) { testDiskFull(t, PreallocZeroFill) })
}

// testDiskFull is TestDiskFull with chunks created in place (keep size) or
// prepared in the background (zero fill: the preparation of chunk 2 runs
// out of space, and roll's in-place attempt reports it).
func testDiskFull(t *testing.T, pa Prealloc) {
	const chunkSize = 1024
	mem := vfs.NewMem()
	efs := errorfs.Wrap(mem, nil)
	fileBytes := int64(HeaderSizeBytes + chunkSize + FooterSizeBytes)
	// Two checkpoint files plus exactly two chunk files.
	efs.SetCapacityBytes(2*CheckpointFileBytes + 2*fileBytes)
	opts := testOpts(efs, chunkSize)
	opts.Prealloc = pa
	l := mustOpen(t, opts)
	var want []rec
	var err error
	for i := 0; ; i++ {
		p := payloadFor(i, 100)
		var pos int64
		if pos, err = l.Append(p); err != nil {
			break
		}
		want = append(want, rec{pos, p})
		if i > 1000 {
			t.Fatalf("the disk never filled up")
		}
	}
	if !errors.Is(err, ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("unexpected error when the disk is full; got %v; want ErrDiskFull wrapping ENOSPC", err)
	}
	if len(want) != 2*(chunkSize/(100+RecordOverheadBytes)) {
		t.Fatalf("unexpected records before the disk filled; got %d", len(want))
	}
	if l.Failed() != nil {
		t.Fatalf("disk full latched the log: %v", l.Failed())
	}
	names, _ := mem.List("/db")
	for _, n := range names {
		if strings.HasPrefix(n, chunkFileName(2, 0)) {
			t.Fatalf("the chunk that did not fit was left behind: %s", n)
		}
	}
	// Still full: the retry fails the same way.
	if _, err := l.Append(payloadFor(0, 100)); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("unexpected retry while full; got %v; want ErrDiskFull", err)
	}
	requireNoError(t, l.Flush())
	checkRecords(t, readAll(t, l), want)
	p, _, err := l.ReadAt(want[0].pos, nil)
	requireNoError(t, err)
	if !bytes.Equal(p, want[0].payload) {
		t.Fatalf("read while full differs")
	}
	// Free space: appends resume in a new chunk.
	efs.SetCapacityBytes(-1)
	more := appendN(t, l, 5000, 20, func(int) int { return 100 })
	if more[0].pos != 2*chunkSize {
		t.Fatalf("unexpected position after freeing space; got %d; want %d", more[0].pos, 2*chunkSize)
	}
	requireNoError(t, l.Flush())
	all := append(append([]rec(nil), want...), more...)
	checkRecords(t, readAll(t, l), all)
	requireNoError(t, l.Close())
	checkConsistent(t, mem.CrashClone(), chunkSize, all, len(all))
}

// TestUnsafeDisableFlushToDisk: Flush publishes records without a single
// fsync, so a crash may lose them (it does, on the in-memory FS).
func TestUnsafeDisableFlushToDisk(t *testing.T) {
	mem := vfs.NewMem()
	var syncs int
	count := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpFileSync {
			syncs++
		}
		return nil
	})
	o := testOpts(errorfs.Wrap(mem, count), 1<<20)
	o.UnsafeDisableFlushToDisk = true
	o.SkipVerify = true
	l := mustOpen(t, o)
	appendN(t, l, 0, 1, func(int) int { return 10 }) // creates the chunk (synced)
	requireNoError(t, l.Flush())
	before := syncs
	want := appendN(t, l, 1, 50, func(int) int { return 10 })
	for i := 0; i < 5; i++ {
		appendN(t, l, 100+i, 1, func(int) int { return 10 })
		requireNoError(t, l.Flush())
	}
	if syncs != before {
		t.Fatalf("Flush synced %d times with flushing to disk disabled", syncs-before)
	}
	if got := readAll(t, l); len(got) != 56 {
		t.Fatalf("unexpected records visible; got %d; want 56", len(got))
	}
	crashed := checkConsistent(t, mem.CrashClone(), 1<<20, append([]rec{{0, payloadFor(0, 10)}}, want...), 0)
	if len(crashed) >= 56 {
		t.Fatalf("unsynced records survived a crash on the in-memory FS: %d", len(crashed))
	}
	requireNoError(t, l.Close())
}

func TestFlushMetrics(t *testing.T) {
	l := mustOpen(t, testOpts(vfs.NewMem(), 1<<20))
	defer l.Close()
	for i := 0; i < 3; i++ {
		appendN(t, l, i, 2, func(int) int { return 10 })
		requireNoError(t, l.Flush())
		requireNoError(t, l.Flush()) // nothing new: no I/O, not counted
	}
	st := l.Stats()
	if st.Flushes != 3 || st.BytesFlushed != 6*22 || st.FlushNanosTotal == 0 || st.FlushNanosMax == 0 || st.FlushNanosMax > st.FlushNanosTotal {
		t.Fatalf("unexpected flush metrics %+v", st)
	}
}
