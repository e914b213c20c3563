package client_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/eventstored/eventstored/client"
	"github.com/eventstored/eventstored/node"
	"github.com/eventstored/eventstored/node/config"
)

// startNode runs a real in-process node (in-memory database, real
// loopback listeners) for the duration of the test and returns its
// external TCP address.
func startNode(t testing.TB) string {
	t.Helper()
	return startNodeWith(t)
}

// startNodeWith is startNode with extra command-line options.
func startNodeWith(t testing.TB, extraArgs ...string) string {
	t.Helper()
	port := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	}
	tcpPort := port()
	args := append([]string{"--mem-db", "--ext-tcp-port", tcpPort, "--ext-http-port", port(), "--tcp-event-loops", "1"}, extraArgs...)
	o, err := config.Loader{Args: args}.Load()
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
	return "127.0.0.1:" + tcpPort
}

var admin = &client.Credentials{Login: "admin", Password: "changeit"}

func dial(t testing.TB, addr string, o client.Options) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func events(n int, typ string) []client.EventData {
	evs := make([]client.EventData, n)
	for i := range evs {
		evs[i] = client.EventData{ID: client.NewGUID(), Type: typ, IsJSON: true, Data: []byte(`{"i":` + strconv.Itoa(i) + `}`)}
	}
	return evs
}
