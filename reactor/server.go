package reactor

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"time"

	"github.com/eventstored/eventstored/codec"
	"github.com/panjf2000/gnet/v2"
	uatomic "go.uber.org/atomic"
)

// Handler receives the packages of every connection of a Server. All three
// methods run on the connection's event-loop goroutine and must return at
// once: no blocking, no fsync, no waiting for a reply. Replies go through
// Conn.Send (or BeginSend/EndSend), from any goroutine.
type Handler interface {
	// OnOpen is called once when a connection is accepted.
	OnOpen(c *Conn)
	// OnPackage is called for every package except heartbeats, which the
	// reactor answers itself. p and every slice in it are views into the
	// read buffer and are valid only during the call: copy what you keep.
	OnPackage(c *Conn, p *codec.Package)
	// OnClose is called once when the connection is gone; err is the
	// reason (ErrHeartbeatTimeout, ErrFraming, ErrPendingSendBytes, ... or
	// the socket error; nil for an orderly close by the server).
	OnClose(c *Conn, err error)
}

// Stats is a snapshot of one listener's counters.
type Stats struct {
	Name                string
	ConnectionsOpen     int64
	ConnectionsAccepted uint64
	BytesReceived       uint64
	BytesSent           uint64 // queued for sending
	PackagesReceived    uint64
	PackagesSent        uint64 // queued for sending
	FramingErrors       uint64
	HeartbeatTimeouts   uint64
	SendOverflows       uint64
	// Writes is the number of writes to sockets: DirectWrites from the
	// sending goroutine, the rest by the loops (handed to gnet).
	Writes       uint64
	DirectWrites uint64
}

type counters struct {
	ConnectionsOpen     uatomic.Int64
	ConnectionsAccepted uatomic.Uint64
	BytesReceived       uatomic.Uint64
	BytesSent           uatomic.Uint64
	PackagesReceived    uatomic.Uint64
	PackagesSent        uatomic.Uint64
	FramingErrors       uatomic.Uint64
	HeartbeatTimeouts   uatomic.Uint64
	SendOverflows       uatomic.Uint64
	Writes              uatomic.Uint64
	DirectWrites        uatomic.Uint64
}

var connIDs uatomic.Uint64

// Server is one gnet engine bound to one address. Start and Stop may be
// called from any goroutine, once each; Stats at any time.
type Server struct {
	cfg     Config
	handler Handler
	eng     gnet.Engine
	booted  chan struct{}
	done    chan error
	once    sync.Once
	start   time.Time
	stats   counters

	loopsMu sync.Mutex
	loops   map[gnet.EventLoop]*loopState

	gnet.BuiltinEventEngine
}

// loopState is what one event loop owns: its heartbeat wheel and scratch
// space. Only that loop's goroutine touches it, except that the map in
// Server that holds it is guarded by loopsMu.
type loopState struct {
	srv     *Server
	el      gnet.EventLoop
	hb      *heartbeats
	scratch []byte
	rng     *rand.Rand
	// pkg is the package handed to Handler.OnPackage; reusing it keeps the
	// value off the heap (a pointer passed through an interface escapes).
	pkg     codec.Package
	ticking bool // guarded by srv.loopsMu: a tick runnable is queued
	// Connections whose batched sends the loop is to flush
	// (SendBatch.Flush of more than DirectFlushMax connections), guarded
	// by flushMu; flushRunQueued: a loopFlush runnable is queued.
	flushMu        sync.Mutex
	flushList      []*Conn
	flushSpare     []*Conn
	flushRunQueued bool
	// steppedTo is the last tick the wheel processed, published for tests
	// that drive Config.Now and must wait until the wheel has caught up.
	steppedTo uatomic.Uint64
}

// NewServer returns a server that will serve cfg.Addr with h once
// started.
func NewServer(cfg Config, h Handler) *Server {
	return &Server{
		cfg:     cfg.withDefaults(),
		handler: h,
		booted:  make(chan struct{}),
		done:    make(chan error, 1),
		loops:   make(map[gnet.EventLoop]*loopState),
	}
}

// ErrAddrInUse is wrapped by Start's error when the port is taken.
var ErrAddrInUse = errors.New("address already in use")

// Start binds the listener and returns once it accepts connections, or the
// bind error naming the interface, address and port.
func (s *Server) Start() error {
	s.start = s.cfg.Now()
	go func() {
		opts := []gnet.Option{
			gnet.WithMulticore(true),
			gnet.WithTicker(true),
			gnet.WithReusePort(false),
			// SO_REUSEADDR lets a restarted node bind while the server side
			// of connections closed by the previous process sits in
			// TIME_WAIT on this port; a port with a live listener still
			// fails with EADDRINUSE.
			gnet.WithReuseAddr(true),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithLogger(gnetLogger{s.cfg.Logger}),
		}
		if s.cfg.NumEventLoops > 0 {
			opts = append(opts, gnet.WithNumEventLoop(s.cfg.NumEventLoops))
		}
		s.done <- gnet.Run(s, "tcp://"+s.cfg.Addr, opts...)
	}()
	select {
	case <-s.booted:
		s.cfg.Logger.Info("listening", "interface", s.cfg.Name, "addr", s.cfg.Addr)
		return nil
	case err := <-s.done:
		if err == nil {
			err = errors.New("engine stopped during start-up")
		}
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("cannot listen on %s %s: %w (%w)", s.cfg.Name, s.cfg.Addr, ErrAddrInUse, err)
		}
		return fmt.Errorf("cannot listen on %s %s: %w", s.cfg.Name, s.cfg.Addr, err)
	}
}

// Addr returns the bound address (useful with port 0), or "" before Start.
func (s *Server) Addr() string {
	select {
	case <-s.booted:
	default:
		return ""
	}
	fd, err := s.eng.Dup()
	if err != nil {
		return ""
	}
	defer closeFD(fd)
	return localAddr(fd)
}

// Stop closes the listener and every connection, waiting at most until ctx
// is done.
//
// gnet's Engine.Stop signals shutdown and then polls the engine's state
// every 500 ms (gnet v2.9.7 gnet.go, shutdownPollInterval), so a stop that
// completes in a millisecond is seen only half a second later. Instead we
// only signal: Engine.Stop with an already-cancelled context calls
// eng.shutdown and returns context.Canceled before its first poll. gnet.Run
// (our Start goroutine) returns only after the engine's deferred stop has
// run OnShutdown, woken and joined every event loop, closed their pollers
// and the listeners (engine_unix.go run/stop), so its result on s.done is
// the exact moment the engine is down.
func (s *Server) Stop(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		select {
		case <-s.booted:
		default:
			return
		}
		signal, cancel := context.WithCancel(context.Background())
		cancel()
		if serr := s.eng.Stop(signal); serr != nil && !errors.Is(serr, context.Canceled) {
			err = serr
			return
		}
		select {
		case runErr := <-s.done:
			err = runErr
		case <-ctx.Done():
			err = ctx.Err()
		}
	})
	return err
}

// Stats returns a snapshot of the counters. Safe from any goroutine.
func (s *Server) Stats() Stats {
	return Stats{
		Name:                s.cfg.Name,
		ConnectionsOpen:     s.stats.ConnectionsOpen.Load(),
		ConnectionsAccepted: s.stats.ConnectionsAccepted.Load(),
		BytesReceived:       s.stats.BytesReceived.Load(),
		BytesSent:           s.stats.BytesSent.Load(),
		PackagesReceived:    s.stats.PackagesReceived.Load(),
		PackagesSent:        s.stats.PackagesSent.Load(),
		FramingErrors:       s.stats.FramingErrors.Load(),
		HeartbeatTimeouts:   s.stats.HeartbeatTimeouts.Load(),
		SendOverflows:       s.stats.SendOverflows.Load(),
		Writes:              s.stats.Writes.Load(),
		DirectWrites:        s.stats.DirectWrites.Load(),
	}
}

// OnBoot implements gnet.EventHandler.
func (s *Server) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	close(s.booted)
	return gnet.None
}

func (s *Server) loopFor(el gnet.EventLoop) *loopState {
	s.loopsMu.Lock()
	defer s.loopsMu.Unlock()
	ls := s.loops[el]
	if ls == nil {
		tick := s.cfg.HeartbeatTick
		ls = &loopState{srv: s, el: el, rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
		ls.hb = newHeartbeats(ceilTicks(s.cfg.HeartbeatInterval, tick), ceilTicks(s.cfg.HeartbeatTimeout, tick),
			ls.sendHeartbeatRequest, ls.heartbeatExpired)
		ls.hb.now = s.tickNow()
		s.loops[el] = ls
	}
	return ls
}

func ceilTicks(d, tick time.Duration) uint64 { return uint64((d + tick - 1) / tick) }

func (s *Server) tickNow() uint64 {
	d := s.cfg.Now().Sub(s.start)
	if d < 0 {
		return 0
	}
	return uint64(d / s.cfg.HeartbeatTick)
}

// OnOpen implements gnet.EventHandler.
func (s *Server) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	ls := s.loopFor(gc.EventLoop())
	c := &Conn{id: connIDs.Inc(), remote: gc.RemoteAddr(), srv: s, gc: gc, loop: ls, fd: gc.Fd()}
	if slot, ok := gc.Context().(*dialSlot); ok {
		// A dialed connection: hand the Conn to the waiting Dial without
		// it touching the loop-owned gnet.Conn.
		slot.c.Store(c)
	}
	gc.SetContext(c)
	s.stats.ConnectionsOpen.Inc()
	s.stats.ConnectionsAccepted.Inc()
	ls.hb.add(c)
	c.mu.Lock()
	c.inCallback = true
	c.mu.Unlock()
	s.handler.OnOpen(c)
	if c.endCallback() {
		return nil, gnet.Close
	}
	return nil, gnet.None
}

// OnClose implements gnet.EventHandler.
func (s *Server) OnClose(gc gnet.Conn, err error) gnet.Action {
	c, _ := gc.Context().(*Conn)
	if c == nil {
		return gnet.None
	}
	c.loopClosed = true
	c.loop.hb.remove(c)
	c.mu.Lock()
	c.closing = true
	if c.closeErr != nil {
		err = c.closeErr
	}
	c.pending, c.spare = nil, nil
	c.mu.Unlock()
	s.stats.ConnectionsOpen.Dec()
	s.handler.OnClose(c, err)
	return gnet.None
}

// OnTraffic implements gnet.EventHandler: it splits whole frames, answers
// heartbeats, rejects framing errors and hands every other package to the
// Handler. No slice from Peek outlives this call.
func (s *Server) OnTraffic(gc gnet.Conn) gnet.Action {
	c, _ := gc.Context().(*Conn)
	if c == nil || c.loopClosed {
		return gnet.None
	}
	avail := gc.InboundBuffered()
	s.stats.BytesReceived.Add(uint64(avail - c.inboundPrev))
	c.hb.recv++ // any byte counts as traffic (cluster §8.1)

	c.mu.Lock()
	c.inCallback = true
	c.mu.Unlock()
	s.readFrames(c, gc, avail)
	c.inboundPrev = gc.InboundBuffered()
	if c.endCallback() {
		return gnet.Close
	}
	return gnet.None
}

func (s *Server) readFrames(c *Conn, gc gnet.Conn, avail int) {
	for avail >= codec.LengthPrefixSize {
		prefix, _ := gc.Peek(codec.LengthPrefixSize)
		length := int64(int32(binary.LittleEndian.Uint32(prefix)))
		if length <= 0 || length > codec.FrameLengthMax {
			_, _, err := codec.SplitFrame(prefix)
			s.framingError(c, gc, err)
			return
		}
		frameLen := codec.LengthPrefixSize + int(length)
		if avail < frameLen {
			// NB: the body of a large frame accumulates in gnet's inbound
			// buffer; we look again only when more bytes arrive, and never
			// buffer more than one frame (≤ 64 MiB) beyond what we consumed.
			return
		}
		frame, err := gc.Peek(frameLen)
		if err != nil {
			return
		}
		p, err := codec.DecodePackage(frame[codec.LengthPrefixSize:])
		if err != nil {
			s.framingError(c, gc, err)
			return
		}
		s.stats.PackagesReceived.Inc()
		switch {
		case p.Command == codec.HeartbeatRequestCommand:
			buf, err := c.BeginSend()
			if err == nil {
				_ = c.EndSend(codec.AppendFrame(buf, codec.HeartbeatResponseCommand, &p.CorrelationID, nil), 1)
			}
		case p.Command == codec.HeartbeatResponseCommand:
			// Traffic only; the counter was bumped above.
		case p.Flags&codec.FlagTrustedWrite != 0 && !s.cfg.Internal:
			s.stats.FramingErrors.Inc()
			s.cfg.Logger.Warn("closing connection: trusted write on external interface",
				"interface", s.cfg.Name, "conn", c.id, "remote", c.remote, "command", p.Command)
			c.rejectAndClose(&p.CorrelationID, "Trusted writes aren't accepted over the external TCP interface", ErrTrustedWrite)
			_, _ = gc.Discard(-1)
			return
		default:
			c.loop.pkg = p
			s.handler.OnPackage(c, &c.loop.pkg)
			c.loop.pkg = codec.Package{} // drop the views into the read buffer
		}
		_, _ = gc.Discard(frameLen)
		avail -= frameLen
		c.mu.Lock()
		closing := c.closing
		c.mu.Unlock()
		if closing {
			_, _ = gc.Discard(-1)
			return
		}
	}
}

// framingError answers a malformed frame as the original does (spec §1.2,
// §4.15): BadRequest with the zero correlation id, then close.
func (s *Server) framingError(c *Conn, gc gnet.Conn, err error) {
	s.stats.FramingErrors.Inc()
	s.cfg.Logger.Warn("closing connection: framing error", "interface", s.cfg.Name, "conn", c.id,
		"remote", c.remote, "err", err)
	c.rejectAndClose(&codec.GUID{}, err.Error(), fmt.Errorf("%w: %w", ErrFraming, err))
	_, _ = gc.Discard(-1) // drop the rest: nothing after a framing error is read
}

// rejectAndClose queues a BadRequest and a close; used on the loop inside
// OnTraffic, whose end flushes both.
func (c *Conn) rejectAndClose(id *codec.GUID, reason string, closeErr error) {
	buf, err := c.BeginSend()
	if err != nil {
		return
	}
	_ = c.EndSend(codec.AppendBadRequest(buf, id, reason), 1)
	c.Close(closeErr)
}

// OnTick implements gnet.EventHandler. gnet calls it from one ticker
// goroutine for the whole engine; it queues a wheel step on every loop
// that has connections, so each wheel is only touched by its own loop.
func (s *Server) OnTick() (time.Duration, gnet.Action) {
	s.loopsMu.Lock()
	for _, ls := range s.loops {
		if !ls.ticking {
			ls.ticking = true
			if err := ls.el.Execute(context.Background(), ls); err != nil {
				ls.ticking = false
			}
		}
	}
	s.loopsMu.Unlock()
	return s.cfg.HeartbeatTick, gnet.None
}

// Run implements gnet.Runnable: one heartbeat wheel step on this loop.
func (ls *loopState) Run(context.Context) error {
	ls.srv.loopsMu.Lock()
	ls.ticking = false
	ls.srv.loopsMu.Unlock()
	now := ls.srv.tickNow()
	ls.hb.advance(now)
	ls.steppedTo.Store(now)
	return nil
}

func (ls *loopState) sendHeartbeatRequest(c *Conn) {
	var id codec.GUID
	binary.LittleEndian.PutUint64(id[:8], ls.rng.Uint64())
	binary.LittleEndian.PutUint64(id[8:], ls.rng.Uint64())
	ls.scratch = codec.AppendFrame(ls.scratch[:0], codec.HeartbeatRequestCommand, &id, nil)
	c.sendOnLoop(ls.scratch)
}

func (ls *loopState) heartbeatExpired(c *Conn) {
	s := ls.srv
	s.stats.HeartbeatTimeouts.Inc()
	s.cfg.Logger.Info("closing connection: heartbeat timeout", "interface", s.cfg.Name, "conn", c.id,
		"remote", c.remote, "msgNum", c.hb.recv)
	c.closeOnLoop(ErrHeartbeatTimeout)
}
