package gossip

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/eventstored/eventstored/cluster"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var t0 = time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)

func ep(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// node builds the entry of a node on 127.0.0.<i> with the default ports.
func node(i int) Member {
	ip := fmt.Sprintf("127.0.0.%d", i)
	return Member{InstanceID: GUID{byte(i), 1}, IsAlive: true, State: cluster.StateUnknown,
		InternalTCP: ep(ip + ":1112"), ExternalTCP: ep(ip + ":1113"), InternalHTTP: ep(ip + ":2112"),
		ExternalHTTP: ep(ip + ":2113"), Position: NoPosition}
}

func TestGUIDTextIsDotNetLayout(t *testing.T) {
	g, err := ParseGUID("0f6a1c52-7d4b-4e57-9a3e-2b8c4d1e7f90")
	if err != nil {
		t.Fatal(err)
	}
	// .NET stores the first three groups little-endian.
	if g[0] != 0x52 || g[3] != 0x0f || g[4] != 0x4b || g[6] != 0x57 || g[8] != 0x9a || g[15] != 0x90 {
		t.Fatalf("layout %x", g)
	}
	if g.String() != "0f6a1c52-7d4b-4e57-9a3e-2b8c4d1e7f90" {
		t.Fatal(g.String())
	}
	if _, err := ParseGUID("xyz"); err == nil {
		t.Fatal("bad GUID accepted")
	}
}

func TestJSONShapeMatchesSpec(t *testing.T) {
	m := node(3)
	m.InstanceID, _ = ParseGUID("0f6a1c52-7d4b-4e57-9a3e-2b8c4d1e7f90")
	m.TimeStamp = time.Date(2018, 3, 14, 10, 21, 3, 123456700, time.UTC)
	m.State = cluster.StateSlave
	m.Position = Position{4718, 5059, 5059, 4877, 2, GUID{}}
	m.EpochID, _ = ParseGUID("8c1e0d43-4c3a-4a5e-9d6e-0d1b7c8f9a01")
	b := ClusterInfo{Members: []Member{m}, Server: ep("127.0.0.1:2112")}.Encode()
	want := `{
  "members": [
    {
      "instanceId": "0f6a1c52-7d4b-4e57-9a3e-2b8c4d1e7f90",
      "timeStamp": "2018-03-14T10:21:03.1234567Z",
      "state": "Slave",
      "isAlive": true,
      "internalTcpIp": "127.0.0.3",
      "internalTcpPort": 1112,
      "internalSecureTcpPort": 0,
      "externalTcpIp": "127.0.0.3",
      "externalTcpPort": 1113,
      "externalSecureTcpPort": 0,
      "internalHttpIp": "127.0.0.3",
      "internalHttpPort": 2112,
      "externalHttpIp": "127.0.0.3",
      "externalHttpPort": 2113,
      "lastCommitPosition": 4718,
      "writerCheckpoint": 5059,
      "chaserCheckpoint": 5059,
      "epochPosition": 4877,
      "epochNumber": 2,
      "epochId": "8c1e0d43-4c3a-4a5e-9d6e-0d1b7c8f9a01",
      "nodePriority": 0
    }
  ],
  "serverIp": "127.0.0.1",
  "serverPort": 2112
}`
	if string(b) != want {
		t.Fatalf("got\n%s\nwant\n%s", b, want)
	}
	back, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.Server != ep("127.0.0.1:2112") || len(back.Members) != 1 || back.Members[0] != m {
		t.Fatalf("round trip: %+v", back)
	}
}

func TestJSONTimeTrimsZerosAndOrdersMembersDescending(t *testing.T) {
	a, b, c := node(1), node(2), node(10)
	a.TimeStamp = time.Date(2017, 1, 5, 2, 57, 55, 668947000, time.UTC)
	js := ClusterInfo{Members: []Member{a, c, b}, Server: a.InternalHTTP}.Encode()
	s := string(js)
	if !strings.Contains(s, `"2017-01-05T02:57:55.668947Z"`) {
		t.Fatalf("time: %s", s)
	}
	// Ordinal string order descending: "127.0.0.2" > "127.0.0.10" > "127.0.0.1".
	i2, i10, i1 := strings.Index(s, `"internalHttpIp": "127.0.0.2"`), strings.Index(s, `"internalHttpIp": "127.0.0.10"`), strings.Index(s, `"internalHttpIp": "127.0.0.1"`)
	if !(i2 < i10 && i10 < i1) {
		t.Fatalf("order %d %d %d", i2, i10, i1)
	}
}

func TestDecodeLenientAndStrict(t *testing.T) {
	ok := `{"members":[{"instanceId":"00000000-0000-0000-0000-000000000000","timeStamp":"2018-03-14T10:21:03Z","state":"master","isAlive":true,
	"internalTcpIp":"10.0.0.1","internalHttpIp":"10.0.0.1","internalHttpPort":2112,"externalTcpIp":"10.0.0.1","externalHttpIp":"10.0.0.1","extra":1}],
	"serverIp":"10.0.0.1","serverPort":2112,"whatever":[1,2]}`
	ci, err := Decode([]byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if ci.Members[0].State != cluster.StateMaster || ci.Members[0].InternalTCP.Port() != 0 {
		t.Fatalf("%+v", ci.Members[0])
	}
	bad := map[string]string{
		"not json":     `{"members":[`,
		"host name ip": `{"members":[],"serverIp":"node1","serverPort":2112}`,
		"bad port":     `{"members":[],"serverIp":"10.0.0.1","serverPort":70000}`,
		"bad state":    strings.Replace(ok, `"master"`, `"Boss"`, 1),
		"member ip":    strings.Replace(ok, `"internalHttpIp":"10.0.0.1"`, `"internalHttpIp":"x"`, 1),
	}
	for name, body := range bad {
		if _, err := Decode([]byte(body)); !errors.Is(err, ErrBadMessage) {
			t.Errorf("%s: err %v", name, err)
		}
	}
	if _, err := Decode(make([]byte, MaxMessageBytes+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("size limit: %v", err)
	}
	var sb strings.Builder
	sb.WriteString(`{"members":[`)
	for i := 0; i <= MaxMembers; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"state":"Slave","internalTcpIp":"10.0.0.1","externalTcpIp":"10.0.0.1","internalHttpIp":"10.0.0.1","externalHttpIp":"10.0.0.1"}`)
	}
	sb.WriteString(`],"serverIp":"10.0.0.1","serverPort":1}`)
	if _, err := Decode([]byte(sb.String())); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("member limit: %v", err)
	}
}

func newCore(i int, seeds ...netip.AddrPort) *Core {
	return New(Config{Self: node(i), Seeds: seeds, ClusterID: "c1", Rand: rand.New(rand.NewPCG(uint64(i), 7)), Log: quiet}, t0)
}

func find(ci ClusterInfo, http netip.AddrPort) (Member, bool) {
	for _, m := range ci.Members {
		if m.InternalHTTP == http {
			return m, true
		}
	}
	return Member{}, false
}

func TestSeedsBecomeManagerPlaceholdersAndAreReplaced(t *testing.T) {
	c := newCore(1, ep("127.0.0.1:2112"), ep("127.0.0.2:2112"))
	v := c.View(t0)
	if len(v.Members) != 2 {
		t.Fatalf("own endpoint not skipped: %d members", len(v.Members))
	}
	p, _ := find(v, ep("127.0.0.2:2112"))
	if p.State != cluster.StateManager || !p.InstanceID.IsZero() || p.EpochNumber != -1 || p.ExternalTCP != ep("127.0.0.2:2112") {
		t.Fatalf("placeholder %+v", p)
	}
	n2 := node(2)
	n2.TimeStamp = t0
	if _, changed, err := c.Received(t0, "c1", ClusterInfo{Members: []Member{n2}, Server: n2.InternalHTTP}); err != nil || !changed {
		t.Fatal(changed, err)
	}
	got, _ := find(c.View(t0), n2.InternalHTTP)
	if got.InstanceID != n2.InstanceID || got.State != cluster.StateUnknown {
		t.Fatalf("placeholder not replaced: %+v", got)
	}
}

func TestMergeRules(t *testing.T) {
	c := newCore(1)
	self := node(1)
	n2, n3 := node(2), node(3)
	n2.TimeStamp, n3.TimeStamp = t0, t0
	n3.EpochNumber, n3.WriterCheckpoint = 1, 100
	// Rule 1: a report about ourselves is ignored.
	liar := self
	liar.State = cluster.StateShutdown
	c.Received(t0, "", ClusterInfo{Members: []Member{liar, n2, n3}, Server: n2.InternalHTTP})
	if s := c.Self(t0); s.State != cluster.StateUnknown {
		t.Fatal("rule 1 broken")
	}
	// Rule 1 also covers an entry of a former process of ours (another
	// instance id) that lists our internal HTTP endpoint among its own.
	ghost := node(7)
	ghost.ExternalHTTP = self.InternalHTTP
	c.Received(t0, "", ClusterInfo{Members: []Member{ghost}, Server: n2.InternalHTTP})
	if _, ok := find(c.View(t0), ghost.InternalHTTP); ok {
		t.Fatal("an entry naming our internal HTTP endpoint was merged")
	}
	// Rule 3: stale third-party info about n3 (lower epoch) is ignored...
	stale := n3
	stale.EpochNumber, stale.State = 0, cluster.StateShutdown
	c.Received(t0.Add(time.Second), "", ClusterInfo{Members: []Member{stale}, Server: n2.InternalHTTP})
	if m, _ := find(c.View(t0), n3.InternalHTTP); m.State != cluster.StateUnknown {
		t.Fatal("stale third-party info taken")
	}
	// ...and newer info (same epoch, larger writer checkpoint) is taken.
	newer := n3
	newer.WriterCheckpoint, newer.State = 200, cluster.StateSlave
	c.Received(t0.Add(time.Second), "", ClusterInfo{Members: []Member{newer}, Server: n2.InternalHTTP})
	if m, _ := find(c.View(t0), n3.InternalHTTP); m.State != cluster.StateSlave {
		t.Fatal("newer third-party info not taken")
	}
	// Rule 2: the peer's own entry is taken as is, even if "older" (its
	// clock set back by more than selfReorderMax).
	self2 := n2
	self2.TimeStamp, self2.State = t0.Add(-time.Hour), cluster.StateCatchingUp
	c.Received(t0, "", ClusterInfo{Members: []Member{self2}, Server: n2.InternalHTTP})
	if m, _ := find(c.View(t0), n2.InternalHTTP); m.State != cluster.StateCatchingUp {
		t.Fatal("rule 2 broken")
	}
	// Followed master: third-party reports do not change its liveness.
	n3m := newer
	n3m.State = cluster.StateMaster
	c.Received(t0, "", ClusterInfo{Members: []Member{n3m}, Server: n3.InternalHTTP})
	c.SetFollowedMaster(n3.InstanceID)
	dead := n3m
	dead.IsAlive, dead.WriterCheckpoint, dead.State = false, 300, cluster.StateUnknown
	c.Received(t0, "", ClusterInfo{Members: []Member{dead}, Server: n2.InternalHTTP})
	if m, _ := find(c.View(t0), n3.InternalHTTP); !m.IsAlive || m.State != cluster.StateMaster || m.WriterCheckpoint != 300 {
		t.Fatalf("followed master overridden: %+v", m)
	}
}

func TestLivenessAndRemoval(t *testing.T) {
	c := newCore(1)
	n2, n3 := node(2), node(3)
	c.Received(t0, "", ClusterInfo{Members: []Member{n2, n3}, Server: n2.InternalHTTP})
	if !c.SendFailed(t0, n2.InternalHTTP) {
		t.Fatal("send failure did not mark dead")
	}
	if m, _ := find(c.View(t0), n2.InternalHTTP); m.IsAlive {
		t.Fatal("still alive")
	}
	// The followed master is not marked dead by a gossip failure...
	c.SetFollowedMaster(n3.InstanceID)
	if c.SendFailed(t0, n3.InternalHTTP) {
		t.Fatal("followed master marked dead by gossip")
	}
	// ...but is by the replication connection.
	if !c.ConnectionLost(t0, n3.InternalTCP) {
		t.Fatal("connection loss ignored")
	}
	if !c.ConnectionEstablished(t0, n3.InternalTCP) {
		t.Fatal("connection ignored")
	}
	// A message from the node itself revives it.
	n2.TimeStamp = t0.Add(time.Minute)
	c.Received(t0.Add(time.Minute), "", ClusterInfo{Members: []Member{n2}, Server: n2.InternalHTTP})
	if m, _ := find(c.View(t0), n2.InternalHTTP); !m.IsAlive {
		t.Fatal("not revived")
	}
	// Dead for more than 30 minutes: removed.
	c.SendFailed(t0.Add(time.Minute), n2.InternalHTTP)
	c.Round(t0.Add(time.Minute + DeadMemberRemoval - time.Second))
	if _, ok := find(c.View(t0), n2.InternalHTTP); !ok {
		t.Fatal("removed too early")
	}
	c.Round(t0.Add(time.Minute + DeadMemberRemoval + time.Second))
	if _, ok := find(c.View(t0), n2.InternalHTTP); ok {
		t.Fatal("dead member not removed")
	}
}

func TestForeignClusterRefused(t *testing.T) {
	c := newCore(1)
	n2 := node(2)
	if _, _, err := c.Received(t0, "other", ClusterInfo{Members: []Member{n2}, Server: n2.InternalHTTP}); !errors.Is(err, ErrForeignCluster) {
		t.Fatalf("err %v", err)
	}
	if len(c.View(t0).Members) != 1 {
		t.Fatal("foreign view merged")
	}
	c2 := newCore(1, n2.InternalHTTP)
	if _, err := c2.ReplyReceived(t0, n2.InternalHTTP, "other", ClusterInfo{Members: []Member{n2}, Server: n2.InternalHTTP}); !errors.Is(err, ErrForeignCluster) {
		t.Fatalf("err %v", err)
	}
	if m, _ := find(c2.View(t0), n2.InternalHTTP); m.IsAlive || m.State != cluster.StateManager {
		t.Fatalf("foreign reply merged: %+v", m)
	}
}

func TestRoundTimingAndTargets(t *testing.T) {
	c := New(Config{Self: node(1), Interval: time.Second, Rand: rand.New(rand.NewPCG(1, 2)), Log: quiet}, t0)
	if _, _, next, ok := c.Round(t0); ok || next != FastInterval {
		t.Fatalf("alone: ok=%v next=%v", ok, next)
	}
	c = newCore(1, ep("127.0.0.2:2112"), ep("127.0.0.3:2112"))
	seen := map[netip.AddrPort]int{}
	found := 0
	for i := range 200 {
		tg, msg, next, ok := c.Round(t0)
		if ok {
			found++
			seen[tg]++
			if msg.Server != node(1).InternalHTTP || len(msg.Members) != 3 {
				t.Fatalf("message %+v", msg)
			}
			if tg == node(1).InternalHTTP {
				t.Fatal("picked itself")
			}
		}
		want := time.Second
		if found <= FastRounds && (ok || found < FastRounds) {
			want = FastInterval
		}
		if next != want {
			t.Fatalf("round %d (found %d): next %v want %v", i, found, next, want)
		}
	}
	if seen[ep("127.0.0.2:2112")] < 50 || seen[ep("127.0.0.3:2112")] < 50 {
		t.Fatalf("targets not uniform: %v", seen)
	}
}

// TestConvergence runs five cores over a lossless in-memory exchange with
// only one seed each (a chain): every view must hold all five, alive.
func TestConvergence(t *testing.T) {
	const n = 5
	cores := make([]*Core, n+1)
	for i := 1; i <= n; i++ {
		seed := node(i%n + 1).InternalHTTP
		cores[i] = newCore(i, seed)
		cores[i].SetSelf(cluster.StateUnknown, NoPosition)
	}
	byHTTP := map[netip.AddrPort]*Core{}
	for i := 1; i <= n; i++ {
		byHTTP[node(i).InternalHTTP] = cores[i]
	}
	now := t0
	for r := 0; r < 30; r++ {
		now = now.Add(FastInterval)
		for i := 1; i <= n; i++ {
			tg, msg, _, ok := cores[i].Round(now)
			if !ok {
				continue
			}
			reply, _, err := byHTTP[tg].Received(now, "c1", msg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cores[i].ReplyReceived(now, tg, "c1", reply); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 1; i <= n; i++ {
		v := cores[i].View(now)
		if len(v.Members) != n {
			t.Fatalf("node %d sees %d members", i, len(v.Members))
		}
		for _, m := range v.Members {
			if !m.IsAlive || m.State == cluster.StateManager {
				t.Fatalf("node %d: %+v", i, m)
			}
		}
		if cores[i].AliveDatabaseNodes() != n {
			t.Fatal("alive count")
		}
	}
}

func TestViewSizeBounded(t *testing.T) {
	c := newCore(1)
	var ms []Member
	for i := 0; i < MaxMembers+20; i++ {
		m := node(2)
		m.InternalHTTP = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 2112)
		ms = append(ms, m)
	}
	c.Received(t0, "", ClusterInfo{Members: ms, Server: ep("10.9.9.9:2112")})
	if n := len(c.View(t0).Members); n != MaxMembers {
		t.Fatalf("view grew to %d", n)
	}
}

// TestConvergenceAfterLoss runs seven cores for many seeds over a
// simulated exchange that first loses 30% of messages and replies (failed
// sends mark targets dead), then heals: within 60 fast rounds of healing
// every view must again hold all seven, alive, with each node's latest
// state.
func TestConvergenceAfterLoss(t *testing.T) {
	const n = 7
	for seed := uint64(1); seed <= 30; seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		cores := make([]*Core, n+1)
		byHTTP := map[netip.AddrPort]*Core{}
		for i := 1; i <= n; i++ {
			cores[i] = New(Config{Self: node(i), Seeds: []netip.AddrPort{node(i%n + 1).InternalHTTP}, ClusterID: "c",
				Rand: rand.New(rand.NewPCG(seed, uint64(i))), Log: quiet}, t0)
			byHTTP[node(i).InternalHTTP] = cores[i]
		}
		now := t0
		round := func(loss float64) {
			now = now.Add(FastInterval)
			for i := 1; i <= n; i++ {
				tg, msg, _, ok := cores[i].Round(now)
				if !ok {
					continue
				}
				if rng.Float64() < loss {
					cores[i].SendFailed(now, tg)
					continue
				}
				reply, _, err := byHTTP[tg].Received(now, "c", msg)
				if err != nil {
					t.Fatal(err)
				}
				if rng.Float64() < loss {
					cores[i].SendFailed(now, tg)
					continue
				}
				cores[i].ReplyReceived(now, tg, "c", reply)
			}
		}
		for r := 0; r < 100; r++ {
			round(0.3)
		}
		// Every node changes state once more during the lossy phase's end.
		for i := 1; i <= n; i++ {
			cores[i].SetSelf(cluster.StateSlave, Position{1, int64(100 + i), 0, 0, 1, GUID{}})
		}
		converged := false
		for r := 0; r < 60 && !converged; r++ {
			round(0)
			converged = true
			for i := 1; i <= n && converged; i++ {
				v := cores[i].View(now)
				if len(v.Members) != n {
					converged = false
					break
				}
				for _, m := range v.Members {
					if !m.IsAlive || m.State != cluster.StateSlave || m.WriterCheckpoint < 100 {
						converged = false
					}
				}
			}
		}
		if !converged {
			t.Fatalf("seed %d: views did not converge within 60 rounds after healing", seed)
		}
	}
}

// TestOlderSelfReportIgnored: two messages of one peer about itself are
// handled out of order (a node pushes its view on every state change, so
// the POST of its CatchingUp may land after the one of its Slave): the
// older does not undo the newer. A restarted peer (another instance id)
// is taken whatever its clock says (and so is a clock set back by more
// than selfReorderMax: TestMergeRules).
func TestOlderSelfReportIgnored(t *testing.T) {
	c := newCore(1)
	catching, slave := node(2), node(2)
	catching.State, catching.TimeStamp = cluster.StateCatchingUp, t0
	slave.State, slave.TimeStamp = cluster.StateSlave, t0.Add(20*time.Millisecond)
	c.Received(t0.Add(25*time.Millisecond), "", ClusterInfo{Members: []Member{slave}, Server: slave.InternalHTTP})
	c.Received(t0.Add(26*time.Millisecond), "", ClusterInfo{Members: []Member{catching}, Server: catching.InternalHTTP})
	if m, _ := find(c.View(t0), slave.InternalHTTP); m.State != cluster.StateSlave {
		t.Fatalf("the peer's older report undid its newer one: %v", m.State)
	}
	// Its reply to our POST counts the same way.
	if _, err := c.ReplyReceived(t0.Add(27*time.Millisecond), catching.InternalHTTP, "", ClusterInfo{Members: []Member{catching}}); err != nil {
		t.Fatal(err)
	}
	if m, _ := find(c.View(t0), slave.InternalHTTP); m.State != cluster.StateSlave {
		t.Fatalf("an older reply undid the newer report: %v", m.State)
	}
	restarted := node(2)
	restarted.InstanceID[0] ^= 0xff
	restarted.State, restarted.TimeStamp = cluster.StateUnknown, t0
	c.Received(t0.Add(30*time.Millisecond), "", ClusterInfo{Members: []Member{restarted}, Server: restarted.InternalHTTP})
	if m, _ := find(c.View(t0), slave.InternalHTTP); m.State != cluster.StateUnknown || m.InstanceID != restarted.InstanceID {
		t.Fatalf("a restarted peer's report was ignored: %+v", m)
	}
}
