package httpfront

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestInteropGetEventStorePromise runs the real geteventstore-promise@4.0.1
// HTTP client (pinned in testdata/js/package-lock.json, installed with
// `npm ci` when node_modules is missing) against a real fasthttp server on
// a free loopback port backed by the real store and auth. The script
// (testdata/js/interop.js) covers ping, writes of one and many events,
// forward/backward/chunked reads, existence checks, soft and hard deletes,
// expected-version failures, stream metadata and $all paging.
func TestInteropGetEventStorePromise(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is required for the interop test: %v", err)
	}
	dir, _ := filepath.Abs("testdata/js")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "geteventstore-promise")); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	n := newTestNode(t)
	srv := NewServer(Config{Name: "interop HTTP", Addr: "127.0.0.1:0"}, n.h.RequestHandler())
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(context.Background()) }) //nolint:errcheck
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "interop.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), fmt.Sprintf("ES_PORT=%d", srv.Port()))
	out, err := cmd.CombinedOutput()
	t.Logf("interop output:\n%s", out)
	if err != nil {
		t.Fatalf("interop script failed: %v", err)
	}
	if !strings.Contains(string(out), "checks passed") {
		t.Fatalf("interop script did not finish")
	}
}
