package node

import (
	"sync/atomic"
	"time"

	"github.com/eventstored/eventstored/cluster/gossip"
	"github.com/eventstored/eventstored/cluster/service"
	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/httpfront"
	"github.com/eventstored/eventstored/node/tcpsvc"
	"github.com/eventstored/eventstored/reactor"
)

// Request handling by node state (spec cluster-and-options §4.3, §7): the
// node tells tcpsvc and httpfront its state and, in the replica states,
// which node is the master. The master's endpoints are the advertised ones
// of its gossip entry (§2.4), never bound ones.
//
// A watcher goroutine recomputes the master every masterWatchInterval
// while the node runs and publishes it in an atomic pointer, so the
// per-command lookups (tcpState on event loops, httpState on fasthttp
// goroutines) are one atomic load each. The master is the consensus
// leader's gossip entry when consensus runs (known as soon as this node
// follows it; none while gossip has it dead: findMaster), else the
// view's alive Master. A change re-points the
// forwarder at the new master's internal TCP.

// masterWatchInterval: how stale the published master may be.
const masterWatchInterval = 100 * time.Millisecond

// masterView is the master as published to the request handlers.
type masterView struct {
	m    gossip.Member
	info codec.MasterInfo // for NotHandled(NotMaster)
}

// forwarding is the node's part of request forwarding.
type forwarding struct {
	fwd    *tcpsvc.Forwarder // nil on a single node
	master atomic.Pointer[masterView]
	stop   chan struct{}
	done   chan struct{}
}

// newForwarder builds the TCP forwarder of a cluster node (nil for a
// single node). Deadline: PrepareTimeoutMs + CommitTimeoutMs + 300 ms
// (4.0.3 ClusterVNodeController, spec §7.1).
func (n *Node) newForwarder() *tcpsvc.Forwarder {
	if n.opts.SingleNode() {
		return nil
	}
	o := n.opts
	return tcpsvc.NewForwarder(tcpsvc.ForwarderOptions{
		Timeout: o.PrepareTimeout + o.CommitTimeout + 300*time.Millisecond,
		Conn: reactor.Config{Name: "internal TCP to master", NumEventLoops: 1, Logger: n.log,
			HeartbeatInterval: o.IntTcpHeartbeatInterval, HeartbeatTimeout: o.IntTcpHeartbeatTimeout},
		Logger: n.log,
	})
}

// startMasterWatch starts the forwarder and the watcher (cluster nodes
// with gossip). REQUIRES: n.mu held.
func (n *Node) startMasterWatch() error {
	if n.fw.fwd != nil {
		if err := n.fw.fwd.Start(); err != nil {
			n.fw.fwd = nil
			return err
		}
	}
	if n.gossip == nil {
		return nil
	}
	n.fw.stop, n.fw.done = make(chan struct{}), make(chan struct{})
	go n.watchMaster(n.gossip, n.svc, n.fw.fwd, n.fw.stop, n.fw.done)
	return nil
}

// stopMasterWatch ends the watcher and the forwarder. REQUIRES: n.mu held.
func (n *Node) stopMasterWatch() {
	if n.fw.stop != nil {
		close(n.fw.stop)
		<-n.fw.done
		n.fw.stop, n.fw.done = nil, nil
	}
	if n.fw.fwd != nil {
		n.fw.fwd.Stop()
	}
	n.fw.master.Store(nil)
}

func (n *Node) watchMaster(g *gossip.Driver, svc *service.Service, fwd *tcpsvc.Forwarder, stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(masterWatchInterval)
	defer t.Stop()
	for {
		n.refreshMaster(g, svc, fwd)
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// refreshMaster publishes the master this node follows (none unless the
// node is in a replica state).
func (n *Node) refreshMaster(g *gossip.Driver, svc *service.Service, fwd *tcpsvc.Forwarder) {
	var m gossip.Member
	found := false
	if n.State().IsReplica() {
		m, found = n.findMaster(g, svc)
	}
	old := n.fw.master.Load()
	switch {
	case !found:
		if old != nil {
			n.fw.master.Store(nil)
		}
		if fwd != nil {
			fwd.SetMaster("")
		}
		return
	case old == nil || old.m.InstanceID != m.InstanceID || old.m.ExternalTCP != m.ExternalTCP ||
		old.m.ExternalHTTP != m.ExternalHTTP || old.m.InternalTCP != m.InternalTCP ||
		old.m.InternalHTTP != m.InternalHTTP || old.m.ExternalSecureTCP != m.ExternalSecureTCP:
		n.fw.master.Store(&masterView{m: m, info: gossip.NotMasterInfo(m)})
	}
	if fwd != nil {
		fwd.SetMaster(m.InternalTCP.String())
	}
}

// findMaster returns the master's gossip entry: the consensus leader's
// when known and alive, else the view's alive Master; never this node.
//
// NB: a leader gossip marks dead is no master: its internal TCP
// connection broke (gossip exempts the followed master from send-failure
// liveness, spec §3.6), typically because it stopped or was killed, and
// raft goes on naming it until an election, 1-2 s later. Publishing it
// meanwhile pointed NotMaster replies at a dead node and kept the
// forwarder redialling its internal TCP port every 250 ms; once that
// port was reused by another process on the machine (tests run side by
// side), the forwarder connected to that stranger, forwarded a client's
// write there and answered ForwardTimeout when the stranger closed the
// connection (TestForwardingOnLoopback, "write through the slave after
// failover: server forward timeout"). Until a live master is known the
// node answers writes NotReady, which clients retry, as Event Store 4.0
// does once a slave has lost its master's connection.
func (n *Node) findMaster(g *gossip.Driver, svc *service.Service) (gossip.Member, bool) {
	ci, err := g.Members()
	if err != nil {
		return gossip.Member{}, false
	}
	if svc != nil {
		if d := svc.Consensus(); d != nil {
			if leader := d.Status().Leader; leader != 0 {
				for _, m := range ci.Members {
					if !m.InstanceID.IsZero() && m.InternalHTTP != n.adv.InternalHTTP && service.RaftID(m.InternalHTTP) == leader {
						if !m.IsAlive {
							return gossip.Member{}, false
						}
						return m, true
					}
				}
			}
		}
	}
	m, ok := ci.Master()
	if !ok || m.InternalHTTP == n.adv.InternalHTTP {
		return gossip.Member{}, false
	}
	return m, true
}

// tcpState is the command service's view of the node (spec §4.3,
// §4.13). It runs on event loops for every command: two atomic loads.
func (n *Node) tcpState() tcpsvc.NodeState {
	st := tcpsvc.NodeState{State: n.State()}
	if st.State.IsReplica() {
		if mv := n.fw.master.Load(); mv != nil {
			st.Master = &mv.info
		}
	}
	return st
}

// httpView is httpfront's view of the node (spec §7.3): nil on a single
// node (always the master).
func (n *Node) httpView() func() httpfront.ClusterView {
	if n.opts.SingleNode() {
		return nil
	}
	return func() httpfront.ClusterView {
		v := httpfront.ClusterView{State: n.State()}
		if v.State.IsReplica() {
			if mv := n.fw.master.Load(); mv != nil {
				v.MasterExternalHTTP, v.MasterInternalHTTP = mv.m.ExternalHTTP, mv.m.InternalHTTP
			}
		}
		return v
	}
}
