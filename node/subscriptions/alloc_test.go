//go:build !race

package subscriptions

import (
	"testing"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/store"
)

// TestDispatchAllocatesNothing: pushing one event to many subscribers
// (stream and $all) allocates nothing once the buffers have grown.
func TestDispatchAllocatesNothing(t *testing.T) {
	db := openDB(t)
	s := New(Options{DB: db, Logger: quietLogger()})
	c := &discardConn{}
	for i := 0; i < 50; i++ {
		sub := &Sub{conn: c, corr: codec.NewGUID(), stream: "s", s: s}
		s.byStream["s"] = append(s.byStream["s"], sub)
		s.all = append(s.all, &Sub{conn: c, corr: codec.NewGUID(), s: s})
	}
	ev := &store.ResolvedEvent{HasEvent: true, Pos: store.Position{Commit: 100, Prepare: 100},
		Event: store.EventRecord{Stream: "s", Number: 7, Type: "Added", IsJSON: true, Data: []byte(`{"a":1}`)}}
	s.dispatch(ev)
	if n := testing.AllocsPerRun(100, func() { s.dispatch(ev) }); n != 0 {
		t.Fatalf("dispatch allocates %.1f times per event; want 0", n)
	}
	if got := s.Pushed(); got != 102*100 { // AllocsPerRun makes one warm-up call
		t.Fatalf("pushed %d; want %d", got, 102*100)
	}
}
