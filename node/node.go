package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventstored/eventstored/cluster/consensus"
	"github.com/eventstored/eventstored/cluster/gossip"
	"github.com/eventstored/eventstored/cluster/service"
	"github.com/eventstored/eventstored/httpfront"
	"github.com/eventstored/eventstored/node/auth"
	"github.com/eventstored/eventstored/node/config"
	"github.com/eventstored/eventstored/node/subscriptions"
	"github.com/eventstored/eventstored/node/tcpsvc"
	"github.com/eventstored/eventstored/reactor"
	"github.com/eventstored/eventstored/store"
)

// Sentinel errors of the lifecycle.
var (
	// ErrStarted: Start was called twice, or after Stop.
	ErrStarted = errors.New("node: already started")
	// ErrNotStarted: Stop was called without a successful Start.
	ErrNotStarted = errors.New("node: not started")
)

// authStartTimeout bounds creating the default users at start-up (a few
// writes to a store that was just opened).
const authStartTimeout = 30 * time.Second

// Option adjusts how New builds a node (seams for tests).
type Option func(*Node)

// WithLogger sets the logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(n *Node) { n.log = l } }

// WithStoreFS runs the store on the given filesystem seam (store.FS, e.g.
// an in-memory or fault-injecting vfs) instead of the OS filesystem.
func WithStoreFS(fs store.FS) Option { return func(n *Node) { n.storeFS = fs } }

// WithAuthHashIterations lowers the password-hash cost (tests only: the
// default is what protects stored passwords).
func WithAuthHashIterations(n int) Option { return func(nd *Node) { nd.hashIterations = n } }

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
	opts           *config.Options
	log            *slog.Logger
	storeFS        store.FS
	hashIterations int
	instanceID     [16]byte
	startTime      time.Time
	adv            Advertised
	state          atomic.Int32
	clusterID      string
	resolver       gossip.Resolver
	noConsensus    bool // WithoutConsensus
	// gossipDB is the store the gossip goroutine reads positions from.
	gossipDB atomic.Pointer[store.DB]

	// shutdownRequested is closed once when a client asks the node to stop
	// (POST /admin/shutdown); the owner then calls Stop.
	shutdownRequested chan struct{}
	shutdownOnce      sync.Once
	// shutdownCause is the failure that requested the shutdown (nil for
	// a client's request); written once before shutdownRequested closes.
	shutdownCause error

	mu        sync.Mutex // guards everything below; held by Start and Stop
	db        *store.DB
	auth      *auth.Service
	tcp       *tcpsvc.Service
	subs      *subscriptions.Service
	psubs     *subscriptions.PersistentService
	tcpStats  []*reactor.Server
	httpSrvs  map[string]*httpfront.Server
	listeners []boundListener  // all, in bind order
	gossip    *gossip.Driver   // nil unless gossip runs
	svc       *service.Service // nil unless consensus runs (a cluster node)
	raft      raftLog          // a cluster node's replication (state_cluster.go)
	fw        forwarding       // forwarding.go
	started   []boundListener  // those bound, in bind order
	running   bool
	stopped   bool
}

// New builds a node from options. It performs no I/O: nothing is opened or
// bound until Start. It returns the validation error (wrapping
// config.ErrInvalid) if opts do not make a runnable node.
func New(opts *config.Options, options ...Option) (*Node, error) {
	if _, err := opts.Validate(); err != nil {
		return nil, err
	}
	n := &Node{opts: opts, log: slog.Default(), startTime: time.Now(), shutdownRequested: make(chan struct{})}
	n.clusterID = opts.ClusterId // --cluster-id; WithClusterID overrides it
	for _, o := range options {
		o(n)
	}
	if _, err := rand.Read(n.instanceID[:]); err != nil {
		return nil, fmt.Errorf("cannot generate the instance id: %w", err)
	}
	n.adv = ComputeAdvertised(opts, firstNonLoopbackIPv4)
	n.state.Store(int32(StateInitializing))
	if opts.Index != "" {
		n.log.Warn("the Index option is not supported yet: the index lives in <Db>/index", "index", opts.Index)
	}
	n.warnInertOptions(opts)
	if opts.UnsafeDisableFlushToDisk {
		n.log.Warn("UNSAFE: writes are acknowledged without fsync; a power cut or machine crash can lose or tear acknowledged events",
			"option", "UnsafeDisableFlushToDisk")
	}
	return n, nil
}

// Options returns the node's options (read-only).
func (n *Node) Options() *config.Options { return n.opts }

// State returns the node's current state; safe from any goroutine.
func (n *Node) State() VNodeState { return VNodeState(n.state.Load()) }

// ShutdownRequested is closed when a client asked the node to shut down
// (POST /admin/shutdown) or a failure requires it (ShutdownCause). The
// owner of the node should then call Stop.
func (n *Node) ShutdownRequested() <-chan struct{} { return n.shutdownRequested }

// ShutdownCause is the failure that requested the shutdown (consensus
// stopped: a failed fsync, a refused truncation, a store that cannot
// apply), nil when a client asked or none was requested. Valid once
// ShutdownRequested is closed; the owner should then exit non-zero.
func (n *Node) ShutdownCause() error {
	select {
	case <-n.shutdownRequested:
		return n.shutdownCause
	default:
		return nil
	}
}

func (n *Node) requestShutdown() { n.requestShutdownFor(nil) }

// requestShutdownFor requests the shutdown; the first request's cause
// wins.
func (n *Node) requestShutdownFor(cause error) {
	n.shutdownOnce.Do(func() {
		n.shutdownCause = cause
		close(n.shutdownRequested)
	})
}

// Start opens the database, starts authentication and the command
// service, then binds every listener in the order of Options.Listeners.
// On failure it stops whatever it had started and returns an error naming
// the interface, address and port (or the database path); the node is
// then fully stopped and Stop need not be called.
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running || n.stopped {
		return ErrStarted
	}
	n.stopped = true // until Start succeeds: a failed Start is final
	fail := func(err error) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if serr := n.stopLocked(ctx); serr != nil {
			n.log.Error("cleanup after a failed start was not clean", "err", serr)
		}
		return err
	}

	so := store.Options{
		Dir:              n.opts.Db,
		FS:               n.storeFS,
		MemDB:            n.opts.MemDb,
		Logger:           n.log,
		FlushDelayMax:    n.opts.MinFlushDelay,
		IndexMemTableMax: n.opts.MaxMemTableSize,
		SkipVerify:       n.opts.SkipDbVerify,
		// NB: New logs the warning for this one.
		UnsafeDisableFlushToDisk: n.opts.UnsafeDisableFlushToDisk,
	}
	if n.clustered() {
		n.clusterStoreOptions(&so)
	}
	db, err := store.Open(so)
	if err != nil {
		where := n.opts.Db
		if n.opts.MemDb {
			where = "memory (--mem-db)"
		}
		return fail(fmt.Errorf("cannot open the database in %s: %w", where, err))
	}
	n.db = db
	if n.clustered() {
		if err := n.openRaftLog(db); err != nil {
			return fail(err)
		}
	}
	n.auth = auth.New(auth.Options{Backend: auth.NewDBBackend(db), Logger: n.log, HashIterations: n.hashIterations})
	if n.clustered() {
		if err := n.startClusterAuth(); err != nil {
			return fail(err)
		}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), authStartTimeout)
		err = n.auth.Start(ctx)
		cancel()
		if err != nil {
			return fail(fmt.Errorf("cannot start authentication: %w", err))
		}
	}
	n.subs = subscriptions.New(subscriptions.Options{DB: db, Logger: n.log})
	n.subs.Start()
	n.psubs = subscriptions.NewPersistent(subscriptions.PersistentOptions{DB: db, Logger: n.log})
	if err := n.psubs.Start(); err != nil {
		n.psubs = nil
		return fail(fmt.Errorf("cannot load persistent subscriptions: %w", err))
	}
	n.fw.fwd = n.newForwarder()
	n.tcp = tcpsvc.New(tcpsvc.Options{DB: db, NewReader: func() tcpsvc.Reader { return db.NewReader() }, Auth: n.auth,
		Logger: n.log, Workers: n.opts.ReaderThreadsCount, State: n.tcpState, Subscriptions: n.subs,
		Persistent: n.psubs, Forwarder: n.fw.fwd})
	n.tcp.Start()

	n.gossipDB.Store(db)
	if n.clustered() {
		svc, err := n.newService()
		if err != nil {
			return fail(fmt.Errorf("cannot start the cluster services: %w", err))
		}
		n.svc, n.gossip = svc, svc.Gossip()
	} else if n.gossipEnabled() {
		n.gossip = n.newGossip()
	}
	n.buildListenersLocked()
	for _, l := range n.listeners {
		if err := l.srv.Start(); err != nil {
			return fail(fmt.Errorf("cannot start %s listener on %s (option %s=%d): %w", l.cfg.Name, l.cfg.Addr(), l.cfg.Option, l.cfg.Port, err))
		}
		n.started = append(n.started, l)
	}
	if n.opts.SingleNode() {
		// A single node is its own master as soon as storage is up (4.0.3
		// runs a one-node election that always elects itself).
		n.state.Store(int32(StateMaster))
		n.log.Info(fmt.Sprintf("========== [%s] IS MASTER... SPARTA!", n.adv.InternalHTTP))
	} else {
		// Unknown until consensus elects a master (without consensus,
		// WithoutConsensus, a cluster node gossips but stays Unknown).
		n.state.Store(int32(StateUnknown))
		n.log.Info(fmt.Sprintf("========== [%s] IS UNKNOWN...", n.adv.InternalHTTP), "cluster_size", n.opts.ClusterSize)
	}
	if n.svc != nil {
		if err := n.svc.Start(); err != nil {
			return fail(fmt.Errorf("cannot start the cluster services: %w", err))
		}
	} else if n.gossip != nil {
		n.gossip.Start()
	}
	if err := n.startMasterWatch(); err != nil {
		return fail(fmt.Errorf("cannot start forwarding to the master: %w", err))
	}
	n.running, n.stopped = true, false
	return nil
}

// buildListenersLocked creates one server per listener of spec §2.1: the
// reactor with the command service for TCP, fasthttp with the HTTP front
// for HTTP. REQUIRES: n.mu held, n.db/auth/tcp set.
func (n *Node) buildListenersLocked() {
	n.listeners = nil
	n.tcpStats = nil
	n.httpSrvs = map[string]*httpfront.Server{}
	dbs, figures := httpfront.FromDB(n.db)
	counters := httpfront.Counters{TCPConnections: n.tcpConnections, HTTPConnections: n.httpConnections}
	if fwd := n.fw.fwd; fwd != nil {
		counters.Forwarding = func() httpfront.ForwardingFigures {
			st := fwd.Stats()
			return httpfront.ForwardingFigures{Forwarded: st.Forwarded, TimedOut: st.TimedOut, TooBusy: st.TooBusy,
				NotReady: st.NotReady, InFlight: st.Pending}
		}
	}
	for _, l := range n.opts.Listeners() {
		internal := l.Name == "internal TCP" || l.Name == "internal HTTP"
		var srv listener
		if l.HTTP {
			iface, advIP, advPort := httpfront.External, n.opts.ExtIpAdvertiseAs, n.opts.ExtHttpPortAdvertiseAs
			if internal {
				iface, advIP, advPort = httpfront.Internal, n.opts.IntIpAdvertiseAs, n.opts.IntHttpPortAdvertiseAs
			}
			advIPText := ""
			if advIP.IsValid() {
				advIPText = advIP.String()
			}
			h := httpfront.NewHandler(httpfront.Deps{
				DB: dbs, Auth: n.auth, Interface: iface, Persistent: n.psubs,
				Options: httpfront.Options{
					AdminOnExt: n.opts.AdminOnExt, StatsOnExt: n.opts.StatsOnExt, GossipOnExt: n.opts.GossipOnExt,
					GossipOnSingleNode: n.opts.GossipOnSingleNode, DisableHTTPCaching: n.opts.DisableHTTPCaching,
					EnableTrustedAuth: n.opts.EnableTrustedAuth, AdvertiseIP: advIPText, AdvertiseHTTPPort: advPort,
					ListenAddr: l.Addr(), RunProjections: n.opts.RunProjections.String(), ClusterSize: n.opts.ClusterSize,
				},
				Shutdown:     n.requestShutdown,
				Version:      ESVersion,
				InstanceID:   n.instanceID,
				Gossip:       n.adv.gossipSelf(n.opts.NodePriority),
				Counters:     counters,
				Logger:       n.log,
				StartTime:    n.startTime,
				StoreFigures: figures,
				InfoOptions:  func() any { return n.opts.Info() },
				Cluster:      n.httpView(),
			})
			var ch httpfront.ClusterHandler
			if n.gossip != nil {
				ch = clusterHTTP{g: n.gossip, svc: n.svc, id: n.clusterIdentity()}
			}
			rh := httpfront.WithCluster(h.RequestHandler(), ch, iface, n.opts.GossipOnExt)
			hs := httpfront.NewServer(httpfront.Config{Name: l.Name, Addr: l.Addr(), Logger: n.log, OnStop: h.Close}, rh)
			n.httpSrvs[l.Name] = hs
			srv = hs
		} else {
			cfg := reactor.Config{Name: l.Name, Addr: l.Addr(), Logger: n.log, NumEventLoops: n.opts.TcpEventLoops,
				HeartbeatInterval: n.opts.ExtTcpHeartbeatInterval, HeartbeatTimeout: n.opts.ExtTcpHeartbeatTimeout,
				PendingSendBytesMax: n.opts.ConnectionPendingSendBytesThreshold}
			if internal {
				// Internal connections are unlimited (spec §8.4); the
				// internal heartbeat pair applies (§8.2).
				cfg.Internal = true
				cfg.HeartbeatInterval, cfg.HeartbeatTimeout = n.opts.IntTcpHeartbeatInterval, n.opts.IntTcpHeartbeatTimeout
				cfg.PendingSendBytesMax = 0
			}
			th := n.tcp.Handler()
			if internal {
				th = n.tcp.InternalHandler()
			}
			if internal && n.svc != nil {
				// Consensus messages on internal TCP go to consensus; the
				// rest (client protocol) to the command service.
				th = consensus.TCPHandler{Next: th, Step: n.svc.StepRaft, Log: n.log}
			}
			rs := reactor.NewServer(cfg, th)
			n.tcpStats = append(n.tcpStats, rs)
			srv = rs
		}
		n.listeners = append(n.listeners, boundListener{cfg: l, srv: srv})
	}
}

// tcpConnections feeds /stats and /metrics; safe from any goroutine.
func (n *Node) tcpConnections() map[string]int {
	m := map[string]int{}
	for _, s := range n.tcpStats {
		st := s.Stats()
		m[st.Name] = int(st.ConnectionsOpen)
	}
	return m
}

func (n *Node) httpConnections() map[string]int {
	m := map[string]int{}
	for name, s := range n.httpSrvs {
		m[name] = s.Connections()
	}
	return m
}

// Stop stops accepting connections, lets in-flight requests finish until
// ctx is done, stops the command service, then flushes and closes the
// database. It returns the first errors met; every step runs regardless.
func (n *Node) Stop(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.running {
		return ErrNotStarted
	}
	n.running = false
	n.stopped = true
	n.state.Store(int32(StateShuttingDown))
	n.log.Info("========== SHUTTING DOWN...")
	err := n.stopLocked(ctx)
	n.state.Store(int32(StateShutdown))
	n.log.Info("node stopped")
	return err
}

// stopLocked undoes Start in reverse: listeners, command service, then
// the store (which flushes and closes its files). REQUIRES: n.mu held.
func (n *Node) stopLocked(ctx context.Context) error {
	if n.subs != nil {
		// First, while connections are open: every volatile subscriber
		// gets SubscriptionDropped{Unsubscribed} (spec §4.12).
		n.subs.Stop()
		n.subs = nil
	}
	if n.psubs != nil {
		n.psubs.Stop()
		n.psubs = nil
	}
	// Listeners stop concurrently, each with the whole of ctx: a listener
	// slow to drain (a long HTTP request) must not eat the others' time.
	errs := make([]error, len(n.started))
	var wg sync.WaitGroup
	for i, l := range n.started {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			if err := l.srv.Stop(ctx); err != nil {
				errs[i] = fmt.Errorf("stopping %s listener on %s: %w", l.cfg.Name, l.cfg.Addr(), err)
			}
			n.log.Debug("listener stopped", "interface", l.cfg.Name, "took", time.Since(t0))
		}()
	}
	wg.Wait()
	n.started = nil
	n.stopMasterWatch()
	if n.svc != nil {
		n.svc.Stop()
		n.svc, n.gossip = nil, nil
	}
	n.closeRaftLog()
	if n.gossip != nil {
		n.gossip.Stop()
		n.gossip = nil
	}
	n.gossipDB.Store(nil)
	if n.tcp != nil {
		n.tcp.Stop()
		n.tcp = nil
	}
	if n.db != nil {
		if err := n.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the database: %w", err))
		}
		n.db = nil
	}
	return errors.Join(errs...)
}
