package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/eventstored/eventstored/httpfront"
	"github.com/eventstored/eventstored/node/config"
	"github.com/eventstored/eventstored/reactor"
)

// Sentinel errors of the lifecycle.
var (
	// ErrStarted: Start was called twice.
	ErrStarted = errors.New("node: already started")
	// ErrNotStarted: Stop was called without a successful Start.
	ErrNotStarted = errors.New("node: not started")
)

// Option adjusts how New builds a node (seams for tests).
type Option func(*Node)

// WithLogger sets the logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(n *Node) { n.log = l } }

// listener is what the node needs of a TCP or HTTP server.
type listener interface {
	Start() error
	Stop(ctx context.Context) error
}

type boundListener struct {
	cfg config.Listener
	srv listener
}

// Node is one eventstored node. See the package documentation for the
// lifecycle and the goroutines that may call each method.
type Node struct {
	opts      *config.Options
	log       *slog.Logger
	listeners []boundListener
	state     atomic.Int32

	mu      sync.Mutex
	started []boundListener // in bind order; guarded by mu
	running bool
	stopped bool
}

// New builds a node from validated options. It performs no I/O: nothing is
// opened or bound until Start. It returns the validation error (wrapping
// config.ErrInvalid) if opts do not make a runnable node.
func New(opts *config.Options, options ...Option) (*Node, error) {
	if _, err := opts.Validate(); err != nil {
		return nil, err
	}
	n := &Node{opts: opts, log: slog.Default()}
	for _, o := range options {
		o(n)
	}
	n.state.Store(int32(StateInitializing))

	loops := opts.TcpEventLoops
	for _, l := range opts.Listeners() {
		var srv listener
		if l.HTTP {
			srv = httpfront.NewServer(httpfront.Config{Name: l.Name, Addr: l.Addr(), Logger: n.log}, n.basicHTTPHandler)
		} else {
			srv = reactor.NewServer(reactor.Config{Name: l.Name, Addr: l.Addr(), Logger: n.log, NumEventLoops: loops}, &discardHandler{})
		}
		n.listeners = append(n.listeners, boundListener{cfg: l, srv: srv})
	}
	return n, nil
}

// Options returns the node's options (read-only).
func (n *Node) Options() *config.Options { return n.opts }

// State returns the node's current state; safe from any goroutine.
func (n *Node) State() VNodeState { return VNodeState(n.state.Load()) }

// Start opens the database and binds every listener in order. On failure
// it stops whatever it had started and returns an error naming the
// interface, address and port (or the database path); the node is then
// fully stopped and Stop need not be called.
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running || n.stopped {
		return ErrStarted
	}
	if err := n.openStoreLocked(); err != nil {
		return err
	}
	for _, l := range n.listeners {
		if err := l.srv.Start(); err != nil {
			err = fmt.Errorf("cannot start %s listener on %s (option %s=%d): %w", l.cfg.Name, l.cfg.Addr(), l.cfg.Option, l.cfg.Port, err)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			n.stopLocked(ctx)
			n.stopped = true
			return err
		}
		n.started = append(n.started, l)
	}
	n.running = true
	if n.opts.SingleNode() {
		// A single node is its own master as soon as storage is up (4.0.3
		// runs a one-node election that always elects itself).
		n.state.Store(int32(StateMaster))
		n.log.Info("========== IS MASTER... SPARTA!", "ext_http", n.listeners[len(n.listeners)-1].cfg.Addr())
	} else {
		// TODO(node): elections and gossip arrive with the cluster
		// package; until then a cluster node stays Unknown.
		n.state.Store(int32(StateUnknown))
		n.log.Info("========== IS UNKNOWN...", "cluster_size", n.opts.ClusterSize)
	}
	return nil
}

// Stop stops accepting connections, lets in-flight requests finish until
// ctx is done, then flushes and closes the database. It returns the first
// error met; every step runs regardless.
func (n *Node) Stop(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.running {
		return ErrNotStarted
	}
	n.running = false
	n.stopped = true
	n.state.Store(int32(StateShuttingDown))
	err := n.stopLocked(ctx)
	n.state.Store(int32(StateShutdown))
	n.log.Info("node stopped")
	return err
}

// stopLocked stops the started listeners in reverse order, then closes the
// store. REQUIRES: n.mu held.
func (n *Node) stopLocked(ctx context.Context) error {
	var errs []error
	for i := len(n.started) - 1; i >= 0; i-- {
		l := n.started[i]
		if err := l.srv.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stopping %s listener on %s: %w", l.cfg.Name, l.cfg.Addr(), err))
		}
	}
	n.started = nil
	if err := n.closeStoreLocked(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// openStoreLocked prepares the database. TODO(node): replace with
// store.Open once the store lands; for now it only creates the directory
// so that a bad --db fails before anything binds.
func (n *Node) openStoreLocked() error {
	if n.opts.MemDb {
		return nil
	}
	if err := os.MkdirAll(n.opts.Db, 0o755); err != nil {
		return fmt.Errorf("cannot open database at %s: %w", n.opts.Db, err)
	}
	return nil
}

func (n *Node) closeStoreLocked() error { return nil }

// discardHandler accepts TCP connections and discards their input: the
// placeholder for the TCP command service.
type discardHandler struct{ gnet.BuiltinEventEngine }

func (*discardHandler) OnTraffic(c gnet.Conn) gnet.Action {
	_, _ = c.Discard(-1)
	return gnet.None
}

// OnTick returns a long delay: the embedded default of 0 would make gnet's
// ticker spin.
func (*discardHandler) OnTick() (time.Duration, gnet.Action) { return time.Hour, gnet.None }
