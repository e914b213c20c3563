package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventstored/eventstored/store/vfs"
	"github.com/eventstored/eventstored/store/vfs/errorfs"
)

// ackLog records acknowledged writes: stream → ids in number order.
type ackLog struct {
	mu      sync.Mutex
	streams map[string][][16]byte
}

func newAckLog() *ackLog { return &ackLog{streams: map[string][][16]byte{}} }

func (a *ackLog) add(stream string, first int64, ids ...[16]byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.streams[stream]
	if int64(len(s)) != first {
		return fmt.Errorf("stream %s: acknowledged first number %d, but %d events were acknowledged before", stream, first, len(s))
	}
	a.streams[stream] = append(s, ids...)
	return nil
}

func (a *ackLog) snapshot() map[string][][16]byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string][][16]byte, len(a.streams))
	for k, v := range a.streams {
		out[k] = append([][16]byte(nil), v...)
	}
	return out
}

// verifyAcked checks that every acknowledged event is readable, exactly
// once and in order, by stream reads and in $all. Events beyond the
// acknowledged ones may exist (written but not acknowledged before a
// failure).
func verifyAcked(t testing.TB, db *DB, acked map[string][][16]byte) {
	t.Helper()
	rd := db.NewReader()
	defer rd.Close()
	for stream, ids := range acked {
		var got [][16]byte
		for from := int64(0); ; {
			s := rd.ReadStreamForward(stream, from, 500, false)
			if s.Status != ReadSuccess && !(s.Status == ReadNoStream && len(ids) == 0) {
				t.Fatalf("stream %s: read status %d (%d acknowledged events)", stream, s.Status, len(ids))
			}
			for i, e := range s.Events {
				if e.Event.Number != from+int64(i) {
					t.Fatalf("stream %s: event number %d at index %d from %d", stream, e.Event.Number, i, from)
				}
				got = append(got, e.Event.ID)
			}
			if s.IsEndOfStream || len(s.Events) == 0 {
				break
			}
			from = s.NextEventNumber
		}
		if len(got) < len(ids) {
			t.Fatalf("stream %s: %d events readable, %d acknowledged", stream, len(got), len(ids))
		}
		for i := range ids {
			if got[i] != ids[i] {
				t.Fatalf("stream %s: event %d has id %x, acknowledged %x", stream, i, got[i], ids[i])
			}
		}
	}
	// $all: every acknowledged id exactly once, and per stream in order.
	seen := map[[16]byte]int{}
	perStream := map[string]int64{}
	prevPos := map[string]Position{}
	from := PositionStart
	for {
		a := rd.ReadAllForward(from, 1000, false)
		if a.Status != ReadSuccess {
			t.Fatalf("$all read status %d: %s", a.Status, a.Error)
		}
		if len(a.Events) == 0 {
			break
		}
		for _, e := range a.Events {
			seen[e.Event.ID]++
			if n, ok := perStream[e.Event.Stream]; ok && e.Event.Number != n+1 {
				t.Fatalf("$all: stream %s event %d at %v follows %d at %v (durable %d)", e.Event.Stream, e.Event.Number, e.Pos, n, prevPos[e.Event.Stream], db.visibleEnd.Load())
			}
			// NB: Stream aliases the Reader's buffer, reused by the next
			// call: map keys must be copies.
			perStream[strings.Clone(e.Event.Stream)] = e.Event.Number
			prevPos[strings.Clone(e.Event.Stream)] = e.Pos
		}
		from = a.Next
	}
	for stream, ids := range acked {
		for _, id := range ids {
			if seen[id] != 1 {
				t.Fatalf("$all: acknowledged event %x of %s seen %d times", id, stream, seen[id])
			}
		}
	}
}

// TestNthOperationErrorLoop runs "open, write, read, close" with an error
// injected at filesystem operation N, for N = 0, 1, 2, … until a run
// completes without reaching N. Every run must fail cleanly (an error, never
// a panic or a wrong answer) and the database must reopen (from a crash
// clone: only what was synced) with every acknowledged write intact.
func TestNthOperationErrorLoop(t *testing.T) {
	for n := int64(0); ; n++ {
		mem := vfs.NewMem()
		inj := errorfs.NewInjectIndex(n)
		efs := errorfs.Wrap(mem, inj)
		acked := newAckLog()
		func() {
			db, err := Open(testOptions(Options{FS: efs, Dir: "/db", ChunkSizeBytes: 4096}))
			if err != nil {
				if !errors.Is(err, errorfs.ErrInjected) {
					t.Fatalf("n=%d: open failed with a non-injected error: %v", n, err)
				}
				return
			}
			defer func() {
				if err := db.Close(); err != nil && !errors.Is(err, errorfs.ErrInjected) && !errors.Is(err, ErrWriterFailed) {
					t.Logf("n=%d: close: %v", n, err)
				}
			}()
			for i := 0; i < 12; i++ {
				stream := fmt.Sprintf("s-%d", i%3)
				events := evs(i*10, i*10+1)
				op := &Op{Kind: OpWrite, Stream: stream, ExpectedVersion: ExpectedVersionAny, Events: events}
				err := db.Do(t.Context(), op)
				if err != nil {
					if !errors.Is(err, ErrWriterFailed) && !errors.Is(err, ErrDiskFull) {
						t.Fatalf("n=%d: write failed with %v", n, err)
					}
					if db.Err() == nil {
						t.Fatalf("n=%d: a write failed with %v but the writer did not latch", n, err)
					}
					continue
				}
				if op.Result.Status != OpSuccess {
					t.Fatalf("n=%d: write status %d", n, op.Result.Status)
				}
				if err := acked.add(stream, op.Result.FirstEventNumber, events[0].ID, events[1].ID); err != nil {
					t.Fatalf("n=%d: %v", n, err)
				}
			}
			if db.Err() != nil {
				if err := db.Submit(&Op{Kind: OpWrite, Stream: "x", ExpectedVersion: -2, Events: evs(1)}); !errors.Is(err, ErrWriterFailed) {
					t.Fatalf("n=%d: Submit after a latched failure: %v", n, err)
				}
			}
			rd := db.NewReader()
			rd.ReadStreamForward("s-0", 0, 100, false)
			rd.ReadAllForward(PositionStart, 100, false)
			rd.Close()
		}()
		db, err := Open(testOptions(Options{FS: mem.CrashClone(), Dir: "/db", ChunkSizeBytes: 4096}))
		if err != nil {
			t.Fatalf("n=%d: reopen after the injected error: %v", n, err)
		}
		verifyAcked(t, db, acked.snapshot())
		requireNoError(t, db.Close())
		if !inj.Fired() {
			t.Logf("the run completed after %d operations", n)
			return
		}
		if n > 20000 {
			t.Fatal("the loop does not terminate")
		}
	}
}

// TestCrashClonesNeverLoseAcknowledgedWrites takes crash clones of the
// filesystem while several goroutines write, and checks each clone holds
// every write acknowledged before it was taken.
func TestCrashClonesNeverLoseAcknowledgedWrites(t *testing.T) {
	mem := newCloneFS()
	db, err := Open(testOptions(Options{FS: mem, Dir: "/db", ChunkSizeBytes: 64 << 10, IndexMemTableMax: 500}))
	requireNoError(t, err)
	acked := newAckLog()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 4)
	defer func() {
		close(stop)
		wg.Wait()
		db.Close()
	}()
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				stream := fmt.Sprintf("g%d-%d", g, i%5)
				events := evs(g*1_000_000+i*3, g*1_000_000+i*3+1, g*1_000_000+i*3+2)
				op := &Op{Kind: OpWrite, Stream: stream, ExpectedVersion: ExpectedVersionAny, Events: events}
				if err := db.Do(t.Context(), op); err != nil {
					errs <- fmt.Errorf("write: %w", err)
					return
				}
				if err := acked.add(stream, op.Result.FirstEventNumber, events[0].ID, events[1].ID, events[2].ID); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 8; round++ {
		for i := 0; i < 20+rng.IntN(200); i++ {
			db.NewReader().ReadAllBackward(PositionEnd, 1, false) // let writers run
		}
		before := acked.snapshot()
		clone := mem.CrashClone()
		cdb, err := Open(testOptions(Options{FS: clone, Dir: "/db", ChunkSizeBytes: 64 << 10}))
		if err != nil {
			t.Fatalf("round %d: open the crash clone: %v", round, err)
		}
		verifyAcked(t, cdb, before)
		requireNoError(t, cdb.Close())
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
	}
}

func TestFailedFsyncLatches(t *testing.T) {
	mem := vfs.NewMem()
	inj := errorfs.NewInjectIf(func(op errorfs.Op) bool { return op.Kind == errorfs.OpFileSync })
	inj.SetArmed(false)
	efs := errorfs.Wrap(mem, inj)
	db, err := Open(testOptions(Options{FS: efs, Dir: "/db"}))
	requireNoError(t, err)
	defer db.Close()
	r := mustWrite(t, db, "s", -1, evs(1)...)
	inj.SetArmed(true)
	op := &Op{Kind: OpWrite, Stream: "s", ExpectedVersion: 0, Events: evs(2)}
	if err := db.Do(t.Context(), op); !errors.Is(err, ErrWriterFailed) {
		t.Fatalf("unexpected error; got %v; want ErrWriterFailed", err)
	}
	if db.Err() == nil || !errors.Is(db.Err(), errorfs.ErrInjected) {
		t.Fatalf("Err() = %v; want the injected fsync error", db.Err())
	}
	inj.SetArmed(false)
	// Final: no retry, even though the disk "works" again.
	if err := db.Submit(&Op{Kind: OpWrite, Stream: "s", ExpectedVersion: -2, Events: evs(3)}); !errors.Is(err, ErrWriterFailed) {
		t.Fatalf("Submit after a failed fsync: %v", err)
	}
	if st, ev := db.NewReader().ReadEvent("s", 0, false); st != ReadSuccess || ev.Event.Pos != r.Pos {
		t.Fatalf("reads must keep working: %d", st)
	}
	if db.Stats().WriterErr == nil {
		t.Fatal("Stats does not report the writer error")
	}
}

// Disk full: the write needing a new chunk fails with ErrDiskFull, nothing
// latches, reads keep working, and writes succeed once space is freed. A
// multi-event write refused half-way leaves nothing visible, before and
// after a restart.
func TestDiskFull(t *testing.T) {
	mem := vfs.NewMem()
	efs := errorfs.Wrap(mem, nil)
	const chunk = 16 << 10
	opts := testOptions(Options{FS: efs, Dir: "/db", ChunkSizeBytes: chunk})
	db, err := Open(opts)
	requireNoError(t, err)
	mustWrite(t, db, "s", -1, evs(0)...)
	efs.SetCapacityBytes(efs.UsedBytes()) // no room for another chunk
	big := make([]byte, 3000)
	var refused *Op
	for i := 1; i < 100; i++ {
		events := []NewEvent{{ID: id(i * 10), Type: "t", Data: big}, {ID: id(i*10 + 1), Type: "t", Data: big}}
		op := &Op{Kind: OpWrite, Stream: "s", ExpectedVersion: ExpectedVersionAny, Events: events}
		err := db.Do(t.Context(), op)
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrDiskFull) {
			t.Fatalf("unexpected error; got %v; want ErrDiskFull", err)
		}
		refused = op
		break
	}
	if refused == nil {
		t.Fatal("the disk never filled up")
	}
	if db.Err() != nil {
		t.Fatalf("disk full latched the writer: %v", db.Err())
	}
	rd := db.NewReader()
	s := rd.ReadStreamForward("s", 0, 4096, false)
	last := s.LastEventNumber
	for _, e := range s.Events {
		if e.Event.ID == refused.Events[0].ID || e.Event.ID == refused.Events[1].ID {
			t.Fatal("an event of the refused write is visible")
		}
	}
	efs.SetCapacityBytes(-1)
	r := mustWrite(t, db, "s", last, evs(5000)...)
	if r.FirstEventNumber != last+1 {
		t.Fatalf("unexpected numbering after the disk-full: %+v", r)
	}
	acked := rd.ReadStreamForward("s", 0, 4096, false)
	want := map[string][][16]byte{"s": nil}
	for _, e := range acked.Events {
		want["s"] = append(want["s"], e.Event.ID)
	}
	requireNoError(t, db.Close())
	db2, err := Open(testOptions(Options{FS: mem.CrashClone(), Dir: "/db", ChunkSizeBytes: chunk}))
	requireNoError(t, err)
	defer db2.Close()
	verifyAcked(t, db2, want)
	if s := db2.NewReader().ReadStreamForward("s", 0, 4096, false); len(s.Events) != len(want["s"]) {
		t.Fatalf("after restart %d events; want %d", len(s.Events), len(want["s"]))
	}
}

// cloneFS makes MemFS.CrashClone atomic with respect to Sync and SyncDir.
// NB: vfs.MemFS.CrashClone copies files one by one while a concurrent
// File.Sync can run between two copies (Sync does not take the FS lock), so
// a clone taken while the writer flushes may hold a checkpoint newer than the
// chunk data it covers: a state no real crash produces. Until vfs makes
// CrashClone atomic, this wrapper holds Syncs off while a clone is taken.
type cloneFS struct {
	*vfs.MemFS
	mu *sync.RWMutex
}

func newCloneFS() cloneFS { return cloneFS{MemFS: vfs.NewMem(), mu: &sync.RWMutex{}} }

func (c cloneFS) CrashClone() *vfs.MemFS {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.MemFS.CrashClone()
}

type cloneFile struct {
	vfs.File
	mu *sync.RWMutex
}

func (f cloneFile) Sync() error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.File.Sync()
}

func (c cloneFS) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return cloneFile{File: f, mu: c.mu}, nil
}

func (c cloneFS) Create(name string) (vfs.File, error) { return c.wrap(c.MemFS.Create(name)) }
func (c cloneFS) OpenReadWrite(name string) (vfs.File, error) {
	return c.wrap(c.MemFS.OpenReadWrite(name))
}

func (c cloneFS) SyncDir(dir string) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.MemFS.SyncDir(dir)
}

// A disk-full cut truncates the log, which voids the log iterators readers
// keep between pages; paging must go on without an error.
func TestReadersSurviveTruncation(t *testing.T) {
	mem := vfs.NewMem()
	efs := errorfs.Wrap(mem, nil)
	db, err := Open(testOptions(Options{FS: efs, Dir: "/db", ChunkSizeBytes: 16 << 10}))
	requireNoError(t, err)
	defer db.Close()
	for i := 0; i < 40; i++ {
		mustWrite(t, db, "s", int64(i)-1, evs(i)...)
	}
	fwd, back := db.NewReader(), db.NewReader()
	a := fwd.ReadAllForward(PositionStart, 40, false) // caches an iterator at its end
	if len(a.Events) != 40 {
		t.Fatalf("read %d events", len(a.Events))
	}
	next := a.Next
	b := back.ReadAllBackward(PositionEnd, 35, false)
	prev := b.Next
	// Fill the disk, then write two events: the first fits in what is left
	// of the chunk, the second needs a new chunk and is refused, so the
	// first is cut off again (a real truncation).
	efs.SetCapacityBytes(efs.UsedBytes())
	const chunk = 16 << 10
	rem := chunk - db.Stats().DurablePosition%chunk
	if rem < 200 {
		t.Fatalf("the test needs room left in the chunk; %d bytes", rem)
	}
	fill := int(rem) - 12 - prepareHeaderSize - len("s") - len("t") - 16 // frame + header + names + spare
	op := &Op{Kind: OpWrite, Stream: "s", ExpectedVersion: ExpectedVersionAny,
		Events: []NewEvent{{ID: id(1000), Type: "t", Data: make([]byte, fill)}, {ID: id(1001), Type: "t", Data: make([]byte, 3000)}}}
	if err := db.Do(t.Context(), op); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("unexpected error; got %v; want ErrDiskFull", err)
	}
	efs.SetCapacityBytes(-1)
	mustWrite(t, db, "after", -1, evs(5000)...)
	seen := false
	for i := 0; i < 100; i++ {
		a := fwd.ReadAllForward(next, 40, false)
		if a.Status != ReadSuccess {
			t.Fatalf("forward read after the cut: %d %s", a.Status, a.Error)
		}
		if len(a.Events) == 0 {
			break
		}
		for _, e := range a.Events {
			seen = seen || e.Event.Stream == "after"
		}
		next = a.Next
	}
	if !seen {
		t.Fatal("the forward reader did not reach the write after the cut")
	}
	if b := back.ReadAllBackward(prev, 35, false); b.Status != ReadSuccess || len(b.Events) != 5 {
		t.Fatalf("backward read after the cut: %d, %d events", b.Status, len(b.Events))
	}
}

// TestUnsafeDisableFlushToDisk: with the option the store acknowledges
// writes without fsyncing the chunk (a failing chunk fsync goes unnoticed);
// without it the same failure fails the write. Chunk creation still syncs,
// so the injection is armed after the first write created the chunk.
func TestUnsafeDisableFlushToDisk(t *testing.T) {
	for _, unsafe := range []bool{false, true} {
		mem := vfs.NewMem()
		inj := errorfs.NewInjectIf(func(op errorfs.Op) bool {
			return op.Kind == errorfs.OpFileSync && strings.Contains(op.Path, "chunk-")
		})
		inj.SetArmed(false)
		db, err := Open(testOptions(Options{FS: errorfs.Wrap(mem, inj), Dir: "/db", ChunkSizeBytes: 1 << 20, UnsafeDisableFlushToDisk: unsafe}))
		requireNoError(t, err)
		mustWrite(t, db, "s", ExpectedVersionAny, evs(1)...)
		inj.SetArmed(true)
		op := &Op{Kind: OpWrite, Stream: "s", ExpectedVersion: ExpectedVersionAny, Events: evs(2)}
		err = db.Do(context.Background(), op)
		ok := err == nil && op.Result.Err == nil && op.Result.Status == OpSuccess
		if unsafe && !ok {
			t.Fatalf("unsafe: write failed: %v %d %v", err, op.Result.Status, op.Result.Err)
		}
		if !unsafe && ok {
			t.Fatal("safe: write acknowledged although the chunk fsync failed")
		}
		db.Close()
	}
}

// TestSkipVerifyReachesTheLog: Options.SkipVerify turns off the log's
// background verification of sealed chunks; without it they are verified.
func TestSkipVerifyReachesTheLog(t *testing.T) {
	mem := vfs.NewMem()
	opts := testOptions(Options{FS: mem, Dir: "/db", ChunkSizeBytes: 4096})
	db, err := Open(opts)
	requireNoError(t, err)
	for i := 0; i < 60; i++ {
		mustWrite(t, db, "s", ExpectedVersionAny, evs(i)...)
	}
	requireNoError(t, db.Close())
	for _, skip := range []bool{true, false} {
		opts.SkipVerify = skip
		db, err := Open(opts)
		requireNoError(t, err)
		l := db.log.(tlogEngine).Log
		deadline := time.Now().Add(10 * time.Second)
		for !l.Stats().VerifyDone && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		st := l.Stats()
		if !st.VerifyDone || st.Chunks < 2 {
			t.Fatalf("skip=%v: verification not done (%+v)", skip, st)
		}
		if skip && st.ChunksVerified != 0 {
			t.Fatalf("skip: %d chunks verified", st.ChunksVerified)
		}
		if !skip && st.ChunksVerified == 0 {
			t.Fatal("no chunk verified without SkipVerify")
		}
		requireNoError(t, db.Close())
	}
}
