package reactor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/eventstored/eventstored/codec"
	"github.com/panjf2000/gnet/v2"
)

// Reasons a connection is closed by the reactor; OnClose receives them
// (wrapped with detail where useful).
var (
	// ErrConnClosed is returned by Send on a closed connection.
	ErrConnClosed = errors.New("reactor: connection closed")
	// ErrHeartbeatTimeout: nothing was received for interval + timeout.
	ErrHeartbeatTimeout = errors.New("reactor: heartbeat timeout")
	// ErrFraming: bad length prefix, package shorter than its header or a
	// malformed auth block (spec §4.15).
	ErrFraming = errors.New("reactor: framing error")
	// ErrTrustedWrite: a TrustedWrite package on an external listener.
	ErrTrustedWrite = errors.New("reactor: trusted write on external interface")
	// ErrPendingSendBytes and ErrPendingSendPackages: the peer does not
	// read fast enough and the outbound backlog passed its limit.
	ErrPendingSendBytes    = errors.New("reactor: connection pending send bytes is too large")
	ErrPendingSendPackages = errors.New("reactor: connection queue size is too large")
)

// Send buffers: a connection keeps one small buffer (≤ sendBufferKeepMax)
// between flushes, so idle connections stay small; larger buffers (a read
// page of big events) go back to a shared pool after each flush and are
// reused by whichever connection needs one next; buffers above
// sendBufferPoolMax are left to the GC.
const (
	sendBufferKeepMax = 4 << 10
	sendBufferPoolMax = 1 << 20
)

// sendBufferPool holds buffers in boxes (*[]byte); the emptied boxes wait
// in sendBoxPool, so that moving a buffer in and out allocates nothing.
var sendBufferPool, sendBoxPool sync.Pool // of *[]byte

func getSendBuffer() []byte {
	if p, _ := sendBufferPool.Get().(*[]byte); p != nil {
		b := (*p)[:0]
		*p = nil
		sendBoxPool.Put(p)
		return b
	}
	return nil
}

func putSendBuffer(b []byte) {
	if cap(b) <= sendBufferPoolMax {
		p, _ := sendBoxPool.Get().(*[]byte)
		if p == nil {
			p = new([]byte)
		}
		*p = b[:0]
		sendBufferPool.Put(p)
	}
}

// Conn is one client (or peer) connection. ID, RemoteAddr, Send,
// BeginSend/EndSend, Close and the user-data methods are safe for
// concurrent use from any goroutine; everything else is owned by the
// connection's event loop.
type Conn struct {
	id     uint64
	remote net.Addr
	srv    *Server
	gc     gnet.Conn
	loop   *loopState

	userData atomic.Pointer[userData]

	// Send side, guarded by mu.
	mu          sync.Mutex
	pending     []byte // whole frames not yet handed to gnet
	pendingPkgs int
	spare       []byte
	flushQueued bool // a flush runnable is queued on the loop
	inCallback  bool // the loop is inside OnTraffic and flushes on return
	closing     bool // no more sends; a close is queued
	closeErr    error
	// Direct writes (writeDirectLocked): fd is the socket, valid while
	// !closing (OnClose sets closing under mu before gnet closes the fd);
	// loopWriting is set while the loop's flush writes outside mu;
	// gnetHolds while gnet may still hold unsent bytes of this connection
	// (cleared by the loop's next flush that finds gnet's buffer empty).
	fd          int
	loopWriting bool
	gnetHolds   bool
	inBatch     bool // on a SendBatch, whose Flush will send pending

	sentSinceCheck atomic.Bool

	// Loop-owned.
	hb          hbState
	loopClosed  bool
	inboundPrev int
}

type userData struct{ v any }

// ID is unique among the connections of a process.
func (c *Conn) ID() uint64 { return c.id }

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetUserData stores a value for the handler (e.g. the connection's default
// credentials). Safe for concurrent use; one small allocation per call.
func (c *Conn) SetUserData(v any) { c.userData.Store(&userData{v}) }

// UserData returns the value last stored by SetUserData, or nil.
func (c *Conn) UserData() any {
	if u := c.userData.Load(); u != nil {
		return u.v
	}
	return nil
}

// Send queues one or more whole frames (length prefix included) for the
// peer; the bytes are copied, so frame may be reused at once. Frames queued
// by any goroutine before the loop's next wake-up leave in one write. If
// the backlog passes a limit, the connection is closed with a BadRequest
// and Send returns ErrPendingSendBytes or ErrPendingSendPackages; after a
// close it returns ErrConnClosed. Send never blocks on the network.
func (c *Conn) Send(frame []byte) error {
	buf, err := c.BeginSend()
	if err != nil {
		return err
	}
	return c.EndSend(append(buf, frame...), 1)
}

// SendDirect is Send for a single reply from a goroutine other than the
// loop (a worker answering a read): when nothing of the connection is on
// its way through the loop (no flush queued, the loop not writing it,
// gnet holding none of its bytes), the caller writes the socket itself —
// no hop to the loop, no wake-up — and what the socket does not take
// goes to the loop as with Send. A burst of frames to one connection
// should use Send (coalesced by the loop) or a SendBatch, not a
// SendDirect per frame. On the loop inside a callback it is Send.
func (c *Conn) SendDirect(frame []byte) error {
	buf, err := c.BeginSend()
	if err != nil {
		return err
	}
	return c.endSend(append(buf, frame...), 1, nil, true)
}

// EndSendDirect is EndSend with SendDirect's direct write: for a goroutine
// that hands a connection a burst of frames in one call (a page of
// subscription pushes).
func (c *Conn) EndSendDirect(buf []byte, packages int) error {
	return c.endSend(buf, packages, nil, true)
}

// sendOnLoop sends and flushes at once; only for code running on c's loop
// outside OnTraffic (heartbeat requests from the wheel).
func (c *Conn) sendOnLoop(frame []byte) {
	c.mu.Lock()
	c.inCallback = true
	c.mu.Unlock()
	_ = c.Send(frame)
	c.mu.Lock()
	c.inCallback = false
	c.mu.Unlock()
	c.flush(true)
}

// endCallback ends a stretch in which the loop itself flushes (OnOpen,
// OnTraffic), then flushes what the handler and other goroutines queued
// meanwhile. It reports whether the connection must now be closed, which
// the gnet callback does by returning gnet.Close (closing from inside the
// callback would let gnet touch a released connection afterwards).
func (c *Conn) endCallback() (closing bool) {
	c.mu.Lock()
	c.inCallback = false
	c.mu.Unlock()
	return c.flush(false)
}

// BeginSend locks the connection's send buffer and returns it so that the
// caller can append frames in place (codec.AppendMessageFrame) without a
// copy. The caller must call EndSend with the extended buffer at once,
// without blocking in between: the lock is held. On a closed connection
// BeginSend returns ErrConnClosed and holds no lock.
func (c *Conn) BeginSend() ([]byte, error) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return nil, ErrConnClosed
	}
	if c.pending == nil {
		if c.spare != nil {
			c.pending, c.spare = c.spare, nil
		} else {
			c.pending = getSendBuffer()
		}
	}
	return c.pending, nil
}

// EndSend releases the buffer taken by BeginSend; buf must be the buffer
// BeginSend returned with packages whole frames appended.
func (c *Conn) EndSend(buf []byte, packages int) error {
	return c.endSend(buf, packages, nil, false)
}

// endSend is EndSend; with a batch it only queues the frames and puts c
// on the batch, whose Flush sends them; with direct it tries a direct
// write (SendDirect).
func (c *Conn) endSend(buf []byte, packages int, batch *SendBatch, direct bool) error {
	added := len(buf) - len(c.pending)
	// NB: the limit is checked against the backlog that was already queued
	// before this send, as Event Store's TcpConnectionManager.SendPackage
	// does in 4.0.3: a single reply larger than the limit (a page of big
	// events) is delivered, while a peer that lets the backlog grow past the
	// limit is closed. The backlog stays bounded by the limit plus one send.
	backlog := len(c.pending)
	c.pending = buf
	c.pendingPkgs += packages
	if backlog > c.srv.cfg.PendingSendBytesMax {
		err := fmt.Errorf("%w: %d", ErrPendingSendBytes, len(c.pending))
		schedule := c.overflowLocked(err)
		c.mu.Unlock()
		c.logOverflow(err)
		if schedule {
			c.queueFlush()
		}
		return err
	}
	if c.pendingPkgs > c.srv.cfg.PendingSendPackagesMax {
		err := fmt.Errorf("%w: %d", ErrPendingSendPackages, c.pendingPkgs)
		schedule := c.overflowLocked(err)
		c.mu.Unlock()
		c.logOverflow(err)
		if schedule {
			c.queueFlush()
		}
		return err
	}
	schedule := !c.flushQueued && !c.inCallback
	if schedule && batch != nil {
		schedule = false
		if !c.inBatch {
			c.inBatch = true
			batch.add(c)
		}
	} else if schedule && direct && c.writeDirectLocked() {
		schedule = false
	}
	c.flushQueued = c.flushQueued || schedule
	c.mu.Unlock()
	c.sentSinceCheck.Store(true)
	c.srv.stats.BytesSent.Add(uint64(added))
	c.srv.stats.PackagesSent.Add(uint64(packages))
	if schedule {
		c.queueFlush()
	}
	return nil
}

// writeDirectLocked writes the pending bytes to the socket from the
// calling goroutine when nothing else of this connection is on its way
// (no loop write in progress, nothing held by gnet), which saves the hop
// to the event loop and its wake-up. It reports whether everything left;
// otherwise what is left stays pending for the loop's flush, which also
// meets any socket error and closes the connection. REQUIRES: c.mu held,
// not on the loop inside a callback.
func (c *Conn) writeDirectLocked() bool {
	if c.closing || c.loopWriting || c.gnetHolds || c.fd <= 0 {
		return false
	}
	n, err := writeFD(c.fd, c.pending)
	c.srv.stats.Writes.Inc()
	c.srv.stats.DirectWrites.Inc()
	if n > 0 {
		c.pending = append(c.pending[:0], c.pending[n:]...)
	}
	if err != nil || len(c.pending) > 0 {
		return false
	}
	c.pendingPkgs = 0
	if cap(c.pending) > sendBufferKeepMax {
		// As the loop's flush does: idle connections keep small buffers.
		putSendBuffer(c.pending)
		c.pending = nil
	}
	return true
}

// overflowLocked replaces the backlog with a connection-wide BadRequest
// (zero correlation id, as the original's SendBadRequestAndClose) and
// queues the close. It reports whether the caller must queue a flush once
// it has released the lock. REQUIRES: c.mu held.
func (c *Conn) overflowLocked(err error) bool {
	c.srv.stats.SendOverflows.Inc()
	c.pending = codec.AppendBadRequest(c.pending[:0], &codec.GUID{}, badRequestText(err))
	c.pendingPkgs = 1
	c.closing = true
	c.closeErr = err
	schedule := !c.flushQueued && !c.inCallback
	c.flushQueued = c.flushQueued || schedule
	return schedule
}

func (c *Conn) logOverflow(err error) {
	c.srv.cfg.Logger.Warn("closing connection: peer does not read fast enough", "interface", c.srv.cfg.Name,
		"conn", c.id, "remote", c.remote, "err", err)
}

// Close closes the connection after what is already queued has been
// written (best effort). Safe from any goroutine.
func (c *Conn) Close(reason error) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	c.closeErr = reason
	schedule := !c.flushQueued && !c.inCallback
	c.flushQueued = c.flushQueued || schedule
	c.mu.Unlock()
	if schedule {
		c.queueFlush()
	}
}

// Run implements gnet.Runnable: it is the flush queued by a sender from
// outside the loop.
func (c *Conn) Run(context.Context) error {
	c.flush(true)
	return nil
}

func (c *Conn) queueFlush() {
	if err := c.gc.EventLoop().Execute(context.Background(), c); err != nil {
		// The engine is shutting down; OnClose will follow for every
		// connection.
		c.srv.cfg.Logger.Debug("cannot queue flush", "interface", c.srv.cfg.Name, "conn", c.id, "err", err)
	}
}

// flush hands the pending frames to gnet in one write and enforces the
// pending-bytes limit against what the socket layer still holds. It runs
// on the loop only. When the connection is closing it closes it if
// mayClose, else it reports closing = true for the caller to act on.
func (c *Conn) flush(mayClose bool) (closing bool) {
	if c.loopClosed {
		return false
	}
	c.mu.Lock()
	buf := c.pending
	c.pending = nil
	c.pendingPkgs = 0
	c.flushQueued = false
	closing = c.closing
	closeErr := c.closeErr
	c.loopWriting = true
	c.mu.Unlock()

	if len(buf) > 0 {
		if !closing {
			// As in EndSend, what the socket layer already holds is compared
			// with the limit, so one large batch still leaves.
			if backlog := c.gc.OutboundBuffered(); backlog > c.srv.cfg.PendingSendBytesMax {
				err := fmt.Errorf("%w: %d", ErrPendingSendBytes, backlog)
				c.srv.stats.SendOverflows.Inc()
				buf = codec.AppendBadRequest(buf[:0], &codec.GUID{}, badRequestText(err))
				closing, closeErr = true, err
				c.mu.Lock()
				c.closing, c.closeErr = true, err
				c.mu.Unlock()
				c.logOverflow(err)
			}
		}
		_, _ = c.gc.Write(buf) // copies what the socket does not take
		c.srv.stats.Writes.Inc()
	}
	// Direct writes may resume once gnet holds nothing of this connection
	// (a write error above closed it: OnClose has run and set closing).
	holds := !c.loopClosed && c.gc.OutboundBuffered() > 0
	c.mu.Lock()
	c.loopWriting = false
	c.gnetHolds = holds
	c.mu.Unlock()
	if closing {
		if mayClose {
			c.closeOnLoop(closeErr)
		}
		return true
	}
	if buf == nil {
		return false
	}
	if cap(buf) <= sendBufferKeepMax {
		c.mu.Lock()
		if c.spare == nil {
			c.spare, buf = buf[:0], nil
		}
		c.mu.Unlock()
	}
	if buf != nil {
		putSendBuffer(buf)
	}
	return false
}

// closeOnLoop closes the gnet connection; OnClose follows synchronously.
func (c *Conn) closeOnLoop(reason error) {
	if c.loopClosed {
		return
	}
	c.mu.Lock()
	if c.closeErr == nil {
		c.closeErr = reason
	}
	c.closing = true
	c.mu.Unlock()
	_ = c.gc.EventLoop().Close(c.gc)
}

func badRequestText(err error) string {
	switch {
	case errors.Is(err, ErrPendingSendBytes), errors.Is(err, ErrPendingSendPackages):
		// The original's texts: "Connection pending send bytes is too
		// large: N." / "Connection queue size is too large: N."
		s := err.Error()
		return "C" + s[len("reactor: c"):] + "."
	}
	return err.Error()
}
