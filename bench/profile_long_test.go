//go:build long

package bench

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/eventstored/eventstored/node"
	"github.com/eventstored/eventstored/node/config"
)

// TestProfileDurableNodeUnderWriteLoad runs a durable node (database in a
// temp dir) in this process under 256 clients × 1 event for 5 s and, when
// ESBENCH_PROFILE names a file, writes a CPU profile of the whole process
// (node and tool) there. It is a harness for finding the node's hot spots:
//
//	ESBENCH_PROFILE=/tmp/node.prof go test -tags long -run TestProfileDurableNode ./bench
//	go tool pprof -top /tmp/node.prof
func TestProfileDurableNodeUnderWriteLoad(t *testing.T) {
	port := func() string {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		return strconv.Itoa(p)
	}
	tcpPort := port()
	o, err := config.Loader{Args: []string{"--db", t.TempDir(), "--ext-tcp-port", tcpPort, "--ext-http-port", port()}}.Load()
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(o, node.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.Stop(ctx)
	}()
	if path := os.Getenv("ESBENCH_PROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	addr := net.JoinHostPort("127.0.0.1", tcpPort)
	c := Defaults(KindWrite)
	c.Addr, c.Clients, c.Duration, c.Warmup, c.Progress = addr, 256, 5*time.Second, time.Second, false
	res, err := Run(context.Background(), c, &TCPTarget{Addr: addr, Credentials: adminCreds}, nil)
	checkRun(t, res, err)
}
