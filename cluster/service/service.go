// Package service composes the cluster services of one node: the gossip
// driver (membership, liveness) and the consensus driver (elections,
// log), with the transports between nodes. Every cluster node runs it,
// with consensus.TlogDisk (the raft log on the store's transaction log)
// and the store's committer (consensus.Replicator).
//
// Wiring (all on the drivers' goroutines):
//
//   - raft ids are derived from the advertised internal HTTP endpoint
//     (RaftID), so they survive restarts and every node computes the same
//     id for a peer from its gossip entry;
//   - the voters are bootstrapped once, when gossip shows exactly
//     --cluster-size alive database nodes (an empty disk only; a disk with
//     state restarts with its own membership);
//   - every gossip change updates the transports' peer addresses (votes to
//     internal HTTP, the rest to internal TCP), peers' priorities and the
//     followed master;
//   - gossip publishes the consensus-derived state, the term as epoch
//     number and the log position of the term's first entry as epoch
//     position.
package service

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/eventstored/eventstored/cluster"
	"github.com/eventstored/eventstored/cluster/consensus"
	"github.com/eventstored/eventstored/cluster/gossip"
	"github.com/eventstored/eventstored/reactor"
)

// RaftID is the consensus id of the node advertising internal HTTP
// endpoint ep (never 0).
func RaftID(ep netip.AddrPort) uint64 {
	id := xxhash.Sum64String(ep.String())
	if id == 0 {
		id = 1
	}
	return id
}

// Config configures a Service.
type Config struct {
	// Self is this node's gossip entry (advertised endpoints, instance id,
	// priority).
	Self        gossip.Member
	ClusterSize int
	ClusterID   string
	Seeds       []netip.AddrPort
	// GossipInterval, GossipTimeout as the options (0: 1 s, 500 ms).
	GossipInterval, GossipTimeout time.Duration
	// Disk holds the consensus state; it survives a restart of the
	// service (TlogDisk on the store's log in a node, MemDisk in tests).
	Disk consensus.Disk
	// Applied is the last raft entry the store already applied (restart).
	Applied uint64
	// Replicator, when set, is the store's committer: it proposes the
	// writer's batches and applies committed entries to the store
	// (OnApply is then not called).
	Replicator *consensus.Replicator
	// TCP configures the outgoing internal TCP connections (heartbeats).
	TCP reactor.Config
	// OnApply receives committed entries on the consensus goroutine.
	OnApply func([]*pb.Entry)
	// LogPositions, when set, gives the log positions gossip publishes
	// (last commit, writer and chaser checkpoints: the store's); without
	// it gossip shows raft indices. Any goroutine.
	LogPositions func() (lastCommit, writer, chaser int64)
	// OnState is called on the consensus goroutine when the derived node
	// state changes; cause is why consensus stopped when the state is
	// ShuttingDown (consensus.Status.Err), nil otherwise.
	OnState func(s cluster.VNodeState, cause error)
	// DiscoverViaDNS, ClusterDNS, GossipPort and Resolver select DNS
	// discovery instead of Seeds (spec §3.1).
	DiscoverViaDNS bool
	ClusterDNS     string
	GossipPort     int
	Resolver       gossip.Resolver
	Log            *slog.Logger
}

// Service is one node's cluster services. Start/Stop and the accessors
// are safe from any goroutine.
type Service struct {
	cfg    Config
	log    *slog.Logger
	gossip *gossip.Driver
	http   *consensus.HTTPTransport
	tcp    *consensus.TCPTransport
	self   uint64

	mu      sync.Mutex
	cons    *consensus.Driver // nil until bootstrapped
	stopped bool
	members map[uint64]gossip.Member
	// lastLeader is the consensus leader last seen by consensusChanged.
	lastLeader  uint64
	lastState   cluster.VNodeState
	warnedSeeds bool
}

// New builds the service; nothing runs until Start.
func New(cfg Config) (*Service, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Service{cfg: cfg, log: cfg.Log, self: RaftID(cfg.Self.InternalHTTP), members: map[uint64]gossip.Member{}}
	s.http = consensus.NewHTTPTransport(2*time.Second, cfg.Log)
	var err error
	if s.tcp, err = consensus.NewTCPTransport(cfg.TCP, cfg.Log); err != nil {
		return nil, err
	}
	s.tcp.SetLostFunc(s.peerLost)
	s.gossip = gossip.NewDriver(gossip.DriverConfig{
		Core: gossip.Config{Self: cfg.Self, ClusterID: cfg.ClusterID, Seeds: cfg.Seeds,
			Interval: cfg.GossipInterval, Log: cfg.Log},
		DiscoverViaDNS: cfg.DiscoverViaDNS, ClusterDNS: cfg.ClusterDNS, GossipPort: cfg.GossipPort, Resolver: cfg.Resolver,
		Timeout: cfg.GossipTimeout, Status: s.status, OnChange: s.viewChanged,
		MaxClusterSize: cfg.ClusterSize, Log: cfg.Log,
	})
	return s, nil
}

// Start runs gossip and, if the disk already holds consensus state (a
// restart), consensus.
func (s *Service) Start() error {
	hs, cs, err := s.cfg.Disk.InitialState()
	if err != nil {
		return err
	}
	if hs.GetTerm() > 0 || len(cs.GetVoters()) > 0 {
		if err := s.startConsensus(); err != nil {
			return err
		}
	}
	s.gossip.Start()
	return nil
}

func (s *Service) startConsensus() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cons != nil || s.stopped {
		return nil
	}
	d, err := consensus.NewDriver(consensus.DriverConfig{
		Core: consensus.Config{ID: s.self, Priority: s.cfg.Self.NodePriority, Applied: s.cfg.Applied, Log: s.log}, Disk: s.cfg.Disk,
		Transport: consensus.Split{Vote: s.http, Data: s.tcp}, OnApply: s.cfg.OnApply, Replicator: s.cfg.Replicator, Log: s.log,
		OnStatus: s.consensusChanged,
	})
	if err != nil {
		return fmt.Errorf("cluster: cannot start consensus: %w", err)
	}
	for id, m := range s.members {
		s.setPeerLocked(d, id, m)
	}
	s.cons = d
	d.Start()
	return nil
}

func (s *Service) setPeerLocked(d *consensus.Driver, id uint64, m gossip.Member) {
	if id == s.self {
		return
	}
	s.http.SetPeer(id, m.InternalHTTP.String())
	s.tcp.SetPeer(id, m.InternalTCP.String())
	if d != nil {
		d.SetPeerPriority(id, m.NodePriority)
	}
}

// status feeds gossip (on the gossip goroutine).
func (s *Service) status() (cluster.VNodeState, gossip.Position) {
	s.mu.Lock()
	d := s.cons
	s.mu.Unlock()
	if d == nil {
		return cluster.StateUnknown, gossip.NoPosition
	}
	st := d.Status()
	// The epoch position is the log position of the first entry of the
	// newest applied term (spec cluster-and-options §3.4: the position of
	// the epoch record), -1 until one is applied; the epoch number is the
	// term.
	pos := gossip.Position{LastCommitPosition: int64(st.Commit), WriterCheckpoint: int64(st.Applied),
		ChaserCheckpoint: int64(st.Applied), EpochPosition: st.EpochPos, EpochNumber: int32(st.Term)}
	if f := s.cfg.LogPositions; f != nil {
		pos.LastCommitPosition, pos.WriterCheckpoint, pos.ChaserCheckpoint = f()
	}
	return st.State, pos
}

// viewChanged runs on the gossip goroutine after every change.
func (s *Service) viewChanged(v gossip.ClusterInfo) {
	s.mu.Lock()
	alive := 0
	placeholders := 0
	for _, m := range v.Members {
		if m.State == cluster.StateManager || m.InstanceID.IsZero() {
			placeholders++
			continue
		}
		id := RaftID(m.InternalHTTP)
		if m.IsAlive {
			alive++
		}
		if old, ok := s.members[id]; !ok || old.InternalHTTP != m.InternalHTTP || old.InternalTCP != m.InternalTCP || old.NodePriority != m.NodePriority {
			s.setPeerLocked(s.cons, id, m)
		}
		s.members[id] = m
	}
	// Bootstrap only from a settled view: every seed has reported (no
	// placeholder left) and exactly --cluster-size nodes are alive, so all
	// nodes of a correctly configured cluster pick the same voters.
	bootstrap := s.cons == nil && alive == s.cfg.ClusterSize && placeholders == 0
	if s.cons == nil && alive == s.cfg.ClusterSize && placeholders > 0 && !s.warnedSeeds {
		s.warnedSeeds = true
		s.log.Warn("consensus waits for every gossip seed to report before choosing the voters; a seed that never answers is probably mistyped",
			"unanswered_seeds", placeholders)
	}
	if s.cons == nil && alive > s.cfg.ClusterSize {
		s.log.Error("more alive database nodes than --cluster-size; not bootstrapping consensus", "alive", alive, "cluster_size", s.cfg.ClusterSize)
	}
	var voters []uint64
	if bootstrap {
		for id, m := range s.members {
			if m.IsAlive {
				voters = append(voters, id)
			}
		}
		sort.Slice(voters, func(i, j int) bool { return voters[i] < voters[j] })
	}
	s.mu.Unlock()
	// The master this node follows keeps its liveness from consensus,
	// not from failed gossip sends (spec §3.6).
	go s.gossip.Do(s.followLeader)
	if bootstrap {
		if err := s.cfg.Disk.Bootstrap(voters, nil); err != nil {
			s.log.Error("cannot bootstrap consensus", "err", err)
			return
		}
		s.log.Info("consensus bootstrapped from gossip", "voters", len(voters))
		if err := s.startConsensus(); err != nil {
			s.log.Error("cannot start consensus", "err", err)
		}
	}
}

// peerLost: the internal TCP connection to a peer broke; gossip marks
// it dead at once (spec §3.6) instead of after failed gossip rounds.
func (s *Service) peerLost(id uint64) {
	s.mu.Lock()
	m, ok := s.members[id]
	s.mu.Unlock()
	if ok {
		s.gossip.Do(func(c *gossip.Core, now time.Time) bool { return c.ConnectionLost(now, m.InternalTCP) })
	}
}

// consensusChanged runs on the consensus goroutine: a new leader changes
// the master gossip exempts from send-failure liveness (spec §3.6).
func (s *Service) consensusChanged(st consensus.Status) {
	s.mu.Lock()
	if st.State != s.lastState {
		s.lastState = st.State
		s.gossip.Nudge()
		if s.cfg.OnState != nil {
			s.cfg.OnState(st.State, st.Err)
		}
	}
	if st.Leader == s.lastLeader {
		s.mu.Unlock()
		return
	}
	s.lastLeader = st.Leader
	s.mu.Unlock()
	go s.gossip.Do(s.followLeader)
}

// followLeader runs on the gossip goroutine (Driver.Do): it tells gossip
// which master this node follows, looked up when it runs. NB: callers
// queue it from their own goroutines (viewChanged and consensusChanged
// cannot wait for the gossip goroutine), so two calls may run in either
// order; a value captured at queueing time could install an old leader
// after the new one, and the old master would keep its exemption from
// send-failure liveness.
func (s *Service) followLeader(c *gossip.Core, _ time.Time) bool {
	s.mu.Lock()
	var inst gossip.GUID
	if s.cons != nil {
		if leader := s.cons.Status().Leader; leader != s.self {
			if m, ok := s.members[leader]; ok {
				inst = m.InstanceID
			}
		}
	}
	s.mu.Unlock()
	c.SetFollowedMaster(inst)
	return false
}

// State is the node state derived from consensus (Unknown before it
// runs).
func (s *Service) State() cluster.VNodeState {
	st, _ := s.status()
	return st
}

// Consensus returns the running consensus driver (nil before bootstrap).
func (s *Service) Consensus() *consensus.Driver {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cons
}

// Gossip returns the gossip driver (for the HTTP routes).
func (s *Service) Gossip() *gossip.Driver { return s.gossip }

// StepRaft hands a received raft message to consensus (dropped before
// bootstrap: the sender retries).
func (s *Service) StepRaft(m *pb.Message) {
	if d := s.Consensus(); d != nil {
		d.Step(m)
	}
}

// Stop ends everything this service started.
func (s *Service) Stop() {
	s.mu.Lock()
	s.stopped = true
	d := s.cons
	s.mu.Unlock()
	s.gossip.Stop()
	if d != nil {
		d.Stop()
	}
	s.http.Stop()
	s.tcp.Stop()
}
