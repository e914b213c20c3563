package gossip

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventstored/eventstored/cluster"
)

// TestBroadcastTargetsAreTheAliveMembers: a nudge goes to every member
// believed alive, seed placeholders included, never to dead ones.
func TestBroadcastTargetsAreTheAliveMembers(t *testing.T) {
	seed := ep("127.0.0.9:2112")
	c := newCore(1, seed)
	n2, n3, n4 := node(2), node(3), node(4)
	c.Received(t0, "", ClusterInfo{Members: []Member{n2, n3, n4}, Server: n2.InternalHTTP})
	c.SendFailed(t0, n3.InternalHTTP)
	got := c.BroadcastTargets()
	want := []netip.AddrPort{n2.InternalHTTP, n4.InternalHTTP, seed}
	if !slices.Equal(got, want) {
		t.Fatalf("unexpected broadcast targets; got %v; want %v", got, want)
	}
}

// gossipRecorder is a Poster that answers like a peer that knows only
// itself, records the state each POST shows for the sender, and can hold
// the POSTs to one target until released.
type gossipRecorder struct {
	mu      sync.Mutex
	dead    netip.AddrPort
	self    netip.AddrPort // the sender
	seen    map[netip.AddrPort][]cluster.VNodeState
	hold    netip.AddrPort
	release chan struct{}
	holding int // POSTs to hold in flight now
	maxHeld int
}

func (r *gossipRecorder) post(_ context.Context, url, _ string, body []byte) (int, string, []byte, error) {
	target := ep(strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/gossip"))
	info, err := Decode(body)
	if err != nil {
		return 0, "", nil, err
	}
	me, _ := find(info, r.self)
	r.mu.Lock()
	r.seen[target] = append(r.seen[target], me.State)
	if target == r.dead {
		r.mu.Unlock()
		return 0, "", nil, errors.New("connection refused")
	}
	held := target == r.hold && r.release != nil
	if held {
		r.holding++
		r.maxHeld = max(r.maxHeld, r.holding)
	}
	r.mu.Unlock()
	if held {
		<-r.release
		r.mu.Lock()
		r.holding--
		r.mu.Unlock()
	}
	for i := 2; i <= 4; i++ {
		if n := node(i); n.InternalHTTP == target {
			n.TimeStamp = time.Now()
			return 200, "", ClusterInfo{Members: []Member{n}, Server: target}.Encode(), nil
		}
	}
	return 0, "", nil, errors.New("no route")
}

func (r *gossipRecorder) states(target netip.AddrPort) []cluster.VNodeState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]cluster.VNodeState(nil), r.seen[target]...)
}

// TestNudgeReachesEveryAliveMember: with rounds an hour apart (after the
// fast start), a state change announced by Nudge reaches both alive
// peers, and never the dead one: agreement does not wait for rounds that
// pick one member at random, dead ones included.
func TestNudgeReachesEveryAliveMember(t *testing.T) {
	n2, n3, n4 := node(2).InternalHTTP, node(3).InternalHTTP, node(4).InternalHTTP
	r := &gossipRecorder{dead: n4, self: node(1).InternalHTTP, seen: map[netip.AddrPort][]cluster.VNodeState{}}
	var mu sync.Mutex
	state := cluster.StateUnknown
	d := NewDriver(DriverConfig{
		Core: Config{Self: node(1), Seeds: []netip.AddrPort{n2, n3, n4}, Interval: time.Hour, Log: quiet},
		Post: r.post, Log: quiet,
		Status: func() (cluster.VNodeState, Position) { mu.Lock(); defer mu.Unlock(); return state, NoPosition },
	})
	d.Start()
	defer d.Stop()
	// Wait for the fast start to end (FastRounds rounds that found a
	// target); the next round is then an hour away.
	waitFor(t, "the fast rounds", func() bool {
		return len(r.states(n2))+len(r.states(n3))+len(r.states(n4)) >= FastRounds
	})
	time.Sleep(2 * FastInterval) // let the last fast round's POST finish
	// The fast rounds pick at random and may never have tried n4 (then it
	// is still an alive seed placeholder): a nudge without a state change
	// tries every alive member, so n4 is found dead before the one
	// measured below.
	d.Nudge()
	waitFor(t, "the unreachable seed to be marked dead", func() bool {
		v, _ := d.Members()
		m, ok := find(v, n4)
		return !ok || !m.IsAlive
	})
	time.Sleep(2 * FastInterval) // let that nudge's POSTs finish
	before2, before3, before4 := len(r.states(n2)), len(r.states(n3)), len(r.states(n4))
	mu.Lock()
	state = cluster.StateMaster
	mu.Unlock()
	d.Nudge()
	waitFor(t, "the nudge to reach both alive peers", func() bool {
		s2, s3 := r.states(n2), r.states(n3)
		return len(s2) > before2 && s2[len(s2)-1] == cluster.StateMaster &&
			len(s3) > before3 && s3[len(s3)-1] == cluster.StateMaster
	})
	// n4 was dead in the view before the nudge, so the nudge skipped it.
	v, _ := d.Members()
	if m, _ := find(v, n4); m.IsAlive {
		t.Fatalf("the unreachable seed is alive in the view: %+v", m)
	}
	if got := len(r.states(n4)); got != before4 {
		t.Fatalf("the nudge posted to the dead member (%d POSTs, %d before)", got, before4)
	}
}

// TestOnePostInFlightPerTarget: while a POST to a peer is in flight,
// further nudges do not start another one to it; once it completes, one
// more POST carries the latest state, so the peer never receives an older
// view after a newer one.
func TestOnePostInFlightPerTarget(t *testing.T) {
	n2 := node(2).InternalHTTP
	r := &gossipRecorder{self: node(1).InternalHTTP, seen: map[netip.AddrPort][]cluster.VNodeState{},
		hold: n2, release: make(chan struct{})}
	var mu sync.Mutex
	state := cluster.StateUnknown
	d := NewDriver(DriverConfig{
		Core: Config{Self: node(1), Seeds: []netip.AddrPort{n2}, Interval: time.Hour, Log: quiet},
		Post: r.post, Log: quiet, Timeout: time.Minute,
		Status: func() (cluster.VNodeState, Position) { mu.Lock(); defer mu.Unlock(); return state, NoPosition },
	})
	d.Start()
	defer d.Stop()
	waitFor(t, "the first POST", func() bool { return len(r.states(n2)) == 1 })
	for _, s := range []cluster.VNodeState{cluster.StatePreMaster, cluster.StateMaster} {
		mu.Lock()
		state = s
		mu.Unlock()
		d.Nudge()
		if _, err := d.Members(); err != nil { // the nudge has been handled
			t.Fatal(err)
		}
	}
	if got := len(r.states(n2)); got != 1 {
		t.Fatalf("%d POSTs to one peer while one was in flight; want 1", got)
	}
	close(r.release)
	waitFor(t, "the POST after the held one", func() bool {
		s := r.states(n2)
		return len(s) >= 2 && s[len(s)-1] == cluster.StateMaster
	})
	r.mu.Lock()
	maxHeld := r.maxHeld
	r.mu.Unlock()
	if maxHeld != 1 {
		t.Fatalf("%d POSTs to one peer were in flight at once; want 1", maxHeld)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
