package consensus

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/eventstored/eventstored/cluster"
)

func ent(i, term uint64, data string) *pb.Entry {
	return &pb.Entry{Index: new(i), Term: new(term), Type: new(pb.EntryType_EntryNormal), Data: []byte(data)}
}

func storageAppend(ents []*pb.Entry, hs *pb.HardState, resps ...*pb.Message) *pb.Message {
	m := &pb.Message{Type: new(pb.MessageType_MsgStorageAppend), To: new(raft.LocalAppendThread), From: new(uint64(1)),
		Entries: ents, Responses: resps}
	if hs != nil {
		m.Term, m.Vote, m.Commit = new(hs.GetTerm()), new(hs.GetVote()), new(hs.GetCommit())
	}
	return m
}

func resp(to uint64, typ pb.MessageType, index uint64) *pb.Message {
	return &pb.Message{To: new(to), From: new(uint64(1)), Type: new(typ), Index: new(index)}
}

// TestSaveAppendsMergesInOrder: appends queued while the append
// goroutine was busy are saved with one Save: a later append replaces
// the entries it conflicts with, the last hard state wins, and the
// responses come back in order, this node's apart from the others'.
func TestSaveAppendsMergesInOrder(t *testing.T) {
	d := NewMemDisk()
	if err := d.Bootstrap([]uint64{1, 2, 3}, nil); err != nil {
		t.Fatal(err)
	}
	msgs := []*pb.Message{
		storageAppend([]*pb.Entry{ent(1, 1, "a"), ent(2, 1, "b"), ent(3, 1, "c")}, &pb.HardState{Term: new(uint64(1)), Vote: new(uint64(2)), Commit: new(uint64(0))},
			resp(2, pb.MessageType_MsgAppResp, 3), resp(1, pb.MessageType_MsgStorageAppendResp, 3)),
		storageAppend([]*pb.Entry{ent(3, 2, "C"), ent(4, 2, "d")}, nil, resp(3, pb.MessageType_MsgAppResp, 4)),
		storageAppend(nil, &pb.HardState{Term: new(uint64(2)), Vote: new(uint64(3)), Commit: new(uint64(2))}, resp(1, pb.MessageType_MsgStorageAppendResp, 4)),
	}
	local, remote, err := SaveAppends(d, 1, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if d.Saves != 1 {
		t.Fatalf("%d saves, want 1 (one fsync)", d.Saves)
	}
	if last, _ := d.LastIndex(); last != 4 {
		t.Fatalf("last index %d, want 4", last)
	}
	for i, want := range []string{"a", "b", "C", "d"} {
		es, err := d.Entries(uint64(i+1), uint64(i+2), 1<<20)
		if err != nil || string(es[0].GetData()) != want {
			t.Fatalf("entry %d: %v %v, want %q", i+1, es, err, want)
		}
	}
	hs, _, _ := d.InitialState()
	if hs.GetTerm() != 2 || hs.GetVote() != 3 || hs.GetCommit() != 2 {
		t.Fatalf("hard state %v, want the last one given", hs)
	}
	if len(local) != 2 || local[0].GetIndex() != 3 || local[1].GetIndex() != 4 {
		t.Fatalf("local responses %v", local)
	}
	if len(remote) != 2 || remote[0].GetTo() != 2 || remote[1].GetTo() != 3 {
		t.Fatalf("remote responses %v", remote)
	}
	// A later append starting before the first one replaces all of it.
	d2 := NewMemDisk()
	d2.Bootstrap([]uint64{1}, nil)
	d2.Save(nil, []*pb.Entry{ent(1, 1, "x"), ent(2, 1, "y")})
	if _, _, err := SaveAppends(d2, 1, []*pb.Message{storageAppend([]*pb.Entry{ent(3, 1, "z")}, nil), storageAppend([]*pb.Entry{ent(2, 3, "Y")}, nil)}); err != nil {
		t.Fatal(err)
	}
	if last, _ := d2.LastIndex(); last != 2 {
		t.Fatalf("last index %d after a replacing append, want 2", last)
	}
	if _, _, err := SaveAppends(d2, 1, []*pb.Message{storageAppend([]*pb.Entry{ent(3, 3, "z")}, nil), storageAppend([]*pb.Entry{ent(5, 3, "gap")}, nil)}); err == nil {
		t.Fatal("an append leaving a gap was saved")
	}
	if _, _, err := SaveAppends(d2, 1, []*pb.Message{resp(1, pb.MessageType_MsgAppResp, 1)}); err == nil {
		t.Fatal("a message that is not an append was taken")
	}
}

// TestStepRefusesLocalStorageMessages: only the append goroutine speaks
// for local storage; a peer faking an append acknowledgement is refused.
func TestStepRefusesLocalStorageMessages(t *testing.T) {
	c, _, _ := single(t)
	for _, m := range []*pb.Message{
		{To: new(uint64(1)), From: new(raft.LocalAppendThread), Type: new(pb.MessageType_MsgStorageAppendResp), Index: new(uint64(5))},
		{To: new(uint64(1)), From: new(uint64(2)), Type: new(pb.MessageType_MsgStorageApplyResp)},
	} {
		if err := c.Step(m); err == nil {
			t.Fatalf("%v from the network accepted", m.GetType())
		}
	}
}

// gateDisk blocks every Save while closed and fails them once failed is set.
type gateDisk struct {
	*MemDisk
	mu     sync.Mutex
	open   *sync.Cond
	closed bool
	failed atomic.Bool
	saving atomic.Int32 // Saves waiting at the gate
	calls  atomic.Int32 // Saves called
}

func newGateDisk() *gateDisk {
	g := &gateDisk{MemDisk: NewMemDisk()}
	g.open = sync.NewCond(&g.mu)
	return g
}

func (g *gateDisk) Save(hs *pb.HardState, ents []*pb.Entry) error {
	g.calls.Add(1)
	g.mu.Lock()
	for g.closed {
		g.saving.Add(1)
		g.open.Wait()
		g.saving.Add(-1)
	}
	g.mu.Unlock()
	if g.failed.Load() {
		return errors.New("EIO")
	}
	return g.MemDisk.Save(hs, ents)
}

func (g *gateDisk) set(closed bool) {
	g.mu.Lock()
	g.closed = closed
	g.open.Broadcast()
	g.mu.Unlock()
}

func singleDriver(t *testing.T, d *gateDisk, onApply func([]*pb.Entry)) *Driver {
	t.Helper()
	if err := d.Bootstrap([]uint64{1}, nil); err != nil {
		t.Fatal(err)
	}
	drv, err := NewDriver(DriverConfig{Core: Config{ID: 1, Log: quiet}, Disk: d, Transport: nopTransport{}, Tick: time.Millisecond,
		OnApply: onApply, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	drv.Start()
	t.Cleanup(func() { d.set(false); drv.Stop() })
	for drv.Status().State != cluster.StateMaster {
		time.Sleep(time.Millisecond)
	}
	return drv
}

// TestDriverProposesWhileSaving: the Ready loop does not wait for the
// fsync — proposals are taken while a save is stuck — and nothing is
// applied before it is durable.
func TestDriverProposesWhileSaving(t *testing.T) {
	d := newGateDisk()
	var mu sync.Mutex
	var applied []string
	drv := singleDriver(t, d, func(ents []*pb.Entry) {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range ents {
			if len(e.GetData()) > 0 {
				applied = append(applied, string(e.GetData()))
			}
		}
	})
	d.set(true)
	if err := drv.Propose([]byte("a")); err != nil {
		t.Fatal(err)
	}
	for d.saving.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	// The append goroutine is stuck in a save; the driver still takes
	// proposals (in the synchronous Ready loop this one would wait).
	if err := drv.Propose([]byte("b")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	n := len(applied)
	mu.Unlock()
	if n != 0 {
		t.Fatalf("applied %d entries before they were durable", n)
	}
	d.set(false)
	for {
		mu.Lock()
		n = len(applied)
		mu.Unlock()
		if n == 2 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if applied[0] != "a" || applied[1] != "b" {
		t.Fatalf("applied %q", applied)
	}
}

// TestDriverDiskFailureIsFinal: a failed save on the append goroutine
// stops consensus (ShuttingDown, ErrDiskFailed) and nothing is saved
// after it.
func TestDriverDiskFailureIsFinal(t *testing.T) {
	d := newGateDisk()
	drv := singleDriver(t, d, nil)
	d.failed.Store(true)
	drv.Propose([]byte("x"))
	for drv.Status().State != cluster.StateShuttingDown {
		time.Sleep(time.Millisecond)
	}
	if st := drv.Status(); !errors.Is(st.Err, ErrDiskFailed) {
		t.Fatalf("status error %v, want ErrDiskFailed", st.Err)
	}
	saves := d.Saves
	d.failed.Store(false)
	if err := drv.Propose([]byte("y")); err == nil {
		t.Fatal("a proposal was taken after the disk failed")
	}
	if d.Saves != saves {
		t.Fatal("saved after the failure")
	}
}

// TestPersistQueueLimit: the driver waits for the append goroutine once
// persistQueueMax bytes are queued, and goes on when the queue shrinks.
func TestPersistQueueLimit(t *testing.T) {
	d := &Driver{stop: make(chan struct{}), awake: make(chan struct{}, 1)}
	d.aroom = sync.NewCond(&d.amu)
	d.persist(storageAppend([]*pb.Entry{ent(1, 1, "a")}, nil)) // an empty queue takes any append
	d.amu.Lock()
	d.aq, d.aqBytes = nil, persistQueueMax // the append goroutine is saving that many bytes
	d.amu.Unlock()
	done := make(chan struct{})
	go func() {
		d.persist(storageAppend([]*pb.Entry{ent(2, 1, "x")}, nil))
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("an append was queued past persistQueueMax")
	case <-time.After(50 * time.Millisecond):
	}
	d.amu.Lock()
	d.aq, d.aqBytes = nil, 0 // the append goroutine took and saved it
	d.aroom.Broadcast()
	d.amu.Unlock()
	<-done
	if d.aqBytes != 1 || len(d.aq) != 1 {
		t.Fatalf("queue %d bytes, %d appends", d.aqBytes, len(d.aq))
	}
}

// chanTransport delivers in process: Send steps a copy of each message
// into the addressed driver.
type chanTransport struct{ peers map[uint64]*Driver }

func (c *chanTransport) Send(msgs []*pb.Message) {
	for _, m := range msgs {
		if d := c.peers[m.GetTo()]; d != nil {
			d.Step(proto.Clone(m).(*pb.Message))
		}
	}
}

// TestFollowerSavesInline: a follower saves on its driver goroutine (no
// hand-off to the append goroutine) and still acknowledges only once the
// save is durable — with two voters nothing commits while the follower's
// save is stuck — and a failed inline save is final (ShuttingDown,
// ErrDiskFailed, no save after it).
func TestFollowerSavesInline(t *testing.T) {
	tr := &chanTransport{peers: map[uint64]*Driver{}}
	disks := map[uint64]*gateDisk{}
	var mu sync.Mutex
	applied := map[uint64][]string{}
	for _, id := range []uint64{1, 2} {
		d := newGateDisk()
		if err := d.Bootstrap([]uint64{1, 2}, nil); err != nil {
			t.Fatal(err)
		}
		drv, err := NewDriver(DriverConfig{Core: Config{ID: id, Log: quiet}, Disk: d, Transport: tr, Tick: 20 * time.Millisecond, Log: quiet,
			OnApply: func(ents []*pb.Entry) {
				mu.Lock()
				defer mu.Unlock()
				for _, e := range ents {
					if len(e.GetData()) > 0 {
						applied[id] = append(applied[id], string(e.GetData()))
					}
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		disks[id], tr.peers[id] = d, drv
	}
	for _, drv := range tr.peers {
		drv.Start()
	}
	t.Cleanup(func() {
		for id, drv := range tr.peers {
			disks[id].set(false)
			drv.Stop()
		}
	})
	var leader, follower uint64
	waitFor(t, "a master and a slave", 10*time.Second, func() bool {
		for id, drv := range tr.peers {
			switch drv.Status().State {
			case cluster.StateMaster:
				leader = id
			case cluster.StateSlave:
				follower = id
			}
		}
		return leader != 0 && follower != 0 && leader != follower
	})
	l, f, fd := tr.peers[leader], tr.peers[follower], disks[follower]
	inline := f.inlineSaves.Load()
	if inline == 0 {
		t.Fatal("the follower saved nothing on its driver goroutine")
	}
	count := func(id uint64) int {
		mu.Lock()
		defer mu.Unlock()
		return len(applied[id])
	}

	fd.set(true)
	if err := l.Propose([]byte("a")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the follower's save at the gate", 10*time.Second, func() bool { return fd.saving.Load() > 0 })
	time.Sleep(60 * time.Millisecond) // ticks pass: heartbeats, retries (an election timeout is 200 ms)
	if n := count(leader); n != 0 {
		t.Fatalf("the leader applied %d entries the follower had not saved", n)
	}
	fd.set(false)
	waitFor(t, "both apply", 10*time.Second, func() bool { return count(leader) == 1 && count(follower) == 1 })
	if f.inlineSaves.Load() == inline {
		t.Fatal("the follower's save of the entry was not inline")
	}

	fd.failed.Store(true)
	if err := l.Propose([]byte("b")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the follower stops", 10*time.Second, func() bool { return f.Status().State == cluster.StateShuttingDown })
	if st := f.Status(); !errors.Is(st.Err, ErrDiskFailed) {
		t.Fatalf("status error %v, want ErrDiskFailed", st.Err)
	}
	calls := fd.calls.Load()
	fd.failed.Store(false)
	l.Propose([]byte("c"))
	time.Sleep(20 * time.Millisecond)
	if fd.calls.Load() != calls {
		t.Fatal("the follower saved after its disk failed")
	}
	if n := count(leader); n != 1 {
		t.Fatalf("the leader applied %d entries without its only follower", n)
	}
}
