package store

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/eventstored/eventstored/store/vfs"
)

// Restarts on the real disk: a clean close, a lost index (rebuilt from the
// log), and a corrupt index file.
func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	open := func() *DB {
		db, err := Open(testOptions(Options{Dir: dir, IndexMemTableMax: 7}))
		requireNoError(t, err)
		return db
	}
	db := open()
	for i := 0; i < 30; i++ {
		mustWrite(t, db, "s", int64(i)-1, evs(i)...)
	}
	mustWrite(t, db, "$$s", -1, NewEvent{ID: id(500), Type: "$metadata", IsJSON: true, Data: []byte(`{"$maxCount":10}`)})
	mustWrite(t, db, "gone", -1, evs(600)...)
	deleteStream(t, db, "gone", 0, true)
	ctx := do(t, db, &Op{Kind: OpTransactionStart, Stream: "ctx", ExpectedVersion: -1}).TransactionID
	do(t, db, &Op{Kind: OpTransactionWrite, TransactionID: ctx, Events: evs(800, 801)})
	do(t, db, &Op{Kind: OpTransactionCommit, TransactionID: ctx})
	tx := do(t, db, &Op{Kind: OpTransactionStart, Stream: "tx", ExpectedVersion: -1}).TransactionID
	do(t, db, &Op{Kind: OpTransactionWrite, TransactionID: tx, Events: evs(700)})
	last := db.LastCommitPosition()
	requireNoError(t, db.Close())

	check := func(t *testing.T, db *DB) {
		t.Helper()
		rd := db.NewReader()
		s := rd.ReadStreamForward("s", 0, 100, false)
		if s.Status != ReadSuccess || !eqInts(numbers(s.Events), []int64{20, 21, 22, 23, 24, 25, 26, 27, 28, 29}) {
			t.Fatalf("stream after restart: %d %v", s.Status, numbers(s.Events))
		}
		if s := rd.ReadStreamForward("ctx", 0, 10, false); len(s.Events) != 2 || s.Events[1].Event.ID != id(801) || s.Events[1].Pos.Commit == s.Events[1].Pos.Prepare {
			t.Fatalf("committed transaction after restart: %+v", s.Events)
		}
		if st, _ := rd.ReadEvent("gone", 0, false); st != ReadStreamDeleted {
			t.Fatalf("hard delete lost: %d", st)
		}
		if db.LastCommitPosition() != last {
			t.Fatalf("last commit position %d; want %d", db.LastCommitPosition(), last)
		}
		// An open transaction does not survive a restart.
		if r := do(t, db, &Op{Kind: OpTransactionCommit, TransactionID: tx}); r.Status != OpInvalidTransaction {
			t.Fatalf("transaction after restart: %d", r.Status)
		}
		// Writing continues the numbering; idempotency by stored events.
		if r := write(t, db, "s", 28, evs(29)...); r.Status != OpSuccess || r.FirstEventNumber != 29 || r.Pos.Commit != -1 {
			t.Fatalf("idempotent retry after restart: %+v", r)
		}
	}
	t.Run("clean close", func(t *testing.T) {
		db := open()
		defer db.Close()
		check(t, db)
	})
	t.Run("index directory lost", func(t *testing.T) {
		requireNoError(t, os.RemoveAll(filepath.Join(dir, indexDirName)))
		db := open()
		defer db.Close()
		check(t, db)
	})
	t.Run("index file corrupt", func(t *testing.T) {
		names, err := os.ReadDir(filepath.Join(dir, indexDirName))
		requireNoError(t, err)
		corrupted := 0
		for _, n := range names {
			p := filepath.Join(dir, indexDirName, n.Name())
			b, err := os.ReadFile(p)
			requireNoError(t, err)
			if len(b) > 64 {
				b[len(b)/2] ^= 0xFF
				requireNoError(t, os.WriteFile(p, b, 0o644))
				corrupted++
			}
		}
		if corrupted == 0 {
			t.Fatal("no index file to corrupt")
		}
		db := open()
		defer db.Close()
		check(t, db)
	})
}

// A second Open of the same directory is refused while the first is open.
func TestOpenTwiceIsRefused(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(testOptions(Options{Dir: dir}))
	requireNoError(t, err)
	defer db.Close()
	if db2, err := Open(testOptions(Options{Dir: dir})); err == nil {
		db2.Close()
		t.Fatal("a second Open of the same directory succeeded")
	}
}

func TestClosedDBRefusesOps(t *testing.T) {
	db, _ := openTestDB(t)
	requireNoError(t, db.Close())
	if err := db.Submit(&Op{Kind: OpWrite, Stream: "s", ExpectedVersion: -2, Events: evs(1)}); err != ErrClosed {
		t.Fatalf("Submit after Close: %v", err)
	}
	requireNoError(t, db.Close())
}

// The queue bound: Submit never blocks and refuses beyond WriterQueueMax.
// The first op's Done blocks the committer, so the pipeline fills: the
// writer hands over what it can, gathers more ops into the next batch until
// FlushDelayMax, then waits for a pipeline slot; from then on ops stay
// queued and Submit refuses the fifth.
func TestQueueLimit(t *testing.T) {
	db, err := Open(testOptions(Options{MemDB: true, WriterQueueMax: 4}))
	requireNoError(t, err)
	defer db.Close()
	block := make(chan struct{})
	started := make(chan struct{})
	first := &Op{Kind: OpWrite, Stream: "q", ExpectedVersion: -2, Events: evs(0), Done: func(*Op) { close(started); <-block }}
	requireNoError(t, db.Submit(first))
	<-started
	refusedInARow, accepted := 0, 0
	for i := 0; refusedInARow < 100; i++ {
		if i > 100000 {
			t.Fatal("the queue never filled")
		}
		err := db.Submit(&Op{Kind: OpWrite, Stream: "q", ExpectedVersion: -2, Events: evs(i + 1), Done: func(*Op) {}})
		switch {
		case err == ErrTooBusy:
			refusedInARow++
		case err != nil:
			t.Fatal(err)
		default:
			accepted++
			refusedInARow = 0
		}
	}
	st := db.Stats()
	close(block)
	if st.QueueLen != 4 || st.QueueMax != 4 {
		t.Fatalf("queue %d of %d while refusing; want 4 of 4", st.QueueLen, st.QueueMax)
	}
	if accepted < 4 {
		t.Fatalf("only %d ops accepted", accepted)
	}
}

// OnCommitted callbacks run after each group commit becomes readable, in
// commit order, with the last committed position; Stats counts the work.
func TestOnCommittedAndStats(t *testing.T) {
	db, _ := openTestDB(t)
	var got []Position
	visible := true
	rd := db.NewReader()
	db.OnCommitted(func(last Position) {
		got = append(got, last)
		// Everything up to last is readable when the callback runs.
		if a := rd.ReadAllBackward(PositionEnd, 1, false); len(a.Events) == 0 || a.Events[0].Pos != last {
			visible = false
		}
	})
	var want []Position
	for i := 0; i < 5; i++ {
		want = append(want, mustWrite(t, db, "c", int64(i)-1, evs(i)...).Pos)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("OnCommitted positions %v; want %v", got, want)
	}
	if !visible {
		t.Fatal("a commit was announced before it was readable")
	}
	st := db.Stats()
	if st.EventsWritten != 5 || st.Ops != 5 || st.Fsyncs < 1 || st.Fsyncs > 5 || st.BytesWritten == 0 || st.ChunkCount < 1 ||
		st.LastCommitPosition != want[4].Commit || st.WriterErr != nil {
		t.Fatalf("unexpected stats %+v", st)
	}
	var buckets uint64
	for _, b := range st.FsyncLatencyBuckets {
		buckets += b
	}
	if buckets != st.Fsyncs {
		t.Fatalf("histogram holds %d flushes; %d counted", buckets, st.Fsyncs)
	}
}

// A group commit holding more index entries than one index.Add accepts is
// split, and a restart still finds every event.
func TestIndexAddIsSplit(t *testing.T) {
	old := indexAddBatchMax
	indexAddBatchMax = 7
	defer func() { indexAddBatchMax = old }()
	dir := t.TempDir()
	db, err := Open(testOptions(Options{Dir: dir}))
	requireNoError(t, err)
	ids := make([]int, 50)
	for i := range ids {
		ids[i] = i
	}
	mustWrite(t, db, "big", -1, evs(ids...)...)
	if s := db.NewReader().ReadStreamForward("big", 0, 100, false); len(s.Events) != 50 {
		t.Fatalf("read %d events", len(s.Events))
	}
	requireNoError(t, db.Close())
	db, err = Open(testOptions(Options{Dir: dir}))
	requireNoError(t, err)
	defer db.Close()
	if s := db.NewReader().ReadStreamForward("big", 0, 100, false); len(s.Events) != 50 {
		t.Fatalf("after restart: read %d events", len(s.Events))
	}
}

// When the index persisted a checkpoint inside a multi-event write (a split
// index add), a crash and replay still index the rest of that write.
func TestReplayFromCheckpointInsideAWrite(t *testing.T) {
	old := indexAddBatchMax
	indexAddBatchMax = 7
	defer func() { indexAddBatchMax = old }()
	mem := vfs.NewMem()
	db, err := Open(testOptions(Options{FS: mem, Dir: "/db", IndexMemTableMax: 5}))
	requireNoError(t, err)
	defer db.Close()
	ids := make([]int, 30)
	for i := range ids {
		ids[i] = i
	}
	mustWrite(t, db, "big", -1, evs(ids...)...)
	durable := db.Stats().DurablePosition
	// Wait for the index's background flush to persist a checkpoint.
	deadline := time.Now().Add(10 * time.Second)
	for db.ix.CheckpointPos() == 0 || db.ix.CheckpointPos() == durable {
		if time.Now().After(deadline) {
			t.Fatalf("the index never persisted a checkpoint inside the write (checkpoint %d, durable %d)", db.ix.CheckpointPos(), durable)
		}
		time.Sleep(time.Millisecond)
	}
	clone := mem.CrashClone()
	db2, err := Open(testOptions(Options{FS: clone, Dir: "/db"}))
	requireNoError(t, err)
	defer db2.Close()
	if s := db2.NewReader().ReadStreamForward("big", 0, 100, false); len(s.Events) != 30 {
		t.Fatalf("after replay from a checkpoint inside the write: %d events", len(s.Events))
	}
}

// Close stops every goroutine Open started (writer, index workers, log
// verifier).
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	for i := 0; i < 3; i++ {
		db, err := Open(testOptions(Options{Dir: t.TempDir()}))
		requireNoError(t, err)
		mustWrite(t, db, "g", -1, evs(1)...)
		db.NewReader().ReadAllForward(PositionStart, 100, false)
		requireNoError(t, db.Close())
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines before, %d after closing", before, runtime.NumGoroutine())
		}
		time.Sleep(time.Millisecond)
	}
}
