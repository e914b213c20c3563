package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventstored/eventstored/client"
	"github.com/eventstored/eventstored/cluster/gossip"
	"github.com/eventstored/eventstored/codec"
)

// formedCluster starts three consensus nodes on 127.0.0.1-3 (with
// advertise: external endpoints advertised as 10.9.9.N:1111N (TCP) and
// 10.9.9.N:2111N (HTTP)), waits for one Master and two Slaves, and
// returns the nodes, the master and the slaves.
func formedCluster(t *testing.T, log *slog.Logger, advertise bool) ([]*clusterNode, *clusterNode, []*clusterNode) {
	t.Helper()
	nodes := []*clusterNode{newClusterNode(1), newClusterNode(2), newClusterNode(3)}
	for _, c := range nodes {
		c.ports(t)
	}
	var seeds []string
	for _, c := range nodes {
		seeds = append(seeds, c.intGossipSeed())
	}
	for i, c := range nodes {
		var args []string
		if advertise {
			args = []string{"--ext-ip-advertise-as", fmt.Sprintf("10.9.9.%d", i+1),
				"--ext-tcp-port-advertise-as", strconv.Itoa(11111 + i), "--ext-http-port-advertise-as", strconv.Itoa(21111 + i)}
		}
		c.startWith(t, 3, seeds, "fwd", log.With("node", c.ip), []Option{WithConsensus()}, args...)
	}
	start := time.Now()
	for {
		m, why := clusterStates(nodes)
		if m != "" {
			var master *clusterNode
			var slaves []*clusterNode
			for _, c := range nodes {
				if c.intGossipSeed() == m {
					master = c
				} else {
					slaves = append(slaves, c)
				}
			}
			// Each slave has published its master (the watcher's period),
			// and every node has the default users the master created
			// (a login refused before they arrive would stay refused for
			// auth's failed-credentials cache).
			for _, s := range slaves {
				for s.n.tcpState().Master == nil {
					if time.Since(start) > 30*time.Second {
						t.Fatalf("slave %s never published its master", s.ip)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			for _, c := range nodes {
				for {
					if _, err := c.n.auth.GetUser(context.Background(), "admin"); err == nil {
						break
					}
					if time.Since(start) > 30*time.Second {
						t.Fatalf("node %s never got the default users", c.ip)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			return nodes, master, slaves
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("no cluster: %s", why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func dialNode(t *testing.T, c *clusterNode, requireMaster bool) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var cl *client.Client
	var err error
	for {
		cl, err = client.Dial(ctx, fmt.Sprintf("%s:%d", c.ip, c.extTCP), client.Options{RequireMaster: requireMaster,
			Credentials: &client.Credentials{Login: "admin", Password: "changeit"}, MaxRetries: 50})
		// The master creates the default users; a slave knows them once
		// that write has reached it.
		var na *client.NotAuthenticatedError
		if err == nil || !errors.As(err, &na) || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// readable waits until c (a node's client, require_master false) reads
// event 0 of stream from its own store.
func readable(t *testing.T, ctx context.Context, c *client.Client, stream string) {
	t.Helper()
	for {
		r, err := c.ReadEvent(ctx, stream, 0, false)
		if err == nil && r.Status == client.ReadSuccess {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("event 0 of %s never readable: %+v %v", stream, r, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestForwardingOnLoopback: in a three-node cluster on loopback, a write
// through a Slave's external TCP without require_master is forwarded to
// the master over internal TCP and is readable on every node; with
// require_master the Slave answers NotMaster with the master's
// ADVERTISED external endpoints; after the master stops, the Slave left
// forwards to the new master; reads are served locally unless they
// require the master; persistent subscription management is refused with
// NotMaster.
func TestForwardingOnLoopback(t *testing.T) {
	base := NodeGoroutines()
	// The nodes' log is kept (its tail) for the failure after the
	// failover: a forward answered ForwardTimeout there (once, in a
	// make test) had no trace of which connection closed and why.
	tail := &logTail{max: 300}
	nodes, master, slaves := formedCluster(t, slog.New(slog.NewTextHandler(tail, nil)), true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	mIdx := 0
	for i, c := range nodes {
		if c == master {
			mIdx = i
		}
	}
	wantTCP := fmt.Sprintf("10.9.9.%d:%d", mIdx+1, 11111+mIdx)
	wantHTTP := fmt.Sprintf("10.9.9.%d:%d", mIdx+1, 21111+mIdx)

	mc := dialNode(t, master, true)
	readers := map[*clusterNode]*client.Client{}
	for _, c := range nodes {
		readers[c] = dialNode(t, c, false)
	}
	for i, s := range slaves {
		sc := dialNode(t, s, false)
		stream := "forwarded-" + strconv.Itoa(i)
		ev := client.EventData{ID: client.NewGUID(), Type: "t", IsJSON: true, Data: []byte(`{"a":1}`)}
		res, err := sc.AppendToStream(ctx, stream, client.ExpectedNoStream, ev)
		if err != nil {
			t.Fatalf("write through slave %s: %v", s.ip, err)
		}
		if res.NextExpectedVersion != 0 {
			t.Fatalf("write result %+v", res)
		}
		// The same event id again: idempotent on the master.
		if _, err := sc.AppendToStream(ctx, stream, client.ExpectedNoStream, ev); err != nil {
			t.Fatalf("idempotent retry through slave %s: %v", s.ip, err)
		}
		r, err := mc.ReadEvent(ctx, stream, 0, false)
		if err != nil || r.Event == nil || r.Status != client.ReadSuccess {
			t.Fatalf("read on the master: %+v %v", r, err)
		}
		// Replicated: every node serves it from its own store (reads
		// without require_master are local).
		for _, c := range nodes {
			readable(t, ctx, readers[c], stream)
		}

		rm := dialNode(t, s, true)
		_, err = rm.AppendToStream(ctx, stream, client.ExpectedAny, ev)
		var nh *client.NotHandledError
		if !errors.As(err, &nh) || nh.Reason != codec.NotHandledNotMaster || nh.Master == nil {
			t.Fatalf("require_master write on slave: %v", err)
		}
		gotTCP := fmt.Sprintf("%s:%d", nh.Master.ExternalTCPAddress, nh.Master.ExternalTCPPort)
		gotHTTP := fmt.Sprintf("%s:%d", nh.Master.ExternalHTTPAddress, nh.Master.ExternalHTTPPort)
		if gotTCP != wantTCP || gotHTTP != wantHTTP {
			t.Fatalf("NotMaster endpoints %s / %s; want the advertised %s / %s", gotTCP, gotHTTP, wantTCP, wantHTTP)
		}
		if _, err := rm.ReadEvent(ctx, stream, 0, false); !errors.As(err, &nh) || nh.Reason != codec.NotHandledNotMaster {
			t.Fatalf("require_master read on slave: %v", err)
		}
		if err := sc.CreatePersistentSubscription(ctx, stream, "g", client.PersistentSettings{}); !errors.As(err, &nh) || nh.Reason != codec.NotHandledNotMaster {
			t.Fatalf("persistent subscription create on slave: %v", err)
		}
	}

	// HTTP (spec §7.3) on the same cluster: /info shows each node's state;
	// a write to a Slave is proxied to the master's internal HTTP; with
	// ES-RequireMaster: True it is redirected to the master's advertised
	// external HTTP.
	for _, c := range nodes {
		want := "slave"
		if c == master {
			want = "master"
		}
		if code, _, body := httpGet(t, fmt.Sprintf("http://%s:%d/info", c.ip, c.extHTTP)); code != 200 || !strings.Contains(body, `"state": "`+want+`"`) {
			t.Fatalf("/info on %s: %d %s; want state %s", c.ip, code, body, want)
		}
	}
	hc := &http.Client{Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(c *clusterNode, path, body string, hdr ...string) *http.Response {
		t.Helper()
		req, err := http.NewRequest("POST", fmt.Sprintf("http://%s:%d%s", c.ip, c.extHTTP, path), strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("admin", "changeit")
		req.Header.Set("Content-Type", "application/vnd.eventstore.events+json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	body := `[{"eventId":"7e1c3a52-0d7b-4c53-9a39-2d6a1f0e0001","eventType":"H","data":{"h":1}}]`
	s := slaves[0]
	resp := post(s, "/streams/http-forwarded", body)
	if resp.StatusCode != 201 {
		t.Fatalf("HTTP write through slave: %d %s", resp.StatusCode, resp.Status)
	}
	// The master's links name the slave the client talked to.
	if loc := resp.Header.Get("Location"); loc != fmt.Sprintf("http://%s:%d/streams/http-forwarded/0", s.ip, s.extHTTP) {
		t.Fatalf("Location %q", loc)
	}
	for _, c := range nodes {
		readable(t, ctx, readers[c], "http-forwarded")
	}
	resp = post(s, "/streams/http-forwarded", body, "ES-RequireMaster", "True")
	if resp.StatusCode != 307 || resp.Header.Get("Location") != "http://"+wantHTTP+"/streams/http-forwarded" {
		t.Fatalf("require-master write: %d, Location %q; want 307 to http://%s/streams/http-forwarded", resp.StatusCode, resp.Header.Get("Location"), wantHTTP)
	}

	// The master stops: the two others elect a new one, and the forwarder
	// of the one left a Slave dials the new master.
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	master.n.Stop(sctx)
	scancel()
	// Once a slave's gossip has the stopped master dead (its internal TCP
	// connection broke), the slave publishes no master — not the dead one
	// raft still names until the election — so NotMaster replies never
	// point at it and the forwarder stops dialling its port.
	for _, s := range slaves {
		for {
			ci, err := s.n.Gossip()
			if err != nil {
				t.Fatal(err)
			}
			if m, ok := memberAt(ci, master.intGossipSeed()); ok && !m.IsAlive {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("slave %s never saw the stopped master dead", s.ip)
			}
			time.Sleep(10 * time.Millisecond)
		}
		s.n.refreshMaster(s.n.gossip, s.n.svc, s.n.fw.fwd)
		if mv := s.n.fw.master.Load(); mv != nil && mv.m.InternalHTTP.String() == master.intGossipSeed() {
			t.Fatalf("slave %s publishes the stopped master %s, dead in its gossip, as its master", s.ip, master.intGossipSeed())
		}
	}
	left := []*clusterNode{}
	for i, c := range nodes {
		if c == master {
			nodes[i] = nil
		} else {
			left = append(left, c)
		}
	}
	var newMaster, slave *clusterNode
	for start := time.Now(); newMaster == nil; time.Sleep(50 * time.Millisecond) {
		if time.Since(start) > 20*time.Second {
			_, why := clusterStates(nodes)
			t.Fatalf("no new master: %s", why)
		}
		if m, _ := clusterStates(nodes); m != "" {
			for _, c := range left {
				if c.intGossipSeed() == m {
					newMaster = c
				} else if mv := c.n.fw.master.Load(); mv != nil && mv.m.InternalHTTP.String() == m {
					// The slave has published the new master.
					slave = c
				}
			}
			if slave == nil {
				newMaster = nil
			}
		}
	}
	ev := client.EventData{ID: client.NewGUID(), Type: "t", IsJSON: true, Data: []byte(`{"after":"failover"}`)}
	if _, err := readers[slave].AppendToStream(ctx, "after-failover", client.ExpectedNoStream, ev); err != nil {
		t.Fatalf("write through the slave %s after failover: %v; its forwarder: %+v; the nodes' log:\n%s", slave.ip, err, slave.n.fw.fwd.Stats(), tail)
	}
	readable(t, ctx, readers[newMaster], "after-failover")

	for _, c := range left {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.n.Stop(sctx)
		scancel()
	}
	hc.CloseIdleConnections()
	http.DefaultClient.CloseIdleConnections()
	checkNoGoroutineLeak(t, base)
}

// TestClusterClientInterop runs node-eventstore-client 0.2.19
// (node/tcpsvc/testdata/js/cluster.js) against a Slave of a three-node
// cluster: forwarding is transparent with requireMaster: false, and with
// requireMaster: true the client follows NotMaster to the master.
func TestClusterClientInterop(t *testing.T) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("the interop test needs node (v20) on PATH: %v", err)
	}
	dir := filepath.Join("tcpsvc", "testdata", "js")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "node-eventstore-client", "package.json")); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			t.Fatalf("node_modules is missing and npm is not on PATH: %v", err)
		}
		cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s failed: %v\n%s", dir, err, out)
		}
	}
	_, master, slaves := formedCluster(t, quietLogger(), false)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, "cluster.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ES_HOST="+slaves[0].ip, "ES_PORT="+strconv.Itoa(slaves[0].extTCP),
		"ES_MASTER_PORT="+strconv.Itoa(master.extTCP))
	// The master is on another loopback address than the slave.
	cmd.Env = append(cmd.Env, "ES_MASTER_HOST="+master.ip)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node cluster.js failed: %v\n%s", err, out)
	}
}

// TestUnknownNodeRefusesWrites: a cluster node that never finds its
// peers stays Unknown: /info says so, reads are served, writes get
// NotHandled NotReady over TCP and 503 over HTTP, and /health/ready is
// 503.
func TestUnknownNodeRefusesWrites(t *testing.T) {
	c := newClusterNode(1)
	c.ports(t)
	c.start(t, 3, []string{"127.0.0.2:2112", "127.0.0.3:2112"}, "", quietLogger())
	base := fmt.Sprintf("http://%s:%d", c.ip, c.extHTTP)
	if code, _, body := httpGet(t, base+"/info"); code != 200 || !strings.Contains(body, `"state": "unknown"`) {
		t.Fatalf("/info: %d %s", code, body)
	}
	if code, _, _ := httpGet(t, base+"/health/ready"); code != 503 {
		t.Fatalf("/health/ready: %d", code)
	}
	if code, _, _ := httpGet(t, base+"/streams/nothing/0"); code != 404 {
		t.Fatalf("read on an Unknown node: %d", code)
	}
	req, _ := http.NewRequest("POST", base+"/streams/u", strings.NewReader(`[{"eventId":"7e1c3a52-0d7b-4c53-9a39-2d6a1f0e0002","eventType":"U","data":{}}]`))
	req.Header.Set("Content-Type", "application/vnd.eventstore.events+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("HTTP write on an Unknown node: %s", resp.Status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, fmt.Sprintf("%s:%d", c.ip, c.extTCP), client.Options{MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	_, err = cl.AppendToStream(ctx, "u", client.ExpectedAny, client.EventData{ID: client.NewGUID(), Type: "U", IsJSON: true, Data: []byte(`{}`)})
	var nh *client.NotHandledError
	if !errors.As(err, &nh) || nh.Reason != codec.NotHandledNotReady {
		t.Fatalf("TCP write on an Unknown node: %v", err)
	}
	if _, err := cl.ReadEvent(ctx, "u", 0, false); err != nil {
		t.Fatalf("TCP read on an Unknown node: %v", err)
	}
	http.DefaultClient.CloseIdleConnections()
}

// TestClusterHTTPInterop runs geteventstore-promise 4.0.1
// (httpfront/testdata/js/cluster.js) against a Slave's external HTTP:
// writes, an expected-version failure and a delete are proxied to the
// master without the client noticing.
func TestClusterHTTPInterop(t *testing.T) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("the interop test needs node (v20) on PATH: %v", err)
	}
	dir := filepath.Join("..", "httpfront", "testdata", "js")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "geteventstore-promise", "package.json")); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			t.Fatalf("node_modules is missing and npm is not on PATH: %v", err)
		}
		cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s failed: %v\n%s", dir, err, out)
		}
	}
	_, master, slaves := formedCluster(t, quietLogger(), false)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, "cluster.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ES_HOST="+slaves[0].ip, "ES_PORT="+strconv.Itoa(slaves[0].extHTTP),
		"ES_MASTER_HOST="+master.ip, "ES_MASTER_PORT="+strconv.Itoa(master.extHTTP))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "cluster checks passed") {
		t.Fatalf("node cluster.js failed: %v\n%s", err, out)
	}
}

// logTail keeps the last max lines written to it (a slog handler's
// output shared by the nodes of a test). Safe for concurrent use.
type logTail struct {
	mu    sync.Mutex
	max   int
	lines []string
}

func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == l.max {
		l.lines = l.lines[1:]
	}
	l.lines = append(l.lines, strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// memberAt returns the member of ci whose internal HTTP endpoint is addr.
func memberAt(ci gossip.ClusterInfo, addr string) (gossip.Member, bool) {
	for _, m := range ci.Members {
		if m.InternalHTTP.String() == addr {
			return m, true
		}
	}
	return gossip.Member{}, false
}
