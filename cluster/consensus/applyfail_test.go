package consensus

import (
	"errors"
	"testing"
	"time"

	"github.com/eventstored/eventstored/cluster"
	"github.com/eventstored/eventstored/store"
	"github.com/eventstored/eventstored/store/vfs"
)

// onDriver runs fn on n's driver goroutine (which owns the disk) and
// waits for it.
func (n *replNode) onDriver(fn func()) {
	n.t.Helper()
	done := make(chan struct{})
	if !n.drv.do(func() { fn(); close(done) }) {
		n.t.Fatal("the driver stopped")
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		n.t.Fatal("the driver did not run the function")
	}
}

// An apply the store cannot do (here: a record in the log the store
// cannot decode, so ApplyTo latches the store) stops consensus: the state
// becomes ShuttingDown with ErrApplyFailed, instead of the node going on
// reporting itself caught up while applying nothing. (Before the fix the
// failure was only logged and the node stayed Master.)
func TestApplyFailureStopsConsensus(t *testing.T) {
	n := startReplNode(t, vfs.NewMem())
	defer n.stop()
	if _, err := replWrite(n.db, "s", 0, store.ExpectedVersionAny); err != nil {
		t.Fatal(err)
	}
	if st := n.drv.Status(); st.State != cluster.StateMaster || st.Err != nil {
		t.Fatalf("before the failure: %+v", st)
	}
	var end int64
	n.onDriver(func() {
		l := n.db.Log()
		if _, err := l.Append([]byte{1, 0xff, 0, 0}); err != nil { // unknown record version
			t.Error(err)
		}
		if err := l.Flush(); err != nil {
			t.Error(err)
		}
		end = l.Durable()
	})
	n.rep.push(applyMsg{kind: applyTo, end: end})

	deadline := time.Now().Add(10 * time.Second)
	for n.drv.Status().State != cluster.StateShuttingDown {
		if time.Now().After(deadline) {
			t.Fatalf("consensus still runs after the store failed to apply: %+v (store: %v)", n.drv.Status(), n.db.Err())
		}
		time.Sleep(5 * time.Millisecond)
	}
	st := n.drv.Status()
	if !errors.Is(st.Err, ErrApplyFailed) || !errors.Is(st.Err, store.ErrBadRecord) {
		t.Fatalf("Status.Err = %v, want ErrApplyFailed wrapping the store's error", st.Err)
	}
	if !n.rep.Failed.Load() || n.db.Err() == nil {
		t.Fatalf("replicator failed %v, store error %v", n.rep.Failed.Load(), n.db.Err())
	}
	// Consensus refuses further work.
	if err := n.drv.Propose([]byte("x")); err == nil {
		t.Fatal("a proposal after the failure was accepted")
	}
	// Later applies are dropped quietly (the apply goroutine keeps
	// draining, so the driver never blocks on a full queue).
	for range applyQueueMax + 10 {
		n.rep.push(applyMsg{kind: applyTo, end: end})
	}
}

// Gossip's epoch position is the log position of the header of the
// newest term's first entry (TlogDisk.EntryPos), not its raft index.
func TestStatusEpochPosIsLogPosition(t *testing.T) {
	fs := vfs.NewMem()
	n := startReplNode(t, fs)
	for k := range 30 {
		if _, err := replWrite(n.db, "s", k, store.ExpectedVersionAny); err != nil {
			t.Fatal(err)
		}
	}
	n.stop()
	// Restarted, the node leads a new term whose first entry lies after
	// the 30 writes: its log position is far from its index.
	n = startReplNode(t, fs)
	defer n.stop()
	var st Status
	deadline := time.Now().Add(10 * time.Second)
	for st = n.drv.Status(); st.State != cluster.StateMaster; st = n.drv.Status() {
		if time.Now().After(deadline) {
			t.Fatalf("not master: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var want int64
	n.onDriver(func() { want = n.disk.EntryPos(st.EpochIdx) })
	if st.EpochPos != want {
		t.Fatalf("EpochPos %d, want entry %d's log position %d", st.EpochPos, st.EpochIdx, want)
	}
	if st.EpochPos <= int64(st.EpochIdx) {
		t.Fatalf("EpochPos %d is not past the 30 writes (entry index %d)", st.EpochPos, st.EpochIdx)
	}
	if _, err := replWrite(n.db, "s", 30, store.ExpectedVersionAny); err != nil {
		t.Fatal(err)
	}
	if st2 := n.drv.Status(); st2.EpochPos != st.EpochPos || st2.Term != st.Term {
		t.Fatalf("a write in the same term moved the epoch: %+v, before %+v", st2, st)
	}
}
