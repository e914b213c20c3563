package tcpsvc

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventstored/eventstored/node/auth"
	"github.com/eventstored/eventstored/node/subscriptions"
	"github.com/eventstored/eventstored/reactor"
	"github.com/eventstored/eventstored/store"
)

// TestNodeClientInterop runs the real node-eventstore-client (pinned in
// testdata/js/package-lock.json) against an in-process server on a free
// loopback port: a store, auth with its default users and production
// hashing, and this service behind a TCP listener. Each script in
// testdata/js covers one area of the protocol, success and error paths,
// asserts with node:assert and exits non-zero on a mismatch; the test
// fails with the script's output. Scripts run one after another because
// read.js compares whole-$all reads.
func TestNodeClientInterop(t *testing.T) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("the interop test needs node (v20) on PATH: %v", err)
	}
	dir := filepath.Join("testdata", "js")
	ensureNodeModules(t, dir)
	addr := startTestServer(t)
	_, port, _ := net.SplitHostPort(addr)
	for _, script := range []string{"auth.js", "write.js", "read.js", "delete.js", "tx.js", "meta.js", "concurrent.js", "subscribe.js", "persistent.js"} {
		t.Run(script, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, nodeBin, script)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "ES_HOST=127.0.0.1", "ES_PORT="+port)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("node %s failed: %v\n%s", script, err, out)
			}
		})
	}
}

// ensureNodeModules installs the pinned client with `npm ci` when
// node_modules is missing (it is git-ignored).
func ensureNodeModules(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "node-eventstore-client", "package.json")); err == nil {
		return
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatalf("node_modules is missing and npm is not on PATH: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s failed: %v\n%s", dir, err, out)
	}
}

// startTestServer starts store, auth, service and the reactor's listener
// on a free loopback port; everything is stopped at the end of the test.
// It returns the listener's address.
func startTestServer(t testing.TB) string {
	t.Helper()
	return startTestReactor(t).Addr()
}

// startTestReactor is startTestServer returning the listener, for its
// Stats.
func startTestReactor(t testing.TB, opts ...func(*store.Options)) *reactor.Server {
	t.Helper()
	so := store.Options{Dir: t.TempDir(), Logger: quietLogger()}
	for _, o := range opts {
		o(&so)
	}
	db, err := store.Open(so)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	a := auth.New(auth.Options{Backend: auth.NewDBBackend(db), Logger: quietLogger()})
	if err := a.Start(context.Background()); err != nil {
		t.Fatalf("auth.Start: %v", err)
	}
	subs := subscriptions.New(subscriptions.Options{DB: db, Logger: quietLogger()})
	subs.Start()
	psubs := subscriptions.NewPersistent(subscriptions.PersistentOptions{DB: db, Logger: quietLogger()})
	if err := psubs.Start(); err != nil {
		t.Fatal(err)
	}
	svc := New(Options{DB: db, NewReader: func() Reader { return db.NewReader() }, Auth: a, Logger: quietLogger(),
		Subscriptions: subs, Persistent: psubs})
	svc.Start()
	srv := reactor.NewServer(reactor.Config{Name: "external TCP", Addr: "127.0.0.1:0", Logger: quietLogger()}, svc.Handler())
	if err := srv.Start(); err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		subs.Stop()
		psubs.Stop()
		_ = srv.Stop(ctx)
		svc.Stop()
		db.Close()
	})
	return srv
}
