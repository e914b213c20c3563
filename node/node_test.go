package node

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventstored/eventstored/client"
	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/node/config"
)

// freePort returns a port that was free on ip a moment ago.
func freePort(t *testing.T, ip string) int {
	t.Helper()
	for {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		// NB: the kernel may hand the same ephemeral port out again once
		// it is closed: two of a node's four ports were once equal
		// ("ExtTcpPort and ExtHttpPort are both 38135"). No port is given
		// twice in one test binary.
		portsMu.Lock()
		seen := portsGiven[port]
		portsGiven[port] = true
		portsMu.Unlock()
		if !seen {
			return port
		}
	}
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

func testOptions(t *testing.T, extra ...string) *config.Options {
	t.Helper()
	args := append([]string{"--mem-db",
		"--ext-tcp-port", strconv.Itoa(freePort(t, "127.0.0.1")),
		"--ext-http-port", strconv.Itoa(freePort(t, "127.0.0.1")),
		"--tcp-event-loops", "1",
	}, extra...)
	o, err := config.Loader{Args: args}.Load()
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// checkNoGoroutineLeak polls until the goroutine count is back to base,
// then fails with a stack dump if it never is.
func checkNoGoroutineLeak(t *testing.T, base int) {
	t.Helper()
	if n := WaitGoroutines(base, 5*time.Second); n > base {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutine leak: %d running, %d before start:\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}

// canBind reports whether addr is free to listen on.
func canBind(addr string) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

func httpGet(t *testing.T, url string) (int, string, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// TestStartServeStop starts a single node on a real directory, appends an
// event over external TCP with the Go client, reads it back over external
// HTTP, stops the node, checks the ports are released and no goroutine is
// left, then restarts on the same directory and finds the event again (the
// store was flushed and closed by Stop).
func TestStartServeStop(t *testing.T) {
	base := NodeGoroutines()
	dir := t.TempDir()
	o := testOptions(t, "--mem-db=false", "--db", dir)
	n := mustStart(t, o)
	httpBase := "http://127.0.0.1:" + strconv.Itoa(o.ExtHttpPort)
	code, ctype, body := httpGet(t, httpBase+"/ping")
	if code != 200 || !strings.HasPrefix(ctype, "application/json") || !strings.Contains(body, `"text": "Ping request successfully handled"`) {
		t.Fatalf("unexpected /ping reply: %d %q %q", code, ctype, body)
	}
	code, _, body = httpGet(t, httpBase+"/info")
	if code != 200 || !strings.Contains(body, `"esVersion": "4.0.3.0"`) || !strings.Contains(body, `"projectionsMode": "None"`) {
		t.Fatalf("unexpected /info reply: %d %q", code, body)
	}
	if n.State() != StateMaster {
		t.Fatalf("unexpected state of a started single node: %v", n.State())
	}

	c, err := client.Dial(context.Background(), "127.0.0.1:"+strconv.Itoa(o.ExtTcpPort),
		client.Options{Credentials: &client.Credentials{Login: "admin", Password: "changeit"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.AppendToStream(ctx, "node-test", -1, client.EventData{ID: client.NewGUID(), Type: "Tested", IsJSON: true, Data: []byte(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	code, _, body = httpGetAuth(t, httpBase+"/streams/node-test/0?embed=body", "application/json")
	if code != 200 || !strings.Contains(body, `"a": 1`) {
		t.Fatalf("event written over TCP is not readable over HTTP: %d %q", code, body)
	}
	// The client stays connected through Stop: the server closes first,
	// and the restart below must still bind (SO_REUSEADDR).
	stop(t, n)
	c.Close()
	if n.State() != StateShutdown {
		t.Fatalf("unexpected state after stop: %v", n.State())
	}
	for _, l := range o.Listeners() {
		if !canBind(l.Addr()) {
			t.Errorf("%s port %s still bound after Stop", l.Name, l.Addr())
		}
	}
	if err := n.Stop(ctx); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("unexpected second Stop result: %v", err)
	}
	if err := n.Start(); !errors.Is(err, ErrStarted) {
		t.Fatalf("unexpected Start after Stop: %v", err)
	}
	http.DefaultClient.CloseIdleConnections()
	checkNoGoroutineLeak(t, base)

	n2 := mustStart(t, o)
	code, _, body = httpGetAuth(t, httpBase+"/streams/node-test/0?embed=body", "application/json")
	if code != 200 || !strings.Contains(body, `"a": 1`) {
		t.Fatalf("event lost across a restart: %d %q", code, body)
	}
	stop(t, n2)
	http.DefaultClient.CloseIdleConnections()
	checkNoGoroutineLeak(t, base)
}

func mustStart(t *testing.T, o *config.Options) *Node {
	t.Helper()
	n, err := New(o, WithLogger(quietLogger()), WithAuthHashIterations(1000))
	if err != nil {
		t.Fatal(err)
	}
	if n.State() != StateInitializing {
		t.Fatalf("unexpected state before start: %v", n.State())
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	return n
}

func stop(t *testing.T, n *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

func httpGetAuth(t *testing.T, url, accept string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", "changeit")
	req.Header.Set("Accept", accept)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// TestAdminShutdownRequestsStop checks that POST /admin/shutdown (as
// admin) signals the owner through ShutdownRequested.
func TestAdminShutdownRequestsStop(t *testing.T) {
	o := testOptions(t)
	n := mustStart(t, o)
	defer stop(t, n)
	req, _ := http.NewRequest("POST", "http://127.0.0.1:"+strconv.Itoa(o.ExtHttpPort)+"/admin/shutdown", nil)
	req.SetBasicAuth("admin", "changeit")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("unexpected /admin/shutdown status %d", resp.StatusCode)
	}
	select {
	case <-n.ShutdownRequested():
	case <-time.After(5 * time.Second):
		t.Fatal("ShutdownRequested was not signalled")
	}
}

// TestStartFailsCleanlyOnTakenPort occupies each listener's port in turn
// (single node and cluster) and checks that Start names the interface,
// address and port, and leaves every other port free and no goroutines.
func TestStartFailsCleanlyOnTakenPort(t *testing.T) {
	cluster := []string{"--cluster-size", "3", "--discover-via-dns=false", "--gossip-seed", "127.0.0.3:2112",
		"--int-ip", "127.0.0.2",
		"--int-tcp-port", strconv.Itoa(freePort(t, "127.0.0.2")), "--int-http-port", strconv.Itoa(freePort(t, "127.0.0.2"))}
	for _, mode := range []struct {
		name string
		args []string
	}{{"single", nil}, {"cluster", cluster}} {
		probe := testOptions(t, mode.args...)
		for i := range probe.Listeners() {
			o := testOptions(t, mode.args...)
			ls := o.Listeners()
			taken := ls[i]
			t.Run(mode.name+"/"+taken.Name, func(t *testing.T) {
				base := NodeGoroutines()
				blocker, err := net.Listen("tcp", taken.Addr())
				if err != nil {
					t.Fatal(err)
				}
				defer blocker.Close()
				n, err := New(o, WithLogger(quietLogger()), WithAuthHashIterations(1000))
				if err != nil {
					t.Fatal(err)
				}
				err = n.Start()
				if err == nil {
					t.Fatal("Start succeeded on a taken port")
				}
				for _, want := range []string{taken.Name, taken.Addr(), strconv.Itoa(taken.Port)} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("start error lacks %q: %v", want, err)
					}
				}
				for _, l := range ls {
					if l != taken && !canBind(l.Addr()) {
						t.Errorf("%s %s left bound after a failed Start", l.Name, l.Addr())
					}
				}
				if err := n.Stop(context.Background()); !errors.Is(err, ErrNotStarted) {
					t.Errorf("unexpected Stop after failed Start: %v", err)
				}
				blocker.Close()
				checkNoGoroutineLeak(t, base)
			})
		}
	}
}

// TestClusterModeListeners checks that a cluster node opens internal
// listeners on IntIp and reports state unknown until elections exist.
func TestClusterModeListeners(t *testing.T) {
	base := NodeGoroutines()
	o := testOptions(t, "--cluster-size", "3", "--discover-via-dns=false", "--gossip-seed", "127.0.0.3:2112",
		"--int-ip", "127.0.0.2",
		"--int-tcp-port", strconv.Itoa(freePort(t, "127.0.0.2")), "--int-http-port", strconv.Itoa(freePort(t, "127.0.0.2")))
	n := mustStart(t, o)
	for _, l := range o.Listeners() {
		c, err := net.DialTimeout("tcp", l.Addr(), 5*time.Second)
		if err != nil {
			t.Errorf("%s %s does not accept: %v", l.Name, l.Addr(), err)
			continue
		}
		c.Close()
	}
	if code, _, _ := httpGet(t, "http://"+o.Listeners()[3].Addr()+"/ping"); code != 200 {
		t.Errorf("internal HTTP does not answer /ping: %d", code)
	}
	if n.State() != StateUnknown {
		t.Errorf("unexpected state of a cluster node without elections: %v", n.State())
	}
	// In state Unknown writes are refused with NotHandled NotReady and
	// reads are served (spec §4.3). Anonymous: a cluster node that never
	// saw a master has no users yet (the first master creates them, and
	// they replicate), so admin cannot log in.
	c, err := client.Dial(context.Background(), o.Listeners()[0].Addr(), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.AppendToStream(ctx, "s", -2, client.EventData{ID: client.NewGUID(), Type: "T", Data: []byte("x")})
	var nh *client.NotHandledError
	if !errors.As(err, &nh) || nh.Reason != codec.NotHandledNotReady {
		t.Errorf("unexpected write result on an Unknown node: %v", err)
	}
	if _, err := c.ReadStreamForward(ctx, "s", 0, 10, false); err != nil {
		t.Errorf("read refused on an Unknown node: %v", err)
	}
	c.Close()
	if err := n.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	http.DefaultClient.CloseIdleConnections()
	checkNoGoroutineLeak(t, base)
}

func TestNewRejectsInvalidOptions(t *testing.T) {
	o := testOptions(t, "--cluster-size", "3", "--discover-via-dns=false")
	if _, err := New(o); !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("unexpected New result for invalid options: %v", err)
	}
}

func TestStartFailsOnUnusableDb(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/file"
	if err := writeFile(file); err != nil {
		t.Fatal(err)
	}
	o := testOptions(t, "--mem-db=false", "--db", file+"/sub")
	n, err := New(o, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	err = n.Start()
	if err == nil || !strings.Contains(err.Error(), "cannot open the database in "+file+"/sub") {
		t.Fatalf("unexpected Start result with an unusable --db: %v", err)
	}
	for _, l := range o.Listeners() {
		if !canBind(l.Addr()) {
			t.Errorf("%s bound although the database failed", l.Name)
		}
	}
}

// TestInfoOptionsServesEffectiveOptions checks GET /info/options (admins)
// lists every option with its effective value, the password blanked.
func TestInfoOptionsServesEffectiveOptions(t *testing.T) {
	o := testOptions(t, "--certificate-password", "s3cret", "--gossip-seed", "10.0.0.2:2112")
	n := mustStart(t, o)
	defer stop(t, n)
	code, _, body := httpGetAuth(t, "http://127.0.0.1:"+strconv.Itoa(o.ExtHttpPort)+"/info/options", "application/json")
	if code != 200 {
		t.Fatalf("unexpected /info/options status %d: %s", code, body)
	}
	var list []config.OptionInfo
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatalf("/info/options is not a JSON list: %v\n%s", err, body)
	}
	got := map[string]string{}
	for _, e := range list {
		got[e.Name] = e.Value
	}
	if len(list) != len(o.Info()) || got["ExtHttpPort"] != strconv.Itoa(o.ExtHttpPort) || got["GossipSeed"] != "10.0.0.2:2112" ||
		got["CertificatePassword"] != "" || got["MemDb"] != "true" {
		t.Fatalf("unexpected /info/options: %s", body)
	}
	if strings.Contains(body, "s3cret") {
		t.Fatal("/info/options leaks the certificate password")
	}
}

// TestInertOptionsAreReported checks that an option the node accepts but
// does not act on yet is named in a warning when set, and that every name
// in the inert list is a real option.
func TestInertOptionsAreReported(t *testing.T) {
	for _, io := range inertOptions {
		if !config.IsOption(io.name) {
			t.Fatalf("bad inert entry %q", io.name)
		}
	}
	o := testOptions(t, "--better-ordering", "--chunks-cache-size", "1")
	var buf syncBuf
	if _, err := New(o, WithLogger(slog.New(slog.NewTextHandler(&buf, nil)))); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, name := range []string{"option=BetterOrdering", "option=ChunksCacheSize", "source=\"Command Line\""} {
		if !strings.Contains(out, name) {
			t.Errorf("no warning with %s:\n%s", name, out)
		}
	}
	if strings.Contains(out, "option=WriteThrough") {
		t.Errorf("warning for an option nobody set:\n%s", out)
	}
}

// TestUnsafeDisableFlushToDiskWarns: the option is acted on (the store
// skips fsync, store.TestUnsafeDisableFlushToDisk) and New warns about it;
// SkipDbVerify and it are no longer reported as inert.
func TestUnsafeDisableFlushToDiskWarns(t *testing.T) {
	o := testOptions(t, "--unsafe-disable-flush-to-disk", "--skip-db-verify")
	var buf syncBuf
	if _, err := New(o, WithLogger(slog.New(slog.NewTextHandler(&buf, nil)))); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "UNSAFE: writes are acknowledged without fsync") {
		t.Errorf("no unsafe warning:\n%s", out)
	}
	if strings.Contains(out, "has no effect") {
		t.Errorf("option reported as inert:\n%s", out)
	}
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

// TestStopKeepsAcknowledgedWrites stops a node while clients are writing
// and reopens its database: every write the node acknowledged before or
// during Stop must be there (Stop drains the writer and flushes before it
// closes the files). Writes refused or cut off by the shutdown may or may
// not be there; that is the client's ambiguity, not a loss.
func TestStopKeepsAcknowledgedWrites(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(t, "--mem-db=false", "--db", dir)
	n := mustStart(t, o)
	const writers = 4
	acked := make([][]int64, writers)
	var wg sync.WaitGroup
	started := make(chan struct{}, writers)
	for w := 0; w < writers; w++ {
		c, err := client.Dial(context.Background(), "127.0.0.1:"+strconv.Itoa(o.ExtTcpPort),
			client.Options{Credentials: &client.Credentials{Login: "admin", Password: "changeit"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := "stop-" + strconv.Itoa(w)
			for i := 0; ; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				res, err := c.AppendToStream(ctx, stream, -2, client.EventData{ID: client.NewGUID(), Type: "T", Data: []byte(strconv.Itoa(i))})
				cancel()
				if err != nil {
					return // the node is going away
				}
				acked[w] = append(acked[w], res.FirstEventNumber)
				if i == 20 {
					started <- struct{}{}
				}
			}
		}()
	}
	for w := 0; w < writers; w++ {
		select {
		case <-started:
		case <-time.After(30 * time.Second):
			t.Fatal("writers did not get going")
		}
	}
	stop(t, n)
	wg.Wait()

	n2 := mustStart(t, o)
	defer stop(t, n2)
	c, err := client.Dial(context.Background(), "127.0.0.1:"+strconv.Itoa(o.ExtTcpPort),
		client.Options{Credentials: &client.Credentials{Login: "admin", Password: "changeit"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	total := 0
	for w := 0; w < writers; w++ {
		total += len(acked[w])
		if len(acked[w]) >= 4096 {
			t.Fatalf("writer %d wrote more than one read page; the check below would be incomplete", w)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		sl, err := c.ReadStreamForward(ctx, "stop-"+strconv.Itoa(w), 0, 4096, false)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		have := map[int64]bool{}
		for _, e := range sl.Events {
			have[e.Event.Number] = true
		}
		for _, num := range acked[w] {
			if !have[num] {
				t.Fatalf("writer %d: acknowledged event %d lost across Stop (stream has %d events)", w, num, len(sl.Events))
			}
		}
	}
	t.Logf("%d acknowledged writes, all present after restart", total)
}
