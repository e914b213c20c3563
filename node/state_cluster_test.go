package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eventstored/eventstored/cluster"
	"github.com/eventstored/eventstored/cluster/gossip"
	"github.com/eventstored/eventstored/node/config"
)

type clusterNode struct {
	ip                               string
	intHTTP, extHTTP, intTCP, extTCP int
	n                                *Node
}

func (c *clusterNode) intGossipSeed() string { return c.ip + ":" + strconv.Itoa(c.intHTTP) }

func newClusterNode(i int) *clusterNode {
	return &clusterNode{ip: fmt.Sprintf("127.0.0.%d", i)}
}

func (c *clusterNode) ports(t *testing.T) {
	c.intHTTP, c.extHTTP, c.intTCP, c.extTCP = freePort(t, c.ip), freePort(t, c.ip), freePort(t, c.ip), freePort(t, c.ip)
}

func (c *clusterNode) start(t *testing.T, size int, seeds []string, clusterID string, log *slog.Logger, extra ...string) {
	c.startWith(t, size, seeds, clusterID, log, nil, extra...)
}

func (c *clusterNode) startWith(t *testing.T, size int, seeds []string, clusterID string, log *slog.Logger, opts []Option, extra ...string) {
	t.Helper()
	args := append([]string{"--mem-db", "--tcp-event-loops", "1", "--cluster-size", strconv.Itoa(size),
		"--int-ip", c.ip, "--ext-ip", c.ip,
		"--int-http-port", strconv.Itoa(c.intHTTP), "--ext-http-port", strconv.Itoa(c.extHTTP),
		"--int-tcp-port", strconv.Itoa(c.intTCP), "--ext-tcp-port", strconv.Itoa(c.extTCP),
		"--discover-via-dns=false", "--gossip-seed", strings.Join(seeds, ","),
	}, extra...)
	o, err := config.Loader{Args: args}.Load()
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(o, append([]Option{WithLogger(log), WithAuthHashIterations(1), WithClusterID(clusterID)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	c.n = n
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n.Stop(ctx)
	})
}

func getGossip(url string) (int, gossip.ClusterInfo, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, gossip.ClusterInfo{}, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, gossip.ClusterInfo{}, nil
	}
	ci, err := gossip.Decode(buf.Bytes())
	return resp.StatusCode, ci, err
}

// logSink collects log lines (safe for concurrent handlers).
type logSink struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestClusterGossipOnLoopback starts three nodes on 127.0.0.1-3 (four
// ports each) seeded with one another: every node's internal and
// external /gossip converges to the same three alive members; advertised
// values (not bound ones) are what gossip shows; --gossip-on-ext=false and
// --admin-on-ext=false remove those routes from external HTTP only; a
// fourth node of another cluster is refused and logged.
func TestClusterGossipOnLoopback(t *testing.T) {
	nodes := []*clusterNode{newClusterNode(1), newClusterNode(2), newClusterNode(3)}
	for _, c := range nodes {
		c.ports(t)
	}
	sink := &logSink{}
	log := slog.New(slog.NewTextHandler(sink, nil))
	for i, c := range nodes {
		var seeds []string
		for j, o := range nodes {
			if j != i {
				seeds = append(seeds, o.intGossipSeed())
			}
		}
		var extra []string
		switch i {
		case 1:
			extra = []string{"--ext-ip-advertise-as", "10.9.9.2", "--ext-tcp-port-advertise-as", "11113", "--int-http-port-advertise-as", strconv.Itoa(c.intHTTP)}
		case 2:
			extra = []string{"--gossip-on-ext=false", "--admin-on-ext=false"}
		}
		c.start(t, 3, seeds, "cluster-a", log, extra...)
	}

	started := time.Now()
	deadline := started.Add(15 * time.Second)
	var last string
	for {
		ok := true
		for _, c := range nodes {
			urls := []string{fmt.Sprintf("http://%s:%d/gossip", c.ip, c.intHTTP)}
			if c != nodes[2] {
				urls = append(urls, fmt.Sprintf("http://%s:%d/gossip?format=json", c.ip, c.extHTTP))
			}
			for _, u := range urls {
				status, ci, err := getGossip(u)
				if err != nil || status != 200 || len(ci.Members) != 3 {
					ok, last = false, fmt.Sprintf("%s: status %d, %d members, err %v", u, status, len(ci.Members), err)
					continue
				}
				for _, m := range ci.Members {
					if !m.IsAlive || m.State == cluster.StateManager || m.InstanceID.IsZero() {
						ok, last = false, fmt.Sprintf("%s: member %s %v alive=%v", u, m.InternalHTTP, m.State, m.IsAlive)
					}
				}
				if ci.Server.Addr().String() != c.ip || int(ci.Server.Port()) != c.intHTTP {
					t.Fatalf("%s: serverIp/Port %s", u, ci.Server)
				}
			}
		}
		if ok {
			t.Logf("gossip converged on every interface %v after the last start", time.Since(started))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gossip did not converge: %s\nlog:\n%s", last, sink.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Advertise-as: node 2 binds 127.0.0.2 but publishes 10.9.9.2:11113.
	_, ci, err := getGossip(fmt.Sprintf("http://127.0.0.1:%d/gossip", nodes[0].intHTTP))
	if err != nil {
		t.Fatal(err)
	}
	var n2 gossip.Member
	for _, m := range ci.Members {
		if m.InternalHTTP.Addr().String() == "127.0.0.2" {
			n2 = m
		}
	}
	if n2.ExternalTCP.String() != "10.9.9.2:11113" || n2.ExternalHTTP.String() != fmt.Sprintf("10.9.9.2:%d", nodes[1].extHTTP) ||
		n2.InternalTCP.String() != fmt.Sprintf("127.0.0.2:%d", nodes[1].intTCP) {
		t.Fatalf("advertised endpoints of node 2: %+v", n2)
	}
	if a := nodes[1].n.Advertised(); a.ExternalTCP.String() != "10.9.9.2:11113" {
		t.Fatal(a)
	}

	// Route separation on node 3: gossip and admin gone from ext only.
	if st, _, _ := httpGet(t, fmt.Sprintf("http://127.0.0.3:%d/gossip", nodes[2].extHTTP)); st != 404 {
		t.Fatalf("ext /gossip with --gossip-on-ext=false: %d", st)
	}
	post := func(url string) int {
		resp, err := http.Post(url, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := post(fmt.Sprintf("http://127.0.0.3:%d/admin/shutdown", nodes[2].extHTTP)); st != 404 {
		t.Fatalf("ext /admin/shutdown with --admin-on-ext=false: %d", st)
	}
	if st := post(fmt.Sprintf("http://127.0.0.3:%d/admin/shutdown", nodes[2].intHTTP)); st == 404 {
		t.Fatal("int /admin/shutdown missing")
	}
	// POST /gossip is never served on external HTTP.
	if st := post(fmt.Sprintf("http://127.0.0.1:%d/gossip", nodes[0].extHTTP)); st == 200 {
		t.Fatal("ext POST /gossip answered")
	}
	// A malformed node-to-node message gets a 400 with the reason.
	if st := post(fmt.Sprintf("http://127.0.0.1:%d/gossip", nodes[0].intHTTP)); st != 400 {
		t.Fatalf("bad gossip body: %d", st)
	}

	// A node of another cluster, seeded with node 1, is refused and logged.
	foreign := newClusterNode(4)
	foreign.ports(t)
	foreign.start(t, 3, []string{nodes[0].intGossipSeed()}, "cluster-b", log)
	time.Sleep(1500 * time.Millisecond)
	for _, c := range nodes {
		_, ci, _ := getGossip(fmt.Sprintf("http://%s:%d/gossip", c.ip, c.intHTTP))
		for _, m := range ci.Members {
			if m.InternalHTTP.Addr().String() == "127.0.0.4" {
				t.Fatalf("node %s merged the foreign node", c.ip)
			}
		}
	}
	if !strings.Contains(sink.String(), "gossip from another cluster refused") {
		t.Fatal("refusal not logged")
	}
	fv, _ := foreign.n.Gossip()
	for _, m := range fv.Members {
		if m.InternalHTTP.Addr().String() == "127.0.0.1" && (m.IsAlive || m.State != cluster.StateManager) {
			t.Fatalf("foreign node took node 1's view: %+v", m)
		}
	}
}

// readCmd reads one framed package and returns its command byte.
func readCmd(c net.Conn, d time.Duration) (byte, []byte, error) {
	c.SetReadDeadline(time.Now().Add(d))
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	body := make([]byte, n)
	if _, err := io.ReadFull(c, body); err != nil {
		return 0, nil, err
	}
	return body[0], body, nil
}

// TestInternalTCPHeartbeats: the internal TCP listener runs the
// heartbeat pair of --int-tcp-heartbeat-interval/-timeout (spec §8.2),
// independently of the external one: an idle internal connection is
// probed with HeartbeatRequest (0x01) and closed when it does not
// answer, while an external connection with a long interval is not.
func TestInternalTCPHeartbeats(t *testing.T) {
	c := newClusterNode(1)
	c.ports(t)
	c.start(t, 3, []string{"127.0.0.2:2112"}, "", quietLogger(),
		"--int-tcp-heartbeat-interval", "200", "--int-tcp-heartbeat-timeout", "200",
		"--ext-tcp-heartbeat-interval", "60000", "--ext-tcp-heartbeat-timeout", "60000")
	in, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", c.intTCP))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	ext, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", c.extTCP))
	if err != nil {
		t.Fatal(err)
	}
	defer ext.Close()
	cmd, body, err := readCmd(in, 5*time.Second)
	if err != nil || cmd != 0x01 {
		t.Fatalf("internal: got command %#x, err %v; want HeartbeatRequest", cmd, err)
	}
	// Answer once (same correlation id): the connection stays.
	resp := append([]byte{0, 0, 0, 0, 0x02, 0}, body[2:18]...)
	binary.LittleEndian.PutUint32(resp, uint32(len(resp)-4))
	if _, err := in.Write(resp); err != nil {
		t.Fatal(err)
	}
	// Then stay silent: the server probes again and closes the connection.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, err := readCmd(in, time.Until(deadline))
		if err == io.EOF || errors.Is(err, syscall.ECONNRESET) {
			break
		}
		if err != nil {
			t.Fatalf("internal connection not closed after unanswered heartbeats: %v", err)
		}
	}
	// The external connection, with a 60 s interval, saw nothing.
	if cmd, _, err := readCmd(ext, 300*time.Millisecond); err == nil {
		t.Fatalf("external connection got command %#x", cmd)
	}
}

// clusterStates reads every running node's internal and external /gossip
// and returns the master's internal HTTP endpoint if every one of them
// shows exactly one alive Master and the other running nodes as alive
// Slaves.
func clusterStates(nodes []*clusterNode) (string, string) {
	master := ""
	running := 0
	for _, c := range nodes {
		if c != nil {
			running++
		}
	}
	for _, c := range nodes {
		if c == nil {
			continue
		}
		for _, u := range []string{fmt.Sprintf("http://%s:%d/gossip", c.ip, c.intHTTP), fmt.Sprintf("http://%s:%d/gossip", c.ip, c.extHTTP)} {
			status, ci, err := getGossip(u)
			if err != nil || status != 200 {
				return "", fmt.Sprintf("%s: %d %v", u, status, err)
			}
			masters, slaves := 0, 0
			for _, m := range ci.Members {
				if !m.IsAlive {
					continue
				}
				switch m.State {
				case cluster.StateMaster:
					masters++
					if master != "" && master != m.InternalHTTP.String() {
						return "", u + ": two masters"
					}
					master = m.InternalHTTP.String()
				case cluster.StateSlave:
					slaves++
				}
			}
			if masters != 1 || slaves != running-1 {
				return "", fmt.Sprintf("%s: %d masters, %d slaves", u, masters, slaves)
			}
		}
	}
	return master, ""
}

// TestClusterConsensusOnLoopback: three nodes with consensus on
// 127.0.0.1-3 show one Master and two Slaves on every node's internal and
// external /gossip and as node state; when the master stops, the two others
// elect a new one; a new process at the old master's addresses rejoins as
// a Slave.
func TestClusterConsensusOnLoopback(t *testing.T) {
	base := NodeGoroutines()
	nodes := []*clusterNode{newClusterNode(1), newClusterNode(2), newClusterNode(3)}
	for _, c := range nodes {
		c.ports(t)
	}
	var seeds []string
	for _, c := range nodes {
		seeds = append(seeds, c.intGossipSeed())
	}
	sink := &logSink{}
	log := slog.New(slog.NewTextHandler(sink, nil))
	for _, c := range nodes {
		c.startWith(t, 3, seeds, "c", log, []Option{WithConsensus()})
	}
	wait := func(what string, d time.Duration, ok func() bool) time.Duration {
		start := time.Now()
		for !ok() {
			if time.Since(start) > d {
				_, why := clusterStates(nodes)
				t.Fatalf("%s not within %v: %s", what, d, why)
			}
			time.Sleep(50 * time.Millisecond)
		}
		return time.Since(start)
	}
	var master string
	took := wait("one Master and two Slaves", 20*time.Second, func() bool { master, _ = clusterStates(nodes); return master != "" })
	t.Logf("cluster formed %v after start", took)
	// (GET /info still answers "master" on every node: httpfront's /info
	// does not take the node state yet.)
	for _, c := range nodes {
		want := StateSlave
		if c.intGossipSeed() == master {
			want = StateMaster
		}
		if got := c.n.State(); got != want {
			t.Fatalf("%s: node state %v, want %v", c.ip, got, want)
		}
	}
	if !strings.Contains(sink.String(), "IS MASTER... SPARTA!") || !strings.Contains(sink.String(), "IS SLAVE...") {
		t.Fatal("state log lines missing")
	}

	// Stop the master.
	var old *clusterNode
	for i, c := range nodes {
		if c.intGossipSeed() == master {
			old = c
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			c.n.Stop(ctx)
			cancel()
			nodes[i] = nil
		}
	}
	took = wait("a new master", 15*time.Second, func() bool { m, _ := clusterStates(nodes); return m != "" && m != master })
	t.Logf("new master shown on every interface %v after the old one stopped", took)

	// A new process at the old addresses rejoins as a Slave.
	back := &clusterNode{ip: old.ip, intHTTP: old.intHTTP, extHTTP: old.extHTTP, intTCP: old.intTCP, extTCP: old.extTCP}
	back.startWith(t, 3, seeds, "c", log, []Option{WithConsensus()})
	for i := range nodes {
		if nodes[i] == nil {
			nodes[i] = back
		}
	}
	wait("the old master back as a Slave", 20*time.Second, func() bool { m, _ := clusterStates(nodes); return m != "" && m != master })

	// Everything the cluster services started ends with the nodes.
	for _, c := range nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.n.Stop(ctx)
		cancel()
	}
	http.DefaultClient.CloseIdleConnections()
	checkNoGoroutineLeak(t, base)
}
