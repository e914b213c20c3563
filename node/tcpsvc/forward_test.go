package tcpsvc

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eventstored/eventstored/cluster"
	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/reactor"
)

// Forwarding tests (spec cluster-and-options §7.1): a "slave" service
// whose State says Slave forwards over a real loopback connection to a
// "master" service behind a real internal reactor listener, or to a
// listener that accepts and never answers.

var testMasterInfo = &codec.MasterInfo{ExternalTCPAddress: "10.0.0.1", ExternalTCPPort: 1113, ExternalHTTPAddress: "10.0.0.1", ExternalHTTPPort: 2113}

// startInternal serves e.svc on an internal reactor listener on loopback.
func startInternal(t *testing.T, e *env) string {
	t.Helper()
	srv := reactor.NewServer(reactor.Config{Name: "internal TCP", Addr: "127.0.0.1:0", Internal: true, NumEventLoops: 1, Logger: quietLogger()}, e.svc.InternalHandler())
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Stop(ctx)
	})
	return srv.Addr()
}

// newSlave returns a slave service with a forwarder pointed at master.
func newSlave(t *testing.T, master string, o ForwarderOptions) (*env, *Forwarder) {
	t.Helper()
	o.Logger = quietLogger()
	if o.Conn.HeartbeatInterval == 0 {
		// Long: the silent listeners below never answer heartbeats.
		o.Conn.HeartbeatInterval, o.Conn.HeartbeatTimeout = time.Minute, time.Minute
	}
	f := NewForwarder(o)
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	e := newEnv(t, func(opts *Options) {
		opts.State = func() NodeState { return NodeState{State: cluster.StateSlave, Master: testMasterInfo} }
		opts.Forwarder = f
	})
	if master != "" {
		f.SetMaster(master)
		waitFor(t, f.Connected)
	}
	return e, f
}

// silentMaster accepts connections and reads without ever answering.
type silentMaster struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newSilentMaster(t *testing.T) *silentMaster {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silentMaster{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go io.Copy(io.Discard, c)
		}
	}()
	t.Cleanup(func() { ln.Close(); s.dropAll() })
	return s
}

func (s *silentMaster) dropAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

func writeReq(stream string, expected int64, requireMaster bool) []byte {
	m := codec.WriteEvents{EventStreamID: stream, ExpectedVersion: expected, Events: []codec.NewEvent{newEvent("t", "{}")}, RequireMaster: requireMaster}
	return codec.AppendWriteEvents(nil, &m)
}

func decodeWrite(t *testing.T, p codec.Package) codec.WriteEventsCompleted {
	t.Helper()
	var m codec.WriteEventsCompleted
	if err := codec.DecodeWriteEventsCompleted(p.Payload, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestForwardWritesToMaster: writes on a slave without require_master run
// on the master, with the client's credentials, and the master's replies
// come back under the client's correlation id.
func TestForwardWritesToMaster(t *testing.T) {
	master := newEnv(t, nil)
	slave, f := newSlave(t, startInternal(t, master), ForwarderOptions{Timeout: time.Minute})
	c := slave.client(t)

	w := decodeWrite(t, c.call(codec.WriteEventsCommand, anon, writeReq("fw", -1, false), codec.WriteEventsCompletedCommand))
	if w.Result != codec.OperationSuccess || w.FirstEventNumber != 0 {
		t.Fatalf("forwarded write: %+v", w)
	}
	// On the master, not on the slave.
	mc := master.client(t)
	if r := mc.readStream(anon, "fw", 0, 10, true, false); r.Result != codec.ReadStreamSuccess || len(r.Events) != 1 {
		t.Fatalf("master read: %v, %d events", r.Result, len(r.Events))
	}
	if r := c.readStream(anon, "fw", 0, 10, true, false); r.Result != codec.ReadStreamNoStream {
		t.Fatalf("slave's own store has the event: %v", r.Result)
	}
	// The master's verdict is relayed: wrong expected version with the
	// current version.
	w = decodeWrite(t, c.call(codec.WriteEventsCommand, anon, writeReq("fw", 5, false), codec.WriteEventsCompletedCommand))
	if w.Result != codec.OperationWrongExpectedVersion || w.CurrentVersion != 0 {
		t.Fatalf("wrong expected version: %+v", w)
	}
	// Credentials travel: anonymous may not write a system stream, admin may.
	if w := decodeWrite(t, c.call(codec.WriteEventsCommand, anon, writeReq("$fw-sys", -2, false), codec.WriteEventsCompletedCommand)); w.Result != codec.OperationAccessDenied {
		t.Fatalf("anonymous $ write: %+v", w)
	}
	if w := decodeWrite(t, c.call(codec.WriteEventsCommand, admin, writeReq("$fw-sys", -2, false), codec.WriteEventsCompletedCommand)); w.Result != codec.OperationSuccess {
		t.Fatalf("admin $ write: %+v", w)
	}
	// ... and so do the connection's default credentials.
	c2 := slave.client(t)
	c2.call(codec.Authenticate, admin, nil, codec.Authenticated)
	if w := decodeWrite(t, c2.call(codec.WriteEventsCommand, anon, writeReq("$fw-sys", -2, false), codec.WriteEventsCompletedCommand)); w.Result != codec.OperationSuccess {
		t.Fatalf("default-credential $ write: %+v", w)
	}
	// Wrong credentials are refused by the slave before anything is sent.
	bad := &creds{"admin", "wrong"}
	c.call(codec.WriteEventsCommand, bad, writeReq("fw", -2, false), codec.NotAuthenticated)

	// A transaction lives on the master: start, write and commit through
	// the slave.
	ts := codec.TransactionStart{EventStreamID: "fw-tx", ExpectedVersion: -1}
	p := c.call(codec.TransactionStartCommand, anon, codec.AppendTransactionStart(nil, &ts), codec.TransactionStartCompletedCommand)
	var tsc codec.TransactionStartCompleted
	if err := codec.DecodeTransactionStartCompleted(p.Payload, &tsc); err != nil || tsc.Result != codec.OperationSuccess {
		t.Fatalf("transaction start: %+v %v", tsc, err)
	}
	tw := codec.TransactionWrite{TransactionID: tsc.TransactionID, Events: []codec.NewEvent{newEvent("a", "{}"), newEvent("b", "{}")}}
	p = c.call(codec.TransactionWriteCommand, anon, codec.AppendTransactionWrite(nil, &tw), codec.TransactionWriteCompletedCommand)
	var twc codec.TransactionWriteCompleted
	if err := codec.DecodeTransactionWriteCompleted(p.Payload, &twc); err != nil || twc.Result != codec.OperationSuccess {
		t.Fatalf("transaction write: %+v %v", twc, err)
	}
	tc := codec.TransactionCommit{TransactionID: tsc.TransactionID}
	p = c.call(codec.TransactionCommitCommand, anon, codec.AppendTransactionCommit(nil, &tc), codec.TransactionCommitCompletedCommand)
	var tcc codec.TransactionCommitCompleted
	if err := codec.DecodeTransactionCommitCompleted(p.Payload, &tcc); err != nil || tcc.Result != codec.OperationSuccess || tcc.LastEventNumber != 1 {
		t.Fatalf("transaction commit: %+v %v", tcc, err)
	}
	ds := codec.DeleteStream{EventStreamID: "fw-tx", ExpectedVersion: -2}
	p = c.call(codec.DeleteStreamCommand, anon, codec.AppendDeleteStream(nil, &ds), codec.DeleteStreamCompletedCommand)
	var dsc codec.DeleteStreamCompleted
	if err := codec.DecodeDeleteStreamCompleted(p.Payload, &dsc); err != nil || dsc.Result != codec.OperationSuccess {
		t.Fatalf("delete: %+v %v", dsc, err)
	}
	if r := mc.readStream(anon, "fw-tx", 0, 10, true, false); r.Result != codec.ReadStreamNoStream {
		t.Fatalf("deleted stream on the master: %v", r.Result)
	}

	// require_master: NotMaster with the master's endpoints, nothing sent.
	p = c.call(codec.WriteEventsCommand, anon, writeReq("fw", -2, true), codec.NotHandledCommand)
	var nh codec.NotHandled
	var mi codec.MasterInfo
	if err := codec.DecodeNotHandled(p.Payload, &nh); err != nil || nh.Reason != codec.NotHandledNotMaster {
		t.Fatalf("require_master write: %+v %v", nh, err)
	}
	if err := codec.DecodeMasterInfo(nh.AdditionalInfo, &mi); err != nil || mi != *testMasterInfo {
		t.Fatalf("master info %+v %v", mi, err)
	}
	st := f.Stats()
	if st.Pending != 0 || st.Forwarded != 9 || st.TimedOut != 0 {
		t.Fatalf("forwarder stats %+v", st)
	}
}

// TestForwardedNotHandledPassesThrough: a "master" that is not (any
// more) the master answers NotHandled; the client gets it as it is, with
// the MasterInfo the other node gave.
func TestForwardedNotHandledPassesThrough(t *testing.T) {
	other := &codec.MasterInfo{ExternalTCPAddress: "10.0.0.9", ExternalTCPPort: 9113, ExternalHTTPAddress: "10.0.0.9", ExternalHTTPPort: 9213}
	deposed := newEnv(t, func(o *Options) {
		o.State = func() NodeState { return NodeState{State: cluster.StateSlave, Master: other} }
	})
	slave, _ := newSlave(t, startInternal(t, deposed), ForwarderOptions{Timeout: time.Minute})
	c := slave.client(t)
	p := c.call(codec.WriteEventsCommand, anon, writeReq("fw", -2, false), codec.NotHandledCommand)
	var nh codec.NotHandled
	var mi codec.MasterInfo
	if err := codec.DecodeNotHandled(p.Payload, &nh); err != nil || nh.Reason != codec.NotHandledNotMaster {
		t.Fatalf("%+v %v", nh, err)
	}
	if err := codec.DecodeMasterInfo(nh.AdditionalInfo, &mi); err != nil || mi != *other {
		t.Fatalf("master info %+v %v", mi, err)
	}
}

// TestForwardTimeout: a master that accepts and never answers; each
// write kind ends with its completion message, ForwardTimeout,
// "Forwarding timeout".
func TestForwardTimeout(t *testing.T) {
	sm := newSilentMaster(t)
	slave, f := newSlave(t, sm.ln.Addr().String(), ForwarderOptions{Timeout: 200 * time.Millisecond, Tick: 20 * time.Millisecond})
	c := slave.client(t)
	w := decodeWrite(t, c.call(codec.WriteEventsCommand, anon, writeReq("fw", -2, false), codec.WriteEventsCompletedCommand))
	if w.Result != codec.OperationForwardTimeout || w.Message != "Forwarding timeout" {
		t.Fatalf("write: %+v", w)
	}
	ds := codec.DeleteStream{EventStreamID: "fw", ExpectedVersion: -2}
	p := c.call(codec.DeleteStreamCommand, anon, codec.AppendDeleteStream(nil, &ds), codec.DeleteStreamCompletedCommand)
	var dsc codec.DeleteStreamCompleted
	if err := codec.DecodeDeleteStreamCompleted(p.Payload, &dsc); err != nil || dsc.Result != codec.OperationForwardTimeout ||
		dsc.Message != "Forwarding timeout" || dsc.PreparePosition != -1 || dsc.CommitPosition != -1 {
		t.Fatalf("delete: %+v %v", dsc, err)
	}
	tc := codec.TransactionCommit{TransactionID: 42}
	p = c.call(codec.TransactionCommitCommand, anon, codec.AppendTransactionCommit(nil, &tc), codec.TransactionCommitCompletedCommand)
	var tcc codec.TransactionCommitCompleted
	if err := codec.DecodeTransactionCommitCompleted(p.Payload, &tcc); err != nil || tcc.Result != codec.OperationForwardTimeout || tcc.TransactionID != 42 {
		t.Fatalf("commit: %+v %v", tcc, err)
	}
	if st := f.Stats(); st.TimedOut != 3 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestForwardInFlightLimit: beyond InFlightMax pending forwards the
// client gets NotHandled TooBusy; when the connection to the master is
// lost, the pending ones end at once with ForwardTimeout (outcome
// unknown), and without a connection writes get NotReady.
func TestForwardInFlightLimit(t *testing.T) {
	sm := newSilentMaster(t)
	slave, f := newSlave(t, sm.ln.Addr().String(), ForwarderOptions{Timeout: time.Hour, InFlightMax: 2})
	c := slave.client(t)
	ids := []codec.GUID{codec.NewGUID(), codec.NewGUID()}
	for _, id := range ids {
		c.send(codec.WriteEventsCommand, id, anon, writeReq("fw", -2, false))
	}
	waitFor(t, func() bool { return f.Stats().Pending == 2 })
	p := c.call(codec.WriteEventsCommand, anon, writeReq("fw", -2, false), codec.NotHandledCommand)
	var nh codec.NotHandled
	if err := codec.DecodeNotHandled(p.Payload, &nh); err != nil || nh.Reason != codec.NotHandledTooBusy {
		t.Fatalf("third write: %+v %v", nh, err)
	}
	// The master goes away: both pending writes end now, not in an hour.
	sm.ln.Close()
	sm.dropAll()
	got := map[codec.GUID]bool{}
	for range ids {
		p := c.reply()
		if w := decodeWrite(t, p); w.Result != codec.OperationForwardTimeout {
			t.Fatalf("pending write after connection loss: %+v", w)
		}
		got[p.CorrelationID] = true
	}
	if !got[ids[0]] || !got[ids[1]] {
		t.Fatalf("replies for %v; want %v", got, ids)
	}
	waitFor(t, func() bool { return !f.Connected() })
	p = c.call(codec.WriteEventsCommand, anon, writeReq("fw", -2, false), codec.NotHandledCommand)
	if err := codec.DecodeNotHandled(p.Payload, &nh); err != nil || nh.Reason != codec.NotHandledNotReady {
		t.Fatalf("write without a master connection: %+v %v", nh, err)
	}
	if st := f.Stats(); st.TooBusy != 1 || st.TimedOut != 2 || st.NotReady != 1 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestForwardMasterChange: pointing the forwarder at a new master ends
// the forwards pending on the old one and sends later writes to the new.
func TestForwardMasterChange(t *testing.T) {
	sm := newSilentMaster(t)
	master := newEnv(t, nil)
	addr := startInternal(t, master)
	slave, f := newSlave(t, sm.ln.Addr().String(), ForwarderOptions{Timeout: time.Hour})
	c := slave.client(t)
	id := codec.NewGUID()
	c.send(codec.WriteEventsCommand, id, anon, writeReq("fw", -2, false))
	waitFor(t, func() bool { return f.Stats().Pending == 1 })
	f.SetMaster(addr)
	if p := c.reply(); p.CorrelationID != id || decodeWrite(t, p).Result != codec.OperationForwardTimeout {
		t.Fatalf("pending write at the change of master: %s %+v", p.Command, decodeWrite(t, p))
	}
	waitFor(t, f.Connected)
	if w := decodeWrite(t, c.call(codec.WriteEventsCommand, anon, writeReq("fw", -2, false), codec.WriteEventsCompletedCommand)); w.Result != codec.OperationSuccess {
		t.Fatalf("write to the new master: %+v", w)
	}
}

// TestTrustedWriteRunsAsSystem: on the internal listener a TrustedWrite
// package runs as the system account (a member of $admins), without
// credentials.
func TestTrustedWriteRunsAsSystem(t *testing.T) {
	master := newEnv(t, nil)
	rc := dialRaw(t, startInternal(t, master))
	id := codec.NewGUID()
	frame, start := codec.AppendFrameStart(nil, codec.WriteEventsCommand, codec.FlagTrustedWrite, &id)
	frame = append(frame, writeReq("$trusted", -2, false)...)
	if err := codec.FinishFrame(frame, start); err != nil {
		t.Fatal(err)
	}
	rc.send(frame)
	p := rc.next()
	if p.Command != codec.WriteEventsCompletedCommand || p.CorrelationID != id {
		t.Fatalf("reply %s", p.Command)
	}
	if w := decodeWrite(t, p); w.Result != codec.OperationSuccess {
		t.Fatalf("trusted write: %+v", w)
	}
}

// TestForwardedWriteIsNotForwardedAgain: a replica that receives a
// forwarded write on its internal listener (the sender takes it for the
// master) answers NotMaster with the master it knows instead of
// forwarding it on, so two replicas with different views cannot bounce a
// write between them; the first replica relays it to its client.
func TestForwardedWriteIsNotForwardedAgain(t *testing.T) {
	sm := newSilentMaster(t)
	// B: a replica whose own forwarder points at a master that never
	// answers, reached by A over B's internal listener.
	b, bf := newSlave(t, sm.ln.Addr().String(), ForwarderOptions{Timeout: time.Hour})
	a, af := newSlave(t, startInternal(t, b), ForwarderOptions{Timeout: time.Hour})
	c := a.client(t)
	p := c.call(codec.WriteEventsCommand, anon, writeReq("fw", -2, false), codec.NotHandledCommand)
	var nh codec.NotHandled
	if err := codec.DecodeNotHandled(p.Payload, &nh); err != nil || nh.Reason != codec.NotHandledNotMaster {
		t.Fatalf("write bounced between replicas: %+v %v", nh, err)
	}
	if st := bf.Stats(); st.Forwarded != 0 || st.Pending != 0 {
		t.Fatalf("B forwarded it on: %+v", st)
	}
	if st := af.Stats(); st.Forwarded != 1 || st.Pending != 0 {
		t.Fatalf("A: %+v", st)
	}
}
