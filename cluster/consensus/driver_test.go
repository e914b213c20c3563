package consensus

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/eventstored/eventstored/cluster"
	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/reactor"
)

// loopNode is one consensus node on real loopback HTTP.
type loopNode struct {
	id    uint64
	disk  *MemDisk
	tr    *HTTPTransport
	drv   *Driver
	srv   *http.Server
	ln    net.Listener
	mu    sync.Mutex
	data  map[uint64]string
	addrs map[uint64]string
	// split: votes over HTTP, everything else over internal TCP.
	split    bool
	tcpAddrs map[uint64]string
	tcp      *TCPTransport
	tsrv     *reactor.Server
	// notify, when set, gets a token (never blocking) after each apply;
	// last is the last index applied (under mu).
	notify chan struct{}
	last   uint64
}

func (n *loopNode) lastApplied() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.last
}

func (n *loopNode) applied(i uint64) (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	v, ok := n.data[i]
	return v, ok
}

func (n *loopNode) start(t testing.TB, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	n.ln = ln
	n.tr = NewHTTPTransport(time.Second, quiet)
	n.data = map[uint64]string{}
	var tr Transport = n.tr
	if n.split {
		n.tcp, err = NewTCPTransport(reactor.Config{Name: "internal TCP out", NumEventLoops: 1, Logger: quiet}, quiet)
		if err != nil {
			t.Fatal(err)
		}
		tr = Split{Vote: n.tr, Data: n.tcp}
	}
	drv, err := NewDriver(DriverConfig{Core: Config{ID: n.id, Log: quiet}, Disk: n.disk, Transport: tr, Log: quiet,
		OnApply: func(ents []*pb.Entry) {
			n.mu.Lock()
			for _, e := range ents {
				n.data[e.GetIndex()] = string(e.GetData())
				n.last = e.GetIndex()
			}
			n.mu.Unlock()
			if n.notify != nil {
				select {
				case n.notify <- struct{}{}:
				default:
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	n.drv = drv
	n.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != RaftPath || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, MaxBatchBytes+1))
		if err := DecodeBatch(body, drv.Step); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})}
	go n.srv.Serve(ln)
	for id, a := range n.addrs {
		if id != n.id {
			n.tr.SetPeer(id, a)
			if n.split {
				n.tcp.SetPeer(id, n.tcpAddrs[id])
			}
		}
	}
	if n.split {
		n.tsrv = reactor.NewServer(reactor.Config{Name: "internal TCP", Addr: n.tcpAddrs[n.id], NumEventLoops: 1, Internal: true, Logger: quiet},
			TCPHandler{Next: nopHandler{}, Step: drv.Step, Log: quiet})
		if err := n.tsrv.Start(); err != nil {
			t.Fatal(err)
		}
	}
	drv.Start()
}

func (n *loopNode) stop() {
	n.srv.Close()
	if n.tsrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		n.tsrv.Stop(ctx)
		cancel()
	}
	n.drv.Stop()
	n.tr.Stop()
	if n.tcp != nil {
		n.tcp.Stop()
	}
}

type nopHandler struct{}

func (nopHandler) OnOpen(*reactor.Conn)                    {}
func (nopHandler) OnPackage(*reactor.Conn, *codec.Package) {}
func (nopHandler) OnClose(*reactor.Conn, error)            {}

func waitFor(t *testing.T, what string, d time.Duration, f func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !f() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func leaderOf(ns []*loopNode) *loopNode {
	var l *loopNode
	for _, n := range ns {
		if n == nil {
			continue
		}
		st := n.drv.Status()
		if st.State == cluster.StateMaster {
			if l != nil {
				return nil
			}
			l = n
		}
	}
	if l == nil {
		return nil
	}
	for _, n := range ns {
		if n != nil && n.drv.Status().Leader != l.id {
			return nil
		}
	}
	return l
}

// TestDriversOnLoopbackHTTP: three drivers over real loopback HTTP elect
// one master, replicate writes to all, survive the master's loss (new
// master among the two others, acknowledged writes kept) and take the
// old master back as a follower that catches up.
func TestDriversOnLoopbackHTTP(t *testing.T) { loopback(t, false) }

// TestDriversOnLoopbackSplit: the same with the cluster's transport
// layout: votes over HTTP, appends and heartbeats over internal TCP.
func TestDriversOnLoopbackSplit(t *testing.T) { loopback(t, true) }

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func loopback(t *testing.T, split bool) {
	addrs, tcpAddrs := map[uint64]string{}, map[uint64]string{}
	ns := make([]*loopNode, 3)
	for i := range ns {
		addrs[uint64(i+1)], tcpAddrs[uint64(i+1)] = freeAddr(t), freeAddr(t)
	}
	for i := range ns {
		n := &loopNode{id: uint64(i + 1), disk: NewMemDisk(), addrs: addrs, split: split, tcpAddrs: tcpAddrs}
		if err := Bootstrap(n.disk.MemoryStorage, []uint64{1, 2, 3}, nil); err != nil {
			t.Fatal(err)
		}
		ns[i] = n
		n.start(t, addrs[n.id])
	}
	defer func() {
		for _, n := range ns {
			if n != nil {
				n.stop()
			}
		}
	}()
	waitFor(t, "first master", 10*time.Second, func() bool { return leaderOf(ns) != nil })
	l := leaderOf(ns)
	for i := range 100 {
		if err := l.drv.Propose([]byte(fmt.Sprintf("e%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	last := l.drv.Status().Commit
	waitFor(t, "replication", 10*time.Second, func() bool {
		for _, n := range ns {
			if _, ok := n.applied(last); !ok {
				return false
			}
		}
		return true
	})
	for _, n := range ns {
		if st := n.drv.Status().State; n != l && st != cluster.StateSlave {
			t.Fatalf("node %d is %v, want Slave", n.id, st)
		}
	}

	// Lose the master.
	old := l
	oldIdx := int(old.id - 1)
	old.stop()
	ns[oldIdx] = nil
	took := waitFor(t, "new master", 10*time.Second, func() bool { l = leaderOf(ns); return l != nil })
	t.Logf("new master after %v", took)
	if took > 5*time.Second {
		t.Errorf("failover took %v (raft election timeout is 1-2 s with 100 ms ticks)", took)
	}
	for i := uint64(1); i <= last; i++ {
		a, _ := old.applied(i)
		if b, _ := l.applied(i); a != b {
			t.Fatalf("index %d: old master applied %q, new master has %q", i, a, b)
		}
	}
	if err := l.drv.Propose([]byte("after")); err != nil {
		t.Fatal(err)
	}

	// The old master restarts from its disk and follows.
	back := &loopNode{id: old.id, disk: old.disk, addrs: addrs, split: split, tcpAddrs: tcpAddrs}
	back.start(t, addrs[old.id])
	ns[oldIdx] = back
	waitFor(t, "old master rejoins as Slave", 10*time.Second, func() bool {
		st := back.drv.Status()
		return st.State == cluster.StateSlave && st.Leader == l.id
	})
	var found bool
	waitFor(t, "old master catches up", 10*time.Second, func() bool {
		back.mu.Lock()
		defer back.mu.Unlock()
		for _, v := range back.data {
			found = found || v == "after"
		}
		return found
	})
}

func TestBatchCodecLimits(t *testing.T) {
	var b []byte
	var err error
	for i := range 3 {
		b, err = AppendMessage(b, &pb.Message{To: new(uint64(2)), From: new(uint64(1)), Term: new(uint64(i)), Type: new(pb.MessageType_MsgHeartbeat)})
		if err != nil {
			t.Fatal(err)
		}
	}
	var got []uint64
	if err := DecodeBatch(b, func(m *pb.Message) { got = append(got, m.GetTerm()) }); err != nil || len(got) != 3 || got[2] != 2 {
		t.Fatalf("%v %v", got, err)
	}
	if err := DecodeBatch(b[:len(b)-1], func(*pb.Message) {}); err == nil {
		t.Fatal("truncated batch accepted")
	}
	if err := DecodeBatch([]byte{0xff, 0xff, 0xff, 0xff, 0x7f}, func(*pb.Message) {}); err == nil {
		t.Fatal("huge length accepted")
	}
	if err := DecodeBatch(make([]byte, MaxBatchBytes+1), func(*pb.Message) {}); err != ErrBatchTooLarge {
		t.Fatalf("oversized batch: %v", err)
	}
	big := &pb.Message{Entries: []*pb.Entry{{Data: bytes.Repeat([]byte{1}, MaxMessageBytes)}}}
	if _, err := AppendMessage(nil, big); err == nil {
		t.Fatal("oversized message encoded")
	}
}

func TestSplitRoutesVoteTraffic(t *testing.T) {
	var v, d recorder
	Split{Vote: &v, Data: &d}.Send([]*pb.Message{
		{Type: new(pb.MessageType_MsgPreVote)}, {Type: new(pb.MessageType_MsgApp)},
		{Type: new(pb.MessageType_MsgVoteResp)}, {Type: new(pb.MessageType_MsgHeartbeat)},
	})
	if len(v.m) != 2 || len(d.m) != 2 || v.m[0].GetType() != pb.MessageType_MsgPreVote || d.m[1].GetType() != pb.MessageType_MsgHeartbeat {
		t.Fatalf("vote %v data %v", v.m, d.m)
	}
}

type recorder struct{ m []*pb.Message }

func (r *recorder) Send(ms []*pb.Message) { r.m = append(r.m, ms...) }
