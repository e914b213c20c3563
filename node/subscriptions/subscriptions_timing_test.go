package subscriptions

import (
	"testing"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/store"
)

// BenchmarkDispatch100Subscribers: one committed event pushed to 100
// subscribers of its stream (encode once, frame and send per subscriber).
func BenchmarkDispatch100Subscribers(b *testing.B) {
	db := openDB(b)
	s := New(Options{DB: db, Logger: quietLogger()})
	c := &discardConn{}
	for i := 0; i < 100; i++ {
		s.byStream["s"] = append(s.byStream["s"], &Sub{conn: c, corr: codec.NewGUID(), stream: "s", s: s})
	}
	ev := &store.ResolvedEvent{HasEvent: true, Pos: store.Position{Commit: 100, Prepare: 100},
		Event: store.EventRecord{Stream: "s", Number: 7, Type: "Added", IsJSON: true, Data: make([]byte, 100)}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.dispatch(ev)
	}
}
