package client

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eventstored/eventstored/codec"
)

// Connection-level behaviours that a well-behaved server never triggers
// (silence, a connection-wide BadRequest, dropped connections, replies cut
// into single bytes) are tested against a scripted peer on a real loopback
// socket: the test plays the server's side byte by byte.

type peer struct {
	t     testing.TB
	ln    net.Listener
	conns chan net.Conn
}

func newPeer(t testing.TB) *peer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{t: t, ln: ln, conns: make(chan net.Conn, 16)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.conns <- c
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return p
}

func (p *peer) addr() string { return p.ln.Addr().String() }

func (p *peer) accept() net.Conn {
	p.t.Helper()
	select {
	case c := <-p.conns:
		p.t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(10 * time.Second):
		p.t.Fatal("no connection from the client")
		return nil
	}
}

// readPkg reads the next package other than a client heartbeat request,
// which it answers (a loaded machine can leave any connection quiet for
// the 750 ms after which the client checks on the server), or fails the
// test.
func readPkg(t testing.TB, c net.Conn) codec.Package {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatal("only heartbeats for 10 s; the expected request never came")
		}
		p := readAnyPkg(t, c)
		if p.Command != codec.HeartbeatRequestCommand {
			return p
		}
		writePkg(t, c, codec.HeartbeatResponseCommand, p.CorrelationID, nil)
	}
}

// readAnyPkg reads one package (header included) or fails the test.
func readAnyPkg(t testing.TB, c net.Conn) codec.Package {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var l [4]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	buf := make([]byte, binary.LittleEndian.Uint32(l[:]))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	p, err := codec.DecodePackage(buf)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func writePkg(t testing.TB, c net.Conn, cmd codec.Command, id codec.GUID, payload []byte) {
	t.Helper()
	if _, err := c.Write(codec.AppendFrame(nil, cmd, &id, payload)); err != nil {
		t.Fatalf("writing a frame: %v", err)
	}
}

// serveHandshake answers IdentifyClient.
func serveHandshake(t testing.TB, c net.Conn) {
	t.Helper()
	p := readPkg(t, c)
	if p.Command != codec.IdentifyClientCommand {
		t.Fatalf("unexpected first package %v; want IdentifyClient", p.Command)
	}
	var id codec.IdentifyClient
	if err := codec.DecodeIdentifyClient(p.Payload, &id); err != nil || id.Version != codec.ClientVersionV2 || id.ConnectionName != "test" {
		t.Fatalf("unexpected IdentifyClient %+v, %v", id, err)
	}
	writePkg(t, c, codec.ClientIdentifiedCommand, p.CorrelationID, nil)
}

// dialPeer dials p and plays the handshake.
func dialPeer(t *testing.T, p *peer, o Options) (*Client, net.Conn) {
	t.Helper()
	c, sc, err := dialPeerErr(t, p, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, sc
}

func dialPeerB(b *testing.B, p *peer) (*Client, net.Conn) {
	c, sc, err := dialPeerErr(b, p, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(); sc.Close() })
	return c, sc
}

func dialPeerErr(t testing.TB, p *peer, o Options) (*Client, net.Conn, error) {
	o.ConnectionName = "test"
	type res struct {
		c   *Client
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := Dial(context.Background(), p.addr(), o)
		ch <- res{c, err}
	}()
	sc := p.accept()
	serveHandshake(t, sc)
	r := <-ch
	return r.c, sc, r.err
}

func writeCompleted(first, last int64) []byte {
	return codec.AppendWriteEventsCompleted(nil, &codec.WriteEventsCompleted{Result: codec.OperationSuccess,
		FirstEventNumber: first, LastEventNumber: last, PreparePosition: 10, CommitPosition: 10})
}

func oneEvent() []EventData { return []EventData{{ID: NewGUID(), Type: "t", Data: []byte("d")}} }

func TestHandshakeAuthenticatesFirst(t *testing.T) {
	p := newPeer(t)
	done := make(chan error, 1)
	go func() {
		c, err := Dial(context.Background(), p.addr(), Options{ConnectionName: "test", Credentials: &Credentials{Login: "admin", Password: "changeit"}})
		if c != nil {
			defer c.Close()
		}
		done <- err
	}()
	sc := p.accept()
	a := readPkg(t, sc)
	if a.Command != codec.Authenticate || a.Flags&codec.FlagAuthenticated == 0 || string(a.Login) != "admin" || string(a.Password) != "changeit" || len(a.Payload) != 0 {
		t.Fatalf("unexpected Authenticate package %+v", a)
	}
	writePkg(t, sc, codec.Authenticated, a.CorrelationID, nil)
	serveHandshake(t, sc)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestHandshakeFailsOnNotAuthenticated(t *testing.T) {
	p := newPeer(t)
	done := make(chan error, 1)
	go func() {
		_, err := Dial(context.Background(), p.addr(), Options{Credentials: &Credentials{Login: "a", Password: "b"}})
		done <- err
	}()
	sc := p.accept()
	a := readPkg(t, sc)
	writePkg(t, sc, codec.NotAuthenticated, a.CorrelationID, []byte("Unauthorized"))
	err := <-done
	var na *NotAuthenticatedError
	if !errors.As(err, &na) || na.Reason != "Unauthorized" {
		t.Fatalf("unexpected error %v", err)
	}
}

func TestClientAnswersServerHeartbeats(t *testing.T) {
	p := newPeer(t)
	_, sc := dialPeer(t, p, Options{})
	id := codec.NewGUID()
	writePkg(t, sc, codec.HeartbeatRequestCommand, id, nil)
	r := readPkg(t, sc)
	if r.Command != codec.HeartbeatResponseCommand || r.CorrelationID != id {
		t.Fatalf("unexpected answer %v %v; want HeartbeatResponse with the request's id", r.Command, r.CorrelationID)
	}
}

// TestSilentServerIsDroppedAfterHeartbeatTimeout: the peer answers nothing
// after the handshake. The client must send a heartbeat request, then
// close the connection and fail the operation in flight.
func TestSilentServerIsDroppedAfterHeartbeatTimeout(t *testing.T) {
	p := newPeer(t)
	c, sc := dialPeer(t, p, Options{HeartbeatInterval: 300 * time.Millisecond, HeartbeatTimeout: 600 * time.Millisecond})
	errc := make(chan error, 1)
	go func() {
		_, err := c.AppendToStream(context.Background(), "s", ExpectedAny, oneEvent()...)
		errc <- err
	}()
	sawHeartbeat := false
	for {
		_ = sc.SetReadDeadline(time.Now().Add(10 * time.Second))
		var l [4]byte
		if _, err := io.ReadFull(sc, l[:]); err != nil {
			break // the client closed the connection
		}
		buf := make([]byte, binary.LittleEndian.Uint32(l[:]))
		if _, err := io.ReadFull(sc, buf); err != nil {
			break
		}
		if codec.Command(buf[0]) == codec.HeartbeatRequestCommand {
			sawHeartbeat = true
		}
	}
	if !sawHeartbeat {
		t.Fatal("the client closed without sending a heartbeat request first")
	}
	err := <-errc
	if !errors.Is(err, ErrConnectionClosed) || !strings.Contains(err.Error(), "heartbeat timeout") {
		t.Fatalf("unexpected error %v; want a heartbeat-timeout connection error", err)
	}
}

func TestConnectionWideBadRequestClosesTheConnection(t *testing.T) {
	p := newPeer(t)
	c, sc := dialPeer(t, p, Options{})
	errc := make(chan error, 1)
	go func() {
		_, err := c.AppendToStream(context.Background(), "s", ExpectedAny, oneEvent()...)
		errc <- err
	}()
	readPkg(t, sc) // the write
	writePkg(t, sc, codec.BadRequest, codec.GUID{}, []byte("outbound queue overflow"))
	err := <-errc
	if !errors.Is(err, ErrConnectionClosed) || !strings.Contains(err.Error(), "outbound queue overflow") {
		t.Fatalf("unexpected error %v", err)
	}
	if _, err := c.AppendToStream(context.Background(), "s", ExpectedAny, oneEvent()...); !errors.Is(err, ErrConnectionClosed) {
		t.Fatalf("without Reconnect the client stays closed; got %v", err)
	}
}

func TestReplyOneByteAtATime(t *testing.T) {
	p := newPeer(t)
	c, sc := dialPeer(t, p, Options{})
	errc := make(chan error, 1)
	var res WriteResult
	go func() {
		var err error
		res, err = c.AppendToStream(context.Background(), "s", ExpectedAny, oneEvent()...)
		errc <- err
	}()
	req := readPkg(t, sc)
	var we codec.WriteEvents
	if err := codec.DecodeWriteEvents(req.Payload, &we); err != nil || we.EventStreamID != "s" || len(we.Events) != 1 || we.ExpectedVersion != ExpectedAny {
		t.Fatalf("unexpected request %+v, %v", we, err)
	}
	// A heartbeat and the reply, split into single bytes.
	hb := codec.NewGUID()
	frames := codec.AppendFrame(nil, codec.HeartbeatRequestCommand, &hb, nil)
	frames = codec.AppendFrame(frames, codec.WriteEventsCompletedCommand, &req.CorrelationID, writeCompleted(7, 7))
	for i := range frames {
		if _, err := sc.Write(frames[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-errc; err != nil || res.FirstEventNumber != 7 || res.Position.Commit != 10 {
		t.Fatalf("unexpected result %+v, %v", res, err)
	}
	if r := readPkg(t, sc); r.Command != codec.HeartbeatResponseCommand || r.CorrelationID != hb {
		t.Fatalf("the split heartbeat was not answered: %v", r.Command)
	}
}

// TestTimeoutThenLateReply: an operation times out; its late reply is
// dropped and the next operation still gets its own reply.
func TestTimeoutThenLateReply(t *testing.T) {
	p := newPeer(t)
	c, sc := dialPeer(t, p, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.AppendToStream(ctx, "s", ExpectedAny, oneEvent()...)
	var k interface{ Kind() string }
	if !errors.Is(err, ErrTimeout) || !errors.As(err, &k) || k.Kind() != "timeout" {
		t.Fatalf("unexpected error %v; want ErrTimeout", err)
	}
	late := readPkg(t, sc)
	lateReplyIsDropped(t, c, sc, late)
}

// lateReplyIsDropped answers the timed-out request late (event 1), then
// checks that the next write gets its own reply (event 2), not that one.
func lateReplyIsDropped(t *testing.T, c *Client, sc net.Conn, late codec.Package) {
	t.Helper()
	writePkg(t, sc, codec.WriteEventsCompletedCommand, late.CorrelationID, writeCompleted(1, 1))
	errc := make(chan error, 1)
	var res WriteResult
	go func() {
		var err error
		res, err = c.AppendToStream(context.Background(), "s", ExpectedAny, oneEvent()...)
		errc <- err
	}()
	next := readPkg(t, sc)
	writePkg(t, sc, codec.WriteEventsCompletedCommand, next.CorrelationID, writeCompleted(2, 2))
	if err := <-errc; err != nil || res.FirstEventNumber != 2 {
		t.Fatalf("unexpected result %+v, %v", res, err)
	}
}

// TestOperationTimeoutWithoutDeadline: with a context without deadline,
// Options.OperationTimeout bounds the operation through the connection's
// sweep (no timer per operation): the unanswered write fails with a
// timeout, its late reply is dropped, and a pipelined write sent after it
// still gets its own reply; a heartbeat interval far longer than the
// timeout does not hold the sweep back.
func TestOperationTimeoutWithoutDeadline(t *testing.T) {
	p := newPeer(t)
	// NB: 1 s, so that a stalled machine does not time the second write out.
	c, sc := dialPeer(t, p, Options{OperationTimeout: time.Second, HeartbeatInterval: time.Hour, HeartbeatTimeout: time.Hour})
	errc := make(chan error, 1)
	go func() {
		_, err := c.AppendToStream(context.Background(), "s", ExpectedAny, oneEvent()...)
		errc <- err
	}()
	late := readPkg(t, sc)
	var err error
	select {
	case err = <-errc:
	case <-time.After(time.Minute): // a hang guard, not a timing check
		t.Fatal("the operation never timed out")
	}
	var k interface{ Kind() string }
	if !errors.Is(err, ErrTimeout) || !errors.As(err, &k) || k.Kind() != "timeout" || !strings.Contains(err.Error(), "WriteEvents") {
		t.Fatalf("unexpected error %v; want a WriteEvents timeout", err)
	}
	lateReplyIsDropped(t, c, sc, late)
	if cn := c.cur; cn != nil {
		cn.pmu.Lock()
		n := cn.deadlined
		cn.pmu.Unlock()
		if n != 0 {
			t.Fatalf("%d requests with a deadline still counted; none is pending", n)
		}
	}
}

func TestNotHandledNotMasterCarriesMasterInfo(t *testing.T) {
	p := newPeer(t)
	c, sc := dialPeer(t, p, Options{})
	errc := make(chan error, 1)
	go func() {
		_, err := c.ReadEvent(context.Background(), "s", 0, false)
		errc <- err
	}()
	req := readPkg(t, sc)
	info := codec.AppendMasterInfo(nil, &codec.MasterInfo{ExternalTCPAddress: "10.1.2.3", ExternalTCPPort: 1113, ExternalHTTPAddress: "10.1.2.3", ExternalHTTPPort: 2113})
	writePkg(t, sc, codec.NotHandledCommand, req.CorrelationID, codec.AppendNotHandled(nil, &codec.NotHandled{Reason: codec.NotHandledNotMaster, AdditionalInfo: info}))
	err := <-errc
	var nh *NotHandledError
	if !errors.As(err, &nh) || nh.Kind() != "not_master" || nh.Master == nil || nh.Master.ExternalTCPAddress != "10.1.2.3" || nh.Master.ExternalTCPPort != 1113 {
		t.Fatalf("unexpected error %v (%+v)", err, nh)
	}
}

// TestReconnectAfterDrop: the server drops the connection with a write in
// flight; with Reconnect the client reconnects (new handshake) and sends
// the same write again on the new connection.
func TestReconnectAfterDrop(t *testing.T) {
	p := newPeer(t)
	c, sc := dialPeer(t, p, Options{Reconnect: true, ReconnectionDelay: time.Millisecond})
	errc := make(chan error, 1)
	go func() {
		_, err := c.AppendToStream(context.Background(), "s", ExpectedAny, oneEvent()...)
		errc <- err
	}()
	first := readPkg(t, sc)
	firstPayload := append([]byte(nil), first.Payload...)
	sc.Close()
	sc2 := p.accept()
	serveHandshake(t, sc2)
	again := readPkg(t, sc2)
	if again.Command != codec.WriteEventsCommand || string(again.Payload) != string(firstPayload) {
		t.Fatalf("the resent request differs: %v", again.Command)
	}
	writePkg(t, sc2, codec.WriteEventsCompletedCommand, again.CorrelationID, writeCompleted(0, 0))
	if err := <-errc; err != nil {
		t.Fatalf("the in-flight write was not resent: %v", err)
	}
	go func() {
		_, err := c.AppendToStream(context.Background(), "s", ExpectedAny, oneEvent()...)
		errc <- err
	}()
	req := readPkg(t, sc2)
	writePkg(t, sc2, codec.WriteEventsCompletedCommand, req.CorrelationID, writeCompleted(1, 1))
	if err := <-errc; err != nil {
		t.Fatalf("after reconnecting: %v", err)
	}
}

func TestReconnectGivesUp(t *testing.T) {
	p := newPeer(t)
	c, sc := dialPeer(t, p, Options{Reconnect: true, ReconnectionDelay: time.Millisecond, MaxReconnections: 2})
	p.ln.Close() // nothing to reconnect to
	sc.Close()
	_, err := c.AppendToStream(context.Background(), "s", ExpectedAny, oneEvent()...)
	if !errors.Is(err, ErrConnectionClosed) {
		t.Fatalf("unexpected error %v", err)
	}
	if _, err := c.AppendToStream(context.Background(), "s", ExpectedAny, oneEvent()...); !errors.Is(err, ErrConnectionClosed) || !strings.Contains(err.Error(), "gave up after 2 reconnections") {
		t.Fatalf("unexpected error after giving up: %v", err)
	}
}

// TestMaxInFlightBoundsOutstandingRequests: with MaxInFlight 2, a third
// concurrent request is not sent until a reply frees a slot.
func TestMaxInFlightBoundsOutstandingRequests(t *testing.T) {
	p := newPeer(t)
	c, sc := dialPeer(t, p, Options{MaxInFlight: 2})
	errc := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() {
			_, err := c.AppendToStream(context.Background(), "s", ExpectedAny, oneEvent()...)
			errc <- err
		}()
	}
	a, b := readPkg(t, sc), readPkg(t, sc)
	// The third must not arrive while two are outstanding.
	_ = sc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	var one [1]byte
	if n, _ := sc.Read(one[:]); n != 0 {
		t.Fatal("a third request was sent with MaxInFlight 2")
	}
	writePkg(t, sc, codec.WriteEventsCompletedCommand, a.CorrelationID, writeCompleted(0, 0))
	third := readPkg(t, sc)
	writePkg(t, sc, codec.WriteEventsCompletedCommand, b.CorrelationID, writeCompleted(1, 1))
	writePkg(t, sc, codec.WriteEventsCompletedCommand, third.CorrelationID, writeCompleted(2, 2))
	for i := 0; i < 3; i++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// replyingPeer answers every WriteEvents on c with the same
// WriteEventsCompleted (see replyingPeerWith).
func replyingPeer(c net.Conn) {
	replyingPeerWith(c, map[codec.Command][]byte{
		codec.WriteEventsCommand: codec.AppendFrame(nil, codec.WriteEventsCompletedCommand, &codec.GUID{}, writeCompleted(0, 0)),
	})
}

// replyingPeerWith answers each request whose command is in replies with
// that prebuilt frame, patching in the request's correlation id, and
// answers heartbeats. It allocates nothing per request itself, so
// AllocsPerRun sees only the client's allocations.
func replyingPeerWith(c net.Conn, replies map[codec.Command][]byte) {
	buf := make([]byte, 1<<16)
	hb := codec.AppendFrame(nil, codec.HeartbeatResponseCommand, &codec.GUID{}, nil)
	var l [4]byte
	for {
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return
		}
		n := int(binary.LittleEndian.Uint32(l[:]))
		if n > len(buf) {
			return
		}
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			return
		}
		reply := replies[codec.Command(buf[0])]
		if codec.Command(buf[0]) == codec.HeartbeatRequestCommand {
			reply = hb
		}
		if reply == nil {
			continue
		}
		copy(reply[4+2:4+18], buf[2:18])
		if _, err := c.Write(reply); err != nil {
			return
		}
	}
}

// TestLargeReplyThenSmallOnes: a 3 MiB event grows the read buffer; the
// replies after it still parse (the buffer shrinks back once drained).
func TestLargeReplyThenSmallOnes(t *testing.T) {
	p := newPeer(t)
	c, sc := dialPeer(t, p, Options{})
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i)
	}
	for round := 0; round < 3; round++ {
		errc := make(chan error, 1)
		var res EventReadResult
		go func() {
			var err error
			res, err = c.ReadEvent(context.Background(), "s", 0, false)
			errc <- err
		}()
		req := readPkg(t, sc)
		data := []byte("small")
		if round == 1 {
			data = big
		}
		reply := codec.ReadEventCompleted{Result: codec.ReadEventSuccess, Event: codec.ResolvedIndexedEvent{HasEvent: true,
			Event: codec.EventRecord{EventStreamID: "s", EventID: make([]byte, 16), EventType: "t", Data: data, Metadata: []byte{}, CreatedEpoch: 1}}}
		writePkg(t, sc, codec.ReadEventCompletedCommand, req.CorrelationID, codec.AppendReadEventCompleted(nil, &reply))
		if err := <-errc; err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if got := res.Event.Event.Data; len(got) != len(data) || got[len(got)-1] != data[len(data)-1] {
			t.Fatalf("round %d: unexpected data of %d bytes", round, len(got))
		}
	}
}

// TestOversizedFrameFromServerClosesTheConnection: a length prefix above
// 64 MiB is a framing error (spec §1.2); the client drops the connection
// instead of allocating it.
func TestOversizedFrameFromServerClosesTheConnection(t *testing.T) {
	p := newPeer(t)
	c, sc := dialPeer(t, p, Options{})
	errc := make(chan error, 1)
	go func() {
		_, err := c.ReadEvent(context.Background(), "s", 0, false)
		errc <- err
	}()
	readPkg(t, sc)
	var l [4]byte
	binary.LittleEndian.PutUint32(l[:], codec.FrameLengthMax+1)
	if _, err := sc.Write(l[:]); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrConnectionClosed) || !strings.Contains(err.Error(), "framing") {
		t.Fatalf("unexpected error %v", err)
	}
}

// TestNotReadyIsRetried: NotHandled NotReady makes the client send the
// same request again; other NotHandled reasons are returned at once.
func TestNotReadyIsRetried(t *testing.T) {
	p := newPeer(t)
	c, sc := dialPeer(t, p, Options{RetryDelay: time.Millisecond, MaxRetries: 2})
	notReady := codec.AppendNotHandled(nil, &codec.NotHandled{Reason: codec.NotHandledNotReady})
	errc := make(chan error, 1)
	go func() {
		_, err := c.AppendToStream(context.Background(), "s", ExpectedAny, oneEvent()...)
		errc <- err
	}()
	first := readPkg(t, sc)
	firstPayload := append([]byte(nil), first.Payload...)
	writePkg(t, sc, codec.NotHandledCommand, first.CorrelationID, notReady)
	second := readPkg(t, sc)
	if second.Command != codec.WriteEventsCommand || string(second.Payload) != string(firstPayload) {
		t.Fatalf("the retry differs from the request: %v", second.Command)
	}
	writePkg(t, sc, codec.WriteEventsCompletedCommand, second.CorrelationID, writeCompleted(0, 0))
	if err := <-errc; err != nil {
		t.Fatalf("after a retry: %v", err)
	}
	// Retries run out: the NotHandled error comes back.
	go func() {
		_, err := c.AppendToStream(context.Background(), "s", ExpectedAny, oneEvent()...)
		errc <- err
	}()
	for i := 0; i < 3; i++ {
		r := readPkg(t, sc)
		writePkg(t, sc, codec.NotHandledCommand, r.CorrelationID, notReady)
	}
	var nh *NotHandledError
	if err := <-errc; !errors.As(err, &nh) || nh.Kind() != "not_ready" {
		t.Fatalf("unexpected error %v; want NotHandled NotReady after 2 retries", err)
	}
}

// TestCloseWhileReconnecting: Close during the reconnect loop returns,
// releases waiting operations with ErrClosed, and leaves no goroutine
// closing a channel twice.
func TestCloseWhileReconnecting(t *testing.T) {
	p := newPeer(t)
	c, sc := dialPeer(t, p, Options{Reconnect: true, ReconnectionDelay: 5 * time.Millisecond, MaxReconnections: 1000})
	p.ln.Close() // reconnects keep failing
	sc.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := c.AppendToStream(context.Background(), "s", ExpectedAny, oneEvent()...)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond) // let a few attempts fail
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) && !errors.Is(err, ErrConnectionClosed) {
		t.Fatalf("unexpected error %v", err)
	}
}

// TestReadBufSize: the read buffer grows to fit a whole frame, doubles up
// to readBufBurst while reads fill it (a burst of pushes costs fewer
// reads), and shrinks back when its content fits: at once after a huge
// frame, after readBufIdleReads small reads after a burst.
func TestReadBufSize(t *testing.T) {
	f := func(name string, cur, held, need int, filled bool, small, want int) {
		t.Helper()
		if got := readBufSize(cur, held, need, filled, small); got != want {
			t.Errorf("%s: unexpected size; got %d; want %d", name, got, want)
		}
	}
	const ki = 1 << 10
	f("quiet", readBufInitial, 0, 0, false, 1, readBufInitial)
	f("a frame bigger than the buffer", readBufInitial, 100, 10*ki, false, 0, 10*ki)
	f("a frame just bigger", readBufInitial, 100, readBufInitial+1, false, 0, 2*readBufInitial)
	f("a full read doubles", readBufInitial, 10, 20, true, 0, 2*readBufInitial)
	f("up to the burst size", readBufBurst/2, 10, 20, true, 0, readBufBurst)
	f("not beyond it", readBufBurst, 10, 20, true, 0, readBufBurst)
	f("a burst buffer stays while busy", readBufBurst, 10, 20, false, readBufIdleReads-1, readBufBurst)
	f("and shrinks once idle", readBufBurst, 10, 20, false, readBufIdleReads, readBufInitial)
	f("not while it holds more than a small buffer", readBufBurst, readBufInitial, 0, false, readBufIdleReads, readBufBurst)
	f("nor while the next frame is bigger", readBufBurst, 10, readBufInitial+1, false, readBufIdleReads, readBufBurst)
	f("after a huge frame, at once", 8<<20, 0, 0, false, 0, readBufInitial)
	f("a huge buffer keeps a huge partial frame", 8<<20, 6<<20, 7<<20, false, 0, 8<<20)
}
