package subscriptions

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/store"
)

// batchRecConn is a recConn that also takes batches (BatchConn) and
// records each call's size and frame count.
type batchRecConn struct {
	*recConn
	mu    sync.Mutex
	calls [][2]int // bytes, frames per SendFrames call
}

func newBatchRecConn(n int) *batchRecConn { return &batchRecConn{recConn: newRecConn(n)} }

func (c *batchRecConn) SendFrames(frames []byte, n int) error {
	if err := sendEach(c.recConn, frames); err != nil {
		return err
	}
	c.mu.Lock()
	c.calls = append(c.calls, [2]int{len(frames), n})
	c.mu.Unlock()
	return nil
}

func (c *batchRecConn) takeCalls() [][2]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = nil
	return out
}

// writeBig writes n events of size bytes each to stream in one write.
func writeBig(t *testing.T, db *store.DB, stream string, n, size int) {
	t.Helper()
	op := &store.Op{Kind: store.OpWrite, Stream: stream, ExpectedVersion: store.ExpectedVersionAny}
	for i := 0; i < n; i++ {
		op.Events = append(op.Events, store.NewEvent{ID: codec.NewGUID(), Type: fmt.Sprint("e", i), Data: make([]byte, size)})
	}
	if err := db.Do(context.Background(), op); err != nil || op.Result.Status != store.OpSuccess {
		t.Fatalf("write: %v %v", err, op.Result.Status)
	}
}

// TestPushesOfAPageGoToAConnectionInBatches: the pushes of one page to
// one connection (two subscriptions on it) arrive in order, in as few
// SendFrames calls as batchBytesMax allows, none much larger than it;
// a confirmation sent on the same connection afterwards follows them.
func TestPushesOfAPageGoToAConnectionInBatches(t *testing.T) {
	db := openDB(t)
	s := newSvc(t, db, nil)
	c := newBatchRecConn(1024)
	i1, i2 := codec.NewGUID(), codec.NewGUID()
	s.Subscribe(c, i1, "big", false, false)
	confirmation(t, c.next(t), i1)
	s.Subscribe(c, i2, "big", false, false)
	confirmation(t, c.next(t), i2)
	const events, size = 40, 4 << 10 // 2 × 40 × ~4.2 KiB ≈ 5 × batchBytesMax
	writeBig(t, db, "big", events, size)
	for i := 0; i < events; i++ {
		for _, id := range []codec.GUID{i1, i2} {
			p := c.next(t)
			if ev := appeared(t, p, id); ev.Event.EventType != fmt.Sprint("e", i) {
				t.Fatalf("push %d to %v: %s", i, id, ev.Event.EventType)
			}
		}
	}
	i3 := codec.NewGUID()
	s.Subscribe(c, i3, "big", false, false)
	confirmation(t, c.next(t), i3)
	calls, frames := c.takeCalls(), 0
	for _, call := range calls {
		frames += call[1]
		if call[0] > batchBytesMax+size+1024 {
			t.Fatalf("a batch of %d bytes; want at most batchBytesMax (%d) plus one frame", call[0], batchBytesMax)
		}
	}
	if frames != 2*events || len(calls) > 2*events*(size+200)/batchBytesMax+2 {
		t.Fatalf("%d frames in %d calls %v; want %d frames in about %d calls", frames, len(calls), calls,
			2*events, 2*events*size/batchBytesMax)
	}
}

// TestFailedBatchDropsTheConnectionsSubscriptions: when a connection
// refuses a batch (over its send limit), every subscription on it is
// dropped; subscriptions on other connections keep receiving, and a new
// subscription on the refusing connection starts afresh.
func TestFailedBatchDropsTheConnectionsSubscriptions(t *testing.T) {
	db := openDB(t)
	s := newSvc(t, db, nil)
	bad, good := newBatchRecConn(64), newBatchRecConn(64)
	ib1, ib2, ig := codec.NewGUID(), codec.NewGUID(), codec.NewGUID()
	s.Subscribe(bad, ib1, "x", false, false)
	confirmation(t, bad.next(t), ib1)
	s.Subscribe(bad, ib2, "", false, false)
	confirmation(t, bad.next(t), ib2)
	s.Subscribe(good, ig, "x", false, false)
	confirmation(t, good.next(t), ig)
	bad.fail.Store(true)
	write(t, db, "x", "e1")
	appeared(t, good.next(t), ig)
	bad.fail.Store(false)
	write(t, db, "x", "e2")
	appeared(t, good.next(t), ig)
	bad.none(t)
	if n := s.Count(); n != 1 {
		t.Fatalf("Count %d; want 1 (both subscriptions of the refusing connection dropped)", n)
	}
	i := codec.NewGUID()
	s.Subscribe(bad, i, "x", false, false)
	confirmation(t, bad.next(t), i)
	write(t, db, "x", "e3")
	if ev := appeared(t, bad.next(t), i); ev.Event.EventType != "e3" {
		t.Fatalf("got %s", ev.Event.EventType)
	}
	appeared(t, good.next(t), ig)
}
