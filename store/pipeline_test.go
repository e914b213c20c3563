package store

import (
	"bytes"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gateLog is memLog with hooks for pipeline tests: Flush can be held
// (batches then pile up in the pipeline), Append can refuse records whose
// payload contains a marker (ErrDiskFull, as tlog refuses a record when it
// cannot create the next chunk) and Flush can fail (a failed fsync).
type gateLog struct {
	*memLog
	gate      chan struct{} // when not nil, each Flush takes a token
	openOnce  sync.Once
	flushing  atomic.Int32 // Flushes waiting at the gate
	refuse    atomic.Pointer[[]byte]
	failFlush atomic.Bool
	appends   atomic.Int64
}

var errTestFsync = errors.New("test: fsync failed")

func newGateLog() *gateLog { return &gateLog{memLog: newMemLog()} }

func (l *gateLog) Append(payload []byte) (int64, error) {
	if m := l.refuse.Load(); m != nil && bytes.Contains(payload, *m) {
		return 0, ErrDiskFull
	}
	l.appends.Add(1)
	return l.memLog.Append(payload)
}

func (l *gateLog) Flush() error {
	if l.gate != nil {
		l.flushing.Add(1)
		<-l.gate
		l.flushing.Add(-1)
	}
	if l.failFlush.Load() {
		return errTestFsync
	}
	return l.memLog.Flush()
}

// open lets every Flush through from now on.
func (l *gateLog) open() { l.openOnce.Do(func() { close(l.gate) }) }

func (l *gateLog) refuseMarker(m string) {
	if m == "" {
		l.refuse.Store(nil)
		return
	}
	b := []byte(m)
	l.refuse.Store(&b)
}

// waitFor polls cond (no timing is asserted: the bound only stops a hung
// test).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// pending submits op and returns a channel closed once it is done.
func pending(t *testing.T, db *DB, op *Op) chan struct{} {
	t.Helper()
	done := make(chan struct{})
	op.Done = func(*Op) { close(done) }
	requireNoError(t, db.Submit(op))
	return done
}

func wait(t *testing.T, done chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("op not done")
	}
}

func writeOp(stream string, expected int64, events ...NewEvent) *Op {
	return &Op{Kind: OpWrite, Stream: stream, ExpectedVersion: expected, Events: events}
}

// openGated opens a DB over a gateLog whose Flush is held until the test
// releases tokens.
func openGated(t *testing.T, depth int) (*DB, *gateLog) {
	t.Helper()
	l := newGateLog()
	l.gate = make(chan struct{})
	// NB: FlushDelayMax long enough that the writer gathers every op
	// behind a full pipeline, whatever the machine's load.
	db, err := Open(testOptions(Options{MemDB: true, testLog: l, PipelineDepth: depth, FlushDelayMax: time.Minute}))
	requireNoError(t, err)
	t.Cleanup(func() {
		l.open()
		db.Close()
	})
	return db, l
}

// The pipeline holds at most PipelineDepth batches in flight; while it is
// full the writer keeps gathering ops into its next batch, and every op
// completes, in order, once the committer moves again.
func TestPipelineDepthLimit(t *testing.T) {
	for _, depth := range []int{1, 2, 4} {
		db, l := openGated(t, depth)
		var order []int
		var mu sync.Mutex
		var dones []chan struct{}
		for i := 0; i < 40; i++ {
			op := writeOp("d", int64(i)-1, evs(i)...)
			i := i
			done := make(chan struct{})
			op.Done = func(o *Op) {
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				close(done)
			}
			requireNoError(t, db.Submit(op))
			dones = append(dones, done)
			if i < depth {
				// One batch per op until the pipeline is full.
				waitFor(t, "the op's batch in flight", func() bool { return db.pipe.inFlight() == i+1 })
			}
		}
		// The pipeline is full: the writer gathers the rest.
		waitFor(t, "the writer to take every op", func() bool { return len(db.queue) == 0 })
		if n := db.pipe.inFlight(); n != depth {
			t.Fatalf("depth %d: %d batches in flight", depth, n)
		}
		l.open()
		for _, d := range dones {
			wait(t, d)
		}
		for i, n := range order {
			if n != i {
				t.Fatalf("depth %d: op %d completed as number %d: %v", depth, n, i, order)
			}
		}
		if s := db.NewReader().ReadStreamForward("d", 0, 100, false); len(s.Events) != 40 {
			t.Fatalf("depth %d: %d events readable", depth, len(s.Events))
		}
		// depth batches of one op, then one of the rest.
		if f := db.Stats().Fsyncs; f != uint64(depth)+1 {
			t.Fatalf("depth %d: %d flushes for 40 ops gathered behind a full pipeline", depth, f)
		}
	}
}

// A disk-full refusal in the middle of the pipeline: the ops of the batch
// appended before the refused record commit, the refused op and everything
// after it (in its batch and in later batches, encoded assuming it
// succeeded) fail with ErrDiskFull, nothing latches, the writer reloads its
// state (the later ops' event numbers were never written) and writes
// succeed again once space is freed.
func TestDiskFullMidPipeline(t *testing.T) {
	db, l := openGated(t, 3)
	first := pending(t, db, writeOp("a", -1, evs(1)...))
	waitFor(t, "the first flush", func() bool { return l.flushing.Load() == 1 })
	// Batch 2 (held behind batch 1): x@0, then the refused write, then x@1.
	x0 := writeOp("x", -1, evs(10)...)
	full := writeOp("full", -1, evs(20, 21)...)
	full.Events[1].Data = []byte("REFUSE-ME")
	x1 := writeOp("x", 0, evs(11)...)
	d0, dFull, d1 := pending(t, db, x0), pending(t, db, full), pending(t, db, x1)
	waitFor(t, "two batches in flight", func() bool { return db.pipe.inFlight() >= 2 })
	// A later batch: y, and a write that depends on x@1.
	waitFor(t, "the writer to take every op", func() bool { return len(db.queue) == 0 })
	y := writeOp("y", -1, evs(30)...)
	x2 := writeOp("x", 1, evs(12)...)
	dy, d2 := pending(t, db, y), pending(t, db, x2)
	waitFor(t, "the writer to take every op", func() bool { return len(db.queue) == 0 })
	l.refuseMarker("REFUSE-ME")
	l.open()
	for _, d := range []chan struct{}{first, d0, dFull, d1, dy, d2} {
		wait(t, d)
	}
	// Batch boundaries depend on the writer's timing; whatever they were,
	// ops before the refused one committed and every op after it failed.
	if x0.Result.Err != nil || x0.Result.FirstEventNumber != 0 {
		t.Fatalf("x@0 before the refused write: %+v", x0.Result)
	}
	if !errors.Is(full.Result.Err, ErrDiskFull) {
		t.Fatalf("refused write: %+v", full.Result)
	}
	for name, op := range map[string]*Op{"x@1": x1, "y": y, "x@2": x2} {
		if !errors.Is(op.Result.Err, ErrDiskFull) {
			t.Fatalf("%s after the refused write: %+v", name, op.Result)
		}
	}
	if db.Err() != nil {
		t.Fatalf("disk full latched: %v", db.Err())
	}
	rd := db.NewReader()
	if s := rd.ReadStreamForward("x", 0, 10, false); len(s.Events) != 1 || s.LastEventNumber != 0 {
		t.Fatalf("x after the refusal: %d events, last %d", len(s.Events), s.LastEventNumber)
	}
	if s := rd.ReadStreamForward("full", 0, 10, false); s.Status != ReadNoStream {
		t.Fatalf("an event of the refused write is visible: %d", s.Status)
	}
	// The refused write's first record was appended, then cut.
	if l.Durable() != db.Applied() {
		t.Fatalf("log end %d, applied %d", l.Durable(), db.Applied())
	}
	// The writer's state was reloaded: x is at 0, not at 2.
	if r := write(t, db, "x", 2, evs(13)...); r.Status != OpWrongExpectedVersion || r.CurrentVersion != 0 {
		t.Fatalf("x with expected 2 after the refusal: %+v", r)
	}
	l.refuseMarker("")
	mustWrite(t, db, "x", 0, evs(11)...)
	mustWrite(t, db, "full", -1, evs(20, 21)...)
	// The ids of the failed writes are not remembered as written: a retry
	// with expected version Any writes them.
	if r := mustWrite(t, db, "y", ExpectedVersionAny, evs(30)...); r.FirstEventNumber != 0 || r.Pos.Commit < 0 {
		t.Fatalf("retry of y: %+v", r)
	}
	verifyAcked(t, db, map[string][][16]byte{"a": {id(1)}, "x": {id(10), id(11)}, "full": {id(20), id(21)}, "y": {id(30)}})
}

// A failed fsync in the middle of the pipeline latches: the batch and every
// later batch in flight fail with ErrWriterFailed, batches applied before
// stay readable, and Submit refuses from then on.
func TestLatchMidPipeline(t *testing.T) {
	db, l := openGated(t, 3)
	first := pending(t, db, writeOp("a", -1, evs(1)...))
	waitFor(t, "the first flush", func() bool { return l.flushing.Load() == 1 })
	second := pending(t, db, writeOp("b", -1, evs(2)...))
	waitFor(t, "two batches in flight", func() bool { return db.pipe.inFlight() == 2 })
	third := pending(t, db, writeOp("c", -1, evs(3)...))
	waitFor(t, "three batches in flight", func() bool { return db.pipe.inFlight() == 3 })
	l.gate <- struct{}{} // batch 1 flushes
	wait(t, first)
	l.failFlush.Store(true)
	l.open()
	wait(t, second)
	wait(t, third)
	if db.Err() == nil || !errors.Is(db.Err(), errTestFsync) {
		t.Fatalf("Err() = %v; want the fsync error", db.Err())
	}
	rd := db.NewReader()
	if s := rd.ReadStreamForward("a", 0, 10, false); len(s.Events) != 1 {
		t.Fatalf("the batch applied before the failure: %d events", len(s.Events))
	}
	for _, s := range []string{"b", "c"} {
		if st := rd.ReadStreamForward(s, 0, 10, false).Status; st != ReadNoStream {
			t.Fatalf("stream %s of a failed batch: %d", s, st)
		}
	}
	if err := db.Submit(writeOp("d", -2, evs(4)...)); !errors.Is(err, ErrWriterFailed) {
		t.Fatalf("Submit after the latch: %v", err)
	}
}

// Read-your-writes across the pipeline: a WrongExpectedVersion or an
// idempotent answer that depends on a batch in flight is given only after
// that batch is applied.
func TestAnswersWaitForTheBatchesTheyDependOn(t *testing.T) {
	db, l := openGated(t, 2)
	w := pending(t, db, writeOp("s", -1, evs(1)...))
	waitFor(t, "the first flush", func() bool { return l.flushing.Load() == 1 })
	wev := writeOp("s", 5, evs(2)...)
	retry := writeOp("s", -1, evs(1)...)
	dWev, dRetry := pending(t, db, wev), pending(t, db, retry)
	waitFor(t, "the writer to take both", func() bool { return len(db.queue) == 0 && db.pipe.inFlight() == 2 })
	select {
	case <-dWev:
		t.Fatal("WrongExpectedVersion answered before the write it saw was durable")
	case <-dRetry:
		t.Fatal("idempotent retry answered before the write was durable")
	default:
	}
	l.open()
	wait(t, w)
	wait(t, dWev)
	wait(t, dRetry)
	if wev.Result.Status != OpWrongExpectedVersion || wev.Result.CurrentVersion != 0 {
		t.Fatalf("wrong expected version: %+v", wev.Result)
	}
	if retry.Result.Status != OpSuccess || retry.Result.FirstEventNumber != 0 || retry.Result.Pos != (Position{-1, -1}) {
		t.Fatalf("idempotent retry: %+v", retry.Result)
	}
}
