//go:build !race

package subscriptions

import (
	"testing"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/store"
)

// TestDispatchAllocatesNothing: pushing a page of events to many
// subscribers (stream and $all, over batching and plain connections)
// allocates nothing once the buffers have grown.
func TestDispatchAllocatesNothing(t *testing.T) {
	db := openDB(t)
	s := New(Options{DB: db, Logger: quietLogger()})
	conns := []Conn{&discardConn{}, &batchDiscardConn{}, &batchDiscardConn{}}
	for i := 0; i < 50; i++ {
		s.register(&Sub{conn: conns[i%3], corr: codec.NewGUID(), stream: "s", s: s})
		s.register(&Sub{conn: conns[(i+1)%3], corr: codec.NewGUID(), s: s})
	}
	ev := &store.ResolvedEvent{HasEvent: true, Pos: store.Position{Commit: 100, Prepare: 100},
		Event: store.EventRecord{Stream: "s", Number: 7, Type: "Added", IsJSON: true, Data: []byte(`{"a":1}`)}}
	page := func() {
		for i := 0; i < 4; i++ {
			s.dispatch(ev)
		}
		s.flushTouched()
	}
	page()
	if n := testing.AllocsPerRun(100, page); n != 0 {
		t.Fatalf("a page allocates %.1f times; want 0", n)
	}
	if got := s.Pushed(); got != 102*4*100 { // AllocsPerRun makes one warm-up call
		t.Fatalf("pushed %d; want %d", got, 102*4*100)
	}
}
