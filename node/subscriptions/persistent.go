package subscriptions

import (
	"encoding/json"
	"errors"
	"hash/fnv"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/store"
)

// Persistent subscriptions (competing consumers, spec §5). One goroutine
// (prun) owns every group; everything else posts closures to its bounded
// inbox, and store completions come back through a mutex-guarded list so
// the writer never blocks. Timers are messages: a ticker posts Tick, tests
// call Tick with a fake time.

// Names of the streams and event types of spec §5.1.
const (
	ConfigStream        = "$persistentSubscriptionConfig"
	configEventType     = "PersistentConfig1"
	checkpointEventType = "SubscriptionCheckpoint"
)

// Strategies (spec §5.3).
const (
	StrategyRoundRobin       = "RoundRobin"
	StrategyDispatchToSingle = "DispatchToSingle"
	StrategyPinned           = "Pinned"
)

// Defaults and limits.
const (
	PersistentInboxMaxDefault = 65_536
	GroupsMaxDefault          = 10_000
	// bufferMax caps a group's buffered + in-flight events whatever its
	// configuration says.
	bufferMax     = 100_000
	pinnedBuckets = 1024
)

// Sentinel errors of the management calls.
var (
	ErrGroupExists   = errors.New("subscriptions: group already exists")
	ErrGroupNotFound = errors.New("subscriptions: group does not exist")
	ErrBadStream     = errors.New("Bad stream name.")
	ErrBusy          = errors.New("subscriptions: persistent subscription service is busy")
	ErrTooManyGroups = errors.New("subscriptions: too many persistent subscription groups")
)

// CheckpointStream and ParkedStream name a group's streams (spec §5.1).
func CheckpointStream(id string) string { return "$persistentsubscription-" + id + "-checkpoint" }
func ParkedStream(id string) string     { return "$persistentsubscription-" + id + "-parked" }

// GroupID is "<stream>::<group>".
func GroupID(stream, group string) string { return stream + "::" + group }

// GroupConfig is a group's settings; the JSON names follow the original's
// PersistentSubscriptionEntry (implementation choice, spec §5.1).
type GroupConfig struct {
	Stream             string `json:"stream"`
	Group              string `json:"group"`
	ResolveLinkTos     bool   `json:"resolveLinkTos"`
	ExtraStatistics    bool   `json:"extraStatistics"`
	MessageTimeoutMs   int64  `json:"messageTimeout"`
	StartFrom          int64  `json:"startFrom"`
	LiveBufferSize     int    `json:"liveBufferSize"`
	HistoryBufferSize  int    `json:"historyBufferSize"`
	MaxRetryCount      int    `json:"maxRetryCount"`
	ReadBatchSize      int    `json:"readBatchSize"`
	CheckPointAfterMs  int64  `json:"checkPointAfter"`
	MinCheckPointCount int    `json:"minCheckPointCount"`
	MaxCheckPointCount int    `json:"maxCheckPointCount"`
	MaxSubscriberCount int    `json:"maxSubscriberCount"`
	Strategy           string `json:"namedConsumerStrategy"`
}

// ConfigFromCreate turns the TCP create/update message into a config
// (strategy resolution of spec §5.2).
func ConfigFromCreate(m *codec.CreatePersistentSubscription) GroupConfig {
	st := m.NamedConsumerStrategy
	if st == "" {
		st = StrategyDispatchToSingle
		if m.PreferRoundRobin {
			st = StrategyRoundRobin
		}
	}
	return GroupConfig{Stream: m.EventStreamID, Group: m.SubscriptionGroupName, ResolveLinkTos: m.ResolveLinkTos,
		ExtraStatistics: m.RecordStatistics, MessageTimeoutMs: int64(m.MessageTimeoutMilliseconds), StartFrom: m.StartFrom,
		LiveBufferSize: int(m.LiveBufferSize), HistoryBufferSize: int(m.BufferSize), MaxRetryCount: int(m.MaxRetryCount),
		ReadBatchSize: int(m.ReadBatchSize), CheckPointAfterMs: int64(m.CheckpointAfterTime),
		MinCheckPointCount: int(m.CheckpointMinCount), MaxCheckPointCount: int(m.CheckpointMaxCount),
		MaxSubscriberCount: int(m.SubscriberMaxCount), Strategy: st}
}

func (c *GroupConfig) validate() error {
	if c.Stream == "" || c.Stream == "$all" {
		return ErrBadStream
	}
	switch c.Strategy {
	case StrategyRoundRobin, StrategyDispatchToSingle, StrategyPinned:
	default:
		return errors.New("Consumer strategy " + c.Strategy + " does not exist.")
	}
	return nil
}

func (c *GroupConfig) buffer() int {
	n := c.HistoryBufferSize + c.LiveBufferSize
	if n <= 0 {
		n = 500
	}
	return min(n, bufferMax)
}

func (c *GroupConfig) batch() int {
	if c.ReadBatchSize <= 0 {
		return 20
	}
	return min(c.ReadBatchSize, store.MaxReadCount)
}

// Message is one event delivered to a consumer. Event is a private copy.
type Message struct {
	Event store.ResolvedEvent
	// ID is the original record's id (the link's when a link was resolved):
	// what consumers ack.
	ID         [16]byte
	Number     int64
	RetryCount int

	stream   string // source stream, for Pinned
	consumer *pconsumer
	deadline time.Time
	parkWhy  string
}

// Consumer is a connected member of a group. Its methods run on the
// service goroutine and must not block; Deliver's error means the
// consumer is gone (it is then removed and its events retried).
type Consumer interface {
	Confirmed(lastCommitPosition int64, groupID string, lastEventNumber int64)
	Deliver(m *Message) error
	Dropped(reason codec.SubscriptionDropReason)
}

// PDB is what persistent subscriptions need of store.DB.
type PDB interface {
	DB
	Submit(op *store.Op) error
}

// PersistentOptions configures a PersistentService.
type PersistentOptions struct {
	DB     PDB
	Logger *slog.Logger
	Clock  store.Clock
	// TickInterval is the timer period (default 1 s, as the original's
	// timeout check); negative: no ticker, the caller posts Tick.
	TickInterval time.Duration
	InboxMax     int
	GroupsMax    int
}

// PersistentService runs the persistent subscription groups.
type PersistentService struct {
	opts     PersistentOptions
	db       PDB
	log      *slog.Logger
	clock    store.Clock
	inbox    chan func()
	wake     chan struct{}
	stop     chan struct{}
	finished chan struct{}
	once     sync.Once
	// writes counts store ops submitted and not yet completed; Stop waits
	// for them, so that after Stop every checkpoint and parked-message write
	// the service started is durable (or failed) and a restarted service
	// reads them.
	writes sync.WaitGroup

	cmu         sync.Mutex
	completions []func()

	// Owned by prun.
	groups map[string]*group
	rd     *store.Reader
}

type pconsumer struct {
	c        Consumer
	key      any
	max      int
	inflight int
	gone     bool
}

type group struct {
	cfg       GroupConfig
	id        string
	consumers []*pconsumer
	rr        int
	nextRead  int64
	lastRead  int64
	retry     []*Message // sorted by Number
	queue     []*Message // in stream order
	inflight  map[[16]byte]*Message
	pending   map[int64]struct{} // numbers not done
	toPark    []*Message
	parking   int
	lastCp    int64
	cpWriting bool
	cpAt      time.Time
	buckets   [pinnedBuckets]*pconsumer
	stats     GroupStats
	deleted   bool
}

// GroupStats are a group's counters (for /subscriptions info).
type GroupStats struct {
	Delivered, Acked, Naked, Parked, Retried, TimedOut uint64
}

// GroupInfo is a snapshot of a group.
type GroupInfo struct {
	Config           GroupConfig
	ID               string
	Consumers        int
	InFlight         int
	Buffered         int
	LastCheckpoint   int64
	LastReadNumber   int64
	Stats            GroupStats
	ConsumerInFlight []int
	// Pending counts events not done yet; Parking those whose park write
	// is in flight or waiting for a retry.
	Pending, Parking  int
	OldestPending     int64
	CheckpointWriting bool
}

// NewPersistent returns a stopped service.
func NewPersistent(opts PersistentOptions) *PersistentService {
	if opts.DB == nil {
		panic("BUG: subscriptions.NewPersistent needs DB")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = store.SystemClock
	}
	if opts.TickInterval == 0 {
		opts.TickInterval = time.Second
	}
	if opts.InboxMax <= 0 {
		opts.InboxMax = PersistentInboxMaxDefault
	}
	if opts.GroupsMax <= 0 {
		opts.GroupsMax = GroupsMaxDefault
	}
	return &PersistentService{opts: opts, db: opts.DB, log: opts.Logger.With("component", "persistent-subscriptions"),
		clock: opts.Clock, inbox: make(chan func(), opts.InboxMax), wake: make(chan struct{}, 1),
		stop: make(chan struct{}), finished: make(chan struct{}),
		groups: map[string]*group{}}
}

// Start loads the stored groups (from $persistentSubscriptionConfig and
// their checkpoints) and starts the goroutine.
func (s *PersistentService) Start() error {
	s.rd = s.db.NewReader()
	if err := s.load(); err != nil {
		return err
	}
	s.db.OnCommitted(func(store.Position) { s.poke() })
	go s.prun()
	if s.opts.TickInterval > 0 {
		go func() {
			t := time.NewTicker(s.opts.TickInterval)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					s.Tick()
				case <-s.stop:
					return
				}
			}
		}()
	}
	return nil
}

// Stop drops every consumer with Unsubscribed and ends the goroutine.
func (s *PersistentService) Stop() {
	s.once.Do(func() {
		close(s.stop)
		<-s.finished
		s.writes.Wait()
	})
}

// post hands fn to the goroutine without blocking; false if the inbox is
// full or the service stopped.
func (s *PersistentService) post(fn func()) bool {
	select {
	case <-s.stop:
		return false
	default:
	}
	select {
	case s.inbox <- fn:
		return true
	default:
		return false
	}
}

// complete queues a store completion (called on the writer goroutine).
func (s *PersistentService) complete(fn func()) {
	s.cmu.Lock()
	s.completions = append(s.completions, fn)
	s.cmu.Unlock()
	s.poke()
}

func (s *PersistentService) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *PersistentService) prun() {
	defer close(s.finished)
	for {
		select {
		case fn := <-s.inbox:
			s.runCompletions()
			fn()
		case <-s.wake:
			s.runCompletions()
			s.deliverAll()
		case <-s.stop:
			s.runCompletions()
			for _, g := range s.groups {
				for _, c := range g.consumers {
					c.c.Dropped(codec.DropUnsubscribed)
				}
			}
			s.rd.Close()
			return
		}
	}
}

func (s *PersistentService) runCompletions() {
	s.cmu.Lock()
	l := s.completions
	s.completions = nil
	s.cmu.Unlock()
	for _, fn := range l {
		fn()
	}
}

// Tick is the timer message: message timeouts, time-based checkpoints,
// retries of failed park and checkpoint writes.
func (s *PersistentService) Tick() {
	s.post(func() { s.tick(s.clock.Now()) })
}

// --- management -----------------------------------------------------------

// Create adds a group and stores the configuration; reply runs on the
// service goroutine (or at once with ErrBusy).
func (s *PersistentService) Create(cfg GroupConfig, reply func(error)) {
	if !s.post(func() { s.create(cfg, reply) }) {
		reply(ErrBusy)
	}
}

// Update rebuilds a group with new settings, keeping its checkpoint.
func (s *PersistentService) Update(cfg GroupConfig, reply func(error)) {
	if !s.post(func() { s.update(cfg, reply) }) {
		reply(ErrBusy)
	}
}

// Delete removes a group and soft-deletes its streams.
func (s *PersistentService) Delete(stream, groupName string, reply func(error)) {
	if !s.post(func() { s.delete(GroupID(stream, groupName), reply) }) {
		reply(ErrBusy)
	}
}

// Connect adds consumer c (identified by key for Disconnect) to a group.
// The confirmation or the drop is sent through c.
func (s *PersistentService) Connect(stream, groupName string, allowedInFlight int, key any, c Consumer) bool {
	return s.post(func() { s.connect(GroupID(stream, groupName), allowedInFlight, key, c) })
}

// Disconnect removes the consumer registered under key; if unsubscribed
// it is told Dropped(Unsubscribed) first.
func (s *PersistentService) Disconnect(key any, unsubscribed bool) {
	// A lost disconnect would leave a dead consumer holding events: block
	// if the inbox is full (callers are not event loops in that case...)
	// — instead retry posting from a goroutine.
	fn := func() { s.disconnect(key, unsubscribed) }
	if !s.post(fn) {
		go func() {
			for {
				select {
				case s.inbox <- fn:
					return
				case <-s.stop:
					return
				}
			}
		}()
	}
}

// Ack marks events done. An ack lost to a full inbox is redelivered after
// the message timeout (at-least-once).
func (s *PersistentService) Ack(groupID string, key any, ids [][16]byte) {
	s.post(func() { s.ack(groupID, key, ids) })
}

// Nak applies action to events.
func (s *PersistentService) Nak(groupID string, key any, ids [][16]byte, action codec.NakAction, reason string) {
	s.post(func() { s.nak(groupID, key, ids, action, reason) })
}

// ReplayParked re-queues the group's parked events for delivery.
func (s *PersistentService) ReplayParked(stream, groupName string, reply func(error)) {
	if !s.post(func() { s.replayParked(GroupID(stream, groupName), reply) }) {
		reply(ErrBusy)
	}
}

// Groups returns a snapshot of every group, sorted by id; reply runs on
// the service goroutine.
func (s *PersistentService) Groups(reply func([]GroupInfo)) bool {
	return s.post(func() {
		out := make([]GroupInfo, 0, len(s.groups))
		for _, g := range s.groups {
			out = append(out, g.info())
		}
		sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
		reply(out)
	})
}

func (g *group) info() GroupInfo {
	gi := GroupInfo{Config: g.cfg, ID: g.id, Consumers: len(g.consumers), InFlight: len(g.inflight),
		Buffered: len(g.queue) + len(g.retry), LastCheckpoint: g.lastCp, LastReadNumber: g.lastRead, Stats: g.stats}
	for _, c := range g.consumers {
		gi.ConsumerInFlight = append(gi.ConsumerInFlight, c.inflight)
	}
	gi.Pending, gi.Parking = len(g.pending), g.parking+len(g.toPark)
	gi.OldestPending = g.checkpointCandidate() + 1
	gi.CheckpointWriting = g.cpWriting
	return gi
}

type configDoc struct {
	Version string        `json:"version"`
	Updated time.Time     `json:"updated"`
	Entries []GroupConfig `json:"entries"`
}

// saveConfig writes the whole set of groups as one event; then runs on
// the goroutine with the outcome.
func (s *PersistentService) saveConfig(then func(error)) {
	doc := configDoc{Version: "2", Updated: s.clock.Now().UTC()}
	for _, g := range s.groups {
		doc.Entries = append(doc.Entries, g.cfg)
	}
	sort.Slice(doc.Entries, func(i, j int) bool {
		return GroupID(doc.Entries[i].Stream, doc.Entries[i].Group) < GroupID(doc.Entries[j].Stream, doc.Entries[j].Group)
	})
	data, _ := json.Marshal(doc)
	s.submit(ConfigStream, configEventType, data, nil, then)
}

// submit writes one event and calls then on the goroutine.
func (s *PersistentService) submit(stream, typ string, data, meta []byte, then func(error)) {
	op := &store.Op{Kind: store.OpWrite, Stream: stream, ExpectedVersion: store.ExpectedVersionAny,
		Events: []store.NewEvent{{ID: codec.NewGUID(), Type: typ, IsJSON: true, Data: data, Metadata: meta}}}
	s.writes.Add(1)
	op.Done = func(o *store.Op) {
		defer s.writes.Done()
		err := o.Result.Err
		if err == nil && o.Result.Status != store.OpSuccess {
			err = errors.New("write to " + stream + " failed with status " + strconv.Itoa(int(o.Result.Status)))
		}
		s.complete(func() { then(err) })
	}
	if err := s.db.Submit(op); err != nil {
		s.writes.Done()
		// Not queued: report on the goroutine, after the caller returns.
		s.complete(func() { then(err) })
	}
}

func (s *PersistentService) create(cfg GroupConfig, reply func(error)) {
	id := GroupID(cfg.Stream, cfg.Group)
	if _, ok := s.groups[id]; ok {
		reply(ErrGroupExists)
		return
	}
	if err := cfg.validate(); err != nil {
		reply(err)
		return
	}
	if len(s.groups) >= s.opts.GroupsMax {
		reply(ErrTooManyGroups)
		return
	}
	g := s.newGroup(cfg, -1)
	s.groups[id] = g
	s.saveConfig(func(err error) {
		if err != nil && s.groups[id] == g {
			delete(s.groups, id)
		}
		reply(err)
	})
}

func (s *PersistentService) update(cfg GroupConfig, reply func(error)) {
	id := GroupID(cfg.Stream, cfg.Group)
	old, ok := s.groups[id]
	if !ok {
		reply(ErrGroupNotFound)
		return
	}
	if err := cfg.validate(); err != nil {
		reply(err)
		return
	}
	for _, c := range old.consumers {
		c.c.Dropped(codec.DropUnsubscribed)
	}
	// Resume where the old group's checkpoint rule would: its oldest
	// event not done.
	g := s.newGroup(cfg, old.checkpointCandidate())
	g.lastCp = old.lastCp
	s.groups[id] = g
	s.saveConfig(reply)
}

func (s *PersistentService) delete(id string, reply func(error)) {
	g, ok := s.groups[id]
	if !ok {
		reply(ErrGroupNotFound)
		return
	}
	g.deleted = true
	for _, c := range g.consumers {
		// v4 sends Unsubscribed, never PersistentSubscriptionDeleted (spec §5.2).
		c.c.Dropped(codec.DropUnsubscribed)
	}
	delete(s.groups, id)
	for _, st := range []string{CheckpointStream(id), ParkedStream(id)} {
		op := &store.Op{Kind: store.OpDelete, Stream: st, ExpectedVersion: store.ExpectedVersionAny}
		s.writes.Add(1)
		op.Done = func(*store.Op) { s.writes.Done() }
		if s.db.Submit(op) != nil {
			s.writes.Done()
		}
	}
	s.saveConfig(reply)
}

// newGroup builds a group. cp is the last processed event number to
// resume after (-1: use the stored checkpoint, then start_from).
func (s *PersistentService) newGroup(cfg GroupConfig, cp int64) *group {
	g := &group{cfg: cfg, id: GroupID(cfg.Stream, cfg.Group), inflight: map[[16]byte]*Message{},
		pending: map[int64]struct{}{}, lastCp: -1, cpAt: s.clock.Now()}
	if cp < 0 {
		if sl := s.rd.ReadStreamBackward(CheckpointStream(g.id), -1, 1, false); sl.Status == store.ReadSuccess && len(sl.Events) == 1 {
			if n, err := strconv.ParseInt(string(sl.Events[0].Event.Data), 10, 64); err == nil {
				cp = n
				g.lastCp = n
			}
		}
	}
	switch {
	case cp >= 0:
		g.nextRead = cp + 1
	case cfg.StartFrom >= 0:
		g.nextRead = cfg.StartFrom
	default:
		last := s.rd.ReadStreamBackward(cfg.Stream, -1, 1, false).LastEventNumber
		if last == store.EventNumberDeletedStream {
			last = -1
		}
		g.nextRead = last + 1
	}
	g.lastRead = g.nextRead - 1
	return g
}

func (s *PersistentService) load() error {
	sl := s.rd.ReadStreamBackward(ConfigStream, -1, 1, false)
	if sl.Status != store.ReadSuccess || len(sl.Events) == 0 {
		return nil
	}
	var doc configDoc
	if err := json.Unmarshal(sl.Events[0].Event.Data, &doc); err != nil {
		return errors.New("subscriptions: cannot parse " + ConfigStream + ": " + err.Error())
	}
	for _, cfg := range doc.Entries {
		if cfg.validate() != nil {
			s.log.Warn("skipping an invalid stored group", "stream", cfg.Stream, "group", cfg.Group)
			continue
		}
		s.groups[GroupID(cfg.Stream, cfg.Group)] = s.newGroup(cfg, -1)
	}
	return nil
}

// --- consumers ------------------------------------------------------------

func (s *PersistentService) connect(id string, allowed int, key any, c Consumer) {
	g, ok := s.groups[id]
	if !ok {
		c.Dropped(codec.DropNotFound)
		return
	}
	if g.cfg.MaxSubscriberCount > 0 && len(g.consumers) >= g.cfg.MaxSubscriberCount {
		c.Dropped(codec.DropSubscriberMaxCountReached)
		return
	}
	last := s.rd.ReadStreamBackward(g.cfg.Stream, -1, 1, false).LastEventNumber
	c.Confirmed(s.db.LastCommitPosition(), id, last)
	if allowed <= 0 {
		allowed = 1
	}
	g.consumers = append(g.consumers, &pconsumer{c: c, key: key, max: allowed})
	s.deliver(g)
}

func (s *PersistentService) disconnect(key any, unsubscribed bool) {
	for _, g := range s.groups {
		for i, c := range g.consumers {
			if c.key != key {
				continue
			}
			if unsubscribed {
				c.c.Dropped(codec.DropUnsubscribed)
			}
			s.removeConsumer(g, i)
			s.deliver(g)
			return
		}
	}
}

// removeConsumer drops consumer i and re-queues its in-flight events.
func (s *PersistentService) removeConsumer(g *group, i int) {
	c := g.consumers[i]
	c.gone = true
	g.consumers = append(g.consumers[:i], g.consumers[i+1:]...)
	for b := range g.buckets {
		if g.buckets[b] == c {
			g.buckets[b] = nil
		}
	}
	for id, m := range g.inflight {
		if m.consumer == c {
			delete(g.inflight, id)
			m.consumer = nil
			s.retryOrPark(g, m)
		}
	}
}

func (s *PersistentService) ack(id string, key any, ids [][16]byte) {
	g := s.groups[id]
	if g == nil {
		return
	}
	for _, eid := range ids {
		m := g.inflight[eid]
		if m == nil {
			continue // not outstanding: ignored (spec §5.4)
		}
		s.release(g, m)
		g.stats.Acked++
		s.done(g, m)
	}
	s.deliver(g)
}

func (s *PersistentService) nak(id string, key any, ids [][16]byte, action codec.NakAction, reason string) {
	g := s.groups[id]
	if g == nil {
		return
	}
	for _, eid := range ids {
		m := g.inflight[eid]
		if m == nil {
			continue
		}
		s.release(g, m)
		g.stats.Naked++
		switch action {
		case codec.NakPark:
			s.park(g, m, reason)
		case codec.NakSkip, codec.NakStop:
			s.done(g, m)
		default: // Retry, Unknown
			s.retryOrPark(g, m)
		}
	}
	s.deliver(g)
}

// release takes m out of flight.
func (s *PersistentService) release(g *group, m *Message) {
	delete(g.inflight, m.ID)
	if m.consumer != nil {
		m.consumer.inflight--
		m.consumer = nil
	}
}

func (s *PersistentService) retryOrPark(g *group, m *Message) {
	if m.RetryCount >= g.cfg.MaxRetryCount {
		s.park(g, m, "Max retry count reached")
		return
	}
	m.RetryCount++
	g.stats.Retried++
	i := sort.Search(len(g.retry), func(i int) bool { return g.retry[i].Number >= m.Number })
	g.retry = append(g.retry, nil)
	copy(g.retry[i+1:], g.retry[i:])
	g.retry[i] = m
}

// park writes m to the parked stream; m stays pending (the checkpoint
// cannot pass it) until the write succeeds; a failed write is retried on
// the next tick.
func (s *PersistentService) park(g *group, m *Message, reason string) {
	m.parkWhy = reason
	g.parking++
	orig := &m.Event.Event
	if m.Event.HasLink {
		orig = &m.Event.Link
	}
	data := []byte(strconv.FormatInt(orig.Number, 10) + "@" + orig.Stream)
	if m.Event.HasLink && !m.Event.HasEvent {
		data = append([]byte(nil), m.Event.Link.Data...)
	}
	meta, _ := json.Marshal(map[string]any{"added": s.clock.Now().UTC(), "reason": reason, "subscriptionEventNumber": m.Number})
	s.submit(ParkedStream(g.id), "$>", data, meta, func(err error) {
		g.parking--
		if g.deleted {
			return
		}
		if err != nil {
			s.log.Warn("parking an event failed; retrying", "group", g.id, "number", m.Number, "err", err)
			g.toPark = append(g.toPark, m)
			return
		}
		g.stats.Parked++
		s.done(g, m)
	})
}

// done marks m processed and checkpoints when enough are.
func (s *PersistentService) done(g *group, m *Message) {
	delete(g.pending, m.Number)
	s.tryCheckpoint(g, false)
}

// checkpointCandidate is the last event number all of whose predecessors
// are done: never ahead of the oldest pending event.
func (g *group) checkpointCandidate() int64 {
	cp := g.lastRead
	for n := range g.pending {
		if n-1 < cp {
			cp = n - 1
		}
	}
	return cp
}

// tryCheckpoint follows TryMarkCheckpoint of PersistentSubscription.cs
// (oss-v4.0.3): with difference = candidate - last checkpoint, a timer
// check writes once difference >= minCheckPointCount, any check once
// difference >= maxCheckPointCount. One write at a time; a failed write is
// retried by the next check.
func (s *PersistentService) tryCheckpoint(g *group, timer bool) {
	if g.cpWriting || g.deleted {
		return
	}
	limit := int64(g.cfg.MaxCheckPointCount)
	if limit <= 0 {
		limit = 1
	}
	if !timer && g.lastRead-g.lastCp < limit {
		return // cheap bound: the candidate is at most lastRead
	}
	cp := g.checkpointCandidate()
	diff := cp - g.lastCp
	if diff <= 0 || (diff < limit && (!timer || diff < int64(max(g.cfg.MinCheckPointCount, 1)))) {
		return
	}
	g.cpWriting = true
	s.submit(CheckpointStream(g.id), checkpointEventType, []byte(strconv.FormatInt(cp, 10)), nil, func(err error) {
		g.cpWriting = false
		if err != nil {
			// Retried by the next tick or done event: the group keeps
			// delivering, only the checkpoint lags.
			s.log.Warn("writing a checkpoint failed; retrying", "group", g.id, "err", err)
			return
		}
		if cp > g.lastCp {
			g.lastCp = cp
		}
		g.cpAt = s.clock.Now()
		s.tryCheckpoint(g, false) // events done while this write was in flight
	})
}

func (s *PersistentService) tick(now time.Time) {
	for _, g := range s.groups {
		if g.cfg.MessageTimeoutMs > 0 {
			for _, m := range g.inflight {
				if !now.Before(m.deadline) {
					s.release(g, m)
					g.stats.TimedOut++
					s.retryOrPark(g, m)
				}
			}
		}
		if len(g.toPark) > 0 {
			l := g.toPark
			g.toPark = nil
			for _, m := range l {
				s.park(g, m, m.parkWhy)
			}
		}
		// checkPointAfter 0 means no time-based checkpoint (spec §3.6).
		after := time.Duration(g.cfg.CheckPointAfterMs) * time.Millisecond
		s.tryCheckpoint(g, after > 0 && now.Sub(g.cpAt) >= after)
		s.deliver(g)
	}
}

// --- delivery -------------------------------------------------------------

func (s *PersistentService) deliverAll() {
	for _, g := range s.groups {
		s.deliver(g)
	}
}

// fill reads the group's stream into its buffer while there is room; it
// reports whether it added anything.
func (s *PersistentService) fill(g *group) (added bool) {
	for {
		room := g.cfg.buffer() - len(g.queue) - len(g.retry) - len(g.inflight)
		if room <= 0 {
			return added
		}
		sl := s.rd.ReadStreamForward(g.cfg.Stream, g.nextRead, min(room, g.cfg.batch()), g.cfg.ResolveLinkTos)
		if sl.Status != store.ReadSuccess || len(sl.Events) == 0 {
			return added
		}
		added = true
		for i := range sl.Events {
			m := copyMessage(&sl.Events[i])
			g.queue = append(g.queue, m)
			g.pending[m.Number] = struct{}{}
			g.lastRead = m.Number
		}
		g.nextRead = sl.NextEventNumber
		if sl.IsEndOfStream {
			return added
		}
	}
}

// copyMessage deep-copies a read result (the reader reuses its buffers).
func copyMessage(e *store.ResolvedEvent) *Message {
	m := &Message{Event: *e}
	cp := func(r *store.EventRecord) {
		r.Data = append([]byte(nil), r.Data...)
		r.Metadata = append([]byte(nil), r.Metadata...)
		r.Stream = string(append([]byte(nil), r.Stream...))
		r.Type = string(append([]byte(nil), r.Type...))
	}
	orig := &m.Event.Event
	if e.HasEvent {
		cp(&m.Event.Event)
	}
	if e.HasLink {
		cp(&m.Event.Link)
		orig = &m.Event.Link
	}
	m.ID, m.Number = orig.ID, orig.Number
	m.stream = orig.Stream
	if e.HasLink && e.HasEvent {
		m.stream = m.Event.Event.Stream
	}
	return m
}

// deliver hands buffered events to consumers with free slots: retries
// first (in event-number order), then new events (spec §5.3). Consumers
// whose Deliver failed are only marked gone during dispatch and removed
// afterwards, so their re-queued events never race the lists being
// dispatched.
func (s *PersistentService) deliver(g *group) {
	for len(g.consumers) > 0 {
		added := s.fill(g)
		g.retry = s.dispatchList(g, g.retry)
		g.queue = s.dispatchList(g, g.queue)
		reaped := false
		for i := len(g.consumers) - 1; i >= 0; i-- {
			if g.consumers[i].gone {
				s.removeConsumer(g, i)
				reaped = true
			}
		}
		if !reaped && !(added && len(g.queue) == 0) {
			return
		}
	}
}

func (s *PersistentService) dispatchList(g *group, l []*Message) []*Message {
	kept := l[:0]
	i := 0
	for ; i < len(l); i++ {
		m := l[i]
		c := s.pick(g, m)
		if c == nil {
			if g.cfg.Strategy != StrategyPinned {
				break
			}
			kept = append(kept, m) // its bucket's consumer is full; later buckets may go
			continue
		}
		if !s.send(g, c, m) {
			i-- // c is gone now: offer m to the others, keeping stream order
		}
	}
	kept = append(kept, l[i:]...)
	clear(l[len(kept):])
	return kept
}

func (s *PersistentService) send(g *group, c *pconsumer, m *Message) bool {
	m.consumer = c
	m.deadline = s.clock.Now().Add(time.Duration(g.cfg.MessageTimeoutMs) * time.Millisecond)
	if err := c.c.Deliver(m); err != nil {
		m.consumer = nil
		c.gone = true
		return false
	}
	c.inflight++
	g.inflight[m.ID] = m
	g.stats.Delivered++
	return true
}

// pick chooses the consumer for m by the group's strategy; nil if none
// has a free slot.
func (s *PersistentService) pick(g *group, m *Message) *pconsumer {
	n := len(g.consumers)
	free := func(c *pconsumer) bool { return !c.gone && c.inflight < c.max }
	switch g.cfg.Strategy {
	case StrategyDispatchToSingle:
		for _, c := range g.consumers {
			if free(c) {
				return c
			}
		}
		return nil
	case StrategyPinned:
		h := fnv.New32a()
		h.Write([]byte(m.stream))
		b := h.Sum32() % pinnedBuckets
		c := g.buckets[b]
		if c == nil || c.gone {
			c = nil
			for k := 0; k < n; k++ {
				if x := g.consumers[(int(b)+k)%n]; !x.gone {
					c = x
					break
				}
			}
			if c == nil {
				return nil
			}
			g.buckets[b] = c
		}
		if free(c) {
			return c
		}
		return nil
	default: // RoundRobin
		for k := 0; k < n; k++ {
			c := g.consumers[(g.rr+k)%n]
			if free(c) {
				g.rr = (g.rr + k + 1) % n
				return c
			}
		}
		return nil
	}
}

func (s *PersistentService) replayParked(id string, reply func(error)) {
	g := s.groups[id]
	if g == nil {
		reply(ErrGroupNotFound)
		return
	}
	ps := ParkedStream(id)
	from := int64(0)
	if md, _, ok := s.dbMeta(ps); ok && md.TruncateBefore > 0 {
		from = md.TruncateBefore
	}
	last := int64(-1)
	for {
		sl := s.rd.ReadStreamForward(ps, from, 256, true)
		if sl.Status != store.ReadSuccess {
			break
		}
		for i := range sl.Events {
			e := &sl.Events[i]
			last = e.Link.Number
			if !e.HasEvent {
				continue
			}
			// Delivered again as the original event of the group's stream.
			m := copyMessage(&store.ResolvedEvent{Event: e.Event, HasEvent: true, Pos: e.Pos})
			if _, dup := g.pending[m.Number]; dup {
				continue
			}
			g.pending[m.Number] = struct{}{}
			g.retry = append(g.retry, m)
		}
		if sl.IsEndOfStream || len(sl.Events) == 0 {
			break
		}
		from = sl.NextEventNumber
	}
	sort.Slice(g.retry, func(i, j int) bool { return g.retry[i].Number < g.retry[j].Number })
	s.deliver(g)
	if last < 0 {
		reply(nil)
		return
	}
	meta, _ := json.Marshal(map[string]any{"$tb": last + 1, "$acl": map[string]string{
		"$r": "$admins", "$w": "$admins", "$d": "$admins", "$mr": "$admins", "$mw": "$admins"}})
	s.submit("$$"+ps, "$metadata", meta, nil, reply)
}

// dbMeta reads stream metadata if the DB exposes it.
func (s *PersistentService) dbMeta(stream string) (store.StreamMetadata, int64, bool) {
	if m, ok := s.db.(interface {
		StreamMetadata(string) (store.StreamMetadata, int64, bool)
	}); ok {
		return m.StreamMetadata(stream)
	}
	return store.StreamMetadata{}, 0, false
}

// PullMax bounds one Pull (the HTTP API's 1…100).
const PullMax = 100

// Pull hands out up to count messages to a pull consumer (HTTP, spec
// http-api §3.4): they become in flight exactly as if pushed, with the
// group's message timeout, and must be acked or nacked by id. reply runs
// on the service goroutine with copies of the messages.
func (s *PersistentService) Pull(stream, groupName string, count int, reply func([]Message, error)) {
	if !s.post(func() { s.pull(GroupID(stream, groupName), count, reply) }) {
		reply(nil, ErrBusy)
	}
}

func (s *PersistentService) pull(id string, count int, reply func([]Message, error)) {
	g := s.groups[id]
	if g == nil {
		reply(nil, ErrGroupNotFound)
		return
	}
	count = max(1, min(count, PullMax))
	s.fill(g)
	out := make([]Message, 0, count)
	take := func(l []*Message) []*Message {
		n := 0
		for ; n < len(l) && len(out) < count; n++ {
			m := l[n]
			m.consumer = nil
			m.deadline = s.clock.Now().Add(time.Duration(g.cfg.MessageTimeoutMs) * time.Millisecond)
			g.inflight[m.ID] = m
			g.stats.Delivered++
			out = append(out, *m)
		}
		rest := append(l[:0], l[n:]...)
		clear(l[len(rest):])
		return rest
	}
	g.retry = take(g.retry)
	g.queue = take(g.queue)
	reply(out, nil)
}
