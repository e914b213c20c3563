package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/eventstored/eventstored/cluster/consensus"
	"github.com/eventstored/eventstored/cluster/gossip"
	"github.com/eventstored/eventstored/cluster/service"
	"github.com/eventstored/eventstored/httpfront"
	"github.com/eventstored/eventstored/reactor"
	"github.com/eventstored/eventstored/store"
	"github.com/eventstored/eventstored/store/vfs"
)

// WithClusterID sets the cluster identity checked on node-to-node gossip
// (gossip package documentation): nodes with different identities refuse
// each other's gossip. Empty (the default) disables the check.
func WithClusterID(id string) Option { return func(n *Node) { n.clusterID = id } }

// clusterIdentity is the identity gossip checks between nodes: the
// --cluster-id given (WithClusterID) and, on a replicating node, the
// chunk size of its log. Replicated logs must be the same bytes up to the
// commit index, and a position is chunk number × chunk size + offset, so
// nodes whose chunk sizes differ (a --mem-db node uses 32 MiB chunks, a
// disk node 256 MiB) must never form one cluster: they refuse each
// other's gossip (gossip.ErrForeignCluster), before any entry could land
// at a different position.
func (n *Node) clusterIdentity() string {
	if !n.clustered() || n.db == nil || n.db.Log() == nil {
		return n.clusterID
	}
	return fmt.Sprintf("%s/chunk=%d", n.clusterID, n.db.Log().ChunkSizeBytes())
}

// WithConsensus is the default for a cluster node since the raft log is
// the store's transaction log; the option stays for tests written before.
func WithConsensus() Option { return func(n *Node) { n.noConsensus = false } }

// WithoutConsensus runs a cluster node without consensus (tests of
// gossip alone): it gossips, stays Unknown and serves writes locally,
// unreplicated.
func WithoutConsensus() Option { return func(n *Node) { n.noConsensus = true } }

// clustered: the node runs consensus and replicates its log.
func (n *Node) clustered() bool { return !n.opts.SingleNode() && !n.noConsensus }

// raftLog is a cluster node's replication: the store's committer and the
// raft log on the store's transaction log.
type raftLog struct {
	rep        *consensus.Replicator
	disk       *consensus.TlogDisk
	fs         vfs.FS
	dir        string
	authCancel context.CancelFunc
	authDone   chan struct{}
}

// clusterPipelineDepth: batches in flight between the writer and raft
// commit. Every node fsyncs every batch (or, with asynchronous storage
// writes, every group of batches that queued during one fsync), and each
// batch in flight is one more raft entry, one more round of append
// messages and hand-offs on every node; so fewer, larger batches win
// where the disk or the CPU is the limit. One batch in flight: the
// writer gathers the next during the whole round trip of the one before
// (closed-loop clients come back as one cohort instead of two that
// alternate). Measured on 3 nodes sharing one disk and 2 cores
// (BenchmarkClusterWrite, runs interleaved, machine at load 8-15 from
// other work, so throughput is noisy; events/fsync is not): 256 writers,
// depth 2 20.5k 15.8k 28.2k 37.5k 27.6k 28.4k events/s (median 27.9k) at
// 126-133 events/fsync, depth 1 92.2k 29.7k 63.7k 27.7k 38.6k 47.2k
// (median 43k) at 152-189; 16 writers, depth 2 6.2k 9.5k 5.6k 8.2k 3.8k
// 9.9k (median 7.2k) at 9.8-11.9 events/fsync, depth 1 13.8k 7.5k 3.0k
// 10.1k 7.2k (median 7.5k) at 12.7-15.4. Earlier, with synchronous
// saves: depth 2 ~38k events/s at ~125 events per fsync, depth 3 ~23k at
// 84, depth 8 ~13k at 59; asynchronous saves before direct sends: depth
// 2 24.9k/39.2k/20.5k, depth 4 18.2k/22.1k/16.1k, depth 8
// 16.6k/13.8k/19.1k. Saving inline on the leader as well (no appender
// hand-offs, possible with one batch in flight) measured worse: 23.0k
// 20.1k at 256 writers, 5.6k 7.0k at 16.
const clusterPipelineDepth = 1

// clusterStoreOptions makes the store's writer propose through consensus.
func (n *Node) clusterStoreOptions(so *store.Options) {
	r := &n.raft
	r.rep = consensus.NewReplicator(n.log)
	so.Committer = r.rep
	so.PipelineDepth = clusterPipelineDepth
	r.fs, r.dir = n.storeFS, n.opts.Db
	if r.fs == nil {
		if n.opts.MemDb {
			// NB: the store would make its own in-memory filesystem; the
			// raft state files must live next to its chunks.
			r.fs = vfs.NewMemUntracked()
		} else {
			r.fs = vfs.Default
		}
	}
	if r.dir == "" {
		r.dir = "/memdb"
	}
	so.FS, so.Dir = r.fs, r.dir
}

// openRaftLog opens the raft log over the store's transaction log and
// attaches the committer.
func (n *Node) openRaftLog(db *store.DB) error {
	r := &n.raft
	tl := db.Log()
	if tl == nil {
		return errors.New("cannot run consensus: the store has no transaction log")
	}
	maxTrunc := n.opts.MaxTruncation
	if maxTrunc == 0 {
		maxTrunc = 1 // NB: 0 means "none"; TlogDisk reads 0 as its default, and any cut is > 1 byte
	}
	disk, err := consensus.OpenTlogDisk(consensus.TlogDiskOptions{Log: tl, FS: r.fs, Dir: r.dir, MaxTruncationBytes: maxTrunc, Logger: n.log})
	if err != nil {
		return fmt.Errorf("cannot open the raft log in %s: %w", r.dir, err)
	}
	r.disk = disk
	r.rep.Attach(db, disk)
	return nil
}

// clusterLogPositions: what gossip publishes of a cluster node's log —
// the last commit and the applied end (readable here) and the log's
// durable end (written, maybe not yet committed).
func (n *Node) clusterLogPositions(db *store.DB) func() (int64, int64, int64) {
	tl := db.Log()
	return func() (int64, int64, int64) { return db.LastCommitPosition(), tl.Durable(), db.Applied() }
}

// startClusterAuth serves authentication at once with the users the
// replicated log holds, and creates the default users once this node can
// write (the master) or finds them replicated (a slave), retrying in the
// background: a cluster node cannot write before an election.
func (n *Node) startClusterAuth() error {
	if err := n.auth.StartReplica(); err != nil {
		return fmt.Errorf("cannot start authentication: %w", err)
	}
	r := &n.raft
	ctx, cancel := context.WithCancel(context.Background())
	r.authCancel, r.authDone = cancel, make(chan struct{})
	go func() {
		defer close(r.authDone)
		for {
			actx, acancel := context.WithTimeout(ctx, authStartTimeout)
			err := n.auth.Start(actx)
			acancel()
			if err == nil {
				return
			}
			n.log.Debug("authentication waits for the cluster", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	return nil
}

// closeRaftLog stops what openRaftLog and startClusterAuth started, after
// the consensus driver stopped and before the store closes.
func (n *Node) closeRaftLog() {
	r := &n.raft
	if r.authCancel != nil {
		r.authCancel()
		<-r.authDone
		r.authCancel = nil
	}
	if n.auth != nil {
		n.auth.Stop() // the replicated-user watcher of StartReplica
	}
	if r.rep != nil {
		r.rep.Stop()
	}
	if r.disk != nil {
		if err := r.disk.Close(); err != nil {
			n.log.Error("closing the raft state failed", "err", err)
		}
		r.disk = nil
	}
	r.rep = nil
}

// WithResolver replaces DNS for --discover-via-dns (tests).
func WithResolver(r gossip.Resolver) Option { return func(n *Node) { n.resolver = r } }

// selfMember is this node's gossip entry: the six advertised endpoints
// (spec §2.4), never the bound ones.
func (n *Node) selfMember() gossip.Member {
	a := n.adv
	return gossip.Member{
		InstanceID:  gossip.GUID(n.instanceID),
		InternalTCP: a.InternalTCP, InternalSecureTCP: a.InternalSecureTCP.Port(),
		ExternalTCP: a.ExternalTCP, ExternalSecureTCP: a.ExternalSecureTCP.Port(),
		InternalHTTP: a.InternalHTTP, ExternalHTTP: a.ExternalHTTP,
		Position: gossip.NoPosition, NodePriority: int32(n.opts.NodePriority),
	}
}

// gossipEnabled: gossip runs in a cluster, or on a single node with
// --gossip-on-single-node (spec §3.1).
func (n *Node) gossipEnabled() bool { return !n.opts.SingleNode() || n.opts.GossipOnSingleNode }

// newGossip builds the gossip driver from the options (spec §3.1: DNS
// overrides --gossip-seed unless --discover-via-dns=false).
func (n *Node) newGossip() *gossip.Driver {
	o := n.opts
	return gossip.NewDriver(gossip.DriverConfig{
		Core: gossip.Config{Self: n.selfMember(), ClusterID: n.clusterID, Seeds: o.GossipSeed,
			Interval: o.GossipInterval, AllowedDifference: o.GossipAllowedDifference},
		DiscoverViaDNS: o.DiscoverViaDns && !o.SingleNode(), ClusterDNS: o.ClusterDns, GossipPort: o.ClusterGossipPort,
		Resolver: n.resolver, Timeout: o.GossipTimeout, Status: n.gossipStatus, MaxClusterSize: o.ClusterSize,
		Log: n.log,
	})
}

// newService builds gossip + consensus for a cluster node.
func (n *Node) newService() (*service.Service, error) {
	o := n.opts
	return service.New(service.Config{
		Self: n.selfMember(), ClusterSize: o.ClusterSize, ClusterID: n.clusterIdentity(), Seeds: o.GossipSeed,
		GossipInterval: o.GossipInterval, GossipTimeout: o.GossipTimeout, Disk: n.raft.disk, Replicator: n.raft.rep,
		Applied: n.raft.disk.IndexCovering(n.db.Applied()), LogPositions: n.clusterLogPositions(n.db),
		TCP: reactor.Config{Name: "internal TCP out", NumEventLoops: 1, Logger: n.log,
			HeartbeatInterval: o.ExtTcpHeartbeatInterval, HeartbeatTimeout: o.IntTcpHeartbeatTimeout},
		DiscoverViaDNS: o.DiscoverViaDns, ClusterDNS: o.ClusterDns, GossipPort: o.ClusterGossipPort, Resolver: n.resolver,
		OnState: n.setClusterState, Log: n.log,
	})
}

// setClusterState runs on the consensus goroutine: the node state follows
// consensus, with Event Store's log lines (spec §4.2). cause is why
// consensus stopped (state ShuttingDown).
func (n *Node) setClusterState(s VNodeState, cause error) {
	switch n.State() {
	case StateShuttingDown, StateShutdown:
		return
	}
	n.state.Store(int32(s))
	switch s {
	case StateMaster:
		n.log.Info(fmt.Sprintf("========== [%s] IS MASTER... SPARTA!", n.adv.InternalHTTP))
	case StateSlave:
		n.log.Info(fmt.Sprintf("========== [%s] IS SLAVE...", n.adv.InternalHTTP))
	case StateClone:
		n.log.Info(fmt.Sprintf("========== [%s] IS CLONE...", n.adv.InternalHTTP))
	case StateCatchingUp:
		n.log.Info(fmt.Sprintf("========== [%s] IS CATCHING UP...", n.adv.InternalHTTP))
	case StatePreMaster:
		n.log.Info(fmt.Sprintf("========== [%s] IS PRE-MASTER...", n.adv.InternalHTTP))
	case StateUnknown:
		n.log.Info(fmt.Sprintf("========== [%s] IS UNKNOWN...", n.adv.InternalHTTP))
	case StateShuttingDown:
		// Consensus cannot persist its log (a failed fsync, a truncation
		// above --max-truncation) or the store cannot apply it: the node
		// must not go on serving; the owner stops it and exits non-zero
		// (ShutdownCause).
		if cause == nil {
			cause = errors.New("consensus stopped")
		}
		n.log.Error(fmt.Sprintf("========== [%s] consensus stopped; the node shuts down", n.adv.InternalHTTP), "err", cause)
		n.requestShutdownFor(cause)
	}
}

// gossipStatus runs on the gossip driver goroutine: state and log
// position as gossip publishes them.
func (n *Node) gossipStatus() (VNodeState, gossip.Position) {
	pos := gossip.NoPosition
	if db := n.gossipDB.Load(); db != nil {
		s := db.Stats()
		pos.LastCommitPosition, pos.WriterCheckpoint, pos.ChaserCheckpoint = s.LastCommitPosition, s.DurablePosition, s.DurablePosition
	}
	return n.State(), pos
}

// clusterHTTP adapts the cluster services to httpfront.ClusterHandler.
type clusterHTTP struct {
	g   *gossip.Driver
	svc *service.Service // nil unless consensus runs
	id  string
}

func (c clusterHTTP) RaftPost(body []byte) (int, []byte) {
	if c.svc == nil {
		return http.StatusNotFound, []byte("consensus is not running on this node")
	}
	if err := consensus.DecodeBatch(body, c.svc.StepRaft); err != nil {
		return http.StatusBadRequest, []byte(err.Error())
	}
	return http.StatusOK, nil
}

func (c clusterHTTP) GossipGet() (int, []byte) {
	b, err := c.g.View()
	if err != nil {
		return http.StatusServiceUnavailable, []byte(err.Error())
	}
	return http.StatusOK, b
}

func (c clusterHTTP) GossipPost(clusterID string, body []byte) (int, string, []byte) {
	b, err := c.g.Receive(clusterID, body)
	switch {
	case err == nil:
		return http.StatusOK, c.id, b
	case errors.Is(err, gossip.ErrBadMessage), errors.Is(err, gossip.ErrTooLarge), errors.Is(err, gossip.ErrForeignCluster):
		return http.StatusBadRequest, c.id, []byte(err.Error())
	default:
		return http.StatusServiceUnavailable, c.id, []byte(err.Error())
	}
}

var _ httpfront.ClusterHandler = clusterHTTP{}

// Gossip returns this node's current gossip view (nil when gossip does
// not run). Safe from any goroutine.
func (n *Node) Gossip() (gossip.ClusterInfo, error) {
	n.mu.Lock()
	g := n.gossip
	n.mu.Unlock()
	if g == nil {
		return gossip.ClusterInfo{}, gossip.ErrStopped
	}
	return g.Members()
}

// Advertised returns the endpoints this node publishes.
func (n *Node) Advertised() Advertised { return n.adv }
