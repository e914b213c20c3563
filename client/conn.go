package client

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventstored/eventstored/codec"
)

// Buffer sizes of a connection. The read buffer starts small so that
// thousands of idle connections stay cheap, and grows to the largest frame
// seen (bounded by codec.FrameLengthMax); after a burst of large frames it
// shrinks back once it is drained.
const (
	readBufInitial   = 4 << 10
	readBufShrinkCap = 1 << 20
	// readBufBurst: while reads keep filling the buffer (a subscription's
	// pushes arrive in batches of a page per connection), it doubles up
	// to this size so that a batch costs one read syscall, not one per
	// 4 KiB. 64 KiB is the node's push batch limit
	// (node/subscriptions batchBytesMax).
	readBufBurst = 64 << 10
	// readBufIdleReads: after this many reads in a row that each brought
	// less than readBufInitial, a grown buffer goes back to readBufInitial.
	readBufIdleReads = 64
	// writeBatchMax bounds the bytes the writer hands to one Write call;
	// larger batches are split so that a huge backlog does not pin memory.
	writeBatchMax = 4 << 20
)

// call is one request waiting for its reply. Calls are pooled; a call is
// owned by its operation until release.
type call struct {
	id   codec.GUID
	done chan struct{} // cap 1; signalled once the reply (or failure) is in
	// reply: command and package bytes (header + payload), copied from the
	// read buffer; err: connection failure instead of a reply.
	cmd   codec.Command
	reply []byte
	err   error
	// payload is the scratch buffer the operation encodes its request into.
	payload []byte
	events  []codec.NewEvent
	// Decoding targets reused across calls, so reads allocate nothing.
	readStream codec.ReadStreamEventsCompleted
	readAll    codec.ReadAllEventsCompleted
	// fixedID keeps id across register (a subscription is registered
	// under its id before it is sent).
	fixedID bool
	// deadline (unix nanos, 0: none) is when the connection's sweep fails
	// the request with a timeout error of reqCmd (see opCtx).
	deadline int64
	reqCmd   codec.Command
}

var callPool = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

func acquireCall() *call { return callPool.Get().(*call) }

func releaseCall(c *call) {
	if cap(c.reply) > readBufShrinkCap {
		c.reply = nil
	}
	if cap(c.payload) > readBufShrinkCap {
		c.payload = nil
	}
	clear(c.events)
	c.events, c.err, c.cmd, c.deadline = c.events[:0], nil, 0, 0
	callPool.Put(c)
}

// conn is one TCP connection with its reader, writer and heartbeat. Any
// goroutine may send; the reader goroutine alone reads and dispatches.
type conn struct {
	nc   net.Conn
	opts *Options

	wmu     sync.Mutex
	wbuf    []byte        // frames waiting for the writer
	wspare  []byte        // under wmu; the other buffer, while a batch is written
	writing bool          // under wmu: a goroutine is in drainLocked
	wsignal chan struct{} // cap 1

	pmu     sync.Mutex
	pending map[codec.GUID]*call
	dead    bool // under pmu: no new calls are registered after failure
	// subs: live subscriptions by correlation id (subscribe.go), under pmu.
	subs map[codec.GUID]*Subscription
	// deadlined counts the pending calls with a deadline, under pmu;
	// while it is above zero the heartbeat timer also runs the sweep at
	// least every sweepPeriod.
	deadlined int
	// lastPush is the payload of the last StreamEventAppeared decoded on
	// the reader goroutine, lastPushEv its decoding (both alias the read
	// buffer, so they are forgotten before the buffer is compacted); see
	// dispatchSubscription. Reader goroutine only.
	lastPush   []byte
	lastPushEv codec.StreamEventAppeared

	slots chan struct{} // MaxInFlight tokens

	lastRecv  atomic.Int64 // unix nanos of the last received byte batch
	hbSentAt  atomic.Int64 // unix nanos of an unanswered heartbeat request, 0 if none
	closed    chan struct{}
	closeOnce sync.Once
	closeErr  error // set before closed is closed
	wg        sync.WaitGroup
	idSeq     atomic.Uint64
	idPrefix  [8]byte
	onClose   func(*conn, error)
	hbTimer   atomic.Pointer[time.Timer]
	hbNext    atomic.Int64 // unix nanos the heartbeat timer fires next
}

func newConn(nc net.Conn, opts *Options, onClose func(*conn, error)) *conn {
	c := &conn{
		nc: nc, opts: opts, onClose: onClose,
		wsignal: make(chan struct{}, 1),
		pending: make(map[codec.GUID]*call),
		slots:   make(chan struct{}, opts.MaxInFlight),
		closed:  make(chan struct{}),
	}
	g := codec.NewGUID()
	copy(c.idPrefix[:], g[:8])
	c.lastRecv.Store(time.Now().UnixNano())
	c.wg.Add(2)
	go c.readLoop()
	go c.writeLoop()
	// The timer is created stopped-far-away and then armed, so the
	// callback always finds it stored.
	t := time.AfterFunc(time.Hour, c.heartbeat)
	c.hbTimer.Store(t)
	c.hbNext.Store(time.Now().Add(opts.HeartbeatInterval).UnixNano())
	t.Reset(opts.HeartbeatInterval)
	return c
}

// newID returns a correlation id unique on this connection: a random
// prefix and a counter, so ids never repeat and cost no entropy per call.
func (c *conn) newID() codec.GUID {
	var g codec.GUID
	copy(g[:8], c.idPrefix[:])
	binary.LittleEndian.PutUint64(g[8:], c.idSeq.Add(1))
	return g
}

// register adds cl to the pending map under a fresh id. It fails once the
// connection is dead.
func (c *conn) register(cl *call) error {
	if !cl.fixedID {
		cl.id = c.newID()
	}
	// NB: a call may be sent again (retries); a failure from an earlier
	// attempt must not stick to this one.
	cl.err = nil
	c.pmu.Lock()
	if c.dead {
		c.pmu.Unlock()
		return connectionError(c.closeErr)
	}
	c.pending[cl.id] = cl
	if cl.deadline != 0 {
		c.deadlined++
		// The timer would fire later than a sweep is due: bring it
		// forward. NB: under pmu, like the heartbeat's sweep and its
		// Reset, so that neither undoes the other.
		if now, p := time.Now().UnixNano(), c.sweepPeriod(); c.deadlined == 1 && c.hbNext.Load() > now+int64(p) {
			c.hbNext.Store(now + int64(p))
			c.hbTimer.Load().Reset(p)
		}
	}
	c.pmu.Unlock()
	return nil
}

// sweepPeriod is how often pending requests are checked for their
// deadline while any has one: an eighth of the operation timeout (the
// original clients check every second, OperationTimeoutCheckPeriod), at
// least a millisecond and at most a second.
func (c *conn) sweepPeriod() time.Duration {
	return min(max(c.opts.OperationTimeout/8, time.Millisecond), time.Second)
}

// removeLocked takes cl out of the pending map. REQUIRES: c.pmu held and
// cl pending under id.
func (c *conn) removeLocked(id codec.GUID, cl *call) {
	delete(c.pending, id)
	if cl.deadline != 0 {
		c.deadlined--
	}
}

// sweepLocked fails the pending requests whose deadline has passed with a
// timeout error (a late reply finds nothing pending and is dropped) and
// reports whether requests with a deadline remain. REQUIRES: c.pmu held.
func (c *conn) sweepLocked(now int64) bool {
	if c.deadlined == 0 {
		return false
	}
	for id, cl := range c.pending {
		if cl.deadline != 0 && cl.deadline <= now {
			c.removeLocked(id, cl)
			cl.err = timeoutError(cl.reqCmd.String())
			cl.done <- struct{}{} // cap 1, and only the remover signals
		}
	}
	return c.deadlined > 0
}

// unregister removes cl if it is still pending and reports whether it did;
// false means the reader (or the failure path) already took it and will
// signal cl.done.
func (c *conn) unregister(cl *call) bool {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	if c.pending[cl.id] == cl {
		c.removeLocked(cl.id, cl)
		return true
	}
	return false
}

// send appends one frame built from the arguments to the outgoing
// buffer. With direct set and no write in progress, the caller then
// writes the pending bytes itself, saving a goroutine hand-off per
// request (operations wait for their reply anyway). Otherwise the goroutine
// already writing, or the writer goroutine, sends them: the reader and the
// heartbeat timer pass direct=false because they must never block on a
// full socket buffer.
func (c *conn) send(cmd codec.Command, id *codec.GUID, creds *Credentials, payload []byte, direct bool) error {
	c.wmu.Lock()
	orig := len(c.wbuf)
	var start int
	var err error
	if creds != nil {
		c.wbuf, start = codec.AppendFrameStart(c.wbuf, cmd, codec.FlagAuthenticated, id)
		c.wbuf, err = codec.AppendAuth(c.wbuf, creds.Login, creds.Password)
	} else {
		c.wbuf, start = codec.AppendFrameStart(c.wbuf, cmd, codec.FlagNone, id)
	}
	if err == nil {
		c.wbuf = append(c.wbuf, payload...)
		err = codec.FinishFrame(c.wbuf, start)
	}
	if err != nil {
		c.wbuf = c.wbuf[:orig]
		c.wmu.Unlock()
		return invalidArg("%v", err)
	}
	if direct && !c.writing {
		c.writing = true
		c.drainLocked()
		return nil
	}
	writing := c.writing
	c.wmu.Unlock()
	if !writing {
		select {
		case c.wsignal <- struct{}{}:
		default:
		}
	}
	return nil
}

// drainLocked writes the outgoing buffer until it is empty, swapping it
// with a spare so that other goroutines keep appending while a batch is on
// the wire. REQUIRES: c.wmu held and c.writing set by the caller; returns
// with c.wmu released and c.writing cleared.
func (c *conn) drainLocked() {
	for {
		batch := c.wbuf
		if len(batch) == 0 {
			c.writing = false
			c.wmu.Unlock()
			return
		}
		c.wbuf, c.wspare = c.wspare[:0], nil
		c.wmu.Unlock()
		var err error
		for off := 0; off < len(batch) && err == nil; off += writeBatchMax {
			_, err = c.nc.Write(batch[off:min(off+writeBatchMax, len(batch))])
		}
		if cap(batch) > readBufShrinkCap {
			batch = nil
		}
		c.wmu.Lock()
		c.wspare = batch[:0]
		if err != nil {
			c.writing = false
			c.wmu.Unlock()
			c.fail(fmt.Errorf("write: %w", err))
			return
		}
	}
}

// writeLoop sends what non-direct senders queued.
func (c *conn) writeLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.wsignal:
		case <-c.closed:
			return
		}
		c.wmu.Lock()
		if c.writing {
			c.wmu.Unlock() // the goroutine writing picks the new bytes up
			continue
		}
		c.writing = true
		c.drainLocked()
	}
}

func (c *conn) readLoop() {
	defer c.wg.Done()
	buf := make([]byte, readBufInitial)
	n := 0          // bytes held in buf
	smallReads := 0 // reads in a row that brought less than readBufInitial
	for {
		m, err := c.nc.Read(buf[n:])
		if m > 0 {
			filled := n+m == len(buf)
			if m < readBufInitial {
				smallReads++
			} else {
				smallReads = 0
			}
			c.lastRecv.Store(time.Now().UnixNano())
			c.hbSentAt.Store(0)
			n += m
			off := 0
			for {
				pkg, size, ferr := codec.SplitFrame(buf[off:n])
				if ferr != nil {
					c.fail(fmt.Errorf("framing: %w", ferr))
					return
				}
				if size == 0 {
					break
				}
				if err := c.dispatch(pkg); err != nil {
					c.fail(err)
					return
				}
				off += size
			}
			// lastPush aliases buf, which moves below.
			c.lastPush = nil
			if off > 0 { // NB: never memmove a partial frame onto itself on every read
				n = copy(buf, buf[off:n])
			}
			need := 0 // the whole next frame, when its length is in
			if n >= codec.LengthPrefixSize {
				need = codec.LengthPrefixSize + int(binary.LittleEndian.Uint32(buf))
			}
			if size := readBufSize(len(buf), n, need, filled, smallReads); size != len(buf) {
				nb := make([]byte, size)
				copy(nb, buf[:n])
				buf = nb
				if size <= readBufInitial {
					smallReads = 0
				}
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("closed by the server")
			}
			c.fail(err)
			return
		}
	}
}

// readBufSize returns the size the read buffer should have after a read
// (cur: its size, held: the bytes of an incomplete frame kept at its
// start, need: that frame's whole size when its length prefix is in, else
// 0; filled: the read filled the buffer; smallReads: reads in a row below
// readBufInitial). It grows to fit the next frame whole (a frame above
// the protocol's limit is refused by SplitFrame, not allocated), doubles
// up to readBufBurst while reads fill it, and shrinks when what it holds
// fits a smaller one: back from a big frame at once, back from a burst
// size once reads have been small for readBufIdleReads reads.
func readBufSize(cur, held, need int, filled bool, smallReads int) int {
	switch {
	case need > cur && need <= codec.LengthPrefixSize+codec.FrameLengthMax:
		return max(need, 2*cur)
	case need > cur:
		return cur
	case filled && cur < readBufBurst:
		return min(2*cur, readBufBurst)
	case cur > readBufShrinkCap && held < readBufInitial && need <= readBufInitial:
		return readBufInitial
	case cur > readBufInitial && cur <= readBufShrinkCap && smallReads >= readBufIdleReads &&
		held < readBufInitial && need <= readBufInitial:
		return readBufInitial
	}
	return cur
}

// dispatch handles one package read from the server. The package bytes are
// only valid during the call.
func (c *conn) dispatch(pkg []byte) error {
	p, err := codec.DecodePackage(pkg)
	if err != nil {
		return fmt.Errorf("malformed package from server: %w", err)
	}
	switch p.Command {
	case codec.HeartbeatRequestCommand:
		return c.send(codec.HeartbeatResponseCommand, &p.CorrelationID, nil, nil, false)
	case codec.HeartbeatResponseCommand:
		return nil
	case codec.BadRequest:
		if p.CorrelationID.IsZero() {
			// Connection-wide bad request: both official clients close
			// the connection (spec §4.15).
			return fmt.Errorf("server closed the connection: bad request: %s", p.Payload)
		}
	}
	if c.dispatchSubscription(&p) {
		return nil
	}
	c.pmu.Lock()
	cl := c.pending[p.CorrelationID]
	if cl != nil {
		c.removeLocked(p.CorrelationID, cl)
	}
	c.pmu.Unlock()
	if cl == nil {
		return nil // a reply to a request that timed out; drop it
	}
	cl.cmd = p.Command
	cl.reply = append(cl.reply[:0], pkg...)
	cl.done <- struct{}{}
	return nil
}

// heartbeat runs on its timer: spec §4.2, client side. After
// HeartbeatInterval without receiving anything it sends a
// HeartbeatRequest; if nothing at all arrives within HeartbeatTimeout
// after that, the connection is closed.
func (c *conn) heartbeat() {
	select {
	case <-c.closed:
		return
	default:
	}
	now := time.Now().UnixNano()
	interval, timeout := c.opts.HeartbeatInterval, c.opts.HeartbeatTimeout
	next := interval
	if sent := c.hbSentAt.Load(); sent != 0 {
		if now-sent >= int64(timeout) {
			c.fail(fmt.Errorf("heartbeat timeout: nothing received for %v", time.Duration(now-c.lastRecv.Load())))
			return
		}
		next = time.Duration(sent + int64(timeout) - now)
	} else if quiet := time.Duration(now - c.lastRecv.Load()); quiet >= interval {
		id := c.newID()
		c.hbSentAt.Store(now)
		if err := c.send(codec.HeartbeatRequestCommand, &id, nil, nil, false); err != nil {
			c.fail(err)
			return
		}
		next = timeout
	} else {
		next = interval - quiet
	}
	c.pmu.Lock() // see register
	defer c.pmu.Unlock()
	if c.sweepLocked(now) {
		next = min(next, c.sweepPeriod())
	}
	c.hbNext.Store(now + int64(next))
	c.hbTimer.Load().Reset(next)
}

// fail closes the connection once with cause and fails every pending call.
// NB: the client is told (onClose) before the pending calls wake up, so an
// operation that retries finds the client reconnecting instead of this
// dead connection.
func (c *conn) fail(cause error) {
	c.closeOnce.Do(func() {
		c.pmu.Lock()
		c.dead = true
		c.closeErr = cause
		pending := c.pending
		c.pending = nil
		subs := c.subs
		c.subs = nil
		c.pmu.Unlock()
		for _, sub := range subs {
			sub.dropped(connectionError(cause))
		}
		close(c.closed)
		if t := c.hbTimer.Load(); t != nil {
			t.Stop()
		}
		c.nc.Close()
		if c.onClose != nil {
			c.onClose(c, cause)
		}
		err := connectionError(cause)
		for _, cl := range pending {
			cl.err = err
			cl.done <- struct{}{}
		}
	})
}

// close shuts the connection down and waits for its goroutines.
func (c *conn) close() {
	c.fail(ErrClosed)
	c.wg.Wait()
}
