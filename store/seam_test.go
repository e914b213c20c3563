package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/eventstored/eventstored/store/vfs"
)

// Tests of the Committer seam with a test committer behind it, standing in
// for consensus: it writes each batch (after a header record) into the
// leader's log and into the followers' logs at the planned positions,
// flushes, has the followers apply the records (ApplyTo) and then the
// leader its batch (ApplyBatch).

const seamHeader = 24 // payload bytes of the test committer's header record

type seamCommitter struct {
	q chan *Batch
}

func newSeamCommitter() *seamCommitter { return &seamCommitter{q: make(chan *Batch, 16)} }

func (c *seamCommitter) HeaderBytes() int      { return seamHeader }
func (c *seamCommitter) Commit(b *Batch) error { c.q <- b; return nil }

// writeBatch appends b's header and records to db's log, checking every
// position against the plan, and flushes.
func writeBatch(db *DB, b *Batch) error {
	l := db.Log()
	if b.Len() == 0 {
		if b.HeaderPos() != -1 || b.Start() != b.End() {
			return fmt.Errorf("empty batch: header %d, [%d, %d)", b.HeaderPos(), b.Start(), b.End())
		}
		return nil
	}
	hdr := AppendSystem(nil, RecordSystem, make([]byte, seamHeader-4))
	if len(hdr) != seamHeader {
		return fmt.Errorf("header record of %d bytes", len(hdr))
	}
	pos, err := l.Append(hdr)
	if err != nil {
		return err
	}
	if pos != b.HeaderPos() || pos != b.Start() {
		return fmt.Errorf("header appended at %d, planned %d (start %d)", pos, b.HeaderPos(), b.Start())
	}
	for i := 0; i < b.Len(); i++ {
		planned, payload := b.Record(i)
		pos, err := l.Append(payload)
		if err != nil {
			return err
		}
		if pos != planned {
			return fmt.Errorf("record %d appended at %d, planned %d", i, pos, planned)
		}
	}
	if err := l.Flush(); err != nil {
		return err
	}
	if l.Durable() != b.End() {
		return fmt.Errorf("log end %d after the batch; planned %d", l.Durable(), b.End())
	}
	return nil
}

// replicate runs the test committer until stop is closed: every batch of
// leader goes to the followers' logs and is applied there, then applied
// by the leader. Errors go to errs.
func replicate(c *seamCommitter, leader *DB, followers []*DB, stop chan struct{}, errs chan<- error) {
	for {
		select {
		case <-stop:
			return
		case b := <-c.q:
			err := writeBatch(leader, b)
			for _, f := range followers {
				if err == nil {
					err = writeBatch(f, b)
				}
				if err == nil {
					err = f.ApplyTo(b.End())
				}
			}
			if err == nil {
				err = leader.ApplyBatch(b)
			}
			if err != nil {
				errs <- err
				leader.FailBatches(err)
				return
			}
		}
	}
}

func openCluster(t *testing.T, fsys vfs.FS, c Committer) *DB {
	t.Helper()
	db, err := Open(testOptions(Options{FS: fsys, Dir: "/db", Committer: c, ChunkSizeBytes: 64 << 10}))
	requireNoError(t, err)
	return db
}

// snapshotAll reads $all and every stream named, for comparing two nodes.
func snapshotAll(t *testing.T, db *DB, streams []string) string {
	t.Helper()
	rd := db.NewReader()
	defer rd.Close()
	var out []byte
	from := PositionStart
	for {
		a := rd.ReadAllForward(from, 100, false)
		if a.Status != ReadSuccess {
			t.Fatalf("$all: %d %s", a.Status, a.Error)
		}
		if len(a.Events) == 0 {
			break
		}
		for _, e := range a.Events {
			out = fmt.Appendf(out, "all %s#%d %x %v %s %q\n", e.Event.Stream, e.Event.Number, e.Event.ID, e.Pos, e.Event.Type, e.Event.Data)
		}
		from = a.Next
	}
	for _, s := range streams {
		sl := rd.ReadStreamForward(s, 0, 4096, false)
		out = fmt.Appendf(out, "stream %s status %d last %d:", s, sl.Status, sl.LastEventNumber)
		for _, e := range sl.Events {
			out = fmt.Appendf(out, " %d@%v", e.Event.Number, e.Event.Pos)
		}
		m, v, has := db.StreamMetadata(s)
		out = fmt.Appendf(out, " meta %v %d %s\n", has, v, m.Raw)
	}
	out = fmt.Appendf(out, "last commit %d\n", db.LastCommitPosition())
	return string(out)
}

// A follower that applies what the leader's writer made (ApplyTo over the
// same records at the same positions) serves the same reads: events,
// positions, deletes, metadata and explicit transactions; after a
// leadership change it continues the numbering.
func TestSeamFollowerAppliesLeaderBatches(t *testing.T) {
	lc, fc := newSeamCommitter(), newSeamCommitter()
	leader := openCluster(t, vfs.NewMem(), lc)
	defer leader.Close()
	follower := openCluster(t, vfs.NewMem(), fc)
	defer follower.Close()
	var fCommits sync.Mutex
	var fLast Position
	follower.OnCommitted(func(p Position) { fCommits.Lock(); fLast = p; fCommits.Unlock() })

	if err := leader.Submit(writeOp("s", -2, evs(0)...)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Submit before Lead: %v", err)
	}
	requireNoError(t, leader.Lead(leader.Applied()))
	stop, errs := make(chan struct{}), make(chan error, 1)
	go replicate(lc, leader, []*DB{follower}, stop, errs)

	// Concurrent writers (several batches, several ops per batch) ...
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 30; i++ {
				op := writeOp(fmt.Sprintf("w-%d", g), int64(2*i)-1, evs(g*1000+i*2, g*1000+i*2+1)...)
				if err := leader.Do(t.Context(), op); err != nil || op.Result.Status != OpSuccess {
					t.Errorf("write %d of w-%d: %v %+v", i, g, err, op.Result)
					return
				}
			}
		}()
	}
	wg.Wait()
	// ... and every kind of op.
	mustWrite(t, leader, "m", -1, evs(1)...)
	mustWrite(t, leader, "$$m", -1, NewEvent{ID: id(2), Type: "$metadata", IsJSON: true, Data: []byte(`{"$maxCount":5}`)})
	if r := write(t, leader, "m", 7, evs(3)...); r.Status != OpWrongExpectedVersion {
		t.Fatalf("wrong expected version: %+v", r)
	}
	if r := write(t, leader, "m", -1, evs(1)...); r.Status != OpSuccess || r.Pos.Commit != -1 {
		t.Fatalf("idempotent retry: %+v", r)
	}
	mustWrite(t, leader, "soft", -1, evs(4)...)
	if r := deleteStream(t, leader, "soft", 0, false); r.Status != OpSuccess {
		t.Fatalf("soft delete: %+v", r)
	}
	mustWrite(t, leader, "hard", -1, evs(5)...)
	if r := deleteStream(t, leader, "hard", 0, true); r.Status != OpSuccess {
		t.Fatalf("hard delete: %+v", r)
	}
	tx := do(t, leader, &Op{Kind: OpTransactionStart, Stream: "tx", ExpectedVersion: -1})
	do(t, leader, &Op{Kind: OpTransactionWrite, TransactionID: tx.TransactionID, Events: evs(6, 7)})
	if r := do(t, leader, &Op{Kind: OpTransactionCommit, TransactionID: tx.TransactionID}); r.Status != OpSuccess || r.LastEventNumber != 1 {
		t.Fatalf("transaction commit: %+v", r)
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	streams := []string{"w-0", "w-1", "w-2", "w-3", "m", "$$m", "soft", "hard", "tx"}
	want := snapshotAll(t, leader, streams)
	if got := snapshotAll(t, follower, streams); got != want {
		t.Fatalf("follower reads differ from the leader's:\nleader:\n%s\nfollower:\n%s", want, got)
	}
	if follower.Applied() != leader.Applied() || follower.Log().Durable() != leader.Applied() {
		t.Fatalf("applied: leader %d, follower %d (log %d)", leader.Applied(), follower.Applied(), follower.Log().Durable())
	}
	fCommits.Lock()
	if fLast.Commit != leader.LastCommitPosition() {
		t.Fatalf("follower announced %v; leader's last commit %d", fLast, leader.LastCommitPosition())
	}
	fCommits.Unlock()

	// Leadership moves to the follower: it continues the streams from
	// what it applied.
	close(stop)
	leader.Follow()
	if err := leader.Submit(writeOp("m", -2, evs(8)...)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Submit after Follow: %v", err)
	}
	requireNoError(t, follower.Lead(follower.Applied()))
	stop2 := make(chan struct{})
	defer close(stop2)
	go replicate(fc, follower, nil, stop2, errs)
	if r := mustWrite(t, follower, "m", 0, evs(8)...); r.FirstEventNumber != 1 {
		t.Fatalf("write on the new leader: %+v", r)
	}
	if r := write(t, follower, "hard", -2, evs(9)...); r.Status != OpStreamDeleted {
		t.Fatalf("write to a hard-deleted stream on the new leader: %+v", r)
	}
	if r := mustWrite(t, follower, "w-2", 29*2+1, evs(10)...); r.FirstEventNumber != 60 {
		t.Fatalf("w-2 on the new leader: %+v", r)
	}
}

// FailBatches fails the ops of every batch in flight and stops leading;
// Lead requires the pipeline empty and everything applied; the writer
// then reloads its state (what failed was never written). Follow fails
// queued ops with ErrNotLeader. ApplyBatch refuses a batch that is not the
// oldest in flight.
func TestSeamFailBatchesAndLeadAgain(t *testing.T) {
	c := newSeamCommitter()
	db := openCluster(t, vfs.NewMem(), c)
	defer db.Close()
	if err := db.Lead(db.Applied() + 1); !errors.Is(err, ErrNotApplied) {
		t.Fatalf("Lead past the applied end: %v", err)
	}
	requireNoError(t, db.Lead(db.Applied()))
	// One write committed normally.
	first := pending(t, db, writeOp("s", -1, evs(1)...))
	b := <-c.q
	requireNoError(t, writeBatch(db, b))
	requireNoError(t, db.ApplyBatch(b))
	wait(t, first)
	if err := db.ApplyBatch(b); !errors.Is(err, ErrBatchNotInFlight) {
		t.Fatalf("ApplyBatch twice: %v", err)
	}
	// Two batches in flight, never committed.
	lost1 := writeOp("s", 0, evs(2)...)
	d1 := pending(t, db, lost1)
	b1 := <-c.q
	lost2 := writeOp("s", 1, evs(3)...)
	d2 := pending(t, db, lost2)
	b2 := <-c.q
	if err := db.ApplyBatch(b2); !errors.Is(err, ErrBatchNotInFlight) {
		t.Fatalf("ApplyBatch out of order: %v", err)
	}
	if err := db.Lead(db.Applied()); !errors.Is(err, ErrBatchesInFlight) {
		t.Fatalf("Lead with batches in flight: %v", err)
	}
	errLost := errors.New("test: leadership lost")
	db.FailBatches(errLost)
	wait(t, d1)
	wait(t, d2)
	if !errors.Is(lost1.Result.Err, errLost) || !errors.Is(lost2.Result.Err, errLost) {
		t.Fatalf("ops of failed batches: %v, %v", lost1.Result.Err, lost2.Result.Err)
	}
	// Handed to the committer: they may still commit elsewhere.
	if !errors.Is(lost1.Result.Err, ErrCommitUnknown) || !errors.Is(lost2.Result.Err, ErrCommitUnknown) {
		t.Fatalf("ops of failed batches do not say the outcome is unknown: %v, %v", lost1.Result.Err, lost2.Result.Err)
	}
	if db.Leading() {
		t.Fatal("still leading after FailBatches")
	}
	if err := db.ApplyBatch(b1); !errors.Is(err, ErrBatchNotInFlight) {
		t.Fatalf("ApplyBatch of a failed batch: %v", err)
	}
	if err := db.Submit(writeOp("s", -2, evs(4)...)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Submit after FailBatches: %v", err)
	}
	requireNoError(t, db.Lead(db.Applied()))
	// The state was reloaded: s is at 0, the failed writes never happened.
	again := writeOp("s", 0, evs(2)...)
	d := pending(t, db, again)
	b = <-c.q
	if b.Start() != b1.Start() {
		t.Fatalf("the new batch starts at %d; the failed one planned %d", b.Start(), b1.Start())
	}
	requireNoError(t, writeBatch(db, b))
	requireNoError(t, db.ApplyBatch(b))
	wait(t, d)
	if again.Result.Err != nil || again.Result.FirstEventNumber != 1 {
		t.Fatalf("write after leading again: %+v", again.Result)
	}
	// Follow: queued ops fail with ErrNotLeader, the batch in flight waits.
	inFlight := writeOp("s", 1, evs(3)...)
	dIn := pending(t, db, inFlight)
	b = <-c.q
	db.Follow()
	if err := db.Submit(writeOp("s", -2, evs(5)...)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Submit after Follow: %v", err)
	}
	requireNoError(t, writeBatch(db, b))
	requireNoError(t, db.ApplyBatch(b))
	wait(t, dIn)
	if inFlight.Result.Err != nil || inFlight.Result.FirstEventNumber != 2 {
		t.Fatalf("the batch in flight at Follow: %+v", inFlight.Result)
	}
	if s := db.NewReader().ReadStreamForward("s", 0, 10, false); len(s.Events) != 3 {
		t.Fatalf("s holds %d events; want 3", len(s.Events))
	}
}

// In cluster mode Open indexes only what the persisted index covers: the
// rest of the log may hold records consensus never committed, so readers
// see nothing beyond Applied() until the committer applies it (ApplyTo).
func TestSeamOpenAppliesOnlyTheIndexCheckpoint(t *testing.T) {
	mem := vfs.NewMem()
	c := newSeamCommitter()
	db := openCluster(t, mem, c)
	requireNoError(t, db.Lead(db.Applied()))
	stop, errs := make(chan struct{}), make(chan error, 1)
	go replicate(c, db, nil, stop, errs)
	for i := 0; i < 20; i++ {
		mustWrite(t, db, "s", int64(i)-1, evs(i)...)
	}
	close(stop)
	end := db.Applied()
	clone := mem.CrashClone()
	db.Close()

	db2 := openCluster(t, clone, newSeamCommitter())
	defer db2.Close()
	if db2.Log().Durable() != end {
		t.Fatalf("log end %d after the crash; %d was durable", db2.Log().Durable(), end)
	}
	applied := db2.Applied()
	if applied >= end {
		t.Fatalf("applied %d at open: the test needs an index checkpoint below the log end %d", applied, end)
	}
	rd := db2.NewReader()
	if s := rd.ReadStreamForward("s", 0, 100, false); len(s.Events) != 0 {
		t.Fatalf("%d events readable beyond the applied end", len(s.Events))
	}
	if a := rd.ReadAllForward(PositionStart, 100, false); len(a.Events) != 0 {
		t.Fatalf("$all shows %d events beyond the applied end", len(a.Events))
	}
	var announced Position
	db2.OnCommitted(func(p Position) { announced = p })
	if err := db2.ApplyTo(end + 1); !errors.Is(err, ErrNotApplied) {
		t.Fatalf("ApplyTo past the log end: %v", err)
	}
	requireNoError(t, db2.ApplyTo(end))
	if s := rd.ReadStreamForward("s", 0, 100, false); len(s.Events) != 20 {
		t.Fatalf("%d events readable after ApplyTo", len(s.Events))
	}
	if db2.Applied() != end || announced.Commit != db2.LastCommitPosition() || announced.Commit <= 0 {
		t.Fatalf("after ApplyTo: applied %d (want %d), announced %v, last commit %d", db2.Applied(), end, announced, db2.LastCommitPosition())
	}
	requireNoError(t, db2.Lead(end))
	c2 := db2.opts.Committer.(*seamCommitter)
	d := pending(t, db2, writeOp("s", 19, evs(20)...))
	b := <-c2.q
	requireNoError(t, writeBatch(db2, b))
	requireNoError(t, db2.ApplyBatch(b))
	wait(t, d)
}

// ApplyTo may end inside a multi-event write (consensus commits whole
// entries, but the seam does not rely on it): the write stays invisible,
// Applied() stops at its start, and the next ApplyTo applies it whole. A
// follower's cached metadata follows the leader's metadata writes.
func TestSeamApplyToInsideAWriteAndMetadata(t *testing.T) {
	lc := newSeamCommitter()
	leader := openCluster(t, vfs.NewMem(), lc)
	defer leader.Close()
	follower := openCluster(t, vfs.NewMem(), newSeamCommitter())
	defer follower.Close()
	requireNoError(t, leader.Lead(0))
	if _, _, has := follower.StreamMetadata("g"); has {
		t.Fatal("metadata before any write")
	}
	commit := func(op *Op, apply func(b *Batch)) {
		t.Helper()
		d := pending(t, leader, op)
		b := <-lc.q
		requireNoError(t, writeBatch(leader, b))
		requireNoError(t, writeBatch(follower, b))
		apply(b)
		requireNoError(t, leader.ApplyBatch(b))
		wait(t, d)
	}
	commit(writeOp("g", -1, evs(1, 2, 3)...), func(b *Batch) {
		if b.Len() != 3 {
			t.Fatalf("%d records", b.Len())
		}
		first, _ := b.Record(0)
		third, _ := b.Record(2)
		requireNoError(t, follower.ApplyTo(third)) // two of three records
		if follower.Applied() != first {
			t.Fatalf("applied %d inside the write starting at %d", follower.Applied(), first)
		}
		if s := follower.NewReader().ReadStreamForward("g", 0, 10, false); len(s.Events) != 0 {
			t.Fatalf("%d events of an unfinished write visible", len(s.Events))
		}
		requireNoError(t, follower.ApplyTo(b.End()))
	})
	if s := follower.NewReader().ReadStreamForward("g", 0, 10, false); len(s.Events) != 3 {
		t.Fatalf("%d events after the write was applied", len(s.Events))
	}
	meta := NewEvent{ID: id(9), Type: "$metadata", IsJSON: true, Data: []byte(`{"$maxCount":2}`)}
	commit(writeOp("$$g", -1, meta), func(b *Batch) { requireNoError(t, follower.ApplyTo(b.End())) })
	m, v, has := follower.StreamMetadata("g")
	if !has || m.MaxCount != 2 || v != 0 {
		t.Fatalf("follower metadata after the leader's write: %+v %d %v", m, v, has)
	}
	if s := follower.NewReader().ReadStreamForward("g", 0, 10, false); len(s.Events) != 2 {
		t.Fatalf("$maxCount 2 on the follower: %d events", len(s.Events))
	}
}
