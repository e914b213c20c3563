package consensus

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// Transport carries raft messages between nodes. Send must not block
// (queue or drop: raft tolerates lost messages and retries); received
// messages are handed to Driver.Step. The simulation replaces it.
type Transport interface {
	Send(msgs []*pb.Message)
}

// Unreachable is optionally implemented by a Transport that learns of
// failed sends; the driver then tells raft (faster probing afterwards).
type Unreachable interface {
	SetUnreachableFunc(func(id uint64))
}

// DriverConfig configures a Driver.
type DriverConfig struct {
	Core      Config
	Disk      Disk
	Transport Transport
	// Tick is the period of one raft tick (default 100 ms: elections
	// after 1-2 s of silence with ElectionTicks 10, heartbeats every
	// tick).
	Tick time.Duration
	// OnApply receives committed entries in order, on the driver
	// goroutine (the node's state machine).
	OnApply func(ents []*pb.Entry)
	// OnStatus is called on the driver goroutine whenever the derived
	// status changes.
	OnStatus func(Status)
	// Replicator, when set, is the store's Committer on this node: it
	// receives committed entries (instead of OnApply) and status changes
	// on the driver goroutine, and proposes the writer's batches.
	Replicator *Replicator
	Log        *slog.Logger
}

// ErrDriverStopped: the driver is not running.
var ErrDriverStopped = errors.New("consensus: driver stopped")

// inboxMax bounds messages queued for the driver goroutine; beyond it
// incoming raft messages are dropped (raft retransmits).
const inboxMax = 4096

// drainEvery bounds the inbox messages the driver takes before it drains
// raft's Ready: proposals and acknowledgements that queued up while the
// last Ready was being saved share the next save (one fsync).
const drainEvery = 64

// persistQueueMax bounds the entry bytes handed to the append goroutine
// and not yet saved; beyond it the driver waits for the save in flight
// (raft's MaxUncommittedBytes and MaxInflightMsgs bound it first in
// normal operation).
const persistQueueMax = 64 << 20

// Driver is the thin Ready loop around a Core (etcd raft's rawnode
// pattern with asynchronous storage writes): one goroutine owns the core;
// ticks are timer messages; received messages and proposals arrive on its
// inbox. A second goroutine, the appender, saves the appends the core
// hands out (one fsync for everything queued meanwhile: group commit
// across Readies), sends the responses for other nodes itself (a
// follower's acknowledgement leaves right after its fsync) and gives the
// core its own (MsgStorageAppendResp, the leader's MsgAppResp) back on
// the local channel. The appender never waits for the driver; the
// driver waits for the appender only when persistQueueMax is reached.
type Driver struct {
	cfg     DriverConfig
	core    *Core
	inbox   chan inboxItem
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	logOnce sync.Once
	status  atomic.Pointer[Status]
	dropped atomic.Uint64
	log     *slog.Logger

	// Appender hand-off, under amu.
	amu     sync.Mutex
	aroom   *sync.Cond    // signalled when the queue shrinks
	aq      []*pb.Message // appends not yet taken by the appender
	aqBytes int           // entry bytes in aq and in the save in flight
	local   []*pb.Message // responses for the core, in order
	aerr    error         // the save failed: final
	asaving bool          // the appender is saving a batch it took
	awake   chan struct{} // cap 1: the appender has work
	lwake   chan struct{} // cap 1: the driver has local responses
	adone   chan struct{} // closed when the appender ended

	// pend: the appends the last Drains handed out, not yet saved or
	// queued (driver goroutine only; flush).
	pend []*pb.Message
	// inlineSaves counts the saves made on the driver goroutine.
	inlineSaves atomic.Uint64
}

// NewDriver starts a core on cfg.Disk (restarting from its state).
func NewDriver(cfg DriverConfig) (*Driver, error) {
	if cfg.Tick <= 0 {
		cfg.Tick = 100 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Core.Log == nil {
		cfg.Core.Log = cfg.Log
	}
	c, err := New(cfg.Core, cfg.Disk)
	if err != nil {
		return nil, err
	}
	d := &Driver{cfg: cfg, core: c, inbox: make(chan inboxItem, inboxMax), stop: make(chan struct{}), done: make(chan struct{}), log: cfg.Log,
		awake: make(chan struct{}, 1), lwake: make(chan struct{}, 1), adone: make(chan struct{})}
	d.aroom = sync.NewCond(&d.amu)
	st := c.Status()
	d.status.Store(&st)
	if cfg.Replicator != nil {
		cfg.Replicator.setDriver(d)
	}
	if u, ok := cfg.Transport.(Unreachable); ok {
		u.SetUnreachableFunc(func(id uint64) { d.post(inboxItem{fn: func() { d.core.rn.ReportUnreachable(id) }}) })
	}
	return d, nil
}

// Start runs the driver and appender goroutines.
func (d *Driver) Start() {
	go d.runAppender()
	go d.run()
}

// Stop ends the driver and appender goroutines and waits for them.
// Appends not yet saved are dropped (nothing was acknowledged for them).
func (d *Driver) Stop() {
	d.once.Do(func() {
		close(d.stop)
		d.amu.Lock()
		d.aroom.Broadcast()
		d.amu.Unlock()
	})
	<-d.done
	<-d.adone
	d.logOnce.Do(d.logTotals)
}

// sendCounts is implemented by a transport that counts its direct and
// queued sends (TCPTransport).
type sendCounts interface {
	sendCounts() (direct, queued uint64)
}

// logTotals logs what this run of the driver did: the figures that
// explain replication cost (writes per entry, entries per fsync, how
// sends left).
func (d *Driver) logTotals() {
	attrs := []any{"inline_saves", d.inlineSaves.Load(), "dropped", d.dropped.Load()}
	if td, ok := d.cfg.Disk.(*TlogDisk); ok {
		saves := td.Saves.Load()
		attrs = append(attrs, "saves", saves, "saved_entries", td.SavedEntries.Load())
		if saves > 0 {
			attrs = append(attrs, "save_us_avg", td.SaveNanos.Load()/int64(saves)/1000)
		}
	}
	if r := d.cfg.Replicator; r != nil {
		attrs = append(attrs, "proposed", r.Proposed.Load(), "proposed_records", r.ProposedRecords.Load())
	}
	tr := d.cfg.Transport
	if s, ok := tr.(Split); ok {
		tr = s.Data
	}
	if sc, ok := tr.(sendCounts); ok {
		direct, queued := sc.sendCounts()
		attrs = append(attrs, "direct_sends", direct, "queued_sends", queued)
	}
	d.log.Info("consensus: driver stopped", attrs...)
}

// runAppender is the append goroutine: it saves everything queued with
// one Save (SaveAppends: one fsync), sends the responses for other nodes
// and queues this node's for the driver.
func (d *Driver) runAppender() {
	defer close(d.adone)
	var batch []*pb.Message
	for {
		select {
		case <-d.stop:
			return
		case <-d.awake:
		}
		for {
			d.amu.Lock()
			batch, d.aq = d.aq, batch[:0]
			d.asaving = len(batch) > 0
			d.amu.Unlock()
			if len(batch) == 0 {
				break
			}
			local, remote, err := SaveAppends(d.cfg.Disk, d.cfg.Core.ID, batch)
			if err == nil && len(remote) > 0 {
				d.cfg.Transport.Send(remote)
			}
			n := 0
			for _, m := range batch {
				n += entriesBytes(m.GetEntries())
			}
			clear(batch)
			d.amu.Lock()
			d.asaving = false
			d.aqBytes -= n
			if err != nil {
				d.aerr = err
			} else {
				d.local = append(d.local, local...)
			}
			d.aroom.Broadcast()
			d.amu.Unlock()
			select {
			case d.lwake <- struct{}{}:
			default:
			}
			if err != nil {
				return // a failed save is final: nothing later may be saved
			}
			select {
			case <-d.stop:
				return
			default:
			}
		}
	}
}

func entriesBytes(ents []*pb.Entry) int {
	n := 0
	for _, e := range ents {
		n += len(e.GetData())
	}
	return n
}

// persist queues an append for the appender (driver goroutine). It
// waits while persistQueueMax bytes are queued, unless the driver stops
// or the appender failed.
func (d *Driver) persist(m *pb.Message) {
	n := entriesBytes(m.GetEntries())
	d.amu.Lock()
	for d.aqBytes > 0 && d.aqBytes+n > persistQueueMax && d.aerr == nil && !d.stopping() {
		d.aroom.Wait()
	}
	d.aq = append(d.aq, m)
	d.aqBytes += n
	d.amu.Unlock()
	select {
	case d.awake <- struct{}{}:
	default:
	}
}

// inlineMax bounds the inline saves of one driver cycle (each may
// hand out another append: the hard state's new commit index).
const inlineMax = 4

// flush saves the appends the cycle's Drains handed out (driver
// goroutine). A node that does not lead saves them inline when no save
// is in flight: its acknowledgement leaves right after the fsync
// without two goroutine hand-offs (driver → appender, and the
// MsgStorageAppendResp back), and nothing is lost by blocking its loop,
// since a follower cannot save the next append before this one is
// durable anyway and it leads no writes. The leader hands them to the
// appender, so its loop takes acknowledgements and proposals during its
// own fsync (the pipelining that gave 16 writers x1.5); so does anyone
// while the appender still saves (the appends stay in order).
func (d *Driver) flush() error {
	for n := 0; len(d.pend) > 0; n++ {
		if n < inlineMax && d.core.rn.BasicStatus().RaftState != raft.StateLeader {
			ok, err := d.saveInline()
			if err != nil {
				return err
			}
			if ok {
				if err := d.core.Drain(driverIO{d}); err != nil {
					return err
				}
				continue
			}
		}
		for _, m := range d.pend {
			d.persist(m)
		}
		clear(d.pend)
		d.pend = d.pend[:0]
	}
	return nil
}

// saveInline saves d.pend on the driver goroutine if the appender is
// idle with nothing queued (false: it is not; nothing was done). The
// appender's finished responses are handed to the core first, so the
// core hears of the saves in order. A failed save is final as on the
// appender (aerr: nothing is queued or saved after it).
func (d *Driver) saveInline() (bool, error) {
	d.amu.Lock()
	if d.asaving || len(d.aq) > 0 {
		d.amu.Unlock()
		return false, nil
	}
	done, aerr := d.local, d.aerr
	d.local = nil
	d.amu.Unlock()
	if err := d.core.Persisted(done, aerr); err != nil {
		return false, err
	}
	d.inlineSaves.Add(1)
	local, remote, err := SaveAppends(d.cfg.Disk, d.cfg.Core.ID, d.pend)
	clear(d.pend)
	d.pend = d.pend[:0]
	if err != nil {
		d.amu.Lock()
		d.aerr = err
		d.amu.Unlock()
		return false, d.core.Persisted(nil, err)
	}
	if len(remote) > 0 {
		d.cfg.Transport.Send(remote)
	}
	return true, d.core.Persisted(local, nil)
}

func (d *Driver) stopping() bool {
	select {
	case <-d.stop:
		return true
	default:
		return false
	}
}

// takeLocal hands the core the appender's responses for it (or its
// failure). Driver goroutine.
func (d *Driver) takeLocal() error {
	d.amu.Lock()
	local, err := d.local, d.aerr
	d.local = nil
	d.amu.Unlock()
	return d.core.Persisted(local, err)
}

func (d *Driver) run() {
	defer close(d.done)
	t := time.NewTicker(d.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			d.core.Tick()
		case <-d.lwake:
			// NB: taken below, with everything else that arrived.
		case it := <-d.inbox:
			d.handle(it)
			for k := 1; k < drainEvery; k++ {
				select {
				case it := <-d.inbox:
					d.handle(it)
					continue
				default:
				}
				break
			}
		}
		if err := d.takeLocal(); err != nil {
			d.publish()
			d.log.Error("consensus stopped", "err", err)
			return
		}
		if err := d.core.Drain(driverIO{d}); err != nil {
			d.publish()
			d.log.Error("consensus stopped", "err", err)
			return
		}
		if r := d.cfg.Replicator; r != nil {
			r.afterDrain()
			if err := d.core.Drain(driverIO{d}); err != nil { // a proposal afterDrain made
				d.publish()
				d.log.Error("consensus stopped", "err", err)
				return
			}
		}
		if err := d.flush(); err != nil {
			d.publish()
			d.log.Error("consensus stopped", "err", err)
			return
		}
		d.publish()
	}
}

func (d *Driver) publish() {
	st := d.core.Status()
	if r := d.cfg.Replicator; r != nil {
		r.gateMaster(&st)
	}
	if old := d.status.Load(); *old != st {
		d.status.Store(&st)
		if old.State != st.State || old.Leader != st.Leader {
			d.log.Info("consensus state", "state", st.State.String(), "leader", st.Leader, "term", st.Term)
		}
		if d.cfg.Replicator != nil {
			d.cfg.Replicator.onStatus(st)
		}
		if d.cfg.OnStatus != nil {
			d.cfg.OnStatus(st)
		}
	}
}

type driverIO struct{ d *Driver }

func (io driverIO) Send(msgs []*pb.Message) { io.d.cfg.Transport.Send(msgs) }
func (io driverIO) Persist(m *pb.Message)   { io.d.pend = append(io.d.pend, m) }
func (io driverIO) Apply(ents []*pb.Entry) {
	if r := io.d.cfg.Replicator; r != nil {
		r.onApply(ents)
		return
	}
	if io.d.cfg.OnApply != nil {
		io.d.cfg.OnApply(ents)
	}
}

// inboxItem is a received message to step (m), or else a function to
// run on the driver goroutine: messages, the bulk of the inbox, need no
// closure allocated each.
type inboxItem struct {
	m  *pb.Message
	fn func()
}

func (d *Driver) handle(it inboxItem) {
	if it.m == nil {
		it.fn()
		return
	}
	if err := d.core.Step(it.m); err != nil {
		d.log.Debug("raft message refused", "err", err)
	}
}

func (d *Driver) post(it inboxItem) bool {
	select {
	case d.inbox <- it:
		return true
	case <-d.stop:
		return false
	default:
		d.dropped.Add(1)
		return false
	}
}

// do runs fn on the driver goroutine, waiting for room in the inbox
// (back-pressure) rather than dropping it; false when the driver stopped.
func (d *Driver) do(fn func()) bool {
	select {
	case d.inbox <- inboxItem{fn: fn}:
		return true
	case <-d.stop:
		return false
	case <-d.done:
		return false
	}
}

// Step hands a received message to the core. Safe from any goroutine;
// drops the message (raft retransmits) if the inbox is full.
func (d *Driver) Step(m *pb.Message) {
	if m != nil {
		d.post(inboxItem{m: m})
	}
}

// Propose appends data if this node leads; the entry reaches OnApply once
// a majority has it durable. Safe from any goroutine.
func (d *Driver) Propose(data []byte) error {
	errc := make(chan error, 1)
	if !d.post(inboxItem{fn: func() { errc <- d.core.Propose(data) }}) {
		return ErrDriverStopped
	}
	select {
	case err := <-errc:
		return err
	case <-d.done:
		return ErrDriverStopped
	}
}

// SetPeerPriority records a peer's priority (from gossip). Safe from any
// goroutine.
func (d *Driver) SetPeerPriority(id uint64, prio int32) {
	d.post(inboxItem{fn: func() { d.core.SetPeerPriority(id, prio) }})
}

// Status returns the latest derived status. Safe from any goroutine.
func (d *Driver) Status() Status { return *d.status.Load() }

// Dropped counts messages dropped because the inbox was full.
func (d *Driver) Dropped() uint64 { return d.dropped.Load() }
