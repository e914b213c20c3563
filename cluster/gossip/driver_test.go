package gossip

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventstored/eventstored/cluster"
)

type fakeResolver struct {
	mu    sync.Mutex
	calls int
	fails int // first calls that fail
	addrs []string
}

func (r *fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.calls <= r.fails {
		return nil, errors.New("no such host " + host)
	}
	return r.addrs, nil
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDriverDNSDiscovery: with --discover-via-dns the seeds are the DNS
// answers with --cluster-gossip-port, resolved once; errors are logged
// and retried every second, and GET /gossip is not answered meanwhile.
func TestDriverDNSDiscovery(t *testing.T) {
	r := &fakeResolver{fails: 1, addrs: []string{"127.0.0.2", "127.0.0.3", "not-an-ip"}}
	logs := &syncBuf{}
	var mu sync.Mutex
	posted := map[string]int{}
	d := NewDriver(DriverConfig{
		Core:           Config{Self: node(1), Log: quiet},
		DiscoverViaDNS: true, ClusterDNS: "cluster.local", GossipPort: 2112, Resolver: r,
		Post: func(_ context.Context, url, _ string, _ []byte) (int, string, []byte, error) {
			mu.Lock()
			posted[url]++
			mu.Unlock()
			return 0, "", nil, errors.New("connection refused")
		},
		Log: slog.New(slog.NewTextHandler(logs, nil)),
	})
	d.Start()
	defer d.Stop()
	if _, err := d.View(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("view while resolving: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := posted["http://127.0.0.2:2112/gossip"] + posted["http://127.0.0.3:2112/gossip"]
		mu.Unlock()
		if n >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no gossip to the DNS seeds: %v", posted)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "Error while retrieving cluster members through DNS.") {
		t.Fatal("DNS error not logged")
	}
	// Failed sends mark the placeholders dead (results arrive as
	// messages, so poll).
	for {
		v, err := d.Members()
		if err != nil || len(v.Members) != 3 {
			t.Fatalf("view %v %v", v, err)
		}
		dead := 0
		for _, m := range v.Members {
			if m.InternalHTTP != node(1).InternalHTTP && !m.IsAlive {
				dead++
			}
		}
		if dead == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("unreachable seeds still alive: %+v", v.Members)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.mu.Lock()
	calls := r.calls
	r.mu.Unlock()
	if calls != 2 {
		t.Fatalf("DNS resolved %d times; once after the failure is the rule", calls)
	}
}

// TestDriverExchangesViews: two drivers wired through their Receive
// methods converge; the status callback feeds the own entry.
func TestDriverExchangesViews(t *testing.T) {
	var ds [3]*Driver
	post := func(_ context.Context, url, cid string, body []byte) (int, string, []byte, error) {
		for i := 1; i <= 2; i++ {
			if strings.Contains(url, node(i).InternalHTTP.String()) {
				b, err := ds[i].Receive(cid, body)
				if err != nil {
					return 400, "c", []byte(err.Error()), nil
				}
				return 200, "c", b, nil
			}
		}
		return 0, "", nil, errors.New("no route")
	}
	for i := 1; i <= 2; i++ {
		other := node(3 - i).InternalHTTP
		state := cluster.StateSlave
		if i == 1 {
			state = cluster.StateMaster
		}
		ds[i] = NewDriver(DriverConfig{Core: Config{Self: node(i), ClusterID: "c", Seeds: []netip.AddrPort{other}, Log: quiet},
			Post: post, Log: quiet,
			Status: func() (cluster.VNodeState, Position) { return state, Position{10, 20, 20, 5, 1, GUID{9}} }})
	}
	ds[1].Start()
	ds[2].Start()
	defer ds[1].Stop()
	defer ds[2].Stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, _ := ds[2].Members()
		m, ok := find(v, node(1).InternalHTTP)
		if ok && m.State == cluster.StateMaster && m.IsAlive && m.WriterCheckpoint == 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 2 never saw node 1 as Master: %+v", v)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := ds[1].Receive("other", ClusterInfo{Server: node(9).InternalHTTP}.Encode()); !errors.Is(err, ErrForeignCluster) {
		t.Fatalf("foreign: %v", err)
	}
	if _, err := ds[1].Receive("c", []byte("{")); !errors.Is(err, ErrBadMessage) {
		t.Fatalf("bad body: %v", err)
	}
}

// TestDriverWarnsOnExternalSeed: a seed that answers 405 (a node's
// external HTTP port) is reported once, at warning level, with the hint.
func TestDriverWarnsOnExternalSeed(t *testing.T) {
	d, logs := answeringDriver(t, Config{Self: node(1), Seeds: []netip.AddrPort{ep("127.0.0.2:2113")}, Log: quiet},
		405, "", "Method Not Allowed", func(sent int) bool { return sent >= 3 })
	defer d.Stop()
	out := logs.String()
	if strings.Count(out, "is not a node's internal HTTP endpoint") != 1 || !strings.Contains(out, "gossip seeds must be") {
		t.Fatalf("log:\n%s", out)
	}
}

// answeringDriver runs a driver whose every POST is answered with
// status, the identity cid and body, logging at warning level and up to
// the returned buffer, and waits until enough(POSTs sent so far) holds.
// The caller stops the driver.
func answeringDriver(t *testing.T, core Config, status int, cid, body string, enough func(sent int) bool) (*Driver, *syncBuf) {
	t.Helper()
	logs := &syncBuf{}
	var sent atomic.Int64
	d := NewDriver(DriverConfig{
		Core: core,
		Post: func(context.Context, string, string, []byte) (int, string, []byte, error) {
			sent.Add(1)
			return status, cid, []byte(body), nil
		},
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	d.Start()
	deadline := time.Now().Add(10 * time.Second)
	for !enough(int(sent.Load())) {
		if time.Now().After(deadline) {
			d.Stop()
			t.Fatalf("%d POSTs sent; the condition still does not hold", sent.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return d, logs
}

// TestDriverLogsRefusalByAnotherCluster: a target that refuses our gossip
// (400) naming another cluster identity is reported at error level,
// naming both identities, once a minute per target, and marked dead.
func TestDriverLogsRefusalByAnotherCluster(t *testing.T) {
	target := ep("127.0.0.2:2112")
	d, logs := answeringDriver(t, Config{Self: node(1), ClusterID: "alpha/chunk=1", Seeds: []netip.AddrPort{target}, Log: quiet},
		400, "beta/chunk=1", "gossip: message from another cluster", func(sent int) bool { return sent >= 3 })
	defer d.Stop()
	// The first refusal marked the target dead: with one POST in flight
	// per target, its result was handled before the next POST started.
	v, _ := d.Members()
	if m, _ := find(v, target); m.IsAlive {
		t.Fatalf("the refusing target is alive: %+v", m)
	}
	out := logs.String()
	if strings.Count(out, "gossip refused by a node of another cluster") != 1 || !strings.Contains(out, "level=ERROR") ||
		!strings.Contains(out, `\"beta/chunk=1\"`) || !strings.Contains(out, `\"alpha/chunk=1\"`) {
		t.Fatalf("log:\n%s", out)
	}
}
