package consensus

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

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
