package bench

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/eventstored/eventstored/client"
	"github.com/eventstored/eventstored/node"
	"github.com/eventstored/eventstored/node/config"
)

// Smoke runs: every workload, short, against a real node started in this
// process (in-memory database, real loopback TCP and HTTP listeners). They
// check that each workload completes with events measured and no errors,
// not how fast it is.

func startTestNode(t *testing.T) (tcpAddr, httpAddr string) {
	t.Helper()
	port := func() string {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		return strconv.Itoa(p)
	}
	tcpPort, httpPort := port(), port()
	o, err := config.Loader{Args: []string{"--mem-db", "--ext-tcp-port", tcpPort, "--ext-http-port", httpPort, "--tcp-event-loops", "1"}}.Load()
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(o, node.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), node.WithAuthHashIterations(1000))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.Stop(ctx); err != nil {
			t.Errorf("node stop: %v", err)
		}
	})
	return net.JoinHostPort("127.0.0.1", tcpPort), net.JoinHostPort("127.0.0.1", httpPort)
}

func smokeConfig(kind Kind, addr string) Config {
	c := Defaults(kind)
	c.Addr, c.Duration, c.Warmup, c.Interval, c.Progress = addr, 300*time.Millisecond, 50*time.Millisecond, 100*time.Millisecond, false
	c.Clients = 4
	if kind == KindRead || kind == KindMixed {
		c.Streams, c.Prefill, c.PageSize = 10, 300, 20
	}
	return c
}

func checkRun(t *testing.T, res *Result, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if res.Events == 0 || res.Latency.Count == 0 || len(res.Series) == 0 {
		t.Fatalf("%s: nothing measured: %s", res.Label, res.Summary())
	}
	if n := res.ErrorTotal(); n > 0 {
		t.Fatalf("%s: %d errors: %v %v", res.Label, n, res.Errors, res.ErrorSamples)
	}
	t.Log(res.Summary())
}

var adminCreds = &client.Credentials{Login: "admin", Password: "changeit"}

func TestSmokeWorkloadsOverTCP(t *testing.T) {
	tcpAddr, _ := startTestNode(t)
	tcp := func() Target { return &TCPTarget{Addr: tcpAddr, Credentials: adminCreds} }
	t.Run("write any", func(t *testing.T) {
		res, err := Run(context.Background(), smokeConfig(KindWrite, tcpAddr), tcp(), nil)
		checkRun(t, res, err)
	})
	t.Run("write exact expected version, 10 events, pipelined", func(t *testing.T) {
		c := smokeConfig(KindWrite, tcpAddr)
		c.Expected, c.Clients, c.InFlight, c.Connections, c.Streams, c.EventsPerWrite = ExpectExact, 4, 2, 2, 8, 10
		res, err := Run(context.Background(), c, tcp(), nil)
		checkRun(t, res, err)
		if res.Events != 10*res.Requests {
			t.Fatalf("unexpected events %d for %d requests", res.Events, res.Requests)
		}
	})
	for _, mode := range []ReadMode{ReadEvent, ReadStream, ReadAll} {
		t.Run("read "+string(mode), func(t *testing.T) {
			c := smokeConfig(KindRead, tcpAddr)
			c.ReadMode = mode
			res, err := Run(context.Background(), c, tcp(), nil)
			checkRun(t, res, err)
		})
	}
	t.Run("mixed", func(t *testing.T) {
		res, err := Run(context.Background(), smokeConfig(KindMixed, tcpAddr), tcp(), nil)
		checkRun(t, res, err)
	})
	t.Run("soak", func(t *testing.T) {
		c := smokeConfig(KindSoak, tcpAddr)
		c.Clients = 50
		// The node runs in this process, so its RSS is ours.
		res, err := RunSoak(context.Background(), c, adminCreds, os.Getpid(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if s := res.Soak; s.Alive != 50 || s.Connections != 50 || s.RSSAfterBytes == 0 || res.Latency.Count != 50 {
			t.Fatalf("unexpected soak result: %s (%+v)", res.Summary(), s)
		}
		t.Log(res.Summary())
	})
	t.Run("subscribe", func(t *testing.T) {
		c := smokeConfig(KindSubscribe, tcpAddr)
		c.Clients, c.Rate = 10, 500
		res, err := RunSubscribe(context.Background(), c, adminCreds, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Events == 0 || res.Latency.Count == 0 || res.ErrorTotal() != 0 {
			t.Fatalf("unexpected subscribe result: %s", res.Summary())
		}
		t.Log(res.Summary())
	})
	t.Run("wrong password is a clear error", func(t *testing.T) {
		bad := &TCPTarget{Addr: tcpAddr, Credentials: &client.Credentials{Login: "admin", Password: "nope"}}
		_, err := Run(context.Background(), smokeConfig(KindWrite, tcpAddr), bad, nil)
		if !errors.Is(err, client.ErrNotAuthenticated) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

func TestSmokeWorkloadsOverHTTP(t *testing.T) {
	_, httpAddr := startTestNode(t)
	http := func() Target { return &HTTPTarget{Addr: httpAddr, Login: "admin", Passwd: "changeit"} }
	t.Run("write", func(t *testing.T) {
		c := smokeConfig(KindWrite, httpAddr)
		c.Target, c.EventsPerWrite = "eventstored-http", 3
		res, err := Run(context.Background(), c, http(), nil)
		checkRun(t, res, err)
	})
	for _, mode := range []ReadMode{ReadEvent, ReadStream, ReadAll} {
		t.Run("read "+string(mode), func(t *testing.T) {
			c := smokeConfig(KindRead, httpAddr)
			c.Target, c.ReadMode = "eventstored-http", mode
			res, err := Run(context.Background(), c, http(), nil)
			checkRun(t, res, err)
		})
	}
}
