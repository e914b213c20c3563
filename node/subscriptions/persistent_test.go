package subscriptions

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/store"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testConsumer records what the service sends it.
type testConsumer struct {
	name    string
	msgs    chan *Message
	confirm chan string
	drops   chan codec.SubscriptionDropReason
	fail    bool
}

func newConsumer(name string) *testConsumer {
	return &testConsumer{name: name, msgs: make(chan *Message, 10000), confirm: make(chan string, 1),
		drops: make(chan codec.SubscriptionDropReason, 4)}
}

func (c *testConsumer) Confirmed(_ int64, id string, _ int64) { c.confirm <- id }
func (c *testConsumer) Deliver(m *Message) error {
	if c.fail {
		return errors.New("gone")
	}
	cp := *m
	c.msgs <- &cp
	return nil
}
func (c *testConsumer) Dropped(r codec.SubscriptionDropReason) { c.drops <- r }

func (c *testConsumer) take(t testing.TB, n int) []*Message {
	t.Helper()
	var out []*Message
	for len(out) < n {
		select {
		case m := <-c.msgs:
			out = append(out, m)
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: got %d messages; want %d", c.name, len(out), n)
		}
	}
	return out
}

func (c *testConsumer) none(t testing.TB, ps *PersistentService) {
	t.Helper()
	sync_(t, ps)
	select {
	case m := <-c.msgs:
		t.Fatalf("%s: unexpected delivery of #%d", c.name, m.Number)
	default:
	}
}

func nums(ms []*Message) []int64 {
	var out []int64
	for _, m := range ms {
		out = append(out, m.Number)
	}
	return out
}

func ids(ms ...*Message) [][16]byte {
	var out [][16]byte
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

// sync_ waits until the service has run everything posted before.
func sync_(t testing.TB, ps *PersistentService) []GroupInfo {
	t.Helper()
	ch := make(chan []GroupInfo, 1)
	for !ps.Groups(func(g []GroupInfo) { ch <- g }) {
		time.Sleep(time.Millisecond)
	}
	return <-ch
}

func newPersistent(t testing.TB, db *store.DB, clk *fakeClock) *PersistentService {
	t.Helper()
	ps := NewPersistent(PersistentOptions{DB: db, Logger: quietLogger(), Clock: clk, TickInterval: -1})
	if err := ps.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ps.Stop)
	return ps
}

func cfg(stream, group, strategy string) GroupConfig {
	return GroupConfig{Stream: stream, Group: group, StartFrom: 0, MessageTimeoutMs: 30000, MaxRetryCount: 2,
		LiveBufferSize: 500, HistoryBufferSize: 500, ReadBatchSize: 20, CheckPointAfterMs: 0, MinCheckPointCount: 1,
		MaxCheckPointCount: 1, Strategy: strategy}
}

func mustDo(t testing.TB, f func(func(error))) error {
	t.Helper()
	ch := make(chan error, 1)
	f(func(err error) { ch <- err })
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no reply")
	}
	return nil
}

func groupInfo(t testing.TB, ps *PersistentService, id string) GroupInfo {
	t.Helper()
	for _, g := range sync_(t, ps) {
		if g.ID == id {
			return g
		}
	}
	t.Fatalf("no group %s", id)
	return GroupInfo{}
}

func writeN(t testing.TB, db *store.DB, stream string, n int) {
	for i := 0; i < n; i++ {
		write(t, db, stream, fmt.Sprintf("e%d", i))
	}
}

func TestPersistentManagement(t *testing.T) {
	db := openDB(t)
	clk := &fakeClock{t: time.Unix(1000, 0)}
	ps := newPersistent(t, db, clk)
	c := cfg("orders", "billing", StrategyRoundRobin)
	if err := mustDo(t, func(r func(error)) { ps.Create(c, r) }); err != nil {
		t.Fatal(err)
	}
	if err := mustDo(t, func(r func(error)) { ps.Create(c, r) }); !errors.Is(err, ErrGroupExists) {
		t.Fatalf("second create: %v", err)
	}
	bad := cfg("$all", "g", StrategyRoundRobin)
	if err := mustDo(t, func(r func(error)) { ps.Create(bad, r) }); !errors.Is(err, ErrBadStream) {
		t.Fatalf("$all create: %v", err)
	}
	bad = cfg("s", "g", "Bogus")
	if err := mustDo(t, func(r func(error)) { ps.Create(bad, r) }); err == nil || err.Error() != "Consumer strategy Bogus does not exist." {
		t.Fatalf("bad strategy: %v", err)
	}
	if err := mustDo(t, func(r func(error)) { ps.Update(cfg("nope", "g", StrategyRoundRobin), r) }); !errors.Is(err, ErrGroupNotFound) {
		t.Fatalf("update missing: %v", err)
	}
	// Config survives a restart.
	ps.Stop()
	ps2 := newPersistent(t, db, clk)
	if g := groupInfo(t, ps2, "orders::billing"); g.Config.Strategy != StrategyRoundRobin {
		t.Fatalf("reloaded %+v", g.Config)
	}
	cons := newConsumer("a")
	ps2.Connect("orders", "billing", 10, cons, cons)
	if id := <-cons.confirm; id != "orders::billing" {
		t.Fatalf("confirmation id %q", id)
	}
	if err := mustDo(t, func(r func(error)) { ps2.Delete("orders", "billing", r) }); err != nil {
		t.Fatal(err)
	}
	if r := <-cons.drops; r != codec.DropUnsubscribed {
		t.Fatalf("drop on delete: %v", r)
	}
	c2 := newConsumer("b")
	ps2.Connect("orders", "billing", 10, c2, c2)
	if r := <-c2.drops; r != codec.DropNotFound {
		t.Fatalf("connect to a deleted group: %v", r)
	}
	if err := mustDo(t, func(r func(error)) { ps2.Delete("orders", "billing", r) }); !errors.Is(err, ErrGroupNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	// Subscriber limit.
	lim := cfg("lim", "g", StrategyRoundRobin)
	lim.MaxSubscriberCount = 1
	mustDo(t, func(r func(error)) { ps2.Create(lim, r) })
	a, b := newConsumer("a"), newConsumer("b")
	ps2.Connect("lim", "g", 1, a, a)
	<-a.confirm
	ps2.Connect("lim", "g", 1, b, b)
	if r := <-b.drops; r != codec.DropSubscriberMaxCountReached {
		t.Fatalf("over the limit: %v", r)
	}
}

func TestPersistentRoundRobinAndDispatchToSingle(t *testing.T) {
	db := openDB(t)
	clk := &fakeClock{t: time.Unix(1000, 0)}
	ps := newPersistent(t, db, clk)
	writeN(t, db, "rr", 6)
	writeN(t, db, "ds", 6)
	mustDo(t, func(r func(error)) { ps.Create(cfg("rr", "g", StrategyRoundRobin), r) })
	mustDo(t, func(r func(error)) { ps.Create(cfg("ds", "g", StrategyDispatchToSingle), r) })
	a, b := newConsumer("a"), newConsumer("b")
	ps.Connect("rr", "g", 2, a, a)
	ps.Connect("rr", "g", 10, b, b)
	<-a.confirm
	<-b.confirm
	// a connected first and took its 2 slots; b takes the rest.
	ga := a.take(t, 2)
	gb := b.take(t, 4)
	if fmt.Sprint(nums(ga)) != "[0 1]" || fmt.Sprint(nums(gb)) != "[2 3 4 5]" {
		t.Fatalf("a %v b %v", nums(ga), nums(gb))
	}
	ps.Ack("rr::g", a, ids(ga...))
	ps.Ack("rr::g", b, ids(gb...))
	writeN(t, db, "rr", 4) // 6..9 alternate between the two
	ma, mb := a.take(t, 2), b.take(t, 2)
	if fmt.Sprint(nums(ma)) != "[6 8]" || fmt.Sprint(nums(mb)) != "[7 9]" {
		t.Fatalf("round robin a %v b %v", nums(ma), nums(mb))
	}

	c, d := newConsumer("c"), newConsumer("d")
	ps.Connect("ds", "g", 4, c, c)
	<-c.confirm
	gc := c.take(t, 4)
	ps.Connect("ds", "g", 4, d, d)
	<-d.confirm
	gd := d.take(t, 2)
	if fmt.Sprint(nums(gc)) != "[0 1 2 3]" || fmt.Sprint(nums(gd)) != "[4 5]" {
		t.Fatalf("dispatch to single c %v d %v", nums(gc), nums(gd))
	}
	ps.Ack("ds::g", c, ids(gc[0]))
	writeN(t, db, "ds", 1)
	if m := c.take(t, 1); m[0].Number != 6 {
		t.Fatalf("the first consumer gets new events while it has room; got #%d", m[0].Number)
	}
}

func TestPersistentPinned(t *testing.T) {
	db := openDB(t)
	clk := &fakeClock{t: time.Unix(1000, 0)}
	ps := newPersistent(t, db, clk)
	// A category-like stream of links to many source streams.
	for i := 0; i < 40; i++ {
		src := fmt.Sprintf("src-%d", i%8)
		r := write(t, db, src, "e")
		op := &store.Op{Kind: store.OpWrite, Stream: "cat", ExpectedVersion: store.ExpectedVersionAny,
			Events: []store.NewEvent{{ID: codec.NewGUID(), Type: "$>", Data: []byte(fmt.Sprintf("%d@%s", r.FirstEventNumber, src))}}}
		if err := db.Do(t.Context(), op); err != nil {
			t.Fatal(err)
		}
	}
	c := cfg("cat", "g", StrategyPinned)
	c.ResolveLinkTos = true
	mustDo(t, func(r func(error)) { ps.Create(c, r) })
	a, b := newConsumer("a"), newConsumer("b")
	ps.Connect("cat", "g", 100, a, a)
	ps.Connect("cat", "g", 100, b, b)
	owner := map[string]string{}
	got := 0
	deadline := time.After(10 * time.Second)
	for got < 40 {
		var m *Message
		var who string
		select {
		case m = <-a.msgs:
			who = "a"
		case m = <-b.msgs:
			who = "b"
		case <-deadline:
			t.Fatalf("got %d of 40", got)
		}
		got++
		src := m.Event.Event.Stream
		if o, ok := owner[src]; ok && o != who {
			t.Fatalf("events of %s went to %s and %s", src, o, who)
		}
		owner[src] = who
		if !m.Event.HasLink || m.Event.Link.Stream != "cat" {
			t.Fatalf("resolved link expected: %+v", m.Event)
		}
	}
}

func TestPersistentNakRetryParkSkipAndTimeout(t *testing.T) {
	db := openDB(t)
	clk := &fakeClock{t: time.Unix(1000, 0)}
	ps := newPersistent(t, db, clk)
	writeN(t, db, "n", 4)
	c := cfg("n", "g", StrategyRoundRobin)
	c.MaxRetryCount = 1
	c.MessageTimeoutMs = 5000
	mustDo(t, func(r func(error)) { ps.Create(c, r) })
	a := newConsumer("a")
	ps.Connect("n", "g", 10, a, a)
	ms := a.take(t, 4)
	// #0 retried, #1 parked by the client, #2 skipped, #3 left to time out.
	ps.Nak("n::g", a, ids(ms[0]), codec.NakRetry, "later")
	ps.Nak("n::g", a, ids(ms[1]), codec.NakPark, "poison")
	ps.Nak("n::g", a, ids(ms[2]), codec.NakSkip, "")
	r := a.take(t, 1)[0]
	if r.Number != 0 || r.RetryCount != 1 {
		t.Fatalf("retry: #%d count %d", r.Number, r.RetryCount)
	}
	clk.Add(4 * time.Second)
	ps.Tick()
	a.none(t, ps) // not yet timed out
	clk.Add(2 * time.Second)
	ps.Tick()
	// Both #0 and #3 time out: #0 is at the retry limit and is parked, #3
	// comes back with retry count 1.
	got := a.take(t, 1)
	if got[0].Number != 3 || got[0].RetryCount != 1 {
		t.Fatalf("timeout redelivered #%d (retry %d)", got[0].Number, got[0].RetryCount)
	}
	a.none(t, ps)
	ps.Ack("n::g", a, ids(got[0]))
	ps.Ack("n::g", a, ids(got[0])) // not outstanding any more: ignored
	deadline := time.Now().Add(10 * time.Second)
	var g GroupInfo
	for time.Now().Before(deadline) {
		g = groupInfo(t, ps, "n::g")
		if g.Stats.Parked == 2 && g.LastCheckpoint == 3 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if g.Stats.Parked != 2 || g.LastCheckpoint != 3 {
		t.Fatalf("stats %+v checkpoint %d; want 2 parked, checkpoint 3", g.Stats, g.LastCheckpoint)
	}
	rd := db.NewReader()
	sl := rd.ReadStreamForward(ParkedStream("n::g"), 0, 10, true)
	if len(sl.Events) != 2 || sl.Events[0].Event.Number != 1 || sl.Events[1].Event.Number != 0 {
		t.Fatalf("parked stream %+v", sl.Events)
	}
	// Replay parked: both come back, in number order.
	if err := mustDo(t, func(r func(error)) { ps.ReplayParked("n", "g", r) }); err != nil {
		t.Fatal(err)
	}
	rp := a.take(t, 2)
	if fmt.Sprint(nums(rp)) != "[0 1]" {
		t.Fatalf("replayed %v", nums(rp))
	}
}

func TestPersistentDisconnectRequeuesAndCheckpointRestart(t *testing.T) {
	db := openDB(t)
	clk := &fakeClock{t: time.Unix(1000, 0)}
	ps := newPersistent(t, db, clk)
	writeN(t, db, "cp", 6)
	mustDo(t, func(r func(error)) { ps.Create(cfg("cp", "g", StrategyRoundRobin), r) })
	a := newConsumer("a")
	ps.Connect("cp", "g", 10, a, a)
	ms := a.take(t, 6)
	// Ack all but #2: the checkpoint may not pass it.
	ps.Ack("cp::g", a, ids(ms[0], ms[1], ms[3], ms[4], ms[5]))
	deadline := time.Now().Add(10 * time.Second)
	for groupInfo(t, ps, "cp::g").LastCheckpoint != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if cp := groupInfo(t, ps, "cp::g").LastCheckpoint; cp != 1 {
		t.Fatalf("checkpoint %d; want 1 (event 2 is unacknowledged)", cp)
	}
	// Consumer a leaves: #2 goes to b with a retry count.
	b := newConsumer("b")
	ps.Connect("cp", "g", 10, b, b)
	<-b.confirm
	ps.Disconnect(a, false)
	if m := b.take(t, 1)[0]; m.Number != 2 || m.RetryCount != 1 {
		t.Fatalf("after disconnect b got #%d retry %d", m.Number, m.RetryCount)
	}
	// Restart before #2 is acked: resume after the checkpoint (2..5 again;
	// 0 and 1 never).
	ps.Stop()
	ps2 := newPersistent(t, db, clk)
	c := newConsumer("c")
	ps2.Connect("cp", "g", 10, c, c)
	if got := nums(c.take(t, 4)); fmt.Sprint(got) != "[2 3 4 5]" {
		t.Fatalf("after restart %v", got)
	}
	c.none(t, ps2)
}

func TestPersistentDeliverErrorRemovesConsumer(t *testing.T) {
	db := openDB(t)
	clk := &fakeClock{t: time.Unix(1000, 0)}
	ps := newPersistent(t, db, clk)
	mustDo(t, func(r func(error)) { ps.Create(cfg("de", "g", StrategyRoundRobin), r) })
	bad, good := newConsumer("bad"), newConsumer("good")
	bad.fail = true
	ps.Connect("de", "g", 10, bad, bad)
	ps.Connect("de", "g", 10, good, good)
	writeN(t, db, "de", 3)
	if got := nums(good.take(t, 3)); fmt.Sprint(got) != "[0 1 2]" {
		t.Fatalf("good got %v", got)
	}
	if n := groupInfo(t, ps, "de::g").Consumers; n != 1 {
		t.Fatalf("consumers %d; want 1", n)
	}
}

func TestPersistentPullIsInFlightUntilAckedOrTimedOut(t *testing.T) {
	db := openDB(t)
	clk := &fakeClock{t: time.Unix(1000, 0)}
	ps := newPersistent(t, db, clk)
	writeN(t, db, "pull", 5)
	c := cfg("pull", "g", StrategyRoundRobin)
	c.MessageTimeoutMs = 1000
	mustDo(t, func(r func(error)) { ps.Create(c, r) })
	pull := func(n int) []Message {
		ch := make(chan []Message, 1)
		ps.Pull("pull", "g", n, func(m []Message, err error) {
			if err != nil {
				t.Error(err)
			}
			ch <- m
		})
		return <-ch
	}
	first := pull(3)
	second := pull(3)
	if len(first) != 3 || first[0].Number != 0 || len(second) != 2 || second[0].Number != 3 {
		t.Fatalf("pulls %d %d", len(first), len(second))
	}
	if got := pull(3); len(got) != 0 {
		t.Fatalf("in-flight messages handed out again: %d", len(got))
	}
	ps.Ack("pull::g", nil, [][16]byte{first[0].ID, first[1].ID, first[2].ID, second[0].ID})
	clk.Add(2 * time.Second)
	ps.Tick()
	again := pull(10)
	if len(again) != 1 || again[0].Number != 4 || again[0].RetryCount != 1 {
		t.Fatalf("after the timeout: %+v", again)
	}
	ch := make(chan error, 1)
	ps.Pull("nope", "g", 1, func(_ []Message, err error) { ch <- err })
	if err := <-ch; !errors.Is(err, ErrGroupNotFound) {
		t.Fatalf("pull from a missing group: %v", err)
	}
}
