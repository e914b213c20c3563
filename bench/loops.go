package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventstored/eventstored/client"
	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/reactor"
)

// The loop driver runs the closed loops of the TCP write workload on the
// reactor's gnet event loops (Config.Driver "loops", the default for
// writes), the way Event Store's own WRFL test client writes to raw
// connections: each reply is decoded and checked on the loop that read
// it, and the slot's next request is encoded into the connection's send
// buffer right there, so that the replies of one read and the requests
// they release leave in one write. Compared with the client path (a
// goroutine per client slot, the client's reader goroutine waking it per
// reply, a write syscall per request, a context timer per request) there
// is no goroutine hand-off and no timer per request; the tool's CPU per
// request falls accordingly (bench/README.md, "How it measures").
//
// What stays the same, so that both drivers measure the same thing:
// every request is a real WriteEvents with fresh event ids (the client
// path's randomGUID), the same stream choice and expected version
// (Worker.NextWriteStream), RequireMaster false; every reply is decoded
// and checked (result code; on success the event numbers: as many as the
// request wrote and, for an exact expected version, starting right after
// it), failures are counted by the client's own error kinds; latency runs
// from the moment the request is queued on its connection to the moment
// its reply is decoded. Connections authenticate once and identify
// themselves as the client does. A request without a reply after
// Config.Timeout counts as a "timeout" and its slot sends the next one (a
// late reply is recognised by its correlation id and dropped).
//
// Correlation ids: 8 random bytes per connection, then the slot's index
// and its sequence number (both little-endian uint32), so a reply finds
// its slot without a map and a stale reply (an earlier sequence number)
// is told apart.
//
// Goroutines: the dialer's event loops run OnPackage/OnClose; one sweeper
// goroutine expires requests; the starting goroutine sends every slot's
// first request. loopConn.mu serialises them per connection.

// Driver names (Config.Driver).
const (
	DriverLoops  = "loops"  // TCP writes on the tool's event loops (loops.go)
	DriverClient = "client" // every request through package client, a goroutine per slot
)

// loopTarget is a Target that can run a run's closed loops itself.
type loopTarget interface {
	// drivesLoops reports whether it runs cfg's loops.
	drivesLoops(cfg *Config) bool
	// startLoops connects, starts every closed loop and returns once they
	// run; they report to tl until ctx ends. wait, called after ctx
	// ended, returns once every loop stopped and every connection is
	// closed.
	startLoops(ctx context.Context, cfg *Config, names []string, payload []byte, tl *tally) (wait func(), err error)
}

func (t *TCPTarget) drivesLoops(cfg *Config) bool {
	return cfg.Kind == KindWrite && cfg.Driver != DriverClient
}

// Heartbeats of the driver's connections: the Go client's (750 ms
// interval, 1,500 ms timeout).
const (
	loopsHeartbeatInterval = 750 * time.Millisecond
	loopsHeartbeatTimeout  = 1500 * time.Millisecond
	// loopsSweepMax bounds the period of the timeout sweep (it is a
	// quarter of Config.Timeout when that is shorter).
	loopsSweepMax = 250 * time.Millisecond
)

type loopDriver struct {
	cfg      *Config
	tl       *tally
	names    []string
	addr     string
	creds    *client.Credentials
	dialer   *reactor.Dialer
	conns    []*loopConn
	stopping atomic.Bool
}

// loopConn is one connection and the client slots it carries.
type loopConn struct {
	d      *loopDriver
	rc     *reactor.Conn
	name   string
	prefix [8]byte
	// hs receives the replies of the handshake (before live is set).
	hs   chan handshakeReply
	live atomic.Bool

	mu    sync.Mutex // guards slots and dead: the loop, the sweeper and the starter
	slots []loopSlot
	dead  bool
}

type handshakeReply struct {
	cmd  codec.Command
	text string
}

// loopSlot is one closed loop: one request in flight at a time.
type loopSlot struct {
	w        Worker
	seq      uint32
	inFlight bool
	sent     time.Time
	stream   int
	expected int64
	ids      []codec.GUID
	evs      []codec.NewEvent // EventID of each points into ids
	msg      codec.WriteEvents
}

// loopErr is a failure the driver sees itself (no reply in time, a reply
// that does not answer the request, the connection gone).
type loopErr struct{ kind, text string }

func (e *loopErr) Error() string { return e.text }
func (e *loopErr) Kind() string  { return e.kind }

func (t *TCPTarget) startLoops(ctx context.Context, cfg *Config, names []string, payload []byte, tl *tally) (func(), error) {
	d := &loopDriver{cfg: cfg, tl: tl, names: names, addr: t.Addr, creds: t.Credentials}
	if err := d.checkFrameSize(payload); err != nil {
		return nil, err
	}
	d.dialer = reactor.NewDialer(reactor.Config{
		// NB: warnings only: gnet logs its start at info on every run.
		Name: "esbench", Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		HeartbeatInterval: loopsHeartbeatInterval, HeartbeatTimeout: loopsHeartbeatTimeout,
	}, d)
	if err := d.dialer.Start(); err != nil {
		return nil, err
	}
	if err := d.dialAll(ctx); err != nil {
		d.stopping.Store(true)
		_ = d.dialer.Stop()
		return nil, err
	}
	workers := cfg.Clients * cfg.InFlight
	for i := 0; i < workers; i++ {
		lc := d.conns[(i/cfg.InFlight)%len(d.conns)]
		s := loopSlot{
			w: Worker{ID: i, Cfg: cfg, Rng: rand.New(rand.NewPCG(uint64(i)+1, 0x5eed)),
				Streams: names, Workers: workers, Payload: payload, Versions: map[int]int64{}},
			ids: make([]codec.GUID, cfg.EventsPerWrite),
			evs: make([]codec.NewEvent, cfg.EventsPerWrite),
		}
		for k := range s.evs {
			s.evs[k] = codec.NewEvent{EventID: s.ids[k][:], EventType: "bench", Data: payload}
		}
		lc.slots = append(lc.slots, s)
	}
	for _, lc := range d.conns {
		lc.mu.Lock()
		for i := range lc.slots {
			lc.sendLocked(i, time.Now())
		}
		lc.mu.Unlock()
	}
	sweeperDone := make(chan struct{})
	go func() {
		defer close(sweeperDone)
		d.sweep(ctx)
	}()
	return func() {
		d.stopping.Store(true)
		<-sweeperDone
		_ = d.dialer.Stop()
	}, nil
}

// checkFrameSize refuses a workload whose writes do not fit in a frame
// (the client path would fail every request with the same complaint).
func (d *loopDriver) checkFrameSize(payload []byte) error {
	evs := make([]codec.NewEvent, d.cfg.EventsPerWrite)
	var id codec.GUID
	for i := range evs {
		evs[i] = codec.NewEvent{EventID: id[:], EventType: "bench", Data: payload}
	}
	longest := ""
	for _, n := range d.names {
		if len(n) > len(longest) {
			longest = n
		}
	}
	m := codec.WriteEvents{EventStreamID: longest, ExpectedVersion: -2, Events: evs}
	if size := codec.HeaderSize + codec.SizeWriteEvents(&m); size > codec.FrameLengthMax {
		return fmt.Errorf("%w: a write of %d events of %d bytes takes %d bytes, above the frame limit of %d",
			ErrInvalidConfig, d.cfg.EventsPerWrite, d.cfg.EventSize, size, codec.FrameLengthMax)
	}
	return nil
}

// dialAll opens Config.ConnectionCount() connections and runs each one's
// handshake, dialParallelism at a time.
func (d *loopDriver) dialAll(ctx context.Context) error {
	n := d.cfg.ConnectionCount()
	d.conns = make([]*loopConn, n)
	errc := make(chan error, n)
	sem := make(chan struct{}, dialParallelism)
	var wg sync.WaitGroup
	for i := range d.conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			lc, err := d.dial(ctx, i)
			if err != nil {
				errc <- fmt.Errorf("cannot connect to eventstored at %s: %w", d.addr, err)
				return
			}
			d.conns[i] = lc
		}()
	}
	wg.Wait()
	close(errc)
	return <-errc
}

func (d *loopDriver) dial(ctx context.Context, i int) (*loopConn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	lc := &loopConn{d: d, name: fmt.Sprintf("esbench-%d", i), hs: make(chan handshakeReply, 1)}
	g := codec.NewGUID()
	copy(lc.prefix[:], g[:8])
	rc, err := d.dialer.Dial(ctx, d.addr)
	if err != nil {
		return nil, err
	}
	lc.rc = rc
	rc.SetUserData(lc)
	hctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	if err := lc.handshake(hctx); err != nil {
		rc.Close(nil)
		return nil, fmt.Errorf("handshake: %w", err)
	}
	lc.live.Store(true)
	return lc, nil
}

// handshake authenticates (when the run has credentials) and identifies
// the connection, as client.Dial does (spec tcp-client-protocol §4.1).
func (lc *loopConn) handshake(ctx context.Context) error {
	id := codec.NewGUID()
	if cr := lc.d.creds; cr != nil {
		buf, err := lc.rc.BeginSend()
		if err != nil {
			return err
		}
		orig := len(buf)
		buf, start := codec.AppendFrameStart(buf, codec.Authenticate, codec.FlagAuthenticated, &id)
		buf, err = codec.AppendAuth(buf, cr.Login, cr.Password)
		if err == nil {
			err = codec.FinishFrame(buf, start)
		}
		if err != nil {
			_ = lc.rc.EndSend(buf[:orig], 0)
			return err
		}
		if err := lc.rc.EndSend(buf, 1); err != nil {
			return err
		}
		r, err := lc.await(ctx)
		if err != nil {
			return err
		}
		if r.cmd != codec.Authenticated {
			return &client.NotAuthenticatedError{Reason: fmt.Sprintf("%v: %s", r.cmd, r.text)}
		}
	}
	m := codec.IdentifyClient{Version: codec.ClientVersionV2, ConnectionName: lc.name}
	buf, err := lc.rc.BeginSend()
	if err != nil {
		return err
	}
	if err := lc.rc.EndSend(codec.AppendMessageFrame(buf, codec.IdentifyClientCommand, &id, &m, codec.AppendIdentifyClient), 1); err != nil {
		return err
	}
	r, err := lc.await(ctx)
	if err != nil {
		return err
	}
	if r.cmd != codec.ClientIdentifiedCommand {
		return fmt.Errorf("identify client answered %v: %s", r.cmd, r.text)
	}
	return nil
}

func (lc *loopConn) await(ctx context.Context) (handshakeReply, error) {
	select {
	case r := <-lc.hs:
		return r, nil
	case <-ctx.Done():
		return handshakeReply{}, ctx.Err()
	}
}

// sendLocked sends slot i's next request. REQUIRES lc.mu.
func (lc *loopConn) sendLocked(i int, now time.Time) {
	if lc.dead || lc.d.stopping.Load() {
		return
	}
	s := &lc.slots[i]
	s.stream, s.expected = s.w.NextWriteStream()
	for k := range s.ids {
		s.ids[k] = randomGUID(&s.w)
	}
	s.seq++
	var id codec.GUID
	copy(id[:8], lc.prefix[:])
	binary.LittleEndian.PutUint32(id[8:], uint32(i))
	binary.LittleEndian.PutUint32(id[12:], s.seq)
	s.msg = codec.WriteEvents{EventStreamID: lc.d.names[s.stream], ExpectedVersion: s.expected, Events: s.evs}
	buf, err := lc.rc.BeginSend()
	if err != nil {
		return // closed: OnClose marks the connection dead
	}
	// NB: not the generic AppendMessageFrame, whose message escapes to
	// the heap; FinishFrame cannot fail: checkFrameSize bounded the frame.
	buf, start := codec.AppendFrameStart(buf, codec.WriteEventsCommand, codec.FlagNone, &id)
	buf = codec.AppendWriteEvents(buf, &s.msg)
	_ = codec.FinishFrame(buf, start)
	s.sent, s.inFlight = now, true
	_ = lc.rc.EndSend(buf, 1) // an overflow closes the connection; OnClose counts the slots
}

// OnOpen implements reactor.Handler.
func (d *loopDriver) OnOpen(*reactor.Conn) {}

// OnPackage implements reactor.Handler: on the connection's loop.
func (d *loopDriver) OnPackage(c *reactor.Conn, p *codec.Package) {
	lc, _ := c.UserData().(*loopConn)
	if lc == nil {
		return
	}
	if p.Command == codec.BadRequest && p.CorrelationID.IsZero() {
		// Connection-wide bad request: the server closes; so do we (spec §4.15).
		c.Close(fmt.Errorf("bad request: %s", p.Payload))
		return
	}
	if !lc.live.Load() {
		select {
		case lc.hs <- handshakeReply{cmd: p.Command, text: string(p.Payload)}:
		default:
		}
		return
	}
	id := &p.CorrelationID
	if [8]byte(id[:8]) != lc.prefix {
		return
	}
	i := int(binary.LittleEndian.Uint32(id[8:]))
	seq := binary.LittleEndian.Uint32(id[12:])
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if i >= len(lc.slots) {
		return
	}
	s := &lc.slots[i]
	if !s.inFlight || s.seq != seq {
		return // the reply to a request that timed out
	}
	s.inFlight = false
	n, err := d.check(s, p)
	now := time.Now()
	d.tl.doneAt(s.w.ID, s.sent, now, n, false, err)
	lc.sendLocked(i, now)
}

// check decodes the reply to slot s's write and checks it.
func (d *loopDriver) check(s *loopSlot, p *codec.Package) (int, error) {
	stream := d.names[s.stream]
	switch p.Command {
	case codec.WriteEventsCompletedCommand:
		var r codec.WriteEventsCompleted
		if err := codec.DecodeWriteEventsCompleted(p.Payload, &r); err != nil {
			return 0, &loopErr{"bad_reply", fmt.Sprintf("write to %s: malformed reply: %v", stream, err)}
		}
		switch r.Result {
		case codec.OperationSuccess:
		case codec.OperationWrongExpectedVersion:
			return 0, &client.WrongExpectedVersionError{Stream: stream, ExpectedVersion: s.expected, CurrentVersion: r.CurrentVersion}
		case codec.OperationStreamDeleted:
			return 0, &client.StreamDeletedError{Stream: stream}
		case codec.OperationAccessDenied:
			return 0, &client.AccessDeniedError{Stream: stream, Operation: "write"}
		case codec.OperationPrepareTimeout, codec.OperationCommitTimeout, codec.OperationForwardTimeout:
			return 0, &client.ServerTimeoutError{Result: r.Result, Message: r.Message}
		default:
			return 0, &loopErr{"bad_reply", fmt.Sprintf("write to %s: operation result %d", stream, r.Result)}
		}
		n := len(s.evs)
		if r.FirstEventNumber < 0 || r.LastEventNumber-r.FirstEventNumber+1 != int64(n) ||
			(s.expected >= -1 && r.FirstEventNumber != s.expected+1) {
			return 0, &loopErr{"bad_reply", fmt.Sprintf("write of %d events to %s expecting %d acknowledged as %d..%d",
				n, stream, s.expected, r.FirstEventNumber, r.LastEventNumber)}
		}
		s.w.Wrote(s.stream, r.LastEventNumber)
		return n, nil
	case codec.NotHandledCommand:
		var nh codec.NotHandled
		if err := codec.DecodeNotHandled(p.Payload, &nh); err != nil {
			return 0, &loopErr{"bad_reply", fmt.Sprintf("write to %s: malformed NotHandled: %v", stream, err)}
		}
		return 0, &client.NotHandledError{Reason: nh.Reason}
	case codec.NotAuthenticated:
		return 0, &client.NotAuthenticatedError{Reason: string(p.Payload)}
	case codec.BadRequest:
		return 0, &client.BadRequestError{Text: string(p.Payload)}
	}
	return 0, &loopErr{"bad_reply", fmt.Sprintf("write to %s answered with %v", stream, p.Command)}
}

// OnClose implements reactor.Handler: the requests in flight on the
// connection fail and its slots stop (the client path, without
// reconnection, fails them too).
func (d *loopDriver) OnClose(c *reactor.Conn, err error) {
	lc, _ := c.UserData().(*loopConn)
	if lc == nil {
		return
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	lc.dead = true
	if d.stopping.Load() || !lc.live.Load() {
		return
	}
	if err == nil {
		err = errors.New("closed by the server")
	}
	now := time.Now()
	cerr := &loopErr{"connection", fmt.Sprintf("connection to %s: %v", d.addr, err)}
	for i := range lc.slots {
		if s := &lc.slots[i]; s.inFlight {
			s.inFlight = false
			d.tl.doneAt(s.w.ID, s.sent, now, 0, false, cerr)
		}
	}
}

// sweep expires requests without a reply after Config.Timeout until ctx
// ends: each counts as a "timeout" and its slot sends the next request.
func (d *loopDriver) sweep(ctx context.Context) {
	period := max(min(d.cfg.Timeout/4, loopsSweepMax), time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	terr := &loopErr{"timeout", fmt.Sprintf("write: no reply within %v", d.cfg.Timeout)}
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, lc := range d.conns {
				lc.mu.Lock()
				for i := range lc.slots {
					if s := &lc.slots[i]; s.inFlight && now.Sub(s.sent) >= d.cfg.Timeout {
						s.inFlight = false
						d.tl.doneAt(s.w.ID, s.sent, now, 0, false, terr)
						lc.sendLocked(i, now)
					}
				}
				lc.mu.Unlock()
			}
		}
	}
}
