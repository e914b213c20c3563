package consensus

import (
	"errors"
	"testing"
	"testing/cryptotest"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/eventstored/eventstored/cluster"
)

type nopIO struct {
	applied int
	q       []*pb.Message
	disk    Disk
}

func (*nopIO) Send([]*pb.Message)       {}
func (n *nopIO) Apply(ents []*pb.Entry) { n.applied += len(ents) }
func (n *nopIO) Persist(m *pb.Message)  { n.q = append(n.q, m) }

// settle drains c until nothing is left to save: the appends are saved
// on the disk (as the Driver's append goroutine does) and their
// responses handed back.
func settle(c *Core, io *nopIO) error {
	for {
		if err := c.Drain(io); err != nil {
			return err
		}
		if len(io.q) == 0 {
			return nil
		}
		q := io.q
		io.q = nil
		local, _, err := SaveAppends(io.disk, c.cfg.ID, q)
		if err := c.Persisted(local, err); err != nil {
			return err
		}
	}
}

func single(t *testing.T) (*Core, *MemDisk, *nopIO) {
	t.Helper()
	d := NewMemDisk()
	if err := Bootstrap(d.MemoryStorage, []uint64{1}, nil); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{ID: 1, Log: quiet}, d)
	if err != nil {
		t.Fatal(err)
	}
	return c, d, &nopIO{disk: d}
}

// TestStateDerivation walks one node through Unknown → Master.
func TestStateDerivation(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 1)
	c, _, io := single(t)
	if st := c.Status(); st.State != cluster.StateUnknown || st.Leader != 0 {
		t.Fatalf("start: %+v", st)
	}
	for i := 0; i < 30 && c.Status().State != cluster.StateMaster; i++ {
		c.Tick()
		if err := settle(c, io); err != nil {
			t.Fatal(err)
		}
	}
	st := c.Status()
	if st.State != cluster.StateMaster || st.Leader != 1 || st.Term == 0 || st.EpochIdx == 0 {
		t.Fatalf("after election: %+v", st)
	}
	if err := c.Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	settle(c, io)
	if c.Status().Applied != st.Applied+1 {
		t.Fatal("proposal not applied")
	}
}

func TestProposalRules(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 1)
	c, d, io := single(t)
	if err := c.Propose([]byte("x")); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("follower proposal: %v", err)
	}
	for i := 0; i < 30 && c.Status().State != cluster.StateMaster; i++ {
		c.Tick()
		settle(c, io)
	}
	if err := c.Propose(make([]byte, MaxProposalBytes+1)); !errors.Is(err, ErrProposalTooLarge) {
		t.Fatalf("oversized proposal: %v", err)
	}
	if err := c.Propose(make([]byte, MaxProposalBytes)); err != nil {
		t.Fatalf("largest proposal: %v", err)
	}
	// A failed save is final: the node stops, reports ShuttingDown and
	// refuses every later call.
	d.Fail = errors.New("EIO")
	if err := settle(c, io); !errors.Is(err, ErrDiskFailed) {
		t.Fatalf("drain: %v", err)
	}
	d.Fail = nil
	if err := c.Propose([]byte("y")); !errors.Is(err, ErrDiskFailed) {
		t.Fatalf("after failure: %v", err)
	}
	if err := settle(c, io); !errors.Is(err, ErrDiskFailed) {
		t.Fatalf("failure not final: %v", err)
	}
	if c.Status().State != cluster.StateShuttingDown {
		t.Fatal(c.Status().State)
	}
}

func TestMisaddressedMessage(t *testing.T) {
	c, _, _ := single(t)
	m := &pb.Message{To: new(uint64(2)), From: new(uint64(3)), Type: new(pb.MessageType_MsgHeartbeat)}
	if err := c.Step(m); err == nil {
		t.Fatal("message for another node accepted")
	}
}

func TestVoteTrafficClassification(t *testing.T) {
	for _, ty := range []pb.MessageType{pb.MessageType_MsgVote, pb.MessageType_MsgPreVote, pb.MessageType_MsgVoteResp, pb.MessageType_MsgPreVoteResp} {
		if !IsVoteTraffic(ty) {
			t.Fatal(ty)
		}
	}
	for _, ty := range []pb.MessageType{pb.MessageType_MsgApp, pb.MessageType_MsgHeartbeat, pb.MessageType_MsgSnap, pb.MessageType_MsgTimeoutNow} {
		if IsVoteTraffic(ty) {
			t.Fatal(ty)
		}
	}
}

// TestPriorityDecidesAmongUpToDate: after healing, leadership ends on the
// highest-priority node, over many seeds (each with chaos first).
func TestPriorityDecidesAmongUpToDate(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		cryptotest.SetGlobalRandom(t, seed)
		s := newSim(t, seed, 3, 0, []int32{0, 0, 5})
		s.chaos()
		s.runUntil(chaosMs)
		s.heal()
		s.runUntil(s.now + 15_000)
		if s.failure != "" {
			t.Fatalf("seed %d: %s", seed, s.failure)
		}
		if m := s.master(); m != 3 {
			t.Fatalf("seed %d: master %d, want the priority-5 node 3 (%s)", seed, m, s.describe())
		}
	}
}

// TestLearnerNeverLeads: the node beyond --cluster-size is a Clone.
func TestLearnerNeverLeads(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		cryptotest.SetGlobalRandom(t, seed)
		s := newSim(t, seed, 3, 1, nil)
		s.chaos()
		s.runUntil(chaosMs)
		s.heal()
		s.runUntil(s.now + 10_000)
		for term, l := range s.leaders {
			if l == 4 {
				t.Fatalf("seed %d: learner led term %d", seed, term)
			}
		}
		if st := s.nodes[3].core.Status(); st.State != cluster.StateClone {
			t.Fatalf("seed %d: learner state %v", seed, st.State)
		}
	}
}

// TestProposalDataIsCopiedByRaft: the Replicator encodes every proposal
// in one reused buffer, which is safe only because raft copies a
// proposed entry (raft.appendEntry clones it). A raft version that kept
// the caller's slice would fail here: the entry saved and applied would
// change with the buffer.
func TestProposalDataIsCopiedByRaft(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 1)
	c, d, io := single(t)
	for i := 0; i < 30 && c.Status().State != cluster.StateMaster; i++ {
		c.Tick()
		if err := settle(c, io); err != nil {
			t.Fatal(err)
		}
	}
	buf := []byte("first")
	if err := c.Propose(buf); err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXXX") // before the Ready: raft holds it unsaved
	if err := settle(c, io); err != nil {
		t.Fatal(err)
	}
	copy(buf, "YYYYY") // after the save
	last, _ := d.LastIndex()
	ents, err := d.Entries(last, last+1, 1<<20)
	if err != nil || len(ents) != 1 || string(ents[0].GetData()) != "first" {
		t.Fatalf("entry %d holds %q (%v): raft kept the proposer's buffer", last, ents[0].GetData(), err)
	}
}
