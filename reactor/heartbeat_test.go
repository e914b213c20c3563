package reactor

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/eventstored/eventstored/codec"
)

// These tests run real loopback connections against a server whose clock
// is fake: the wheel only moves when the test advances the clock, so the
// outcomes do not depend on how fast the machine is.

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func fakeTimeServer(t *testing.T) (*Server, *testHandler, *fakeClock) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	h := newTestHandler()
	s := startServer(t, Config{HeartbeatInterval: 2 * time.Second, HeartbeatTimeout: time.Second,
		HeartbeatTick: 10 * time.Millisecond, Now: clock.Now}, h)
	return s, h, clock
}

func waitPackagesReceived(t *testing.T, s *Server, n uint64) {
	checkFor(t, 10*time.Second, time.Millisecond, func() error {
		if got := s.Stats().PackagesReceived; got < n {
			return fmt.Errorf("server received %d packages; want %d", got, n)
		}
		return nil
	})
}

// waitWheels waits until every loop's heartbeat wheel has processed the
// fake clock's current tick. Without it a wheel starved of real ticks
// (a loaded machine) would process several fake intervals in one step and
// see the later ones as silent: real time cannot do that to a live loop.
func waitWheels(t *testing.T, s *Server) {
	t.Helper()
	want := s.tickNow()
	checkFor(t, 10*time.Second, time.Millisecond, func() error {
		s.loopsMu.Lock()
		defer s.loopsMu.Unlock()
		for _, ls := range s.loops {
			if got := ls.steppedTo.Load(); got < want {
				return fmt.Errorf("wheel at tick %d; want %d", got, want)
			}
		}
		return nil
	})
}

func waitOpen(t *testing.T, s *Server) {
	checkFor(t, 10*time.Second, time.Millisecond, func() error {
		if s.Stats().ConnectionsOpen != 1 {
			return errors.New("not open yet")
		}
		return nil
	})
}

func TestSilentPeerIsClosedAfterIntervalPlusTimeout(t *testing.T) {
	s, h, clock := fakeTimeServer(t)
	c := dial(t, s)
	waitOpen(t, s)
	clock.Advance(2100 * time.Millisecond)
	p, err := c.read(10 * time.Second)
	if err != nil || p.Command != codec.HeartbeatRequestCommand || p.CorrelationID.IsZero() {
		t.Fatalf("got %+v %v; want a HeartbeatRequest with a random id", p, err)
	}
	clock.Advance(1100 * time.Millisecond)
	if seen := c.expectClosed(); len(seen) != 0 {
		t.Fatalf("unexpected packages before close: %s", describe(seen))
	}
	if ev := waitClose(t, h); !errors.Is(ev.err, ErrHeartbeatTimeout) {
		t.Fatalf("OnClose err %v; want ErrHeartbeatTimeout", ev.err)
	}
	if st := s.Stats(); st.HeartbeatTimeouts != 1 || st.ConnectionsOpen != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestAnsweringPeerStaysOpen(t *testing.T) {
	s, h, clock := fakeTimeServer(t)
	c := dial(t, s)
	waitOpen(t, s)
	// No identify: its traffic would satisfy the first check.
	var received uint64
	for i := 0; i < 5; i++ {
		clock.Advance(2100 * time.Millisecond)
		p, err := c.read(10 * time.Second)
		if err != nil || p.Command != codec.HeartbeatRequestCommand {
			t.Fatalf("round %d: got %+v %v; want a HeartbeatRequest", i, p, err)
		}
		c.send(codec.HeartbeatResponseCommand, p.CorrelationID, nil)
		received++
		waitPackagesReceived(t, s, received)
		clock.Advance(1100 * time.Millisecond)
	}
	c.ping("alive")
	select {
	case ev := <-h.closed:
		t.Fatalf("connection closed: %v", ev.err)
	default:
	}
}

func TestPeerSendingOnlyOtherTrafficStaysOpen(t *testing.T) {
	s, h, clock := fakeTimeServer(t)
	c := dial(t, s)
	c.identify()
	// Pings every 500 ms (fake) for 20 s; the server answers each, so it
	// has no reason to send heartbeat requests and the peer never answers
	// one.
	for i := 0; i < 40; i++ {
		clock.Advance(500 * time.Millisecond)
		waitWheels(t, s)
		id := codec.NewGUID()
		c.send(codec.Ping, id, nil)
		p, err := c.read(10 * time.Second)
		if err != nil || p.Command != codec.Pong || p.CorrelationID != id {
			t.Fatalf("round %d: got %v %v; want Pong", i, p.Command, err)
		}
	}
	select {
	case ev := <-h.closed:
		t.Fatalf("connection closed: %v", ev.err)
	default:
	}
	if st := s.Stats(); st.HeartbeatTimeouts != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestServerSendsHeartbeatRequestWhenItSentNothing(t *testing.T) {
	s, h, clock := fakeTimeServer(t)
	c := dial(t, s)
	// The peer keeps sending heartbeat responses (traffic that gets no
	// reply), so the server is never the one waiting; it must still send a
	// request once per interval so that the peer's own timer sees traffic.
	id := codec.NewGUID()
	var sent uint64
	for i := 0; i < 10; i++ {
		clock.Advance(300 * time.Millisecond)
		c.send(codec.HeartbeatResponseCommand, id, nil)
		sent++
		waitPackagesReceived(t, s, sent)
	}
	p, err := c.read(10 * time.Second)
	if err != nil || p.Command != codec.HeartbeatRequestCommand {
		t.Fatalf("got %v %v; want a HeartbeatRequest", p.Command, err)
	}
	select {
	case ev := <-h.closed:
		t.Fatalf("connection closed: %v", ev.err)
	default:
	}
}
