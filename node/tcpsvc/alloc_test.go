//go:build !race

package tcpsvc

import (
	"testing"

	"github.com/eventstored/eventstored/cluster"
	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/store"
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

// instantDB completes every op at once on the caller's goroutine, so the
// allocation test below measures only this package's write path: copy,
// decode, access check, op construction, Submit, reply encode, release.
type instantDB struct{ next int64 }

func (d *instantDB) Submit(op *store.Op) error {
	op.Result = store.OpResult{Status: store.OpSuccess, FirstEventNumber: d.next, LastEventNumber: d.next,
		Pos: store.Position{Commit: d.next * 100, Prepare: d.next * 100}}
	d.next++
	op.Done(op)
	return nil
}

func (d *instantDB) LastCommitPosition() int64 { return d.next * 100 }

// TestWriteEventsPathAllocatesNothing proves the event-loop side of a
// WriteEvents (with default credentials from the cache) and its reply
// allocate nothing in steady state.
func TestWriteEventsPathAllocatesNothing(t *testing.T) {
	e := newEnv(t, nil)
	svc := New(Options{DB: &instantDB{}, NewReader: func() Reader { return e.db.NewReader() }, Auth: e.auth, Logger: quietLogger()})
	conn := &discardConn{}
	sess := svc.Open(conn)
	// Default credentials, verified once (the slow path), then cached.
	if _, err := e.auth.Authenticate("admin", "changeit"); err != nil {
		t.Fatal(err)
	}
	id := codec.NewGUID()
	frame, err := codec.AppendFrameAuth(nil, codec.Authenticate, &id, "admin", "changeit", nil)
	if err != nil {
		t.Fatal(err)
	}
	pkg, _, _ := codec.SplitFrame(frame)
	p, _ := codec.DecodePackage(pkg)
	sess.Handle(&p)
	ev := newEvent("OrderPlaced", `{"orderId":"12345","amount":100}`)
	m := codec.WriteEvents{EventStreamID: "alloc-w", ExpectedVersion: -2, Events: []codec.NewEvent{ev, ev, ev}}
	frame = codec.AppendFrame(nil, codec.WriteEventsCommand, &id, codec.AppendWriteEvents(nil, &m))
	pkg, _, _ = codec.SplitFrame(frame)
	p, _ = codec.DecodePackage(pkg)
	sess.Handle(&p)
	before := conn.n
	if allocs := testing.AllocsPerRun(1000, func() { sess.Handle(&p) }); allocs != 0 {
		t.Fatalf("unexpected allocations per WriteEvents; got %v; want 0", allocs)
	}
	if conn.n == before {
		t.Fatal("no replies were sent")
	}
}

// TestNonAdminWritePathAllocatesNothing: an anonymous write (so the access
// check evaluates the stream's ACL) whose metadata is cached takes the
// event-loop path — cache probe, ACL, Submit — without allocating.
func TestNonAdminWritePathAllocatesNothing(t *testing.T) {
	e := newEnv(t, nil)
	svc := New(Options{DB: &instantDB{}, NewReader: func() Reader { return e.db.NewReader() }, Auth: e.auth, Logger: quietLogger()})
	conn := &discardConn{}
	sess := svc.Open(conn)
	e.db.StreamMetadata("alloc-anon") // fill the cache (a miss would go to a worker)
	ev := newEvent("OrderPlaced", `{"orderId":"12345","amount":100}`)
	id := codec.NewGUID()
	m := codec.WriteEvents{EventStreamID: "alloc-anon", ExpectedVersion: -2, Events: []codec.NewEvent{ev, ev, ev}}
	frame := codec.AppendFrame(nil, codec.WriteEventsCommand, &id, codec.AppendWriteEvents(nil, &m))
	pkg, _, _ := codec.SplitFrame(frame)
	p, _ := codec.DecodePackage(pkg)
	sess.Handle(&p)
	before := conn.n
	if allocs := testing.AllocsPerRun(1000, func() { sess.Handle(&p) }); allocs != 0 {
		t.Fatalf("unexpected allocations per anonymous WriteEvents; got %v; want 0", allocs)
	}
	if conn.n == before {
		t.Fatal("no replies were sent")
	}
	if n := svc.Stats().WriteACLMisses; n != 0 {
		t.Fatalf("%d writes went to a worker with the metadata cached", n)
	}
}

// echoMaster is an upstream that answers every forwarded WriteEvents at
// once, on the caller's goroutine, with a prebuilt WriteEventsCompleted
// under the package's correlation id.
type echoMaster struct {
	f     *Forwarder
	reply []byte // frame; the correlation id is patched in
	sent  int
}

func (m *echoMaster) Send(frame []byte) error {
	m.sent++
	copy(m.reply[codec.LengthPrefixSize+2:codec.LengthPrefixSize+codec.HeaderSize], frame[codec.LengthPrefixSize+2:])
	p, err := codec.DecodePackage(m.reply[codec.LengthPrefixSize:])
	if err != nil {
		panic(err)
	}
	m.f.onReply(m, &p)
	return nil
}

func (m *echoMaster) Close(error) {}

// TestForwardPathAllocatesNothing proves that a write forwarded by a
// slave (event loop: decode, cached credentials, admit, forward frame,
// register) and the relay of the master's reply to the client allocate
// nothing in steady state.
func TestForwardPathAllocatesNothing(t *testing.T) {
	e := newEnv(t, nil)
	f := NewForwarder(ForwarderOptions{Logger: quietLogger()})
	master := &echoMaster{f: f}
	id := codec.NewGUID()
	ok := codec.WriteEventsCompleted{Result: codec.OperationSuccess, FirstEventNumber: 1, LastEventNumber: 3, PreparePosition: 10, CommitPosition: 10}
	master.reply = codec.AppendMessageFrame(nil, codec.WriteEventsCompletedCommand, &id, &ok, codec.AppendWriteEventsCompleted)
	f.conn = master
	mi := &codec.MasterInfo{ExternalTCPAddress: "10.0.0.1", ExternalTCPPort: 1113}
	svc := New(Options{DB: &instantDB{}, NewReader: func() Reader { return e.db.NewReader() }, Auth: e.auth, Logger: quietLogger(),
		State: func() NodeState { return NodeState{State: cluster.StateSlave, Master: mi} }, Forwarder: f})
	conn := &discardConn{}
	sess := svc.Open(conn)
	if _, err := e.auth.Authenticate("admin", "changeit"); err != nil {
		t.Fatal(err)
	}
	ev := newEvent("OrderPlaced", `{"orderId":"12345","amount":100}`)
	m := codec.WriteEvents{EventStreamID: "alloc-f", ExpectedVersion: -2, Events: []codec.NewEvent{ev, ev, ev}}
	frame, err := codec.AppendFrameAuth(nil, codec.WriteEventsCommand, &id, "admin", "changeit", codec.AppendWriteEvents(nil, &m))
	if err != nil {
		t.Fatal(err)
	}
	pkg, _, _ := codec.SplitFrame(frame)
	p, _ := codec.DecodePackage(pkg)
	for i := 0; i < 100; i++ {
		sess.Handle(&p)
	}
	before := conn.n
	if allocs := testing.AllocsPerRun(1000, func() { sess.Handle(&p) }); allocs != 0 {
		t.Fatalf("unexpected allocations per forwarded WriteEvents; got %v; want 0", allocs)
	}
	if conn.n == before || master.sent < 1100 || f.Stats().Pending != 0 {
		t.Fatalf("not forwarded and relayed: %d bytes to the client, %d to the master, %d pending", conn.n-before, master.sent, f.Stats().Pending)
	}
}
