package node

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/eventstored/eventstored/cluster/consensus"
	"github.com/eventstored/eventstored/cluster/gossip"
	"github.com/eventstored/eventstored/cluster/service"
	"github.com/eventstored/eventstored/httpfront"
	"github.com/eventstored/eventstored/reactor"
)

// WithClusterID sets the cluster identity checked on node-to-node gossip
// (gossip package documentation): nodes with different identities refuse
// each other's gossip. Empty (the default) disables the check.
func WithClusterID(id string) Option { return func(n *Node) { n.clusterID = id } }

// WithConsensus runs consensus (cluster/service) in a cluster node: the
// node's state then follows the elected master. Off by default until the
// consensus log is the store's durable log (see package cluster): with
// the interim in-memory raft log a restarted process could vote twice in
// one term. Tests use it to exercise the whole path.
func WithConsensus() Option { return func(n *Node) { n.consensus = true } }

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
		Self: n.selfMember(), ClusterSize: o.ClusterSize, ClusterID: n.clusterID, Seeds: o.GossipSeed,
		GossipInterval: o.GossipInterval, GossipTimeout: o.GossipTimeout, Disk: consensus.NewMemDisk(),
		TCP: reactor.Config{Name: "internal TCP out", NumEventLoops: 1, Logger: n.log,
			HeartbeatInterval: o.ExtTcpHeartbeatInterval, HeartbeatTimeout: o.IntTcpHeartbeatTimeout},
		DiscoverViaDNS: o.DiscoverViaDns, ClusterDNS: o.ClusterDns, GossipPort: o.ClusterGossipPort, Resolver: n.resolver,
		OnState: n.setClusterState, Log: n.log,
	})
}

// setClusterState runs on the consensus goroutine: the node state follows
// consensus, with Event Store's log lines (spec §4.2).
func (n *Node) setClusterState(s VNodeState) {
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
