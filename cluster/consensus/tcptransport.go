package consensus

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/reactor"
)

// RaftMessagesCommand carries a batch of raft messages (the batch format
// of DecodeBatch) over internal TCP. A project extension: 4.0.3 nodes
// never send it (byte compatibility with their internal protocol is not
// a goal, spec cluster-and-options §6.8).
const RaftMessagesCommand codec.Command = 0xE0

// TCPTransport sends raft messages to peers over internal TCP, one
// outgoing connection per peer on a reactor.Dialer (so heartbeats and
// limits are the reactor's). Each peer has a bounded queue and one
// goroutine that batches, (re)connects and sends. Messages queued while a
// peer is unreachable are dropped; raft retransmits.
type TCPTransport struct {
	dialer      *reactor.Dialer
	log         *slog.Logger
	mu          sync.Mutex
	peers       map[uint64]*tcpPeer
	unreachable func(uint64)
	lost        func(uint64)
	stop        chan struct{}
	stopOnce    sync.Once
	wg          sync.WaitGroup
}

type tcpPeer struct {
	id   uint64
	addr string
	q    chan *pb.Message
	mu   sync.Mutex
	conn *reactor.Conn
}

// reconnectDelay spaces connection attempts to an unreachable peer.
const reconnectDelay = 200 * time.Millisecond

// NewTCPTransport starts a dialer with cfg (the internal heartbeat pair,
// Internal=true) and returns the transport.
func NewTCPTransport(cfg reactor.Config, log *slog.Logger) (*TCPTransport, error) {
	if log == nil {
		log = slog.Default()
	}
	t := &TCPTransport{log: log, peers: map[uint64]*tcpPeer{}, stop: make(chan struct{})}
	cfg.Internal = true
	if cfg.Logger == nil {
		cfg.Logger = log
	}
	t.dialer = reactor.NewDialer(cfg, dialHandler{t})
	if err := t.dialer.Start(); err != nil {
		return nil, err
	}
	return t, nil
}

// dialHandler serves the outgoing connections: nothing but heartbeats
// (answered by the reactor) comes back on them.
type dialHandler struct{ t *TCPTransport }

func (dialHandler) OnOpen(*reactor.Conn)                    {}
func (dialHandler) OnPackage(*reactor.Conn, *codec.Package) {}
func (h dialHandler) OnClose(c *reactor.Conn, err error) {
	h.t.mu.Lock()
	defer h.t.mu.Unlock()
	for _, p := range h.t.peers {
		p.mu.Lock()
		lost := p.conn == c
		if lost {
			p.conn = nil
			h.t.log.Info("internal TCP connection to a peer lost", "peer", p.id, "addr", p.addr, "err", err)
		}
		p.mu.Unlock()
		if lost && err != nil && h.t.lost != nil {
			go h.t.lost(p.id) // never block the event loop
		}
	}
}

// SetUnreachableFunc implements Unreachable.
func (t *TCPTransport) SetUnreachableFunc(fn func(uint64)) {
	t.mu.Lock()
	t.unreachable = fn
	t.mu.Unlock()
}

// SetLostFunc sets fn to be called (on its own goroutine) when the
// connection to a peer breaks: the signal gossip uses to mark a node dead
// (spec §3.6, "TCP connection lost"). Call before the first SetPeer.
func (t *TCPTransport) SetLostFunc(fn func(id uint64)) {
	t.mu.Lock()
	t.lost = fn
	t.mu.Unlock()
}

// SetPeer sets (or changes) the advertised internal TCP address of id.
func (t *TCPTransport) SetPeer(id uint64, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.peers[id]; p != nil {
		if p.addr == addr {
			return
		}
		close(p.q)
	}
	p := &tcpPeer{id: id, addr: addr, q: make(chan *pb.Message, peerQueueMax)}
	t.peers[id] = p
	t.wg.Add(1)
	go t.sendLoop(p)
}

// Send queues msgs; a full queue or unknown peer drops the message.
func (t *TCPTransport) Send(msgs []*pb.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-t.stop:
		return
	default:
	}
	for _, m := range msgs {
		if p := t.peers[m.GetTo()]; p != nil {
			select {
			case p.q <- m:
			default:
			}
		}
	}
}

func (t *TCPTransport) sendLoop(p *tcpPeer) {
	defer t.wg.Done()
	var buf []byte
	var id codec.GUID
	for {
		var m *pb.Message
		var ok bool
		select {
		case m, ok = <-p.q:
			if !ok {
				p.closeConn()
				return
			}
		case <-t.stop:
			p.closeConn()
			return
		}
		// Frame header first, then the batch as its payload.
		var start int
		buf, start = codec.AppendFrameStart(buf[:0], RaftMessagesCommand, 0, &id)
		buf = appendQueued(buf, m, p.q, t.log, p.id)
		if err := codec.FinishFrame(buf, start); err != nil {
			t.log.Error("raft batch not sent", "to", p.id, "err", err)
			continue
		}
		c := p.connection(t)
		if c == nil {
			t.report(p.id)
			continue
		}
		if err := c.Send(buf); err != nil {
			// NB: a connection can close between Dial's return and
			// p.conn being set; OnClose then finds no peer holding it
			// and p.conn keeps a dead connection for good (seen: a
			// master that never reached a restarted follower again).
			// A closed connection is dropped here, so the next batch
			// dials again.
			if errors.Is(err, reactor.ErrConnClosed) {
				p.dropConn(c)
			}
			t.report(p.id)
		}
	}
}

// dropConn forgets c if it is still the peer's connection.
func (p *tcpPeer) dropConn(c *reactor.Conn) {
	p.mu.Lock()
	if p.conn == c {
		p.conn = nil
	}
	p.mu.Unlock()
}

func (p *tcpPeer) closeConn() {
	p.mu.Lock()
	c := p.conn
	p.conn = nil
	p.mu.Unlock()
	if c != nil {
		c.Close(nil)
	}
}

// connection returns the peer's connection, dialing if there is none
// (at most one attempt per reconnectDelay).
func (p *tcpPeer) connection(t *TCPTransport) *reactor.Conn {
	p.mu.Lock()
	c := p.conn
	p.mu.Unlock()
	if c != nil {
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	c, err := t.dialer.Dial(ctx, p.addr)
	cancel()
	if err != nil {
		t.log.Debug("cannot connect to peer", "peer", p.id, "addr", p.addr, "err", err)
		select {
		case <-time.After(reconnectDelay):
		case <-t.stop:
		}
		return nil
	}
	p.mu.Lock()
	p.conn = c
	p.mu.Unlock()
	return c
}

func (t *TCPTransport) report(id uint64) {
	t.mu.Lock()
	fn := t.unreachable
	t.mu.Unlock()
	if fn != nil {
		fn(id)
	}
}

// Stop closes every connection and the dialer.
func (t *TCPTransport) Stop() {
	t.stopOnce.Do(func() {
		t.mu.Lock()
		close(t.stop)
		t.mu.Unlock()
	})
	t.wg.Wait()
	t.dialer.Stop()
}

// TCPHandler serves the internal TCP listener: RaftMessagesCommand
// packages go to step; every other package (client protocol, forwarded
// writes) to next.
type TCPHandler struct {
	Next reactor.Handler
	Step func(*pb.Message)
	Log  *slog.Logger
}

func (h TCPHandler) OnOpen(c *reactor.Conn) { h.Next.OnOpen(c) }
func (h TCPHandler) OnClose(c *reactor.Conn, err error) {
	h.Next.OnClose(c, err)
}
func (h TCPHandler) OnPackage(c *reactor.Conn, p *codec.Package) {
	if p.Command != RaftMessagesCommand {
		h.Next.OnPackage(c, p)
		return
	}
	// proto.Unmarshal copies, so nothing outlives the read buffer.
	if err := DecodeBatch(p.Payload, h.Step); err != nil {
		if h.Log != nil {
			h.Log.Warn("bad raft batch on internal TCP; closing", "remote", c.RemoteAddr(), "err", err)
		}
		c.Close(err)
	}
}
