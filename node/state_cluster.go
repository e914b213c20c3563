package node

import (
	"errors"
	"net/http"

	"github.com/eventstored/eventstored/cluster/gossip"
	"github.com/eventstored/eventstored/httpfront"
)

// WithClusterID sets the cluster identity checked on node-to-node gossip
// (gossip package documentation): nodes with different identities refuse
// each other's gossip. Empty (the default) disables the check.
func WithClusterID(id string) Option { return func(n *Node) { n.clusterID = id } }

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

// clusterHTTP adapts the gossip driver to httpfront.ClusterHandler.
type clusterHTTP struct {
	g  *gossip.Driver
	id string
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
