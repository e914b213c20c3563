package consensus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"path/filepath"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"

	"github.com/eventstored/eventstored/store/vfs"
)

// The vote guard: what a voter whose raft state is new does before it
// votes.
//
// Raft's safety rests on a voter never voting twice in one term and never
// forgetting an entry it acknowledged. A node whose data directory was
// wiped (or that lost raft-state.chk) comes back with term 0, no vote and
// an empty log, under the same id: it could vote again in a term it
// already voted in (two masters in one term), or vote for a candidate
// missing entries that were committed with its own acknowledgement (an
// acknowledged write lost). Nothing local tells a wiped node from a node
// of a brand-new cluster.
//
// What others do: etcd refuses to bootstrap a member whose data directory
// is empty when the cluster already knows it ("member ... has already been
// bootstrapped"): the operator removes the member and adds it back under
// a new id. Event Store 4.0 persists no election state at all (its views
// live in memory, ElectionsService.cs: _lastAttemptedView starts at -1 on
// every start, and a new InstanceId is made per process), choosing the
// master from the prepare-oks of a majority by epoch and commit position;
// its rejoining nodes truncate what the new master does not have.
//
// Here: a voter with no hard state on disk starts guarded (the guard file
// is written, fsynced, before the hard state file is created, so a crash
// between the two cannot lose the guard) and goes through three steps,
// each persisted in raft-vote-guard:
//
//  1. Abstain: answer every vote and pre-vote request with a refusal,
//     ignore answers to its own pre-votes (so it never becomes a
//     candidate) and leadership transfers to it, and note the term every
//     other voter shows in its messages. A wiped node W may have voted in
//     term T only if a candidate got a quorum Q including W, and every
//     member of Q other than W has term >= T on disk; any n-q+1 other
//     voters include one of them (q-1 + n-q+1 > n-1). So once W has heard
//     from n-q+1 other voters, F = the highest term they showed (and W's
//     own) bounds every term W can have voted in. F = 0 is a brand-new
//     cluster: nothing was voted or committed, the guard is done (a new
//     cluster's first election waits for the voters to hear from each
//     other once, about one election timeout).
//  2. Catch up: still abstaining, wait until W's own commit index c has a
//     term t >= F and c is at least the commit index that t's leader sent
//     W in its first append after W restarted. Every entry W acknowledged
//     before the wipe is committed in a term <= F; if its term is below t,
//     t's leader has it before c (raft's Leader Completeness); if it is
//     t = F, that leader committed it, so it lies at or below the commit
//     index the leader sends. Either way W's log holds it.
//  3. Done: W votes again, never in a term <= F (it may hold term F with
//     no vote recorded): vote and pre-vote requests of such terms are
//     refused for good.
//
// Two helpers keep W live. Followers never talk to each other, so in a
// quiet cluster W would hear only the master: while abstaining it sends
// the voters it has not heard from a term probe once per election
// timeout (a term-0 heartbeat marked termProbeContext, which every Core
// answers with its term before raft sees it). And a master that was
// leading when W lost its state still holds W's old progress (raft never
// lowers Match): it would never resend what W lost, and its heartbeats
// would commit past W's log (raft panics "tocommit out of range"). So
// heartbeats of terms <= F commit only what W acknowledged since, and W
// tells such a master (an append answer marked lostLogContext), which
// hands leadership to another voter: the next term starts W's progress
// afresh.
//
// The price: a cluster whose other voters cannot reach n-q+1 reports (a
// three-node cluster with one node down and one wiped) elects no master
// until they can; this is the case where voting would be unsafe. Learners
// never vote and are not guarded. A single-voter cluster has no one to
// vote twice with and is not guarded either.
const VoteGuardFileName = "raft-vote-guard"

// Guard modes, as persisted.
const (
	guardOff     = 0 // not guarded (no file)
	guardAbstain = 1 // collecting term reports
	guardCatchUp = 2 // F known, catching up
	guardDone    = 3 // votes again, never in terms <= F
)

// VoteGuardState is the persisted guard: Mode and the term floor F.
//
//	file: off size
//	        0   4  magic "ESRG"
//	        4   1  mode (1 abstain, 2 catch up, 3 done)
//	        5   3  zero
//	        8   8  floor F
//	       16   4  crc32c of bytes 0..16
//
// Written to a temporary name, fsynced and renamed (it changes at most
// three times in a node's life).
type VoteGuardState struct {
	Mode  uint8
	Floor uint64
}

const voteGuardBytes = 20

var voteGuardMagic = [4]byte{'E', 'S', 'R', 'G'}

// GuardedDisk is a Disk that keeps a vote guard (TlogDisk). A Core on
// any other Disk is not guarded.
type GuardedDisk interface {
	VoteGuard() VoteGuardState
	SaveVoteGuard(VoteGuardState) error
}

func encodeVoteGuard(g VoteGuardState) []byte {
	b := make([]byte, voteGuardBytes)
	copy(b, voteGuardMagic[:])
	b[4] = g.Mode
	binary.LittleEndian.PutUint64(b[8:], g.Floor)
	binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
	return b
}

func decodeVoteGuard(b []byte) (VoteGuardState, error) {
	if len(b) != voteGuardBytes || [4]byte(b[:4]) != voteGuardMagic || crc32.Checksum(b[:16], castagnoli) != binary.LittleEndian.Uint32(b[16:]) ||
		b[4] < guardAbstain || b[4] > guardDone {
		return VoteGuardState{}, fmt.Errorf("%w: vote guard file unreadable", ErrCorruptState)
	}
	return VoteGuardState{Mode: b[4], Floor: binary.LittleEndian.Uint64(b[8:])}, nil
}

func readVoteGuard(fsys vfs.FS, dir string) (VoteGuardState, error) {
	path := filepath.Join(dir, VoteGuardFileName)
	f, err := fsys.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return VoteGuardState{}, nil
	}
	if err != nil {
		return VoteGuardState{}, fmt.Errorf("consensus: cannot open %s: %w", path, err)
	}
	defer f.Close()
	b := make([]byte, voteGuardBytes+1)
	n, _ := f.ReadAt(b, 0)
	g, err := decodeVoteGuard(b[:n])
	if err != nil {
		// NB: a damaged guard is read as "abstain": the safe side (the
		// node only waits to hear from the others again).
		return VoteGuardState{Mode: guardAbstain}, nil
	}
	return g, nil
}

func writeVoteGuard(fsys vfs.FS, dir string, g VoteGuardState) error {
	return replaceFile(fsys, dir, VoteGuardFileName, encodeVoteGuard(g))
}

// openVoteGuard runs before the hard state is opened: a node without a
// hard state file is guarded from its first step.
func (d *TlogDisk) openVoteGuard() error {
	g, err := readVoteGuard(d.fs, d.dir)
	if err != nil {
		return err
	}
	// NB: whatever the guard file says (a guard done long ago), a
	// missing hard state is a new loss and arms the guard again.
	if _, err := d.fs.Stat(filepath.Join(d.dir, HardStateFileName)); errors.Is(err, fs.ErrNotExist) && g.Mode != guardAbstain {
		g = VoteGuardState{Mode: guardAbstain}
		if err := writeVoteGuard(d.fs, d.dir, g); err != nil {
			return err
		}
	}
	d.guard = g
	return nil
}

// VoteGuard implements GuardedDisk.
func (d *TlogDisk) VoteGuard() VoteGuardState { return d.guard }

// SaveVoteGuard implements GuardedDisk.
func (d *TlogDisk) SaveVoteGuard(g VoteGuardState) error {
	if err := writeVoteGuard(d.fs, d.dir, g); err != nil {
		return err
	}
	d.guard = g
	return nil
}

// voteGuard is a Core's guard while it is active (nil otherwise, and
// for done guards with floor 0). Owned by the Core's goroutine.
type voteGuard struct {
	disk    GuardedDisk
	st      VoteGuardState
	self    uint64
	voters  map[uint64]bool
	order   []uint64          // the voters in the membership's order (probes go out deterministically)
	need    int               // reports needed: n-q+1
	reports map[uint64]uint64 // voter → highest term it showed
	// catch up: the leader term of the latest append and the commit
	// index that leader sent first
	leaderTerm, target uint64
	// matchTerm, match: the highest index this node acknowledged as
	// matching the leader's log in term matchTerm (its own successful
	// append answers): what a heartbeat may commit.
	matchTerm, match uint64
	out              []*pb.Message // refusals and probes to send with the next Drain
	ticks            int           // since the last probes
	toldLost         uint64        // term in which the leader was told of the lost log
	sinceTold        int           // heartbeats since
	log              *slog.Logger
}

func newVoteGuard(disk Disk, self uint64, cs *pb.ConfState, log *slog.Logger) *voteGuard {
	gd, ok := disk.(GuardedDisk)
	if !ok {
		return nil
	}
	st := gd.VoteGuard()
	voters := map[uint64]bool{}
	for _, v := range cs.GetVoters() {
		voters[v] = true
	}
	n := len(voters)
	if st.Mode == guardOff || !voters[self] || (st.Mode == guardDone && st.Floor == 0) {
		return nil
	}
	g := &voteGuard{disk: gd, st: st, self: self, voters: voters, order: cs.GetVoters(), need: n - (n/2 + 1) + 1, reports: map[uint64]uint64{}, log: log}
	if n == 1 && st.Mode != guardDone {
		g.st = VoteGuardState{Mode: guardDone}
		if err := gd.SaveVoteGuard(g.st); err != nil {
			log.Warn("consensus: cannot record the vote guard", "err", err)
		}
		return nil
	}
	switch st.Mode {
	case guardAbstain:
		log.Info("consensus: this node has no raft state of its own (a new cluster, or a wiped data directory or lost "+HardStateFileName+"): "+
			"it votes only after hearing the terms of other voters, and, if the cluster already ran, after catching up", "reports_needed", g.need)
	case guardCatchUp:
		log.Warn("consensus: this node rejoins after losing its raft state; it votes again once caught up with a master of term >= floor", "floor", st.Floor)
	}
	return g
}

// abstaining reports whether the guard withholds votes and campaigns.
func (g *voteGuard) abstaining() bool { return g != nil && g.st.Mode != guardDone }

// step looks at a message before raft does; false drops it (answered by
// the guard or ignored). ownTerm is raft's current term, lastIndex the
// disk's last entry.
func (g *voteGuard) step(m *pb.Message, ownTerm, lastIndex uint64) (bool, error) {
	t := m.GetType()
	// NB: once done, the node holds all it acknowledged before the loss;
	// only a heartbeat past its log (a master's progress from before)
	// still needs the clamp. A plain restart of a done node must not
	// make it cry "lost" at a master whose progress is right.
	if t == pb.MessageType_MsgHeartbeat && (g.st.Mode != guardDone || (m.GetTerm() <= g.st.Floor && m.GetCommit() > lastIndex)) {
		// NB: a leader that was leading when this node lost its state
		// still holds the progress it had (Match), and a heartbeat
		// commits up to min(Match, commit) without checking the log:
		// raft panics ("tocommit out of range") or commits entries this
		// node got from elsewhere. Heartbeats of such terms commit only
		// what this node acknowledged in that term.
		var c uint64
		if g.matchTerm == m.GetTerm() {
			c = min(m.GetCommit(), g.match)
		}
		if m.GetCommit() > c {
			// The leader believes this node has entries it lost: say
			// so (lostLogContext), as raft itself cannot (it ignores
			// an answer below what it thinks the follower has).
			g.tellLost(m, c)
		}
		m.Commit = &c
	}
	if t == pb.MessageType_MsgHeartbeatResp && bytes.Equal(m.GetContext(), termProbeContext) {
		// A probe's answer: a report, nothing for raft.
		if g.st.Mode == guardAbstain && m.GetFrom() != g.self && g.voters[m.GetFrom()] {
			if old, ok := g.reports[m.GetFrom()]; !ok || m.GetTerm() > old {
				g.reports[m.GetFrom()] = m.GetTerm()
			}
			return g.maybeFloor(ownTerm)
		}
		return false, nil
	}
	if g.st.Mode == guardDone {
		if (t == pb.MessageType_MsgVote || t == pb.MessageType_MsgPreVote) && m.GetTerm() <= g.st.Floor {
			g.refuse(m, ownTerm)
			return false, nil
		}
		return true, nil
	}
	if from := m.GetFrom(); from != g.self && g.voters[from] {
		// The highest term the sender can have on disk: a pre-vote
		// carries the sender's term + 1, and so does a granted pre-vote's
		// answer.
		bound := m.GetTerm()
		if t == pb.MessageType_MsgPreVote || (t == pb.MessageType_MsgPreVoteResp && !m.GetReject()) {
			bound = max(bound, 1) - 1
		}
		if old, ok := g.reports[from]; !ok || bound > old {
			g.reports[from] = bound
		}
	}
	if t == pb.MessageType_MsgApp && m.GetTerm() > g.leaderTerm {
		// NB: noted from the first append after the restart, floor
		// known or not: any commit index a master sends after the loss
		// covers what it committed before (a wiped node in a quiet
		// cluster hears only the master until the master fails, and
		// must be able to vote then).
		g.leaderTerm, g.target = m.GetTerm(), m.GetCommit()
	}
	if ok, err := g.maybeFloor(ownTerm); err != nil {
		return false, err
	} else if ok && g.st.Mode == guardDone {
		return true, nil
	}
	switch t {
	case pb.MessageType_MsgVote, pb.MessageType_MsgPreVote:
		g.refuse(m, ownTerm)
		return false, nil
	case pb.MessageType_MsgVoteResp, pb.MessageType_MsgPreVoteResp, pb.MessageType_MsgTimeoutNow:
		return false, nil
	}
	return true, nil
}

// maybeFloor fixes the floor once enough voters reported; true when the
// guard ended (a new cluster). Abstain mode only.
func (g *voteGuard) maybeFloor(ownTerm uint64) (bool, error) {
	if g.st.Mode != guardAbstain || len(g.reports) < g.need {
		return false, nil
	}
	floor := ownTerm
	for _, r := range g.reports {
		floor = max(floor, r)
	}
	next := VoteGuardState{Mode: guardCatchUp, Floor: floor}
	if floor == 0 {
		next.Mode = guardDone
	}
	if err := g.save(next); err != nil {
		return false, err
	}
	if next.Mode == guardDone {
		g.log.Info("consensus: vote guard done: the other voters have never voted (a new cluster)")
		return true, nil
	}
	g.log.Info("consensus: vote guard: the cluster ran before this node's raft state was lost; catching up before voting", "floor", floor)
	return false, nil
}

// sent notes the node's own successful append answers.
func (g *voteGuard) sent(msgs []*pb.Message) {
	for _, m := range msgs {
		if m.GetType() != pb.MessageType_MsgAppResp || m.GetReject() {
			continue
		}
		if m.GetTerm() > g.matchTerm {
			g.matchTerm, g.match = m.GetTerm(), 0
		}
		if m.GetTerm() == g.matchTerm {
			g.match = max(g.match, m.GetIndex())
		}
	}
}

// lostLogContext marks the append answer a guarded node sends a leader
// whose progress predates the node's lost state: the leader cannot send
// it entries it thinks it has (raft never lowers a follower's Match), so
// it hands leadership to another voter (Core.lostFollower); the next
// leader starts the node's progress afresh.
var lostLogContext = []byte("eventstored:lost-log")

// termProbeContext marks a guarded node's term probe: a heartbeat of
// term 0 that every Core answers itself (answerTermProbe), before raft
// sees it, with its own term in a heartbeat answer marked the same way.
// Followers never talk to each other, so a guarded node of a quiet
// cluster would otherwise hear only the master's term and abstain until
// the next election (no vote, no leadership transfer to it).
var termProbeContext = []byte("eventstored:term-probe")

// probeEveryElections: probes go out once per election timeout to the
// voters that have not reported yet.
const probeEveryElections = 1

// lostRetellHeartbeats: heartbeats between two lost-log answers to the
// same leader (about two election timeouts at the node's ticks).
const lostRetellHeartbeats = 20

func (g *voteGuard) tellLost(m *pb.Message, has uint64) {
	// NB: once per term and then every lostRetellHeartbeats heartbeats:
	// a leadership transfer can fail (the transferee loses its
	// election), leaving the same leader with the same stale progress.
	if g.toldLost == m.GetTerm() && g.sinceTold < lostRetellHeartbeats {
		g.sinceTold++
		return
	}
	g.toldLost, g.sinceTold = m.GetTerm(), 0
	typ := pb.MessageType_MsgAppResp
	to, from, term, idx, reject := m.GetFrom(), g.self, m.GetTerm(), m.GetCommit(), true
	g.out = append(g.out, &pb.Message{Type: &typ, To: &to, From: &from, Term: &term, Index: &idx, Reject: &reject, RejectHint: &has,
		Context: lostLogContext})
	g.log.Warn("consensus: the master believes this node holds entries it lost with its raft state; asking it to hand over leadership",
		"master", m.GetFrom(), "term", m.GetTerm(), "master_thinks", m.GetCommit(), "has", has)
}

// refuse answers a vote or pre-vote request with a refusal in the node's
// own term (raft's own refusal).
func (g *voteGuard) refuse(m *pb.Message, ownTerm uint64) {
	// NB: a node that never had a term answers in term 0, which raft
	// reads like a local refusal: a pre-candidate counts it, anyone else
	// ignores it. (The request's term would make the candidate adopt it
	// without an election.) The candidate's guard, at a new cluster's
	// start, learns this node's term from it.
	typ := pb.MessageType_MsgVoteResp
	if m.GetType() == pb.MessageType_MsgPreVote {
		typ = pb.MessageType_MsgPreVoteResp
	}
	to, from, term, reject := m.GetFrom(), g.self, ownTerm, true
	g.out = append(g.out, &pb.Message{Type: &typ, To: &to, From: &from, Term: &term, Reject: &reject})
}

// caughtUp ends the catch-up once the node's commit index c is an entry
// of the leader term the guard follows, at or past that leader's first
// commit index. termOf reads the log.
func (g *voteGuard) caughtUp(commit uint64, termOf func(uint64) (uint64, error)) error {
	if g.st.Mode != guardCatchUp || g.leaderTerm == 0 || g.leaderTerm < g.st.Floor || commit == 0 || commit < g.target {
		return nil
	}
	if t, err := termOf(commit); err != nil || t != g.leaderTerm {
		return nil
	}
	if err := g.save(VoteGuardState{Mode: guardDone, Floor: g.st.Floor}); err != nil {
		return err
	}
	g.log.Info("consensus: vote guard done: caught up with the master; voting again in terms above the floor", "floor", g.st.Floor, "commit", commit, "term", g.leaderTerm)
	return nil
}

func (g *voteGuard) save(st VoteGuardState) error {
	if err := g.disk.SaveVoteGuard(st); err != nil {
		return fmt.Errorf("%w: %w", ErrDiskFailed, err)
	}
	g.st = st
	return nil
}

// lostFollower: on the leader, a follower says it lost entries the
// leader's progress says it has (lostLogContext). Leadership goes to the
// most caught-up other voter that is recently active, so that a new term
// starts the lost follower's progress afresh; none: the follower waits
// for the next election.
func (c *Core) lostFollower(m *pb.Message) {
	st := c.rn.BasicStatus()
	if st.RaftState != raft.StateLeader || st.LeadTransferee != 0 || m.GetTerm() != st.HardState.GetTerm() {
		return
	}
	best, bestMatch, stale := uint64(0), uint64(0), false
	c.rn.WithProgress(func(id uint64, typ raft.ProgressType, pr tracker.Progress) {
		if id == m.GetFrom() {
			stale = m.GetRejectHint() < pr.Match
			return
		}
		if id == c.cfg.ID || typ != raft.ProgressTypePeer || pr.IsLearner || !pr.RecentActive {
			return
		}
		if best == 0 || pr.Match > bestMatch {
			best, bestMatch = id, pr.Match
		}
	})
	if !stale {
		return
	}
	if best == 0 {
		c.log.Warn("consensus: a follower lost its raft state; no other voter to hand leadership to, it waits for the next election", "follower", m.GetFrom())
		return
	}
	c.log.Warn("consensus: a follower lost its raft state; handing leadership over so a new term can catch it up", "follower", m.GetFrom(), "to", best)
	c.rn.TransferLeader(best)
}

// tick sends term probes to the voters not heard from yet, once per
// election timeout, while abstaining without a floor.
func (g *voteGuard) tick(electionTicks int) {
	if g.st.Mode != guardAbstain {
		return
	}
	g.ticks++
	if g.ticks < probeEveryElections*electionTicks {
		return
	}
	g.ticks = 0
	for _, v := range g.order {
		if _, ok := g.reports[v]; ok || v == g.self {
			continue
		}
		typ := pb.MessageType_MsgHeartbeat
		to, from, zero := v, g.self, uint64(0)
		g.out = append(g.out, &pb.Message{Type: &typ, To: &to, From: &from, Term: &zero, Context: termProbeContext})
	}
}

// answerTermProbe answers a guarded peer's probe with this node's term
// (sent by the next Drain). Raft never sees the probe: a heartbeat of
// term 0 would read as a local message from a leader.
func (c *Core) answerTermProbe(m *pb.Message) {
	if len(c.probeAnswers) >= 64 {
		return // NB: bounded; a probe is repeated next election timeout
	}
	typ := pb.MessageType_MsgHeartbeatResp
	to, from, term := m.GetFrom(), c.cfg.ID, c.rn.BasicStatus().HardState.GetTerm()
	c.probeAnswers = append(c.probeAnswers, &pb.Message{Type: &typ, To: &to, From: &from, Term: &term, Context: termProbeContext})
}
