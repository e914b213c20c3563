package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventstored/eventstored/node/config"
	"github.com/eventstored/eventstored/store"
	"github.com/eventstored/eventstored/store/vfs"
)

// raftNode is one node of the replication tests: real loopback sockets,
// its database on a crash-tracking in-memory filesystem, so a crash clone
// stands for kill -9 plus power cut.
type raftNode struct {
	c     *clusterNode
	fs    *vfs.MemFS
	extra []string // more options for the next start
	log   *slog.Logger
}

func (r *raftNode) start(t *testing.T, seeds []string, log *slog.Logger) {
	t.Helper()
	c := r.c
	args := []string{"--db", "/db", "--tcp-event-loops", "1", "--cluster-size", "3",
		"--int-ip", c.ip, "--ext-ip", c.ip,
		"--int-http-port", strconv.Itoa(c.intHTTP), "--ext-http-port", strconv.Itoa(c.extHTTP),
		"--int-tcp-port", strconv.Itoa(c.intTCP), "--ext-tcp-port", strconv.Itoa(c.extTCP),
		"--discover-via-dns=false", "--gossip-seed", strings.Join(seeds, ","),
	}
	o, err := config.Loader{Args: append(args, r.extra...)}.Load()
	if err != nil {
		t.Fatal(err)
	}
	if r.log != nil {
		log = r.log
	}
	n, err := New(o, WithLogger(log), WithAuthHashIterations(1), WithClusterID("raft"), WithStoreFS(r.fs))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	c.n = n
	t.Cleanup(func() { r.stop() })
}

func (r *raftNode) stop() {
	if r.c.n == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.c.n.Stop(ctx)
	r.c.n = nil
}

// crash keeps what a power cut now would leave of the node's files and
// stops the process (its later writes go to the discarded files).
func (r *raftNode) crash() {
	clone := r.fs.CrashClone()
	r.stop()
	r.fs = clone
}

type ackedEvent struct {
	stream string
	number int64
	id     [16]byte
	pos    store.Position
}

func writeEvents(ctx context.Context, db *store.DB, stream string, k, count int) ([]ackedEvent, store.OpResult) {
	op := &store.Op{Kind: store.OpWrite, Stream: stream, ExpectedVersion: store.ExpectedVersionAny}
	for e := range count {
		var id [16]byte
		copy(id[:], fmt.Sprintf("%s/%d/%d", stream, k, e))
		op.Events = append(op.Events, store.NewEvent{ID: id, Type: "t", Data: []byte(fmt.Sprintf(`{"k":%d,"e":%d}`, k, e)), IsJSON: true})
	}
	if err := db.Do(ctx, op); err != nil {
		return nil, store.OpResult{Err: err}
	}
	if op.Result.Err != nil || op.Result.Status != store.OpSuccess {
		return nil, op.Result
	}
	var out []ackedEvent
	for e := range count {
		out = append(out, ackedEvent{stream: stream, number: op.Result.FirstEventNumber + int64(e), id: op.Events[e].ID})
	}
	return out, op.Result
}

// masterOf returns the node in state Master (nil if none or several).
func masterOf(nodes []*raftNode) *raftNode {
	var m *raftNode
	for _, r := range nodes {
		if r.c.n != nil && r.c.n.State() == StateMaster && r.c.n.db.Leading() {
			if m != nil {
				return nil
			}
			m = r
		}
	}
	return m
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() (bool, string)) {
	t.Helper()
	start := time.Now()
	for {
		done, why := ok()
		if done {
			return
		}
		if time.Since(start) > d {
			t.Fatalf("%s not within %v: %s", what, d, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// everywhere checks that every running node serves every acknowledged
// event, at the same position on every node.
func everywhere(nodes []*raftNode, acked []ackedEvent) (bool, string) {
	for i := range acked {
		a := &acked[i]
		a.pos = store.Position{Commit: -1, Prepare: -1}
		for _, r := range nodes {
			if r.c.n == nil {
				continue
			}
			rd := r.c.n.db.NewReader()
			st, ev := rd.ReadEvent(a.stream, a.number, false)
			if st != store.ReadSuccess || ev.Event.ID != a.id {
				return false, fmt.Sprintf("%s: event %s@%d: status %v", r.c.ip, a.stream, a.number, st)
			}
			if a.pos.Commit < 0 {
				a.pos = ev.Event.Pos
			} else if ev.Event.Pos != a.pos {
				return false, fmt.Sprintf("%s: event %s@%d at %v, elsewhere at %v", r.c.ip, a.stream, a.number, ev.Event.Pos, a.pos)
			}
		}
	}
	return true, ""
}

// TestClusterReplicatesThroughRaft: three nodes on loopback with their
// logs replicated by consensus. Writes on the master are acknowledged only
// once a majority has them (with both slaves gone none is); every
// acknowledged event is readable on all three nodes at the same position;
// a slave stopped while writes go on catches up when it comes back; a
// master killed (crash clone: only what it had synced survives) loses
// nothing acknowledged and rejoins under the new master.
func TestClusterReplicatesThroughRaft(t *testing.T) {
	base := NodeGoroutines()
	var nodes []*raftNode
	var seeds []string
	for i := 1; i <= 3; i++ {
		c := newClusterNode(i)
		c.ports(t)
		nodes = append(nodes, &raftNode{c: c, fs: vfs.NewMem()})
		seeds = append(seeds, c.intGossipSeed())
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, r := range nodes {
		r.start(t, seeds, log)
	}
	waitFor(t, "a master", 20*time.Second, func() (bool, string) { return masterOf(nodes) != nil, "no master" })

	var mu sync.Mutex
	var acked []ackedEvent
	write := func(m *raftNode, tag string, writers, each int) {
		var wg sync.WaitGroup
		for g := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range each {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					evs, res := writeEvents(ctx, m.c.n.db, fmt.Sprintf("%s-%d", tag, g), k, 1+k%3)
					cancel()
					if res.Err != nil {
						t.Errorf("write %s-%d/%d: %v", tag, g, k, res.Err)
						return
					}
					mu.Lock()
					acked = append(acked, evs...)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	m := masterOf(nodes)
	write(m, "a", 8, 40)
	if t.Failed() {
		t.FailNow()
	}
	waitFor(t, "every acknowledged event on every node", 10*time.Second, func() (bool, string) { return everywhere(nodes, acked) })

	// A slave away while writes go on catches up when it returns.
	var slave *raftNode
	for _, r := range nodes {
		if r != m {
			slave = r
			break
		}
	}
	slave.stop()
	write(m, "b", 4, 30)
	slave.start(t, seeds, log)
	waitFor(t, "the returning slave caught up", 15*time.Second, func() (bool, string) { return everywhere(nodes, acked) })

	// Without a majority nothing is acknowledged.
	var others []*raftNode
	for _, r := range nodes {
		if r != m {
			others = append(others, r)
			r.stop()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_, res := writeEvents(ctx, m.c.n.db, "lonely", 0, 1)
	cancel()
	if res.Err == nil {
		t.Fatalf("a write was acknowledged by a master without a majority: %+v", res)
	}
	t.Logf("write without a majority: %v", res.Err)
	for _, r := range others {
		r.start(t, seeds, log)
	}
	waitFor(t, "a master after the slaves returned", 20*time.Second, func() (bool, string) { return masterOf(nodes) != nil, "no master" })

	// Kill the master while writes are in flight: nothing acknowledged is
	// lost, a new master takes over, the old one rejoins.
	m = masterOf(nodes)
	var wg sync.WaitGroup
	stopWriting := make(chan struct{})
	wg.Add(1)
	mdb := m.c.n.db // NB: the store is safe from any goroutine; after the kill Do fails
	go func() {
		defer wg.Done()
		for k := 0; ; k++ {
			select {
			case <-stopWriting:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			evs, res := writeEvents(ctx, mdb, "c", k, 2)
			cancel()
			if res.Err == nil {
				mu.Lock()
				acked = append(acked, evs...)
				mu.Unlock()
			}
		}
	}()
	time.Sleep(300 * time.Millisecond)
	old := m
	mu.Lock()
	old.crash()
	mu.Unlock()
	close(stopWriting)
	wg.Wait()
	waitFor(t, "a new master", 10*time.Second, func() (bool, string) {
		nm := masterOf(nodes)
		return nm != nil && nm != old, "no new master"
	})
	write(masterOf(nodes), "d", 4, 10)
	old.start(t, seeds, log)
	waitFor(t, "every acknowledged event on every node after the kill", 20*time.Second, func() (bool, string) { return everywhere(nodes, acked) })
	t.Logf("%d acknowledged events on all three nodes at the same positions", len(acked))

	for _, r := range nodes {
		r.stop()
	}
	checkNoGoroutineLeak(t, base)
}

// TestClusterRefusesChunkSizeMismatch: a --mem-db node (32 MiB chunks)
// and a disk node (256 MiB chunks) with the same --cluster-id would write
// the same entries at different log positions; they refuse each other's
// gossip, naming both identities, and never see each other alive.
func TestClusterRefusesChunkSizeMismatch(t *testing.T) {
	a, b := newClusterNode(1), newClusterNode(2)
	a.ports(t)
	b.ports(t)
	seeds := []string{a.intGossipSeed(), b.intGossipSeed()}
	sink := &logSink{}
	log := slog.New(slog.NewTextHandler(sink, nil))
	a.startWith(t, 3, seeds, "same", log, nil)
	// startWith runs --mem-db; b gets a directory on disk instead.
	args := []string{"--db", t.TempDir(), "--tcp-event-loops", "1", "--cluster-size", "3",
		"--int-ip", b.ip, "--ext-ip", b.ip,
		"--int-http-port", strconv.Itoa(b.intHTTP), "--ext-http-port", strconv.Itoa(b.extHTTP),
		"--int-tcp-port", strconv.Itoa(b.intTCP), "--ext-tcp-port", strconv.Itoa(b.extTCP),
		"--discover-via-dns=false", "--gossip-seed", strings.Join(seeds, ","), "--skip-db-verify"}
	o, err := config.Loader{Args: args}.Load()
	if err != nil {
		t.Fatal(err)
	}
	nb, err := New(o, WithLogger(log), WithAuthHashIterations(1), WithClusterID("same"))
	if err != nil {
		t.Fatal(err)
	}
	if err := nb.Start(); err != nil {
		t.Fatal(err)
	}
	b.n = nb
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		nb.Stop(ctx)
	}()
	waitFor(t, "the refusal logged", 10*time.Second, func() (bool, string) {
		s := sink.String()
		return strings.Contains(s, "gossip from another cluster refused") &&
			strings.Contains(s, "same/chunk=33554432") && strings.Contains(s, "same/chunk=268435456"), "not logged"
	})
	for _, c := range []*clusterNode{a, b} {
		ci, err := c.n.Gossip()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ci.Members {
			if m.IsAlive && m.InternalHTTP.String() != c.intGossipSeed() && !m.InstanceID.IsZero() {
				t.Fatalf("%s sees %s alive across a chunk size mismatch", c.ip, m.InternalHTTP)
			}
		}
	}
}

// TestClusterMaxTruncationRefusal: a master left alone appends a write
// that never commits; the two others elect a new master and commit
// other entries over that index. The old master, restarted with
// --max-truncation 0, would have to cut its uncommitted suffix: it
// refuses, says so naming the option, and shuts down with its log
// untouched. Restarted with the default limit it cuts the suffix and
// catches up.
func TestClusterMaxTruncationRefusal(t *testing.T) {
	var nodes []*raftNode
	var seeds []string
	for i := 1; i <= 3; i++ {
		c := newClusterNode(i)
		c.ports(t)
		nodes = append(nodes, &raftNode{c: c, fs: vfs.NewMem()})
		seeds = append(seeds, c.intGossipSeed())
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, r := range nodes {
		r.start(t, seeds, quiet)
	}
	waitFor(t, "a master", 20*time.Second, func() (bool, string) { return masterOf(nodes) != nil, "no master" })
	m := masterOf(nodes)
	var acked []ackedEvent
	for k := range 20 {
		evs, res := writeEvents(context.Background(), m.c.n.db, "before", k, 2)
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		acked = append(acked, evs...)
	}
	var others []*raftNode
	for _, r := range nodes {
		if r != m {
			others = append(others, r)
			r.stop()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_, res := writeEvents(ctx, m.c.n.db, "alone", 0, 50)
	cancel()
	if res.Err == nil {
		t.Fatal("a write without a majority was acknowledged")
	}
	m.stop()
	for _, r := range others {
		r.start(t, seeds, quiet)
	}
	waitFor(t, "a master among the two", 20*time.Second, func() (bool, string) { return masterOf(others) != nil, "no master" })
	nm := masterOf(others)
	for k := range 20 {
		evs, res := writeEvents(context.Background(), nm.c.n.db, "after", k, 2)
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		acked = append(acked, evs...)
	}
	sink := &logSink{}
	m.extra, m.log = []string{"--max-truncation", "0"}, slog.New(slog.NewTextHandler(sink, nil))
	m.start(t, seeds, quiet)
	select {
	case <-m.c.n.ShutdownRequested():
	case <-time.After(20 * time.Second):
		t.Fatal("the old master did not refuse to truncate")
	}
	if s := sink.String(); !strings.Contains(s, "--max-truncation") || !strings.Contains(s, "consensus stopped") {
		t.Fatalf("the refusal does not name the option:\n%s", s)
	}
	if st := m.c.n.State(); st != StateShuttingDown {
		t.Fatalf("state %v after the refusal, want ShuttingDown", st)
	}
	m.stop()
	m.extra, m.log = nil, nil
	m.start(t, seeds, quiet)
	waitFor(t, "every acknowledged event on every node", 20*time.Second, func() (bool, string) { return everywhere(nodes, acked) })
}
