package consensus

import (
	"errors"
	"path/filepath"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
)

// memGuard is a GuardedDisk in memory (the guard's own seam); Fail makes
// saves fail.
type memGuard struct {
	*MemDisk
	st    VoteGuardState
	saves int
	fail  error
}

func (m *memGuard) VoteGuard() VoteGuardState { return m.st }
func (m *memGuard) SaveVoteGuard(g VoteGuardState) error {
	if m.fail != nil {
		return m.fail
	}
	m.st = g
	m.saves++
	return nil
}

func msg(typ pb.MessageType, from, to, term uint64) *pb.Message {
	return &pb.Message{Type: &typ, From: &from, To: &to, Term: &term}
}

func newTestGuard(t *testing.T, st VoteGuardState, voters ...uint64) (*voteGuard, *memGuard) {
	t.Helper()
	d := &memGuard{MemDisk: NewMemDisk(), st: st}
	g := newVoteGuard(d, 1, &pb.ConfState{Voters: voters}, quiet)
	if g == nil {
		t.Fatal("not guarded")
	}
	return g, d
}

// TestVoteGuardFloorNeedsEnoughVoters: the floor is fixed only once
// n-q+1 other voters reported (2 of 2 others in a 3-node cluster, 3 of 4
// in a 5-node one); learners and the node itself do not count; every
// vote request is refused meanwhile, and answers to the node's own
// pre-votes are dropped.
func TestVoteGuardFloorNeedsEnoughVoters(t *testing.T) {
	for _, c := range []struct {
		voters []uint64
		need   int
	}{{[]uint64{1, 2, 3}, 2}, {[]uint64{1, 2, 3, 4, 5}, 3}, {[]uint64{1, 2}, 1}} {
		g, d := newTestGuard(t, VoteGuardState{Mode: guardAbstain}, c.voters...)
		if g.need != c.need {
			t.Fatalf("%d voters: %d reports needed, want %d", len(c.voters), g.need, c.need)
		}
		// A learner (9) and the node itself do not count.
		for _, from := range []uint64{9, 1} {
			if ok, _ := g.step(msg(pb.MessageType_MsgHeartbeat, from, 1, 7), 0, 0); !ok {
				t.Fatal("heartbeat dropped")
			}
		}
		for k := 0; k < c.need; k++ {
			if g.st.Mode != guardAbstain {
				t.Fatalf("%d voters: floor fixed after %d reports", len(c.voters), k)
			}
			// A pre-vote shows the sender's term + 1.
			ok, err := g.step(msg(pb.MessageType_MsgPreVote, c.voters[k+1], 1, 5+uint64(k)), 2, 0)
			if ok || err != nil {
				t.Fatalf("pre-vote stepped into raft while abstaining (%v)", err)
			}
		}
		if g.st.Mode != guardCatchUp || g.st.Floor != 4+uint64(c.need-1) || d.st != g.st {
			t.Fatalf("%d voters: guard %+v (saved %+v), want catch-up with floor %d", len(c.voters), g.st, d.st, 4+c.need-1)
		}
		if len(g.out) != c.need {
			t.Fatalf("%d refusals sent for %d requests", len(g.out), c.need)
		}
		for _, r := range g.out {
			if r.GetType() != pb.MessageType_MsgPreVoteResp || !r.GetReject() {
				t.Fatalf("refusal %v", r)
			}
		}
		if ok, _ := g.step(msg(pb.MessageType_MsgPreVoteResp, c.voters[1], 1, 20), 0, 0); ok {
			t.Fatal("an answer to the node's own pre-vote reached raft while catching up")
		}
		if ok, _ := g.step(msg(pb.MessageType_MsgTimeoutNow, c.voters[1], 1, 20), 0, 0); ok {
			t.Fatal("a leadership transfer reached raft while catching up")
		}
	}
}

// TestVoteGuardNewCluster: when the other voters all show term 0 the
// cluster is new and the guard is done at once (and stays out of the way
// after a restart).
func TestVoteGuardNewCluster(t *testing.T) {
	g, d := newTestGuard(t, VoteGuardState{Mode: guardAbstain}, 1, 2, 3)
	g.step(msg(pb.MessageType_MsgPreVote, 2, 1, 1), 0, 0)
	if ok, _ := g.step(msg(pb.MessageType_MsgPreVote, 3, 1, 1), 0, 0); !ok {
		t.Fatal("the pre-vote that ended the guard did not reach raft")
	}
	if len(g.out) != 1 || g.out[0].GetTerm() != 0 || !g.out[0].GetReject() {
		t.Fatalf("a node of term 0 answered %v, want a refusal in term 0", g.out)
	}
	if d.st != (VoteGuardState{Mode: guardDone}) {
		t.Fatalf("guard %+v, want done with floor 0", d.st)
	}
	if newVoteGuard(d, 1, &pb.ConfState{Voters: []uint64{1, 2, 3}}, quiet) != nil {
		t.Fatal("a done guard with floor 0 is still active after a restart")
	}
}

// TestVoteGuardCatchUp: the guard ends only once the commit index is an
// entry of the followed leader's term at or past the commit index that
// leader sent first; then it refuses vote requests of terms <= floor for
// good.
func TestVoteGuardCatchUp(t *testing.T) {
	g, d := newTestGuard(t, VoteGuardState{Mode: guardCatchUp, Floor: 5}, 1, 2, 3)
	terms := map[uint64]uint64{10: 4, 20: 5, 30: 5, 31: 6}
	termOf := func(i uint64) (uint64, error) { return terms[i], nil }
	old := msg(pb.MessageType_MsgApp, 2, 1, 4)
	old.Commit = u64(10)
	g.step(old, 4, 0)
	if err := g.caughtUp(10, termOf); err != nil || g.st.Mode != guardCatchUp {
		t.Fatalf("done on an entry of a term below the floor (%v)", err)
	}
	app := msg(pb.MessageType_MsgApp, 2, 1, 5)
	app.Commit = u64(30)
	g.step(app, 5, 0)
	for _, c := range []uint64{0, 10, 20} {
		if err := g.caughtUp(c, termOf); err != nil || g.st.Mode != guardCatchUp {
			t.Fatalf("done at commit %d (%v)", c, err)
		}
	}
	if err := g.caughtUp(30, termOf); err != nil || d.st != (VoteGuardState{Mode: guardDone, Floor: 5}) {
		t.Fatalf("not done at commit 30: %+v (%v)", d.st, err)
	}
	if ok, _ := g.step(msg(pb.MessageType_MsgVote, 3, 1, 5), 5, 0); ok {
		t.Fatal("a vote request in the floor term reached raft")
	}
	if ok, _ := g.step(msg(pb.MessageType_MsgVote, 3, 1, 6), 5, 0); !ok {
		t.Fatal("a vote request above the floor was refused")
	}
	// A new leader term restarts the target.
	g2, _ := newTestGuard(t, VoteGuardState{Mode: guardCatchUp, Floor: 5}, 1, 2, 3)
	g2.step(app, 5, 0)
	app6 := msg(pb.MessageType_MsgApp, 3, 1, 6)
	app6.Commit = u64(31)
	g2.step(app6, 6, 0)
	if g2.caughtUp(30, termOf); g2.st.Mode == guardDone {
		t.Fatal("done on the old leader's term after a newer leader appeared")
	}
	if g2.caughtUp(31, termOf); g2.st.Mode != guardDone {
		t.Fatal("not done on the new leader's entry")
	}
}

// TestVoteGuardHeartbeatCommit: a heartbeat of a term the node may have
// acknowledged entries in before it lost them commits only what the node
// acknowledged since, and the leader is told once per term.
func TestVoteGuardHeartbeatCommit(t *testing.T) {
	g, _ := newTestGuard(t, VoteGuardState{Mode: guardCatchUp, Floor: 5}, 1, 2, 3)
	hb := msg(pb.MessageType_MsgHeartbeat, 2, 1, 5)
	hb.Commit = u64(40)
	g.step(hb, 5, 0)
	if hb.GetCommit() != 0 || len(g.out) != 1 || !g.out[0].GetReject() || string(g.out[0].GetContext()) != string(lostLogContext) {
		t.Fatalf("heartbeat commit %d, sent %v", hb.GetCommit(), g.out)
	}
	idx := uint64(12)
	typ := pb.MessageType_MsgAppResp
	g.sent([]*pb.Message{{Type: &typ, Term: u64(5), Index: &idx}})
	hb = msg(pb.MessageType_MsgHeartbeat, 2, 1, 5)
	hb.Commit = u64(40)
	g.step(hb, 5, 0)
	if hb.GetCommit() != 12 || len(g.out) != 1 {
		t.Fatalf("heartbeat commit %d (want 12), %d messages sent (want the one)", hb.GetCommit(), len(g.out))
	}
	// Done: a heartbeat within the log is raft's (a plain restart of the
	// node left the master's progress right); one past it is clamped.
	g.st = VoteGuardState{Mode: guardDone, Floor: 5}
	g.match, g.out = 0, nil
	hb = msg(pb.MessageType_MsgHeartbeat, 2, 1, 5)
	hb.Commit = u64(40)
	g.step(hb, 5, 40)
	if hb.GetCommit() != 40 || len(g.out) != 0 {
		t.Fatalf("done guard: heartbeat commit %d within the log changed, %v sent", hb.GetCommit(), g.out)
	}
	g.step(hb, 5, 30)
	if hb.GetCommit() != 0 {
		t.Fatalf("done guard: heartbeat commit %d past the log (30) not clamped", hb.GetCommit())
	}
}

// TestVoteGuardSaveFailureIsFinal: a guard that cannot record its step
// fails the core (ErrDiskFailed).
func TestVoteGuardSaveFailureIsFinal(t *testing.T) {
	g, d := newTestGuard(t, VoteGuardState{Mode: guardAbstain}, 1, 2, 3)
	d.fail = errors.New("disk gone")
	g.step(msg(pb.MessageType_MsgHeartbeat, 2, 1, 3), 0, 0)
	if _, err := g.step(msg(pb.MessageType_MsgHeartbeat, 3, 1, 3), 0, 0); !errors.Is(err, ErrDiskFailed) {
		t.Fatalf("err %v, want ErrDiskFailed", err)
	}
}

// TestTlogDiskVoteGuardFile: a new directory and a lost raft-state.chk
// start guarded; a disk with its hard state does not; the file survives
// a crash; a damaged file reads as abstain.
func TestTlogDiskVoteGuardFile(t *testing.T) {
	e := newDiskEnv(t, TlogDiskOptions{})
	defer e.close()
	if g := e.d.VoteGuard(); g.Mode != guardAbstain {
		t.Fatalf("new disk guard %+v", g)
	}
	if err := e.d.SaveVoteGuard(VoteGuardState{Mode: guardDone, Floor: 3}); err != nil {
		t.Fatal(err)
	}
	e.crash()
	if g := e.d.VoteGuard(); g != (VoteGuardState{Mode: guardDone, Floor: 3}) {
		t.Fatalf("guard after a crash %+v", g)
	}
	// An old disk (hard state, no guard file) is not guarded.
	e.d.Close()
	e.l.Close()
	if err := e.fs.Remove(filepath.Join(testDir, VoteGuardFileName)); err != nil {
		t.Fatal(err)
	}
	e.open()
	if g := e.d.VoteGuard(); g.Mode != guardOff {
		t.Fatalf("disk with hard state guarded: %+v", g)
	}
	// Lost raft-state.chk: guarded again, also over a guard done before.
	if err := e.d.SaveVoteGuard(VoteGuardState{Mode: guardDone}); err != nil {
		t.Fatal(err)
	}
	e.d.Close()
	e.l.Close()
	if err := e.fs.Remove(filepath.Join(testDir, HardStateFileName)); err != nil {
		t.Fatal(err)
	}
	e.open()
	if g := e.d.VoteGuard(); g.Mode != guardAbstain {
		t.Fatalf("lost hard state: guard %+v", g)
	}
	b := encodeVoteGuard(VoteGuardState{Mode: guardDone, Floor: 9})
	b[9] ^= 1
	if _, err := decodeVoteGuard(b); !errors.Is(err, ErrCorruptState) {
		t.Fatalf("damaged guard decoded: %v", err)
	}
}

// TestVoteGuardQuietCluster: a wiped node of a quiet cluster hears only
// the master until the master fails; the appends it got before the floor
// was known count, so it can vote for the survivor at once.
func TestVoteGuardQuietCluster(t *testing.T) {
	g, d := newTestGuard(t, VoteGuardState{Mode: guardAbstain}, 1, 2, 3)
	app := msg(pb.MessageType_MsgApp, 2, 1, 3)
	app.Commit = u64(7)
	g.step(app, 3, 0)
	if err := g.caughtUp(7, func(uint64) (uint64, error) { return 3, nil }); err != nil || g.st.Mode != guardAbstain {
		t.Fatalf("guard %+v after one voter's report (%v)", g.st, err)
	}
	// The master fails; node 3 pre-votes for term 4 (its term is 3).
	if ok, _ := g.step(msg(pb.MessageType_MsgPreVote, 3, 1, 4), 3, 0); ok {
		t.Fatal("pre-vote reached raft while the guard was still on")
	}
	if g.st != (VoteGuardState{Mode: guardCatchUp, Floor: 3}) {
		t.Fatalf("guard %+v, want catch-up with floor 3", g.st)
	}
	if err := g.caughtUp(7, func(uint64) (uint64, error) { return 3, nil }); err != nil || d.st.Mode != guardDone {
		t.Fatalf("guard %+v (%v), want done: the node holds the master's commit of term 3", d.st, err)
	}
	if ok, _ := g.step(msg(pb.MessageType_MsgPreVote, 3, 1, 4), 3, 0); !ok {
		t.Fatal("the next pre-vote, above the floor, was refused")
	}
}

// TestVoteGuardTermProbe: an abstaining node probes the voters it has
// not heard from once per election timeout; any core answers a probe
// with its term before raft sees it; the answers count as reports.
func TestVoteGuardTermProbe(t *testing.T) {
	g, d := newTestGuard(t, VoteGuardState{Mode: guardAbstain}, 1, 2, 3)
	app := msg(pb.MessageType_MsgApp, 2, 1, 4)
	app.Commit = u64(9)
	g.step(app, 4, 0) // the master (2) reported
	for range 9 {
		g.tick(10)
	}
	if len(g.out) != 0 {
		t.Fatalf("probes before an election timeout: %v", g.out)
	}
	g.tick(10)
	if len(g.out) != 1 || g.out[0].GetTo() != 3 || g.out[0].GetTerm() != 0 || string(g.out[0].GetContext()) != string(termProbeContext) {
		t.Fatalf("probes %v, want one to node 3", g.out)
	}
	// Node 3's core answers (raft never sees the probe).
	c, _, _ := single(t)
	probe := g.out[0]
	probe.To = u64(c.cfg.ID)
	if err := c.Step(probe); err != nil {
		t.Fatal(err)
	}
	if len(c.probeAnswers) != 1 || c.probeAnswers[0].GetType() != pb.MessageType_MsgHeartbeatResp {
		t.Fatalf("answers %v", c.probeAnswers)
	}
	ans := c.probeAnswers[0]
	ans.From, ans.Term = u64(3), u64(4)
	if ok, err := g.step(ans, 4, 0); ok || err != nil {
		t.Fatalf("a probe answer reached raft (%v)", err)
	}
	if d.st != (VoteGuardState{Mode: guardCatchUp, Floor: 4}) {
		t.Fatalf("guard %+v after the probe answer, want catch-up with floor 4", d.st)
	}
}
