package subscriptions

import (
	"sync"
	"testing"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/store"
)

// lockConn stands for a reactor connection: every call takes a lock and
// appends to a pending buffer (which a flush would take).
type lockConn struct {
	mu      sync.Mutex
	pending []byte
}

func (c *lockConn) Send(frame []byte) error {
	c.mu.Lock()
	c.pending = append(c.pending, frame...)
	if len(c.pending) > 1<<20 {
		c.pending = c.pending[:0]
	}
	c.mu.Unlock()
	return nil
}

type lockBatchConn struct{ lockConn }

func (c *lockBatchConn) SendFrames(frames []byte, n int) error { return c.Send(frames) }

// benchmarkDispatch pushes pages of perPage events of one stream to 100
// subscribers spread over 32 connections; b.N counts events.
func benchmarkDispatch(b *testing.B, perPage int, batch bool) {
	db := openDB(b)
	s := New(Options{DB: db, Logger: quietLogger()})
	conns := make([]Conn, 32)
	for i := range conns {
		if batch {
			conns[i] = &lockBatchConn{}
		} else {
			conns[i] = &lockConn{}
		}
	}
	for i := 0; i < 100; i++ {
		s.register(&Sub{conn: conns[i%len(conns)], corr: codec.NewGUID(), stream: "s", s: s})
	}
	ev := &store.ResolvedEvent{HasEvent: true, Pos: store.Position{Commit: 100, Prepare: 100},
		Event: store.EventRecord{Stream: "s", Number: 7, Type: "Added", IsJSON: true, Data: make([]byte, 100)}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.dispatch(ev)
		if (i+1)%perPage == 0 {
			s.flushTouched()
		}
	}
	s.flushTouched()
}

// BenchmarkDispatch100Subscribers: one committed event per page pushed to
// 100 subscribers of its stream on 32 connections (encode once, frame per
// subscriber, one send per connection).
func BenchmarkDispatch100Subscribers(b *testing.B) { benchmarkDispatch(b, 1, true) }

// BenchmarkDispatch100SubscribersPage8: pages of 8 events (a group commit
// under load), one send per connection per page.
func BenchmarkDispatch100SubscribersPage8(b *testing.B) { benchmarkDispatch(b, 8, true) }

// BenchmarkDispatch100SubscribersPerFrame: the same pages of 8 over
// connections without SendFrames (one send per frame, as before batching).
func BenchmarkDispatch100SubscribersPerFrame(b *testing.B) { benchmarkDispatch(b, 8, false) }
