package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventstored/eventstored/node/config"
)

// freePort returns a port that was free on ip a moment ago.
func freePort(t *testing.T, ip string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

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

// TestStartServeStop starts a single node, checks both external listeners
// answer (HTTP /ping and /info, a TCP connect), stops it and checks that
// the ports are released and no goroutine is left behind.
func TestStartServeStop(t *testing.T) {
	base := NodeGoroutines()
	o := testOptions(t)
	n, err := New(o, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if n.State() != StateInitializing {
		t.Fatalf("unexpected state before start: %v", n.State())
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	httpBase := "http://127.0.0.1:" + strconv.Itoa(o.ExtHttpPort)
	code, ctype, body := httpGet(t, httpBase+"/ping")
	if code != 200 || ctype != "application/json; charset=utf-8" ||
		body != "{\n  \"text\": \"Ping request successfully handled\",\n  \"msgTypeId\": 11\n}" {
		t.Fatalf("unexpected /ping reply: %d %q %q", code, ctype, body)
	}
	code, _, body = httpGet(t, httpBase+"/info")
	if code != 200 || body != "{\n  \"esVersion\": \"4.0.3.0\",\n  \"state\": \"master\",\n  \"projectionsMode\": \"None\"\n}" {
		t.Fatalf("unexpected /info reply: %d %q", code, body)
	}
	if code, _, _ = httpGet(t, httpBase+"/nope"); code != 404 {
		t.Fatalf("unexpected status for an unknown path: %d", code)
	}
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(o.ExtTcpPort), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("anything")); err != nil {
		t.Fatal(err)
	}

	// NB: the client closes first. If the server side closed first, its
	// socket would sit in TIME_WAIT on the listener's port, and the
	// reactor does not set SO_REUSEADDR yet, so canBind below would fail.
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
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
				n, err := New(o, WithLogger(quietLogger()))
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
	n, err := New(o, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	for _, l := range o.Listeners() {
		c, err := net.DialTimeout("tcp", l.Addr(), 5*time.Second)
		if err != nil {
			t.Errorf("%s %s does not accept: %v", l.Name, l.Addr(), err)
			continue
		}
		c.Close()
	}
	_, _, body := httpGet(t, "http://"+o.Listeners()[3].Addr()+"/info")
	if !strings.Contains(body, `"state": "unknown"`) {
		t.Errorf("unexpected cluster /info: %s", body)
	}
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
	if err == nil || !strings.Contains(err.Error(), file+"/sub") {
		t.Fatalf("unexpected Start result with an unusable --db: %v", err)
	}
	for _, l := range o.Listeners() {
		if !canBind(l.Addr()) {
			t.Errorf("%s bound although the database failed", l.Name)
		}
	}
}
