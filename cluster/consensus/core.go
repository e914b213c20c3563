package consensus

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"

	"github.com/eventstored/eventstored/cluster"
)

// Sentinel errors.
var (
	// ErrDiskFailed: persisting raft state failed. A failed fsync is
	// final: the core refuses all further work and the node must stop.
	ErrDiskFailed = errors.New("consensus: persisting the log failed; the node must stop")
	// ErrApplyFailed: the store could not apply committed entries (it
	// latched: its log or index failed under it). Final like
	// ErrDiskFailed: a node that applies nothing must not go on
	// reporting itself a caught-up replica.
	ErrApplyFailed = errors.New("consensus: applying committed entries to the store failed; the node must stop")
	// ErrNotLeader: a proposal on a node that is not the leader (proposals
	// are not forwarded inside raft; forwarding is the node's job, §7).
	ErrNotLeader = errors.New("consensus: not the leader")
	// ErrProposalTooLarge: a proposal above MaxProposalBytes.
	ErrProposalTooLarge = errors.New("consensus: proposal too large")
)

// Limits.
const (
	// MaxProposalBytes bounds one proposal (one group commit of the
	// writer: the store's largest transaction fits many times).
	MaxProposalBytes = 4 << 20
	// MaxSizePerMsg bounds the entries of one append message.
	MaxSizePerMsg = 1 << 20
	// MaxInflightMsgs bounds unacknowledged append messages per follower.
	MaxInflightMsgs = 256
	// MaxUncommittedBytes bounds proposals the leader holds before they
	// commit; beyond it proposals are dropped (raft.ErrProposalDropped).
	MaxUncommittedBytes = 64 << 20
)

// Disk is the durable part of a node's raft state: raft reads the log
// through raft.Storage; Save makes entries and a hard state durable (one
// fsync). With asynchronous storage writes Save runs on the node's
// append goroutine (the Driver's appender; the simulation's persist
// event) while raft reads the log through raft.Storage on the core's
// goroutine: a Disk's Storage methods must be safe against a concurrent
// Save (raft reads only entries Save has returned from, but tables it
// grows are shared). MemDisk (raft.MemoryStorage, which locks, plus a
// Save on it) is the unit tests' disk; TlogDisk, on the store's
// transaction log, the production one. Bootstrap records the initial
// membership of an empty disk and leaves a disk that has one alone.
type Disk interface {
	raft.Storage
	Save(hs *pb.HardState, ents []*pb.Entry) error
	Bootstrap(voters, learners []uint64) error
}

// IO is what the core's goroutine does with a Ready: send messages,
// apply committed entries, and hand the log appends to the append
// goroutine (Persist; raft's AsyncStorageWrites). Send and Apply run on
// the core's goroutine; whatever Persist takes must be saved in order
// (SaveAppends) and its responses then delivered: those for this node
// through Core.Persisted, the others sent to their nodes.
type IO interface {
	Send(msgs []*pb.Message)
	Apply(ents []*pb.Entry)
	Persist(m *pb.Message)
}

// Config configures a Core.
type Config struct {
	ID uint64
	// ElectionTicks and HeartbeatTicks are in driver ticks (the node ticks
	// every 100 ms: elections after 1-2 s without a leader, heartbeats
	// every 100 ms).
	ElectionTicks  int
	HeartbeatTicks int
	// Priority is this node's --node-priority; Priorities holds the
	// others' (learned from gossip). The leader hands leadership to an
	// up-to-date voter of higher priority.
	Priority int32
	// Applied is the last entry the state machine has already applied
	// (restart: what the store's persisted index covers); raft delivers
	// only later entries. At most the hard state's commit index.
	Applied uint64
	Log     *slog.Logger
}

// Core is one node's consensus state machine: raft's RawNode with PreVote
// and CheckQuorum, plus what the node derives from it (VNodeState,
// epoch). Pure: no clock (Tick is driven), no I/O (Disk and IO are
// seams). Owned by one goroutine.
type Core struct {
	cfg        Config
	rn         *raft.RawNode
	disk       Disk
	log        *slog.Logger
	failed     error
	learner    bool
	priorities map[uint64]int32

	appliedIndex, appliedTerm uint64
	epochIndex                uint64 // index of the first applied entry of appliedTerm
	epochPos                  int64  // log position of that entry's header; -1 unknown
	commitIndex               uint64
	ticksSinceTransfer        int
	guard                     *voteGuard    // voteguard.go; nil when not guarded
	probeAnswers              []*pb.Message // answers to guarded peers' term probes, sent by Drain
}

// Bootstrap writes the initial membership to an empty disk: voters are
// the first --cluster-size nodes, learners the extra ones (they replicate
// and never vote: Clone). A disk that already holds state is left alone.
func Bootstrap(ms *raft.MemoryStorage, voters, learners []uint64) error {
	hs, cs, err := ms.InitialState()
	if err != nil {
		return err
	}
	if !raft.IsEmptyHardState(hs) || len(cs.GetVoters()) > 0 {
		return nil
	}
	return ms.ApplySnapshot(&pb.Snapshot{Metadata: &pb.SnapshotMetadata{ConfState: &pb.ConfState{Voters: voters, Learners: learners}}})
}

// New starts a core on disk (restarting from whatever it holds).
func New(cfg Config, disk Disk) (*Core, error) {
	if cfg.ElectionTicks <= 0 {
		cfg.ElectionTicks = 10
	}
	if cfg.HeartbeatTicks <= 0 {
		cfg.HeartbeatTicks = 1
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	hs, cs, err := disk.InitialState()
	if err != nil {
		return nil, err
	}
	// NB: raft panics when Applied passes the commit index; a commit index
	// written without fsync may lag what was applied (the entries are all
	// in the log): raft then delivers them again and the state machine
	// skips what it has.
	cfg.Applied = min(cfg.Applied, hs.GetCommit())
	rc := &raft.Config{Applied: cfg.Applied,
		ID: cfg.ID, ElectionTick: cfg.ElectionTicks, HeartbeatTick: cfg.HeartbeatTicks, Storage: disk,
		MaxSizePerMsg: MaxSizePerMsg, MaxInflightMsgs: MaxInflightMsgs, MaxUncommittedEntriesSize: MaxUncommittedBytes,
		CheckQuorum: true, PreVote: true, DisableProposalForwarding: true,
		// NB: the Ready loop no longer waits for the fsync: appends go to
		// the append goroutine (IO.Persist) and raft hears of them
		// (MsgStorageAppendResp, the leader's own MsgAppResp) once they
		// are durable; committed entries are handed out only once durable
		// here too, so a node never applies what it could lose.
		AsyncStorageWrites: true,
		Logger:             raftLogger{cfg.Log},
	}
	rn, err := raft.NewRawNode(rc)
	if err != nil {
		return nil, fmt.Errorf("consensus: %w", err)
	}
	c := &Core{cfg: cfg, rn: rn, disk: disk, log: cfg.Log, priorities: map[uint64]int32{}, appliedIndex: cfg.Applied, epochPos: -1}
	for _, l := range cs.GetLearners() {
		if l == cfg.ID {
			c.learner = true
		}
	}
	c.guard = newVoteGuard(disk, cfg.ID, cs, cfg.Log)
	return c, nil
}

// Tick advances raft's logical clock by one tick.
func (c *Core) Tick() {
	if c.failed != nil {
		return
	}
	c.rn.Tick()
	c.ticksSinceTransfer++
	c.maybeTransfer()
	if c.guard != nil {
		c.guard.tick(c.cfg.ElectionTicks)
	}
}

// Step feeds a message from a peer. Messages for another node or from an
// unknown term are raft's to judge; a message the core cannot take is
// dropped (the network may always lose messages).
func (c *Core) Step(m *pb.Message) error {
	if c.failed != nil {
		return c.failed
	}
	if m.GetTo() != c.cfg.ID {
		return fmt.Errorf("consensus: message for node %d delivered to node %d", m.GetTo(), c.cfg.ID)
	}
	if raft.IsLocalMsg(m.GetType()) || raft.IsLocalMsgTarget(m.GetFrom()) {
		// Only the append goroutine speaks for the local storage threads
		// (Persisted); a peer claiming to would fake durability.
		return fmt.Errorf("consensus: local storage message %v from the network refused", m.GetType())
	}
	if m.GetType() == pb.MessageType_MsgAppResp && m.GetReject() && bytes.Equal(m.GetContext(), lostLogContext) {
		c.lostFollower(m) // voteguard.go
		return nil
	}
	if m.GetType() == pb.MessageType_MsgHeartbeat && bytes.Equal(m.GetContext(), termProbeContext) {
		c.answerTermProbe(m) // voteguard.go
		return nil
	}
	if m.GetType() == pb.MessageType_MsgHeartbeatResp && bytes.Equal(m.GetContext(), termProbeContext) && c.guard == nil {
		return nil // an answer to a probe of an earlier run
	}
	if c.guard != nil {
		last, _ := c.disk.LastIndex()
		ok, err := c.guard.step(m, c.rn.BasicStatus().HardState.GetTerm(), last)
		if err != nil {
			c.fail(err)
			return err
		}
		if !ok {
			return nil
		}
	}
	if err := c.rn.Step(m); err != nil && !errors.Is(err, raft.ErrStepPeerNotFound) && !errors.Is(err, raft.ErrStepLocalMsg) {
		return err
	}
	return nil
}

// Propose appends data to the log if this node leads.
func (c *Core) Propose(data []byte) error {
	if c.failed != nil {
		return c.failed
	}
	if len(data) > MaxProposalBytes {
		return ErrProposalTooLarge
	}
	if c.rn.BasicStatus().RaftState != raft.StateLeader {
		return ErrNotLeader
	}
	return c.rn.Propose(data)
}

// Drain processes every pending Ready (raft's asynchronous storage
// writes): messages to peers are sent at once — the leader's appends
// leave before its own save, so the followers' fsyncs overlap its own
// (raft thesis §10.2.1), and answers that acknowledge entries or votes
// are not among them (raft holds them as responses of the append) —
// the append (entries, hard state) goes to IO.Persist, and committed
// entries, which raft hands out only once they are durable on this node,
// are applied. The loop never waits for an fsync: while one runs it takes
// the followers' acknowledgements, commits, applies and proposes again.
func (c *Core) Drain(io IO) error {
	if c.failed != nil {
		return c.failed
	}
	var sends []*pb.Message
	for c.rn.HasReady() {
		rd := c.rn.Ready()
		if !raft.IsEmptyHardState(rd.HardState) {
			c.commitIndex = max(c.commitIndex, rd.HardState.GetCommit())
		}
		sends = sends[:0]
		for _, m := range rd.Messages {
			switch m.GetTo() {
			case raft.LocalAppendThread:
				if c.guard != nil {
					// The append answers to the leader ride on the
					// append (sent once it is durable).
					c.guard.sent(m.GetResponses())
				}
				io.Persist(m)
			case raft.LocalApplyThread:
				c.apply(io, m.GetEntries())
				// Applying is handing the entries over (the Replicator
				// applies to the store on its own goroutine, in order):
				// raft may hand out the next ones at once.
				for _, r := range m.GetResponses() {
					if err := c.rn.Step(r); err != nil {
						c.log.Debug("consensus: apply response refused", "err", err)
					}
				}
			default:
				sends = append(sends, m)
			}
		}
		if len(sends) > 0 {
			io.Send(sends)
		}
	}
	if len(c.probeAnswers) > 0 {
		io.Send(c.probeAnswers)
		c.probeAnswers = nil
	}
	if c.guard != nil && c.failed == nil {
		return c.drainGuard(io)
	}
	return c.failed
}

// Persisted reports an append (IO.Persist) done: local are its
// responses for this node (SaveAppends), err why the save failed — a
// failed save is final (ErrDiskFailed: the core refuses all further work
// and reports ShuttingDown). Core's goroutine; Drain next.
func (c *Core) Persisted(local []*pb.Message, err error) error {
	if c.failed != nil {
		return c.failed
	}
	if err != nil {
		c.failed = fmt.Errorf("%w: %w", ErrDiskFailed, err)
		c.log.Error("consensus: saving the log failed; stopping", "err", err)
		return c.failed
	}
	for _, m := range local {
		if err := c.rn.Step(m); err != nil {
			c.log.Debug("consensus: append response refused", "err", err)
		}
	}
	return nil
}

// drainGuard sends the vote guard's refusals and ends its catch-up once
// the commit index allows (voteguard.go).
func (c *Core) drainGuard(io IO) error {
	if len(c.guard.out) > 0 {
		io.Send(c.guard.out)
		c.guard.out = nil
	}
	if err := c.guard.caughtUp(c.rn.BasicStatus().HardState.GetCommit(), c.disk.Term); err != nil {
		c.fail(err)
		return err
	}
	return nil
}

// SaveAppends makes the appends msgs (MsgStorageAppend messages that
// IO.Persist took, in order) durable on disk with one Save (one fsync)
// and returns their responses in order: local for this node (self),
// remote for the others. Entries of a later append that replace those of
// an earlier one (raft replacing an uncommitted suffix) replace them
// before the save; the hard state saved is the last one given. Called
// on the append goroutine; the caller delivers the responses only when
// err is nil.
func SaveAppends(disk Disk, self uint64, msgs []*pb.Message) (local, remote []*pb.Message, err error) {
	var ents []*pb.Entry
	var hs *pb.HardState
	for _, m := range msgs {
		if m.GetType() != pb.MessageType_MsgStorageAppend {
			return nil, nil, fmt.Errorf("BUG: consensus: %v given to the append goroutine", m.GetType())
		}
		if !raft.IsEmptySnap(m.GetSnapshot()) {
			// NB: there is no compaction, so raft never sends or applies a
			// snapshot (FirstIndex is 1).
			return nil, nil, errors.New("BUG: consensus: raft asked to apply a snapshot; there are none")
		}
		if e := m.GetEntries(); len(e) > 0 {
			if len(ents) == 0 {
				ents = e
			} else {
				base, first := ents[0].GetIndex(), e[0].GetIndex()
				last := ents[len(ents)-1].GetIndex()
				switch {
				case first > last+1:
					return nil, nil, fmt.Errorf("BUG: consensus: append of entry %d after entry %d", first, last)
				case first <= base:
					ents = e
				default:
					// Copy: raft owns the slices it handed out.
					k := first - base
					ents = append(ents[:k:k], e...)
				}
			}
		}
		if m.Term != nil {
			// newStorageAppendMsg sets Term, Vote and Commit only with a
			// hard state to save.
			hs = &pb.HardState{Term: new(m.GetTerm()), Vote: new(m.GetVote()), Commit: new(m.GetCommit())}
		}
	}
	if hs != nil || len(ents) > 0 {
		if err := disk.Save(hs, ents); err != nil {
			return nil, nil, err
		}
	}
	for _, m := range msgs {
		for _, r := range m.GetResponses() {
			if r.GetTo() == self {
				local = append(local, r)
			} else {
				remote = append(remote, r)
			}
		}
	}
	return local, remote, nil
}

// entryPositions is the part of a disk over the transaction log
// (TlogDisk) that knows where each entry lies. Called on the consensus
// goroutine, which owns the disk's position table.
type entryPositions interface {
	EntryPos(i uint64) int64
}

// fail makes err final: the core refuses all further work and Status
// says ShuttingDown (with Err). The first failure wins.
func (c *Core) fail(err error) {
	if c.failed == nil {
		c.failed = err
	}
}

func (c *Core) apply(io IO, ents []*pb.Entry) {
	if len(ents) == 0 {
		return
	}
	for _, e := range ents {
		if e.GetTerm() != c.appliedTerm {
			c.appliedTerm, c.epochIndex, c.epochPos = e.GetTerm(), e.GetIndex(), -1
			if p, ok := c.disk.(entryPositions); ok {
				c.epochPos = p.EntryPos(e.GetIndex())
			}
		}
		c.appliedIndex = e.GetIndex()
	}
	io.Apply(ents)
}

// SetPeerPriority records a peer's --node-priority (from gossip).
func (c *Core) SetPeerPriority(id uint64, prio int32) { c.priorities[id] = prio }

// maybeTransfer implements --node-priority: once per election timeout
// the leader hands leadership to the highest-priority voter above its own
// that has the whole log (so no write is delayed by catching up).
func (c *Core) maybeTransfer() {
	if c.ticksSinceTransfer < c.cfg.ElectionTicks {
		return
	}
	st := c.rn.BasicStatus()
	if st.RaftState != raft.StateLeader || st.LeadTransferee != 0 || c.appliedTerm != st.HardState.GetTerm() {
		return
	}
	last, _ := c.disk.LastIndex()
	best, bestPrio := uint64(0), c.cfg.Priority
	c.rn.WithProgress(func(id uint64, typ raft.ProgressType, pr tracker.Progress) {
		if id == c.cfg.ID || typ != raft.ProgressTypePeer || !pr.RecentActive || pr.Match < last {
			return
		}
		if p := c.priorities[id]; p > bestPrio || (p == bestPrio && best != 0 && id < best) {
			best, bestPrio = id, p
		}
	})
	if best != 0 {
		c.ticksSinceTransfer = 0
		c.log.Info("consensus: handing leadership to a higher-priority node", "to", best, "priority", bestPrio, "own", c.cfg.Priority)
		c.rn.TransferLeader(best)
	}
}

// Status is what the node and gossip need of the consensus state.
type Status struct {
	ID       uint64
	Leader   uint64 // 0 = none known
	Term     uint64
	State    cluster.VNodeState
	Commit   uint64
	Applied  uint64
	EpochIdx uint64 // first index of the newest applied term
	// EpochPos is the log position of entry EpochIdx's header (gossip's
	// EpochPosition, spec cluster-and-options §3.4: the position of the
	// epoch record; here the first entry of the term is the epoch's
	// record); -1 when unknown (no entry of the term applied yet, or a
	// disk without log positions).
	EpochPos int64
	// Err is why consensus stopped (ErrDiskFailed, ErrApplyFailed, with
	// the cause); nil unless State is ShuttingDown.
	Err error
}

// Status derives the node state of spec §4 from raft's:
//
//	leader, own term's first entry applied      → Master
//	leader, still applying older entries        → PreMaster
//	follower of a known leader, caught up       → Slave (Clone for learners)
//	follower of a known leader, behind          → CatchingUp
//	candidate / pre-candidate / no leader known → Unknown
//
// "Caught up" = everything known committed is applied and the leader's
// own term has reached this node's applied log.
func (c *Core) Status() Status {
	st := c.rn.BasicStatus()
	s := Status{ID: c.cfg.ID, Leader: st.Lead, Term: st.HardState.GetTerm(), Commit: max(c.commitIndex, st.HardState.GetCommit()),
		Applied: c.appliedIndex, EpochIdx: c.epochIndex, EpochPos: c.epochPos}
	switch {
	case c.failed != nil:
		s.State, s.Err = cluster.StateShuttingDown, c.failed
	case st.RaftState == raft.StateLeader && c.appliedTerm == s.Term:
		s.State = cluster.StateMaster
	case st.RaftState == raft.StateLeader:
		s.State = cluster.StatePreMaster
	case st.RaftState == raft.StateFollower && st.Lead != 0:
		caught := c.appliedIndex >= s.Commit && c.appliedTerm == s.Term
		switch {
		case !caught:
			s.State = cluster.StateCatchingUp
		case c.learner:
			s.State = cluster.StateClone
		default:
			s.State = cluster.StateSlave
		}
	default:
		s.State = cluster.StateUnknown
	}
	return s
}

// IsVoteTraffic reports the messages that travel over internal HTTP
// (elections: pre-votes and votes with their answers); everything else
// (appends, heartbeats, snapshots, timeout-now) goes over internal TCP.
func IsVoteTraffic(t pb.MessageType) bool {
	switch t {
	case pb.MessageType_MsgVote, pb.MessageType_MsgVoteResp, pb.MessageType_MsgPreVote, pb.MessageType_MsgPreVoteResp:
		return true
	}
	return false
}
