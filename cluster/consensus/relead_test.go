package consensus

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventstored/eventstored/cluster"
	"github.com/eventstored/eventstored/store"
	"github.com/eventstored/eventstored/store/vfs"
)

// applyBlocker stalls the apply goroutine once, inside the OnCommitted
// callback of the next own batch it applies (the batch stays in flight).
type applyBlocker struct {
	armed   atomic.Bool
	blocked chan struct{}
	release chan struct{}
}

func newApplyBlocker(db *store.DB) *applyBlocker {
	b := &applyBlocker{blocked: make(chan struct{}), release: make(chan struct{})}
	db.OnCommitted(func(store.Position) {
		if b.armed.CompareAndSwap(true, false) {
			close(b.blocked)
			<-b.release
		}
	})
	return b
}

// asyncWrite submits one write and returns its outcome on a channel.
func asyncWrite(db *store.DB, stream string, k int) <-chan error {
	c := make(chan error, 1)
	go func() {
		_, err := replWrite(db, stream, k, store.ExpectedVersionAny)
		c <- err
	}()
	return c
}

// onDriver runs fn on the driver goroutine and waits for it.
func onDriver(t *testing.T, d *Driver, fn func()) {
	t.Helper()
	done := make(chan struct{})
	if !d.do(func() { fn(); close(done) }) {
		t.Fatal("driver stopped")
	}
	<-done
}

// TestReplicatorReleadBeforeStoreFails: a proposal refused while leading
// fails the writes in flight on the apply goroutine, after the batches
// committed before it; leading resumes on the driver as soon as a fresh
// empty entry is applied there. When the apply goroutine is behind (here:
// stalled in an earlier batch's apply), the writer must not hand over a
// batch planned on the failed generation's state in between: it would be
// planned at the old log end, one entry header (40 bytes) short of the
// new one, and be refused as well (the "Refused = 3" of
// TestReplicatorCommitsAppliesAndRecovers). The write in between fails
// (the writer does not lead), nothing is refused a second time, and
// writing resumes once the apply goroutine catches up.
func TestReplicatorReleadBeforeStoreFails(t *testing.T) {
	n := startReplNode(t, vfs.NewMem())
	defer n.stop()
	blk := newApplyBlocker(n.db)
	released := false
	release := func() {
		if !released {
			released = true
			close(blk.release)
		}
	}
	defer release() // before n.stop: the apply goroutine must not stay stalled

	blk.armed.Store(true)
	a := asyncWrite(n.db, "a", 0)
	<-blk.blocked // the apply goroutine is inside a's apply

	onDriver(t, n.drv, func() { n.rep.refused(errors.New("injected refusal")) })
	waitFor(t, "leading to resume on the driver", 10*time.Second, func() bool {
		var leading bool
		onDriver(t, n.drv, func() { leading = n.rep.leading })
		return leading
	})

	// The apply goroutine has not failed the old generation yet.
	c := asyncWrite(n.db, "c", 0)
	var cErr error
	cDone := false
	waitFor(t, "the write in between to be answered or proposed", 10*time.Second, func() bool {
		select {
		case cErr = <-c:
			cDone = true
			return true
		default:
		}
		return n.rep.Refused.Load() > 1 || n.rep.Stale.Load() > 0
	})
	if r := n.rep.Refused.Load(); r != 1 {
		t.Fatalf("Refused = %d after one refusal: a batch of the failed generation was proposed for the new leadership", r)
	}
	if cDone && !errors.Is(cErr, store.ErrNotLeader) {
		t.Fatalf("the write between the refusal and the store's failure: %v; want %v", cErr, store.ErrNotLeader)
	}

	release()
	if err := <-a; err != nil {
		t.Fatalf("the write committed before the refusal: %v", err)
	}
	n.waitLeading()
	if _, err := replWrite(n.db, "d", 0, store.ExpectedVersionAny); err != nil {
		t.Fatalf("write after leading resumed: %v", err)
	}
	if r := n.rep.Refused.Load(); r != 1 {
		t.Fatalf("Refused = %d", r)
	}
}

// TestReplicatorMasterOnlyOnceApplied: a node restarted with committed
// entries its store has not indexed yet becomes leader (one voter); raft
// counts the entries applied once they are handed to the apply goroutine,
// which here is stalled after the first of them. While the store has not
// applied everything before the term's first entry, the published state
// is PreMaster, not Master: a master serves reads at once, and a read
// then would miss writes acknowledged before (the stale read behind the
// linearizability failures of TestKillMasterFailover). Once the apply
// goroutine catches up the node is Master and writes.
func TestReplicatorMasterOnlyOnceApplied(t *testing.T) {
	fs := vfs.NewMem()
	n := startReplNode(t, fs)
	for k := range 40 {
		if _, err := replWrite(n.db, "s", k, store.ExpectedVersionAny); err != nil {
			t.Fatal(err)
		}
	}
	clone := fs.CrashClone()
	n.stop()

	// The restart of startReplNode, with the apply goroutine stalled
	// inside the store's apply of the second entry (the first batch).
	r := &replNode{t: t, fs: clone, rep: NewReplicator(quiet)}
	db, err := store.Open(store.Options{FS: clone, Dir: "/db", ChunkSizeBytes: 64 << 10, Logger: quiet, SkipVerify: true, Committer: r.rep})
	if err != nil {
		t.Fatal(err)
	}
	r.db = db
	if r.disk, err = OpenTlogDisk(TlogDiskOptions{Log: db.Log(), FS: clone, Dir: "/db", Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	if last, _ := r.disk.LastIndex(); db.Applied() >= r.disk.EntryEnd(last) || last < 4 {
		t.Fatalf("nothing left to apply after the restart (applied %d, %d entries): the test needs entries to apply", db.Applied(), last)
	}
	blk := newApplyBlocker(db)
	released := false
	release := func() {
		if !released {
			released = true
			close(blk.release)
		}
	}
	r.rep.Attach(db, r.disk)
	blk.armed.Store(true)
	r.rep.push(applyMsg{kind: applyTo, end: r.disk.EntryEnd(2)})
	<-blk.blocked

	var violations, masters atomic.Int64
	r.drv, err = NewDriver(DriverConfig{Core: Config{ID: 1, Applied: r.disk.IndexCovering(db.Applied()), Log: quiet}, Disk: r.disk,
		Transport: nopTransport{}, Replicator: r.rep, Tick: 5 * time.Millisecond, Log: quiet,
		OnStatus: func(st Status) {
			if st.State == cluster.StateMaster {
				masters.Add(1)
				if db.Applied() < st.EpochPos {
					violations.Add(1)
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	r.drv.Start()
	defer r.stop()
	defer release()

	// Leader of its own term, its first entry handed over: raft's view
	// says Master; the store is stalled.
	waitFor(t, "the node to lead its term with the term's first entry handed over", 10*time.Second, func() bool {
		var handed bool
		onDriver(t, r.drv, func() { handed = r.drv.core.Status().State == cluster.StateMaster })
		return handed
	})
	onDriver(t, r.drv, func() {}) // one more loop: its status is published
	if st := r.drv.Status(); st.State != cluster.StatePreMaster {
		t.Fatalf("published state %v while the store applied up to %d and the term starts at %d; want PreMaster", st.State, db.Applied(), st.EpochPos)
	}
	if v := violations.Load(); v > 0 {
		t.Fatalf("Master published %d times while the store had not applied the entries before the term", v)
	}

	release()
	waitFor(t, "Master once the store caught up", 10*time.Second, func() bool { return r.drv.Status().State == cluster.StateMaster })
	r.waitLeading()
	if v := violations.Load(); v > 0 || masters.Load() == 0 {
		t.Fatalf("violations %d, Master published %d times", v, masters.Load())
	}
	if _, err := replWrite(db, "s", 40, store.ExpectedVersionAny); err != nil {
		t.Fatalf("write once Master: %v", err)
	}
}
