package reactor

import (
	"math/rand/v2"
	"testing"
)

// These tests drive the heartbeat wheel with explicit ticks (fake time):
// every expectation is an exact tick number, derived from the rules of spec
// §4.2 / cluster §8.1 with interval = 20 ticks and timeout = 10 ticks.

type hbEvent struct {
	tick uint64
	kind string // "request" or "expire"
	c    *Conn
}

type hbHarness struct {
	h      *heartbeats
	events []hbEvent
	// onRequest simulates the peer's reaction to a request.
	onRequest func(c *Conn)
}

func newHBHarness(interval, timeout uint64) *hbHarness {
	x := &hbHarness{}
	x.h = newHeartbeats(interval, timeout,
		func(c *Conn) {
			x.events = append(x.events, hbEvent{x.h.now, "request", c})
			c.sentSinceCheck.Store(true) // the request itself is traffic we sent
			if x.onRequest != nil {
				x.onRequest(c)
			}
		},
		func(c *Conn) { x.events = append(x.events, hbEvent{x.h.now, "expire", c}) })
	return x
}

func (x *hbHarness) kinds(c *Conn) []hbEvent {
	var out []hbEvent
	for _, e := range x.events {
		if e.c == c {
			out = append(out, e)
		}
	}
	return out
}

func TestHeartbeatSilentPeerExpiresAfterIntervalPlusTimeout(t *testing.T) {
	x := newHBHarness(20, 10)
	c := &Conn{}
	x.h.add(c)
	x.h.advance(29)
	if ev := x.kinds(c); len(ev) != 1 || ev[0].kind != "request" || ev[0].tick != 20 {
		t.Fatalf("after 29 ticks: %+v; want one request at tick 20", ev)
	}
	x.h.advance(30)
	if ev := x.kinds(c); len(ev) != 2 || ev[1].kind != "expire" || ev[1].tick != 30 {
		t.Fatalf("after 30 ticks: %+v; want expiry at tick 30", ev)
	}
	if c.hb.inWheel {
		t.Fatal("expired connection still on the wheel")
	}
	x.h.advance(500)
	if len(x.events) != 2 {
		t.Fatalf("events after expiry: %+v", x.events)
	}
}

func TestHeartbeatAnsweringPeerIsNeverClosed(t *testing.T) {
	x := newHBHarness(20, 10)
	x.onRequest = func(c *Conn) { c.hb.recv++ } // the response arrives before the timeout
	c := &Conn{}
	x.h.add(c)
	x.h.advance(1000)
	ev := x.kinds(c)
	if len(ev) == 0 {
		t.Fatal("no heartbeat requests to a quiet peer")
	}
	for i, e := range ev {
		// request at 20, timeout check at 30 sees the answer, next request
		// one interval later at 50, then 80, ...
		if e.kind != "request" || e.tick != uint64(20+30*i) {
			t.Fatalf("event %d: %+v; want a request at tick %d", i, e, 20+30*i)
		}
	}
}

func TestHeartbeatPeerWithOtherTrafficIsNotClosed(t *testing.T) {
	t.Run("when we also send, no requests", func(t *testing.T) {
		x := newHBHarness(20, 10)
		c := &Conn{}
		x.h.add(c)
		for tick := uint64(1); tick <= 1000; tick++ {
			c.hb.recv++
			c.sentSinceCheck.Store(true)
			x.h.advance(tick)
		}
		if len(x.events) != 0 {
			t.Fatalf("unexpected events %+v", x.events)
		}
	})
	t.Run("when we send nothing, a request each interval anyway", func(t *testing.T) {
		x := newHBHarness(20, 10)
		c := &Conn{}
		x.h.add(c)
		for tick := uint64(1); tick <= 100; tick++ {
			c.hb.recv++
			x.h.advance(tick)
		}
		ev := x.kinds(c)
		if len(ev) != 5 {
			t.Fatalf("events %+v; want 5 requests", ev)
		}
		for i, e := range ev {
			if e.kind != "request" || e.tick != uint64(20*(i+1)) {
				t.Fatalf("event %d: %+v", i, e)
			}
		}
	})
	t.Run("traffic resumes during the timeout", func(t *testing.T) {
		x := newHBHarness(20, 10)
		c := &Conn{}
		x.h.add(c)
		x.h.advance(25)
		c.hb.recv++ // some package, not the response
		x.h.advance(49)
		if ev := x.kinds(c); len(ev) != 1 || ev[0].kind != "request" {
			t.Fatalf("events %+v; want the connection kept", ev)
		}
	})
}

func TestHeartbeatRemoveStopsChecks(t *testing.T) {
	x := newHBHarness(20, 10)
	a, b := &Conn{}, &Conn{}
	x.h.add(a)
	x.h.add(b)
	x.h.remove(a)
	x.h.remove(a) // idempotent
	x.h.advance(100)
	if len(x.kinds(a)) != 0 || len(x.kinds(b)) != 2 {
		t.Fatalf("events %+v", x.events)
	}
}

func TestHeartbeatWheelWithManyConnections(t *testing.T) {
	x := newHBHarness(20, 10)
	rng := rand.New(rand.NewPCG(1, 1))
	added := map[*Conn]uint64{}
	for tick := uint64(0); tick < 200; tick++ {
		x.h.advance(tick)
		for i := rng.IntN(100); i > 0; i-- {
			c := &Conn{}
			x.h.add(c)
			added[c] = tick
		}
	}
	x.h.advance(300)
	expired := 0
	for _, e := range x.events {
		if e.kind == "expire" {
			expired++
			if e.tick != added[e.c]+30 {
				t.Fatalf("connection added at %d expired at %d; want %d", added[e.c], e.tick, added[e.c]+30)
			}
		}
	}
	if expired != len(added) || len(x.events) != 2*len(added) {
		t.Fatalf("%d connections, %d expired, %d events", len(added), expired, len(x.events))
	}
}

func TestHeartbeatCatchesUpAfterAStall(t *testing.T) {
	x := newHBHarness(20, 10)
	c := &Conn{}
	x.h.add(c)
	x.h.advance(10_000) // the loop was stalled; checks still run in order
	if ev := x.kinds(c); len(ev) != 2 || ev[0].tick != 20 || ev[1].tick != 30 {
		t.Fatalf("events %+v", ev)
	}
}
