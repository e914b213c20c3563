package consensus

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/eventstored/eventstored/reactor"
)

// tcpSink is a real internal TCP listener (reactor.Server with
// TCPHandler) recording the raft messages it receives.
type tcpSink struct {
	srv  *reactor.Server
	addr string
	mu   sync.Mutex
	got  []*pb.Message
}

func newTCPSink(t *testing.T) *tcpSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &tcpSink{addr: addr}
	s.srv = reactor.NewServer(reactor.Config{Name: "internal TCP", Addr: addr, NumEventLoops: 1, Internal: true, Logger: quiet},
		TCPHandler{Next: nopHandler{}, Step: func(m *pb.Message) {
			s.mu.Lock()
			s.got = append(s.got, m)
			s.mu.Unlock()
		}, Log: quiet})
	if err := s.srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.srv.Stop(ctx)
	})
	return s
}

func (s *tcpSink) received() []*pb.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*pb.Message(nil), s.got...)
}

func indexedApp(to, i uint64, data []byte) *pb.Message {
	return &pb.Message{Type: new(pb.MessageType_MsgApp), To: new(to), From: new(uint64(1)), Index: new(i),
		Entries: []*pb.Entry{{Index: new(i + 1), Term: new(uint64(1)), Data: data}}}
}

// sinkTransport returns a TCPTransport whose peer 2 is a fresh sink
// (stopped at the end of the test).
func sinkTransport(t *testing.T) (*tcpSink, *TCPTransport) {
	t.Helper()
	sink := newTCPSink(t)
	tr, err := NewTCPTransport(reactor.Config{Name: "internal TCP out", NumEventLoops: 1, Logger: quiet}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Stop)
	tr.SetPeer(2, sink.addr)
	return sink, tr
}

// TestTCPTransportSendsDirectlyInOrder: the first message dials through
// the peer's send goroutine; once the connection is up, Send writes from
// the calling goroutine (Direct) and every message arrives, in the order
// given, also when sends from the goroutine and direct writes meet.
func TestTCPTransportSendsDirectlyInOrder(t *testing.T) {
	sink, tr := sinkTransport(t)
	tr.Send([]*pb.Message{indexedApp(2, 0, []byte("first"))})
	waitFor(t, "first message", 10*time.Second, func() bool { return len(sink.received()) == 1 })
	if q := tr.Queued.Load(); q != 1 {
		t.Fatalf("first send: %d queued batches, want 1 (it dials)", q)
	}
	const total = 3000
	data := bytes.Repeat([]byte{7}, 200)
	for i := uint64(1); i < total; i += 3 {
		var ms []*pb.Message
		for k := i; k < min(i+3, total); k++ {
			ms = append(ms, indexedApp(2, k, data))
		}
		tr.Send(ms)
	}
	waitFor(t, "every message", 10*time.Second, func() bool { return len(sink.received()) == total })
	for i, m := range sink.received() {
		if m.GetIndex() != uint64(i) {
			t.Fatalf("message %d has index %d: out of order", i, m.GetIndex())
		}
	}
	if d := tr.Direct.Load(); d == 0 {
		t.Fatalf("no direct sends once connected (queued %d)", tr.Queued.Load())
	}
}

// TestTCPTransportSkipsUnencodable: a message above MaxMessageBytes is
// left out (logged); the others of the same Send still arrive, on the
// direct path and through the queue.
func TestTCPTransportSkipsUnencodable(t *testing.T) {
	sink, tr := sinkTransport(t)
	big := indexedApp(2, 99, bytes.Repeat([]byte{1}, MaxMessageBytes))
	tr.Send([]*pb.Message{indexedApp(2, 0, nil), big, indexedApp(2, 1, nil)}) // queued: dials
	waitFor(t, "queued messages", 10*time.Second, func() bool { return len(sink.received()) == 2 })
	tr.Send([]*pb.Message{big, indexedApp(2, 2, nil), big}) // direct
	waitFor(t, "direct message", 10*time.Second, func() bool { return len(sink.received()) == 3 })
	for i, m := range sink.received() {
		if m.GetIndex() != uint64(i) {
			t.Fatalf("message %d has index %d", i, m.GetIndex())
		}
	}
	tr.Send([]*pb.Message{big}) // nothing encodable: nothing sent, nothing broken
	tr.Send([]*pb.Message{indexedApp(2, 3, nil)})
	waitFor(t, "after an unencodable send", 10*time.Second, func() bool { return len(sink.received()) == 4 })
}

// TestTCPTransportQueueLimit: while a peer has no connection, at most
// peerQueueMax messages wait for its send goroutine; the rest are dropped
// (raft retransmits). Nothing is queued for a peer that is not set. (The
// peer here has no goroutine, so the queue is what Send left.)
func TestTCPTransportQueueLimit(t *testing.T) {
	tr := &TCPTransport{log: quiet, peers: map[uint64]*tcpPeer{}, stop: make(chan struct{})}
	p := &tcpPeer{id: 2, wake: make(chan struct{}, 1)}
	tr.peers[2] = p
	ms := make([]*pb.Message, 3*peerQueueMax)
	for i := range ms {
		ms[i] = indexedApp(2, uint64(i), nil)
	}
	tr.Send(ms[:10])
	tr.Send(ms[10:])
	tr.Send([]*pb.Message{indexedApp(3, 0, nil)}) // unknown peer
	if len(p.q) != peerQueueMax || p.q[0].GetIndex() != 0 || p.q[peerQueueMax-1].GetIndex() != peerQueueMax-1 {
		t.Fatalf("%d messages queued, want the first %d", len(p.q), peerQueueMax)
	}
	if len(tr.peers) != 1 {
		t.Fatal("a peer appeared")
	}
}
