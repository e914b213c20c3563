package tcpsvc

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/reactor"
)

// Forwarding of client writes from a replica to the master (spec
// cluster-and-options §7.1; 4.0.3 RequestForwardingService and
// ClientWriteTcpDispatcher).
//
//	client ──WriteEvents(corr C)──▶ replica: authenticate, admit → Forward
//	replica ──WriteEvents(corr I, creds)──▶ master int TCP (one connection)
//	master ──WriteEventsCompleted(corr I) / NotHandled(I)──▶ replica
//	replica ──same package with corr C──▶ client
//
// I is a node-local internal correlation id (8 random bytes + a
// counter); pending maps I to the client's session and C. A pending
// forward ends with the master's reply, with ForwardTimeout at its
// deadline (Timeout = PrepareTimeout + CommitTimeout + 300 ms), or with
// ForwardTimeout at once when the connection to the master is lost or
// the master changes (the outcome is unknown in all three cases;
// clients retry and event ids make the retry idempotent).
//
// Differences from 4.0.3, on purpose:
//   - no connection to the master yet (PreReplica, just after an
//     election, master unreachable): NotHandled(NotReady) at once, which
//     clients retry; 4.0.3 dropped the request and answered
//     ForwardTimeout 4.3 s later;
//   - more than InFlightMax forwards pending: NotHandled(TooBusy); 4.0.3
//     had no bound;
//   - deadlines are checked every Tick (100 ms) instead of every 1 s.
//
// Goroutines: forward runs on a client connection's event loop (or a
// worker after a slow authentication) and never blocks; replies and the
// connection's close arrive on the dialer's event loop; one goroutine
// (re)connects to the master, one expires deadlines. pending and the
// connection are guarded by mu.

// Forwarder defaults.
const (
	// ForwardInFlightMaxDefault bounds pending forwards per node.
	ForwardInFlightMaxDefault = 10_000
	forwardTickDefault        = 100 * time.Millisecond
	// forwardDialTimeout bounds one connection attempt to the master;
	// forwardRedialDelay spaces attempts.
	forwardDialTimeout = time.Second
	forwardRedialDelay = 250 * time.Millisecond
)

// ErrMasterChanged is the close reason of a forwarding connection whose
// master is no longer the master.
var ErrMasterChanged = errors.New("tcpsvc: master changed")

// ForwarderOptions configures a Forwarder.
type ForwarderOptions struct {
	// Timeout is a forward's deadline: PrepareTimeoutMs + CommitTimeoutMs
	// + 300 ms in the node (spec §7.1).
	Timeout time.Duration
	// InFlightMax bounds pending forwards (beyond it: TooBusy).
	InFlightMax int
	// Tick is how often deadlines are checked (default 100 ms).
	Tick time.Duration
	// Conn configures the reactor of the outgoing connection: the
	// internal heartbeat pair (Internal is set by NewForwarder).
	Conn   reactor.Config
	Logger *slog.Logger
}

// Forwarder owns this node's connection to the master's internal TCP and
// the table of forwarded requests. Create with NewForwarder, Start,
// point it at the master with SetMaster, Stop at shutdown.
type Forwarder struct {
	opts   ForwarderOptions
	log    *slog.Logger
	dialer *reactor.Dialer
	prefix [8]byte
	seq    atomic.Uint64

	mu      sync.Mutex
	target  string // master's advertised internal TCP, "" = none
	conn    upstream
	pending map[codec.GUID]*fwdEntry
	free    []*fwdEntry
	expired []*fwdEntry // scratch of the expiry goroutine and onClose
	stopped bool

	kick chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup

	count struct {
		forwarded, timedOut, tooBusy, notReady atomic.Uint64
	}
}

// fwdEntry is one pending forward.
type fwdEntry struct {
	sess     *Session
	corr     codec.GUID // the client's
	cmd      codec.Command
	txID     int64 // TransactionWrite/Commit: for the timeout reply
	deadline time.Time
	conn     upstream
}

// upstream is the connection to the master (*reactor.Conn; a seam for
// the allocation test).
type upstream interface {
	Send(frame []byte) error
	Close(reason error)
}

// NewForwarder builds a forwarder; nothing runs until Start.
func NewForwarder(o ForwarderOptions) *Forwarder {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.InFlightMax <= 0 {
		o.InFlightMax = ForwardInFlightMaxDefault
	}
	if o.Tick <= 0 {
		o.Tick = forwardTickDefault
	}
	if o.Timeout <= 0 {
		o.Timeout = 4300 * time.Millisecond
	}
	o.Conn.Internal = true
	if o.Conn.Name == "" {
		o.Conn.Name = "internal TCP to master"
	}
	if o.Conn.Logger == nil {
		o.Conn.Logger = o.Logger
	}
	f := &Forwarder{opts: o, log: o.Logger.With("component", "forwarder"),
		pending: make(map[codec.GUID]*fwdEntry), kick: make(chan struct{}, 1), stop: make(chan struct{})}
	if _, err := rand.Read(f.prefix[:]); err != nil {
		panic("BUG: crypto/rand failed: " + err.Error())
	}
	f.dialer = reactor.NewDialer(o.Conn, fwdHandler{f})
	return f
}

// Start starts the dialer and the forwarder's goroutines.
func (f *Forwarder) Start() error {
	if err := f.dialer.Start(); err != nil {
		return err
	}
	f.wg.Add(2)
	go f.connectLoop()
	go f.expireLoop()
	return nil
}

// Stop closes the connection and ends the goroutines; pending forwards
// get no reply (their client connections are closing with the node).
func (f *Forwarder) Stop() {
	f.mu.Lock()
	if f.stopped {
		f.mu.Unlock()
		return
	}
	f.stopped = true
	f.target = ""
	f.mu.Unlock()
	close(f.stop)
	f.wg.Wait()
	_ = f.dialer.Stop()
}

// SetMaster points the forwarder at the master's advertised internal TCP
// endpoint ("" when there is none). A change closes the old connection
// (its pending forwards end with ForwardTimeout) and dials the new one.
// Safe from any goroutine; cheap when addr is unchanged.
func (f *Forwarder) SetMaster(addr string) {
	f.mu.Lock()
	if f.stopped || addr == f.target {
		f.mu.Unlock()
		return
	}
	old := f.conn
	f.target, f.conn = addr, nil
	f.mu.Unlock()
	if old != nil {
		old.Close(ErrMasterChanged)
	}
	if addr != "" {
		f.log.Info("forwarding writes to the master", "master_internal_tcp", addr)
	}
	f.poke()
}

// Connected reports whether a connection to the master is up.
func (f *Forwarder) Connected() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conn != nil
}

// ForwarderStats are the forwarder's counters.
type ForwarderStats struct {
	Pending                                int
	Forwarded, TimedOut, TooBusy, NotReady uint64
}

// Stats returns a snapshot; safe from any goroutine.
func (f *Forwarder) Stats() ForwarderStats {
	f.mu.Lock()
	n := len(f.pending)
	f.mu.Unlock()
	return ForwarderStats{Pending: n, Forwarded: f.count.forwarded.Load(), TimedOut: f.count.timedOut.Load(),
		TooBusy: f.count.tooBusy.Load(), NotReady: f.count.notReady.Load()}
}

func (f *Forwarder) poke() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

func (f *Forwarder) nextID() codec.GUID {
	var id codec.GUID
	copy(id[:8], f.prefix[:])
	binary.LittleEndian.PutUint64(id[8:], f.seq.Add(1))
	return id
}

// forward sends r to the master and registers it. It runs on an event
// loop (or a worker) and never blocks; every path answers the client
// eventually. The caller releases r afterwards: everything kept is
// copied here.
func (f *Forwarder) forward(r *request) {
	id := f.nextID()
	f.mu.Lock()
	c := f.conn
	if c == nil {
		f.mu.Unlock()
		f.count.notReady.Add(1)
		r.sess.sendNotHandled(&r.corr, codec.NotHandledNotReady)
		return
	}
	if len(f.pending) >= f.opts.InFlightMax {
		f.mu.Unlock()
		f.count.tooBusy.Add(1)
		r.s.count.tooBusy.Add(1)
		r.sess.sendNotHandled(&r.corr, codec.NotHandledTooBusy)
		return
	}
	e := f.entryLocked()
	e.sess, e.corr, e.cmd, e.conn = r.sess, r.corr, r.cmd, c
	e.deadline = time.Now().Add(f.opts.Timeout)
	switch r.cmd {
	case codec.TransactionWriteCommand:
		e.txID = r.tw.TransactionID
	case codec.TransactionCommitCommand:
		e.txID = r.tc.TransactionID
	}
	f.pending[id] = e
	f.mu.Unlock()

	// The same command with the internal id and the client's
	// credentials; the master re-authenticates (spec §7.1). The payload
	// is passed as received.
	b := smallBufPool.Get().(*[]byte)
	flags := codec.FlagNone
	if r.trusted {
		flags = codec.FlagTrustedWrite
	} else if r.hasCreds {
		flags = codec.FlagAuthenticated
	}
	buf, start := codec.AppendFrameStart((*b)[:0], r.cmd, flags, &id)
	if flags == codec.FlagAuthenticated {
		// Lengths were checked when the client's package was decoded
		// (one length byte each).
		buf = append(buf, byte(len(r.login)))
		buf = append(buf, r.login...)
		buf = append(buf, byte(len(r.password)))
		buf = append(buf, r.password...)
	}
	buf = append(buf, r.payload...)
	err := codec.FinishFrame(buf, start)
	if err == nil {
		err = c.Send(buf)
	}
	*b = buf
	if cap(buf) <= replyBufferKeepBytesMax {
		smallBufPool.Put(b)
	}
	if err == nil {
		f.count.forwarded.Add(1)
		return
	}
	// Not sent (connection closed meanwhile, or a package the credentials
	// made too big): not handled, unless onClose answered it already.
	f.mu.Lock()
	_, still := f.pending[id]
	if still {
		delete(f.pending, id)
		f.putLocked(e)
	}
	if f.conn == c && errors.Is(err, reactor.ErrConnClosed) {
		f.conn = nil
	}
	f.mu.Unlock()
	f.poke()
	if still {
		f.count.notReady.Add(1)
		r.sess.sendNotHandled(&r.corr, codec.NotHandledNotReady)
	}
}

func (f *Forwarder) entryLocked() *fwdEntry {
	if n := len(f.free); n > 0 {
		e := f.free[n-1]
		f.free = f.free[:n-1]
		return e
	}
	return &fwdEntry{}
}

// putLocked recycles e; the free list is bounded by InFlightMax.
func (f *Forwarder) putLocked(e *fwdEntry) {
	*e = fwdEntry{}
	if len(f.free) < f.opts.InFlightMax {
		f.free = append(f.free, e)
	}
}

// onReply relays the master's reply to the client (dialer event loop).
func (f *Forwarder) onReply(c upstream, p *codec.Package) {
	f.mu.Lock()
	e := f.pending[p.CorrelationID]
	if e == nil || e.conn != c {
		f.mu.Unlock()
		// A reply after the deadline (the client has its ForwardTimeout)
		// or a package the master sent on its own: nothing to relay.
		return
	}
	delete(f.pending, p.CorrelationID)
	sess, corr := e.sess, e.corr
	f.putLocked(e)
	f.mu.Unlock()
	// Completed messages and NotHandled (with the master's MasterInfo,
	// spec §7.1) go back unchanged but for the correlation id.
	sess.sendFrame(p.Command, &corr, p.Payload)
}

// onClose fails every forward pending on c and schedules a redial.
func (f *Forwarder) onClose(c upstream, err error) {
	f.mu.Lock()
	if f.conn == c {
		f.conn = nil
	}
	target := f.target
	var lost []*fwdEntry
	for id, e := range f.pending {
		if e.conn == c {
			delete(f.pending, id)
			lost = append(lost, e)
		}
	}
	f.mu.Unlock()
	if target != "" && !errors.Is(err, ErrMasterChanged) {
		f.log.Warn("connection to the master lost", "master_internal_tcp", target, "pending", len(lost), "err", err)
	}
	f.timeOut(lost)
	f.poke()
}

// timeOut answers ForwardTimeout for each entry and recycles them.
func (f *Forwarder) timeOut(es []*fwdEntry) {
	for _, e := range es {
		f.count.timedOut.Add(1)
		e.sess.sendForwardTimeout(&e.corr, e.cmd, e.txID)
	}
	if len(es) == 0 {
		return
	}
	f.mu.Lock()
	for _, e := range es {
		f.putLocked(e)
	}
	f.mu.Unlock()
}

func (f *Forwarder) expireLoop() {
	defer f.wg.Done()
	t := time.NewTicker(f.opts.Tick)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case now := <-t.C:
			f.mu.Lock()
			exp := f.expired[:0]
			for id, e := range f.pending {
				if !now.Before(e.deadline) {
					delete(f.pending, id)
					exp = append(exp, e)
				}
			}
			f.expired = exp
			f.mu.Unlock()
			f.timeOut(exp)
			clear(exp)
		}
	}
}

// connectLoop keeps a connection to the current target.
func (f *Forwarder) connectLoop() {
	defer f.wg.Done()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	var lastErr string
	for {
		select {
		case <-f.stop:
			return
		case <-f.kick:
		case <-retry.C:
		}
		f.mu.Lock()
		target, need := f.target, f.target != "" && f.conn == nil && !f.stopped
		f.mu.Unlock()
		if !need {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), forwardDialTimeout)
		c, err := f.dialer.Dial(ctx, target)
		cancel()
		f.mu.Lock()
		ok := err == nil && f.target == target && f.conn == nil && !f.stopped
		if ok {
			f.conn = c // never a nil *reactor.Conn in the interface
		}
		f.mu.Unlock()
		switch {
		case ok:
			lastErr = ""
			f.log.Info("connected to the master's internal TCP", "master_internal_tcp", target)
		case err != nil:
			if msg := err.Error(); msg != lastErr {
				lastErr = msg
				f.log.Warn("cannot connect to the master's internal TCP; retrying", "master_internal_tcp", target, "err", err)
			}
			retry.Reset(forwardRedialDelay)
		default:
			// The target changed while dialling: drop this one.
			c.Close(ErrMasterChanged)
			f.poke()
		}
	}
}

type fwdHandler struct{ f *Forwarder }

func (fwdHandler) OnOpen(*reactor.Conn)                          {}
func (h fwdHandler) OnPackage(c *reactor.Conn, p *codec.Package) { h.f.onReply(c, p) }
func (h fwdHandler) OnClose(c *reactor.Conn, err error)          { h.f.onClose(c, err) }

// forwardTimeoutMessage is 4.0.3's text for an expired forward
// (ClusterVNodeController.HandleAsNonMaster).
const forwardTimeoutMessage = "Forwarding timeout"

// sendForwardTimeout answers the completion message of cmd with
// OperationResult.ForwardTimeout (spec §7.1; delete: -1/-1 positions).
func (ss *Session) sendForwardTimeout(id *codec.GUID, cmd codec.Command, txID int64) {
	if ss.closed.Load() {
		return
	}
	b := smallBufPool.Get().(*[]byte)
	buf := (*b)[:0]
	var start int
	const res = codec.OperationForwardTimeout
	switch cmd {
	case codec.WriteEventsCommand:
		m := codec.WriteEventsCompleted{Result: res, Message: forwardTimeoutMessage, FirstEventNumber: eventNumberInvalid,
			LastEventNumber: eventNumberInvalid, PreparePosition: eventNumberInvalid}
		buf, start = codec.AppendFrameStart(buf, codec.WriteEventsCompletedCommand, codec.FlagNone, id)
		buf = codec.AppendWriteEventsCompleted(buf, &m)
	case codec.DeleteStreamCommand:
		m := codec.DeleteStreamCompleted{Result: res, Message: forwardTimeoutMessage, PreparePosition: -1, CommitPosition: -1}
		buf, start = codec.AppendFrameStart(buf, codec.DeleteStreamCompletedCommand, codec.FlagNone, id)
		buf = codec.AppendDeleteStreamCompleted(buf, &m)
	case codec.TransactionStartCommand:
		m := codec.TransactionStartCompleted{TransactionID: -1, Result: res, Message: forwardTimeoutMessage}
		buf, start = codec.AppendFrameStart(buf, codec.TransactionStartCompletedCommand, codec.FlagNone, id)
		buf = codec.AppendTransactionStartCompleted(buf, &m)
	case codec.TransactionWriteCommand:
		m := codec.TransactionWriteCompleted{TransactionID: txID, Result: res, Message: forwardTimeoutMessage}
		buf, start = codec.AppendFrameStart(buf, codec.TransactionWriteCompletedCommand, codec.FlagNone, id)
		buf = codec.AppendTransactionWriteCompleted(buf, &m)
	case codec.TransactionCommitCommand:
		m := codec.TransactionCommitCompleted{TransactionID: txID, Result: res, Message: forwardTimeoutMessage,
			FirstEventNumber: eventNumberInvalid, LastEventNumber: eventNumberInvalid, PreparePosition: -1, CommitPosition: -1}
		buf, start = codec.AppendFrameStart(buf, codec.TransactionCommitCompletedCommand, codec.FlagNone, id)
		buf = codec.AppendTransactionCommitCompleted(buf, &m)
	default:
		panic("BUG: tcpsvc: forward timeout for " + cmd.String())
	}
	_ = codec.FinishFrame(buf, start) // a few bytes
	*b = buf
	_ = ss.conn.Send(buf)
	smallBufPool.Put(b)
}
