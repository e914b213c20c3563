package tcpsvc

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eventstored/eventstored/codec"
)

// rawClient speaks the framing by hand over a real loopback socket to the
// reactor + service, to check error replies end to end: which correlation
// id they carry and that the connection stays open.
type rawClient struct {
	t  *testing.T
	c  net.Conn
	rd *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, c: c, rd: bufio.NewReader(c)}
}

func (r *rawClient) send(frame []byte) {
	r.t.Helper()
	if _, err := r.c.Write(frame); err != nil {
		r.t.Fatal(err)
	}
}

// next returns the next package that is not a heartbeat request (those
// are answered, as a client must).
func (r *rawClient) next() codec.Package {
	r.t.Helper()
	for {
		_ = r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var hdr [4]byte
		if _, err := io.ReadFull(r.rd, hdr[:]); err != nil {
			r.t.Fatalf("read: %v", err)
		}
		n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16 | int(hdr[3])<<24
		body := make([]byte, n)
		if _, err := io.ReadFull(r.rd, body); err != nil {
			r.t.Fatalf("read: %v", err)
		}
		p, err := codec.DecodePackage(body)
		if err != nil {
			r.t.Fatal(err)
		}
		if p.Command == codec.HeartbeatRequestCommand {
			r.send(codec.AppendFrame(nil, codec.HeartbeatResponseCommand, &p.CorrelationID, nil))
			continue
		}
		return p
	}
}

// nextNoFatal is next for goroutines other than the test's: it returns
// an empty package instead of failing the test.
func (r *rawClient) nextNoFatal() codec.Package {
	for {
		_ = r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var hdr [4]byte
		if _, err := io.ReadFull(r.rd, hdr[:]); err != nil {
			return codec.Package{}
		}
		n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16 | int(hdr[3])<<24
		body := make([]byte, n)
		if _, err := io.ReadFull(r.rd, body); err != nil {
			return codec.Package{}
		}
		p, err := codec.DecodePackage(body)
		if err != nil {
			return codec.Package{}
		}
		if p.Command == codec.HeartbeatRequestCommand {
			_, _ = r.c.Write(codec.AppendFrame(nil, codec.HeartbeatResponseCommand, &p.CorrelationID, nil))
			continue
		}
		return p
	}
}

func (r *rawClient) call(cmd codec.Command, payload []byte) (codec.GUID, codec.Package) {
	r.t.Helper()
	id := codec.NewGUID()
	r.send(codec.AppendFrame(nil, cmd, &id, payload))
	p := r.next()
	if p.CorrelationID != id {
		r.t.Fatalf("reply %s has id %s; want %s", p.Command, p.CorrelationID, id)
	}
	return id, p
}

func TestErrorRepliesOverTCPKeepTheConnection(t *testing.T) {
	addr := startTestServer(t)
	r := dialRaw(t, addr)
	ident := codec.IdentifyClient{Version: 1, ConnectionName: "raw"}
	if _, p := r.call(codec.IdentifyClientCommand, codec.AppendIdentifyClient(nil, &ident)); p.Command != codec.ClientIdentifiedCommand {
		t.Fatalf("identify: %s", p.Command)
	}
	// Garbage payload: BadRequest with the request's id and a reason.
	_, p := r.call(codec.WriteEventsCommand, []byte{0x0a, 0xff, 0xff})
	if p.Command != codec.BadRequest || !strings.Contains(string(p.Payload), "Invalid WriteEvents") {
		t.Fatalf("garbage WriteEvents: %s %q", p.Command, p.Payload)
	}
	// Unknown command.
	_, p = r.call(0x42, nil)
	if p.Command != codec.BadRequest || !strings.Contains(string(p.Payload), "Could not unwrap") {
		t.Fatalf("unknown command: %s %q", p.Command, p.Payload)
	}
	// Wrong credentials.
	id := codec.NewGUID()
	m := codec.ReadEvent{EventStreamID: "s", EventNumber: 0}
	frame, err := codec.AppendFrameAuth(nil, codec.ReadEventCommand, &id, "admin", "wrong", codec.AppendReadEvent(nil, &m))
	if err != nil {
		t.Fatal(err)
	}
	r.send(frame)
	if p = r.next(); p.Command != codec.NotAuthenticated || p.CorrelationID != id {
		t.Fatalf("wrong credentials: %s", p.Command)
	}
	// The connection still serves a write and a read.
	w := codec.WriteEvents{EventStreamID: "raw-s", ExpectedVersion: -1, Events: []codec.NewEvent{newEvent("t", "{}")}}
	_, p = r.call(codec.WriteEventsCommand, codec.AppendWriteEvents(nil, &w))
	var wc codec.WriteEventsCompleted
	if p.Command != codec.WriteEventsCompletedCommand || codec.DecodeWriteEventsCompleted(p.Payload, &wc) != nil || wc.Result != codec.OperationSuccess {
		t.Fatalf("write after errors: %s %+v", p.Command, wc)
	}
	m.EventStreamID = "raw-s"
	_, p = r.call(codec.ReadEventCommand, codec.AppendReadEvent(nil, &m))
	var rc codec.ReadEventCompleted
	if p.Command != codec.ReadEventCompletedCommand || codec.DecodeReadEventCompleted(p.Payload, &rc) != nil || rc.Result != codec.ReadEventSuccess {
		t.Fatalf("read after errors: %s %+v", p.Command, rc.Result)
	}
}

// TestPipelinedRequestsAllAnswered sends many writes and reads back to back
// on one socket without waiting; every request gets exactly one reply with
// its own correlation id (replies may come in any order, spec §4.1).
func TestPipelinedRequestsAllAnswered(t *testing.T) {
	addr := startTestServer(t)
	r := dialRaw(t, addr)
	const n = 500
	want := make(map[codec.GUID]codec.Command, 2*n)
	var batch []byte
	for i := 0; i < n; i++ {
		id := codec.NewGUID()
		w := codec.WriteEvents{EventStreamID: "pipe", ExpectedVersion: -2, Events: []codec.NewEvent{newEvent("t", "{}")}}
		batch = codec.AppendFrame(batch, codec.WriteEventsCommand, &id, codec.AppendWriteEvents(nil, &w))
		want[id] = codec.WriteEventsCompletedCommand
		id2 := codec.NewGUID()
		rs := codec.ReadStreamEvents{EventStreamID: "pipe", FromEventNumber: 0, MaxCount: 10}
		batch = codec.AppendFrame(batch, codec.ReadStreamEventsForwardCommand, &id2, codec.AppendReadStreamEvents(nil, &rs))
		want[id2] = codec.ReadStreamEventsForwardCompletedCommand
	}
	go func() { _, _ = r.c.Write(batch) }()
	for len(want) > 0 {
		p := r.next()
		cmd, ok := want[p.CorrelationID]
		if !ok {
			t.Fatalf("unexpected or duplicate reply %s %s (%q)", p.Command, p.CorrelationID, truncate(p.Payload, 100))
		}
		if p.Command != cmd {
			t.Fatalf("reply %s; want %s (%q)", p.Command, cmd, truncate(p.Payload, 100))
		}
		delete(want, p.CorrelationID)
	}
}

// TestPipelinedWritesAreAckedPerGroupCommit: a client that pipelines many
// writes on one connection gets the acknowledgements of each group commit
// in one socket write (reactor.SendBatch, flushed by the store's
// OnOpsDone), not one write per ack. The 500 writes arrive in one burst
// and take a few group commits (each waits for an fsync on a real disk
// while the rest queue up), so far fewer than 100 writes carry the 500
// acks; one write per ack would be 500.
func TestPipelinedWritesAreAckedPerGroupCommit(t *testing.T) {
	srv := startTestReactor(t)
	r := dialRaw(t, srv.Addr())
	r.call(codec.Ping, nil) // connected and served
	const n = 500
	var burst []byte
	want := make(map[codec.GUID]bool, n)
	for i := 0; i < n; i++ {
		id := codec.NewGUID()
		w := codec.WriteEvents{EventStreamID: fmt.Sprintf("acks-%d", i%7), ExpectedVersion: -2, Events: []codec.NewEvent{newEvent("t", "{}")}}
		burst = codec.AppendFrame(burst, codec.WriteEventsCommand, &id, codec.AppendWriteEvents(nil, &w))
		want[id] = true
	}
	before := srv.Stats()
	r.send(burst)
	for len(want) > 0 {
		p := r.next()
		if p.Command != codec.WriteEventsCompletedCommand || !want[p.CorrelationID] {
			t.Fatalf("unexpected reply %s %s", p.Command, p.CorrelationID)
		}
		var m codec.WriteEventsCompleted
		if err := codec.DecodeWriteEventsCompleted(p.Payload, &m); err != nil || m.Result != codec.OperationSuccess {
			t.Fatalf("write reply: %v %+v", err, m)
		}
		delete(want, p.CorrelationID)
	}
	after := srv.Stats()
	if writes := after.Writes - before.Writes; writes >= n/5 {
		t.Fatalf("%d acks took %d socket writes (%d direct); want one per group commit", n, writes, after.DirectWrites-before.DirectWrites)
	}
}

// TestConcurrentConnections writes from several connections at once
// (through the reactor, several event loops) and checks every event is
// stored exactly once and readable by every connection.
func TestConcurrentConnections(t *testing.T) {
	addr := startTestServer(t)
	const conns, writes = 8, 100
	errs := make(chan error, conns)
	for i := 0; i < conns; i++ {
		go func() {
			r := dialRaw(t, addr)
			for j := 0; j < writes; j++ {
				w := codec.WriteEvents{EventStreamID: "conc", ExpectedVersion: -2, Events: []codec.NewEvent{newEvent("t", "{}")}}
				id := codec.NewGUID()
				if _, err := r.c.Write(codec.AppendFrame(nil, codec.WriteEventsCommand, &id, codec.AppendWriteEvents(nil, &w))); err != nil {
					errs <- err
					return
				}
			}
			for j := 0; j < writes; j++ {
				p := r.nextNoFatal()
				var wc codec.WriteEventsCompleted
				if p.Command != codec.WriteEventsCompletedCommand || codec.DecodeWriteEventsCompleted(p.Payload, &wc) != nil || wc.Result != codec.OperationSuccess {
					errs <- fmt.Errorf("reply %s %+v", p.Command, wc)
					return
				}
			}
			errs <- nil
		}()
	}
	for i := 0; i < conns; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	r := dialRaw(t, addr)
	seen := map[int64]bool{}
	for from := int64(0); ; {
		rs := codec.ReadStreamEvents{EventStreamID: "conc", FromEventNumber: from, MaxCount: 256}
		_, p := r.call(codec.ReadStreamEventsForwardCommand, codec.AppendReadStreamEvents(nil, &rs))
		var m codec.ReadStreamEventsCompleted
		if err := codec.DecodeReadStreamEventsCompleted(p.Payload, &m); err != nil {
			t.Fatal(err)
		}
		for _, e := range m.Events {
			if seen[e.Event.EventNumber] {
				t.Fatalf("event %d twice", e.Event.EventNumber)
			}
			seen[e.Event.EventNumber] = true
		}
		if m.IsEndOfStream {
			break
		}
		from = m.NextEventNumber
	}
	if len(seen) != conns*writes {
		t.Fatalf("stored %d events; want %d", len(seen), conns*writes)
	}
}
