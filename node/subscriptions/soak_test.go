package subscriptions

import (
	"context"
	"errors"
	"math/rand"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/store"
)

// soakEvents is the soak's size: short here, 1,000,000 under -tags long
// (soak_long_test.go).
var soakEvents = 5000

// soakConsumer acks most events, naks some (retry or park), ignores some
// (they time out) and sometimes disconnects; it runs on its own goroutine.
type soakConsumer struct {
	ch   chan *Message
	gone chan struct{}
}

func (c *soakConsumer) Confirmed(int64, string, int64) {}
func (c *soakConsumer) Deliver(m *Message) error {
	select {
	case <-c.gone:
		return errors.New("gone")
	default:
	}
	select {
	case c.ch <- &Message{ID: m.ID, Number: m.Number, RetryCount: m.RetryCount}:
		return nil
	default:
		return errors.New("consumer buffer full")
	}
}
func (c *soakConsumer) Dropped(codec.SubscriptionDropReason) {}

type soak struct {
	t       *testing.T
	ps      *PersistentService
	rng     *rand.Rand
	rngMu   sync.Mutex
	mu      sync.Mutex
	minSeen int64 // smallest number delivered in this phase
	stop    chan struct{}
	wg      sync.WaitGroup
}

func (s *soak) roll() int {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.Intn(1000)
}

func (s *soak) run(stream string) {
	defer s.wg.Done()
	for {
		c := &soakConsumer{ch: make(chan *Message, 64), gone: make(chan struct{})}
		s.ps.Connect(stream, "g", 20, c, c)
		reconnect := false
		for !reconnect {
			select {
			case <-s.stop:
				s.ps.Disconnect(c, false)
				return
			case m := <-c.ch:
				s.mu.Lock()
				if m.Number < s.minSeen {
					s.minSeen = m.Number
				}
				s.mu.Unlock()
				switch r := s.roll(); {
				case r < 850:
					s.ps.Ack(stream+"::g", c, [][16]byte{m.ID})
				case r < 930:
					s.ps.Nak(stream+"::g", c, [][16]byte{m.ID}, codec.NakRetry, "soak retry")
				case r < 935:
					s.ps.Nak(stream+"::g", c, [][16]byte{m.ID}, codec.NakPark, "soak park")
				case r < 995:
					// ignored: times out
				default:
					close(c.gone)
					s.ps.Disconnect(c, false)
					reconnect = true
				}
			}
		}
	}
}

// TestPersistentSoak: four consumers that ack, nak, time out and
// disconnect at random; every event is acked exactly once or parked, the
// group never stalls, and after a restart it resumes from its checkpoint
// without redelivering anything at or below it.
func TestPersistentSoak(t *testing.T) {
	db := openDB(t)
	const stream = "soak"
	for written := 0; written < soakEvents; {
		n := min(500, soakEvents-written)
		op := &store.Op{Kind: store.OpWrite, Stream: stream, ExpectedVersion: store.ExpectedVersionAny}
		for i := 0; i < n; i++ {
			op.Events = append(op.Events, store.NewEvent{ID: codec.NewGUID(), Type: "e", Data: []byte("{}")})
		}
		if err := db.Do(context.Background(), op); err != nil || op.Result.Status != store.OpSuccess {
			t.Fatalf("write: %v %v", err, op.Result.Status)
		}
		written += n
	}
	clk := &fakeClock{t: time.Unix(1000, 0)}
	c := cfg(stream, "g", StrategyRoundRobin)
	c.MaxRetryCount = 4
	c.MessageTimeoutMs = 1000
	c.MaxCheckPointCount = 100
	c.CheckPointAfterMs = 2000
	c.MinCheckPointCount = 1 // so that the end is checkpointed too
	c.HistoryBufferSize, c.LiveBufferSize = 200, 0
	last := int64(soakEvents - 1)

	phase := func(ps *PersistentService, until func(GroupInfo) bool, budget time.Duration) (GroupInfo, int64) {
		s := &soak{t: t, ps: ps, rng: rand.New(rand.NewSource(int64(soakEvents))), minSeen: 1 << 62, stop: make(chan struct{})}
		for i := 0; i < 4; i++ {
			s.wg.Add(1)
			go s.run(stream)
		}
		deadline := time.Now().Add(budget)
		var g GroupInfo
		lastProgress, lastCp := time.Now(), int64(-2)
		for {
			clk.Add(300 * time.Millisecond)
			ps.Tick()
			time.Sleep(2 * time.Millisecond)
			g = groupInfo(t, ps, stream+"::g")
			if until(g) {
				break
			}
			if g.LastCheckpoint != lastCp {
				lastCp, lastProgress = g.LastCheckpoint, time.Now()
			}
			if time.Since(lastProgress) > 20*time.Second || time.Now().After(deadline) {
				close(s.stop)
				s.wg.Wait()
				t.Fatalf("group stalled: %+v", g)
			}
		}
		close(s.stop)
		s.wg.Wait()
		g = groupInfo(t, ps, stream+"::g") // after the consumers left
		return g, s.minSeen
	}

	ps := NewPersistent(PersistentOptions{DB: db, Logger: quietLogger(), Clock: clk, TickInterval: -1})
	if err := ps.Start(); err != nil {
		t.Fatal(err)
	}
	if err := mustDo(t, func(r func(error)) { ps.Create(c, r) }); err != nil {
		t.Fatal(err)
	}
	g1, _ := phase(ps, func(g GroupInfo) bool { return g.LastCheckpoint >= last/2 }, 10*time.Minute)
	ps.Stop()
	// The restart resumes from the last durable checkpoint, which may be
	// one that was being written when g1 was taken (Stop waits for it).
	rd := db.NewReader()
	cpEv := rd.ReadStreamBackward(CheckpointStream(stream+"::g"), -1, 1, false)
	if len(cpEv.Events) != 1 {
		t.Fatalf("no checkpoint written: %v", cpEv.Status)
	}
	cp, err := strconv.ParseInt(string(cpEv.Events[0].Event.Data), 10, 64)
	if err != nil || cp < g1.LastCheckpoint || cp < last/2 {
		t.Fatalf("durable checkpoint %q (%v); group info said %d, want at least %d", cpEv.Events[0].Event.Data, err, g1.LastCheckpoint, last/2)
	}

	parkedBefore := rd.ReadStreamBackward(ParkedStream(stream+"::g"), -1, 1, false).LastEventNumber
	ps2 := NewPersistent(PersistentOptions{DB: db, Logger: quietLogger(), Clock: clk, TickInterval: -1})
	if err := ps2.Start(); err != nil {
		t.Fatal(err)
	}
	defer ps2.Stop()
	g2, minSeen := phase(ps2, func(g GroupInfo) bool {
		return g.LastCheckpoint == last && g.InFlight == 0 && g.Buffered == 0
	}, 10*time.Minute)
	if minSeen <= cp {
		t.Fatalf("after the restart event %d was delivered; the checkpoint was %d", minSeen, cp)
	}
	// Every event above the checkpoint was acked exactly once or parked,
	// in the second phase.
	if got, want := g2.Stats.Acked+g2.Stats.Parked, uint64(last-cp); got != want {
		t.Fatalf("acked %d + parked %d = %d; want %d (events %d..%d)", g2.Stats.Acked, g2.Stats.Parked, got, want, cp+1, last)
	}
	if g2.Stats.Retried == 0 || g2.Stats.TimedOut == 0 {
		t.Fatalf("the soak exercised no retries or timeouts: %+v", g2.Stats)
	}
	// The second phase parked distinct events, as many as it counted.
	seen := map[int64]bool{}
	for from := parkedBefore + 1; ; {
		sl := rd.ReadStreamForward(ParkedStream(stream+"::g"), from, 1000, true)
		for _, e := range sl.Events {
			if e.Event.Number <= cp || seen[e.Event.Number] {
				t.Fatalf("event %d parked twice or at/below the checkpoint %d after the restart", e.Event.Number, cp)
			}
			seen[e.Event.Number] = true
		}
		if sl.IsEndOfStream || len(sl.Events) == 0 {
			break
		}
		from = sl.NextEventNumber
	}
	if uint64(len(seen)) != g2.Stats.Parked {
		t.Fatalf("parked stream holds %d events of phase 2; stats say %d", len(seen), g2.Stats.Parked)
	}
	t.Logf("events %d, checkpoint at restart %d, phase 2: %+v", soakEvents, cp, g2.Stats)
}
