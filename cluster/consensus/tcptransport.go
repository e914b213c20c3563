package consensus

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
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
// limits are the reactor's). Send writes a peer's messages straight to
// its socket from the calling goroutine (the driver's, after a Ready; the
// appender's or the driver's, after a save) when the connection is up and
// nothing of the peer is queued: no hand-off to a send goroutine and no
// wake-up of the event loop (reactor.Conn.SendDirect). Otherwise they
// join the peer's bounded queue, which one goroutine per peer batches,
// (re)connects and sends, so messages to a peer leave in the order they
// were given. Messages queued while a peer is unreachable are dropped;
// raft retransmits.
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
	// Direct counts batches written by Send itself, Queued those handed
	// to a peer's send goroutine (tests and figures).
	Direct, Queued atomic.Uint64
}

type tcpPeer struct {
	id   uint64
	addr string
	wake chan struct{} // cap 1: the send goroutine has work

	mu      sync.Mutex
	q       []*pb.Message // queued for the send goroutine, at most peerQueueMax
	busy    bool          // the send goroutine holds messages taken from q
	closed  bool          // replaced (SetPeer) or stopped: its goroutine ends
	conn    *reactor.Conn
	scratch []byte // Send's frame buffer (under mu)
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
		p.close()
	}
	p := &tcpPeer{id: id, addr: addr, wake: make(chan struct{}, 1)}
	t.peers[id] = p
	t.wg.Add(1)
	go t.sendLoop(p)
}

// Send writes msgs to their peers: directly when a peer's connection is
// idle, else through its queue (a full queue or an unknown peer drops the
// message). It never waits for the network: a direct write puts on the
// socket what it takes and leaves the rest to the event loop.
func (t *TCPTransport) Send(msgs []*pb.Message) {
	select {
	case <-t.stop:
		return
	default:
	}
	// Messages to one peer are sent together, in the order given; Ready
	// messages usually come grouped by peer already.
	for i := 0; i < len(msgs); {
		to := msgs[i].GetTo()
		j := i + 1
		for j < len(msgs) && msgs[j].GetTo() == to {
			j++
		}
		t.mu.Lock()
		p := t.peers[to]
		t.mu.Unlock()
		if p != nil {
			t.sendTo(p, msgs[i:j])
		}
		i = j
	}
}

func (t *TCPTransport) sendCounts() (direct, queued uint64) { return t.Direct.Load(), t.Queued.Load() }

// sendTo sends msgs (all to p) directly if p's connection is up and
// nothing of p waits in its queue or is being sent by its goroutine, and
// queues them otherwise.
func (t *TCPTransport) sendTo(p *tcpPeer, msgs []*pb.Message) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	if c := p.conn; c != nil && !p.busy && len(p.q) == 0 {
		var ok bool
		for len(msgs) > 0 && c != nil {
			var n int
			p.scratch, n = t.appendFrame(p.scratch[:0], p.id, msgs)
			msgs = msgs[n:]
			if len(p.scratch) == 0 {
				continue // nothing encodable
			}
			if err := c.SendDirect(p.scratch); err != nil {
				if errors.Is(err, reactor.ErrConnClosed) && p.conn == c {
					p.conn = nil
				}
				c = nil
				break
			}
			ok = true
		}
		if cap(p.scratch) > sendScratchKeepMax {
			p.scratch = nil
		}
		p.mu.Unlock()
		if ok {
			t.Direct.Add(1)
		}
		if c == nil {
			t.report(p.id)
		}
		return
	}
	queued := false
	for _, m := range msgs {
		if len(p.q) >= peerQueueMax {
			break // dropped: raft retransmits
		}
		p.q = append(p.q, m)
		queued = true
	}
	p.mu.Unlock()
	if queued {
		t.Queued.Add(1)
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// sendScratchKeepMax: a peer's frame buffer larger than this (a burst of
// large appends) is not kept for the next send.
const sendScratchKeepMax = 1 << 20

// appendFrame appends one RaftMessagesCommand frame holding msgs from the
// first on, up to about half of MaxBatchBytes, and returns how many it
// consumed. A message that cannot be encoded is logged and left out; buf
// comes back empty when none could be.
func (t *TCPTransport) appendFrame(buf []byte, to uint64, msgs []*pb.Message) ([]byte, int) {
	var id codec.GUID
	buf, start := codec.AppendFrameStart(buf, RaftMessagesCommand, 0, &id)
	n, encoded := 0, false
	for n < len(msgs) && (n == 0 || len(buf)-start < MaxBatchBytes/2) {
		var err error
		if buf, err = AppendMessage(buf, msgs[n]); err != nil {
			t.log.Error("raft message not sent", "to", to, "err", err)
		} else {
			encoded = true
		}
		n++
	}
	if !encoded {
		return buf[:start], n
	}
	if err := codec.FinishFrame(buf, start); err != nil {
		t.log.Error("raft batch not sent", "to", to, "err", err)
		return buf[:start], n
	}
	return buf, n
}

// close ends p's goroutine and closes its connection (t.mu held).
func (p *tcpPeer) close() {
	p.mu.Lock()
	p.closed = true
	p.q = nil
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (t *TCPTransport) sendLoop(p *tcpPeer) {
	defer t.wg.Done()
	defer p.closeConn()
	var buf []byte
	var batch []*pb.Message
	for {
		select {
		case <-p.wake:
		case <-t.stop:
			return
		}
		for {
			p.mu.Lock()
			if p.closed {
				p.mu.Unlock()
				return
			}
			batch, p.q = p.q, batch[:0]
			p.busy = len(batch) > 0
			p.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			t.sendBatch(p, batch, &buf)
			clear(batch)
			p.mu.Lock()
			p.busy = false
			p.mu.Unlock()
		}
	}
}

// sendBatch sends batch (taken from p's queue) on the send goroutine,
// dialing if p has no connection.
func (t *TCPTransport) sendBatch(p *tcpPeer, batch []*pb.Message, buf *[]byte) {
	c := p.connection(t)
	if c == nil {
		t.report(p.id)
		return
	}
	for len(batch) > 0 {
		var n int
		*buf, n = t.appendFrame((*buf)[:0], p.id, batch)
		batch = batch[n:]
		if len(*buf) == 0 {
			continue
		}
		if err := c.Send(*buf); err != nil {
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
			return
		}
	}
	if cap(*buf) > sendScratchKeepMax {
		*buf = nil
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
	if p.closed {
		p.mu.Unlock()
		c.Close(nil)
		return nil
	}
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
		for _, p := range t.peers {
			p.close()
		}
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
