//go:build !race

package tcpsvc

import (
	"testing"

	"github.com/eventstored/eventstored/codec"
)

// TestReadStreamForwardReplyEncodeAllocatesNothing proves that turning a
// store slice of 20 events into a ReadStreamEventsForwardCompleted frame
// in the worker's buffer allocates nothing in steady state (STYLE §6).
func TestReadStreamForwardReplyEncodeAllocatesNothing(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t)
	evs := make([]codec.NewEvent, 20)
	for i := range evs {
		evs[i] = newEvent("OrderPlaced", `{"orderId":"12345","amount":100}`)
	}
	c.write(anon, "alloc-s", -1, evs...)
	w := &worker{s: e.svc, rd: e.db.NewReader()}
	sl := w.rd.ReadStreamForward("alloc-s", 0, 20, false)
	if len(sl.Events) != 20 {
		t.Fatalf("read %d events; want 20", len(sl.Events))
	}
	corr := codec.NewGUID()
	conn := &discardConn{}
	m := &w.sc.rs
	encode := func() {
		fillStreamReply(m, sl)
		w.buf, _ = codec.AppendFrameStart(w.buf[:0], codec.ReadStreamEventsForwardCompletedCommand, codec.FlagNone, &corr)
		w.buf = codec.AppendReadStreamEventsCompleted(w.buf, m)
		if err := codec.FinishFrame(w.buf, 0); err != nil {
			t.Fatal(err)
		}
		_ = conn.Send(w.buf)
	}
	encode()
	if allocs := testing.AllocsPerRun(200, encode); allocs != 0 {
		t.Fatalf("unexpected allocations per reply encode; got %v; want 0", allocs)
	}
	// The whole worker path (access check, store read, encode, send) is
	// measured and reported, not asserted: the store read is the store's.
	r := requestPool.Get().(*request)
	sess := e.svc.Open(conn)
	r.s, r.sess, r.cmd, r.corr = e.svc, sess, codec.ReadStreamEventsForwardCommand, corr
	r.rs = codec.ReadStreamEvents{EventStreamID: "alloc-s", FromEventNumber: 0, MaxCount: 20}
	w.execRead(r)
	full := testing.AllocsPerRun(200, func() { w.execRead(r) })
	t.Logf("allocations per ReadStreamEventsForward on a worker (20 events, incl. store read): %v", full)
}
