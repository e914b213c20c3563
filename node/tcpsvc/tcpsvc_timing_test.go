package tcpsvc

import (
	"testing"

	"github.com/eventstored/eventstored/codec"
)

var sinkBytes int

// BenchmarkReadStreamForward20 measures one ReadStreamEventsForward of 20
// small events on a worker: access check, store read, reply encode, send
// to a discarding connection.
func BenchmarkReadStreamForward20(b *testing.B) {
	e := newEnv(b, nil)
	c := e.client(b)
	evs := make([]codec.NewEvent, 20)
	for i := range evs {
		evs[i] = newEvent("OrderPlaced", `{"orderId":"12345","amount":100}`)
	}
	c.write(anon, "bench-s", -1, evs...)
	conn := &discardConn{}
	w := &worker{s: e.svc, rd: e.db.NewReader()}
	r := requestPool.Get().(*request)
	r.s, r.sess, r.cmd, r.corr = e.svc, e.svc.Open(conn), codec.ReadStreamEventsForwardCommand, codec.NewGUID()
	r.rs = codec.ReadStreamEvents{EventStreamID: "bench-s", FromEventNumber: 0, MaxCount: 20}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.execRead(r)
	}
	b.StopTimer()
	sinkBytes = conn.n
	b.SetBytes(int64(conn.n / max(b.N, 1)))
	b.ReportMetric(float64(b.N*20)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkHandleWriteEvents measures the event-loop side of a one-event
// WriteEvents (copy, decode, access check, Submit) plus the writer's
// round trip, one at a time.
func BenchmarkHandleWriteEvents(b *testing.B) {
	e := newEnv(b, nil)
	c := e.client(b)
	ev := newEvent("OrderPlaced", `{"orderId":"12345","amount":100}`)
	m := codec.WriteEvents{EventStreamID: "bench-w", ExpectedVersion: -2, Events: []codec.NewEvent{ev}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := codec.NewGUID()
		copy(ev.EventID, id[:])
		c.send(codec.WriteEventsCommand, id, anon, codec.AppendWriteEvents(nil, &m))
		<-c.conn.ch
	}
}
