package gossip

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/eventstored/eventstored/cluster"
)

// Timing constants of spec §3.2 and §3.6.
const (
	// FastRounds rounds (those that found a target) run FastInterval
	// apart so that a full mesh forms within about 2 s of start-up.
	FastRounds   = 20
	FastInterval = 100 * time.Millisecond
	// DeadMemberRemoval: a dead member whose entry is older than this
	// leaves the view (fixed in 4.0.3, not an option).
	DeadMemberRemoval = 30 * time.Minute
	// maxDraws: a round draws up to 5 times to avoid picking itself.
	maxDraws = 5
)

// ErrForeignCluster: the sender's cluster identity differs from ours.
// The message is refused and nothing of it is merged, so a mistyped seed
// that points at another cluster never joins the two.
var ErrForeignCluster = errors.New("gossip: message from another cluster")

// Config configures a Core.
type Config struct {
	// Self is this node's entry: instance id, the six advertised endpoints
	// and priority. State and position are set later with SetSelf.
	Self Member
	// ClusterID is this cluster's identity; messages carrying another
	// non-empty identity are refused. Empty disables the check.
	ClusterID string
	// Seeds are peers' internal HTTP endpoints (from --gossip-seed or DNS).
	Seeds []netip.AddrPort
	// Interval between rounds after the fast start (GossipIntervalMs).
	Interval time.Duration
	// AllowedDifference only produces a log line (spec §3.6).
	AllowedDifference time.Duration
	// Rand picks targets; a seeded source makes rounds reproducible.
	Rand *rand.Rand
	Log  *slog.Logger
}

// Core is the gossip state machine of spec §3: a view of members keyed by
// internal HTTP endpoint, merge rules, liveness. It does no I/O and reads
// no clock: the driver passes the time into every call and carries the
// messages. Not safe for concurrent use; the driver owns it.
type Core struct {
	cfg        Config
	self       Member
	members    map[netip.AddrPort]*Member // excludes self
	followed   GUID                       // the master this node follows (§3.5 rule 3, §3.6)
	fastLeft   int
	skewLogged map[netip.AddrPort]time.Time
	// selfSeen is the newest entry each peer sent about itself (its
	// instance and its own clock's time stamp): Rule 2 ignores an older
	// one that arrives later (merge).
	selfSeen map[netip.AddrPort]selfStamp
	log      *slog.Logger
}

// New builds the core with one Manager placeholder per seed (spec §3.1);
// a seed equal to our own internal HTTP endpoint is skipped.
func New(cfg Config, now time.Time) *Core {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.AllowedDifference <= 0 {
		cfg.AllowedDifference = time.Minute
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(uint64(now.UnixNano()), 0x9e3779b97f4a7c15))
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	c := &Core{cfg: cfg, self: cfg.Self, members: map[netip.AddrPort]*Member{}, fastLeft: FastRounds,
		skewLogged: map[netip.AddrPort]time.Time{}, selfSeen: map[netip.AddrPort]selfStamp{}, log: cfg.Log}
	c.self.IsAlive = true
	c.self.TimeStamp = now
	for _, s := range cfg.Seeds {
		if s == c.self.InternalHTTP {
			continue
		}
		if len(c.members) >= MaxMembers {
			break
		}
		c.members[s] = &Member{TimeStamp: now, State: cluster.StateManager, IsAlive: true, InternalTCP: s,
			ExternalTCP: s, InternalHTTP: s, ExternalHTTP: s, Position: NoPosition}
	}
	return c
}

// SetSelf updates this node's own state and log position; the next round
// or view re-stamps the entry.
func (c *Core) SetSelf(state cluster.VNodeState, pos Position) {
	c.self.State, c.self.Position = state, pos
}

// SetFollowedMaster names the master this node follows (zero GUID: none).
// Gossip-send failures to it do not mark it dead and third-party reports
// do not override its liveness and state (§3.5 rule 3, §3.6).
func (c *Core) SetFollowedMaster(id GUID) { c.followed = id }

// Self returns this node's entry as of now.
func (c *Core) Self(now time.Time) Member {
	c.self.TimeStamp, c.self.IsAlive = now, true
	return c.self
}

// View returns this node's view (self included), ordered as gossip
// serializes it.
func (c *Core) View(now time.Time) ClusterInfo {
	ms := make([]Member, 0, len(c.members)+1)
	ms = append(ms, c.Self(now))
	for _, m := range c.members {
		ms = append(ms, *m)
	}
	sortMembers(ms)
	return ClusterInfo{Members: ms, Server: c.self.InternalHTTP}
}

// sortMembers orders by internal HTTP endpoint descending (spec §3.4).
func sortMembers(ms []Member) {
	slices.SortFunc(ms, func(a, b Member) int {
		switch {
		case endpointLess(b.InternalHTTP, a.InternalHTTP):
			return -1
		case endpointLess(a.InternalHTTP, b.InternalHTTP):
			return 1
		}
		return 0
	})
}

// Round runs one gossip round (spec §3.2): it picks a target uniformly
// among all members (up to 5 draws to avoid itself), and returns the
// message to POST there and the delay until the next round. ok is false
// when no target was found (the round is skipped).
func (c *Core) Round(now time.Time) (target netip.AddrPort, msg ClusterInfo, next time.Duration, ok bool) {
	c.purge(now)
	n := len(c.members) + 1
	keys := c.sortedKeys()
	for range maxDraws {
		i := c.cfg.Rand.IntN(n)
		if i == n-1 { // the last slot stands for this node
			continue
		}
		target, ok = keys[i], true
		break
	}
	next = c.cfg.Interval
	if ok && c.fastLeft > 0 {
		c.fastLeft--
		next = FastInterval
	} else if !ok && c.fastLeft > 0 {
		next = FastInterval
	}
	if !ok {
		return netip.AddrPort{}, ClusterInfo{}, next, false
	}
	return target, c.View(now), next, true
}

// BroadcastTargets returns every member believed alive (seed
// placeholders included), in endpoint order: the driver pushes this
// node's view to all of them at once when its own state changes (Nudge),
// instead of to one random member per round. Rounds alone spread a
// change slowly: a round picks uniformly among all members, dead ones
// included (spec §3.2), so after a master is killed a survivor's round
// reaches the other survivor only with probability 1/2 in a three-node
// cluster, and survivors disagreed on the new master for seconds.
func (c *Core) BroadcastTargets() []netip.AddrPort {
	keys := c.sortedKeys()
	out := keys[:0]
	for _, k := range keys {
		if c.members[k].IsAlive {
			out = append(out, k)
		}
	}
	return out
}

func (c *Core) sortedKeys() []netip.AddrPort {
	keys := make([]netip.AddrPort, 0, len(c.members))
	for k := range c.members {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b netip.AddrPort) int {
		if endpointLess(a, b) {
			return -1
		}
		if endpointLess(b, a) {
			return 1
		}
		return 0
	})
	return keys
}

// Received merges a view POSTed by a peer and returns our merged view as
// the reply (spec §3.2). clusterID is the sender's identity ("" = none
// sent). changed reports a change of the view.
func (c *Core) Received(now time.Time, clusterID string, info ClusterInfo) (reply ClusterInfo, changed bool, err error) {
	if err := c.checkCluster(clusterID, info.Server); err != nil {
		return ClusterInfo{}, false, err
	}
	changed = c.merge(now, info.Server, info.Members)
	return c.View(now), changed, nil
}

// ReplyReceived merges the reply of target to our POST; the target
// endpoint is the peer (spec §3.2).
func (c *Core) ReplyReceived(now time.Time, target netip.AddrPort, clusterID string, info ClusterInfo) (changed bool, err error) {
	if err := c.checkCluster(clusterID, target); err != nil {
		return c.markDead(now, target, "foreign cluster"), err
	}
	return c.merge(now, target, info.Members), nil
}

func (c *Core) checkCluster(id string, from netip.AddrPort) error {
	if c.cfg.ClusterID == "" || id == "" || id == c.cfg.ClusterID {
		return nil
	}
	return fmt.Errorf("%w: %s belongs to cluster %q, this node to %q", ErrForeignCluster, from, id, c.cfg.ClusterID)
}

// SendFailed handles a failed POST to target (spec §3.6): the target is
// marked dead, except the master this node follows, whose fate the
// replication connection decides.
func (c *Core) SendFailed(now time.Time, target netip.AddrPort) (changed bool) {
	if m := c.members[target]; m != nil && !c.followed.IsZero() && m.InstanceID == c.followed {
		c.log.Debug("gossip send to the master failed; its liveness is judged by the replication connection", "master", target)
		return false
	}
	return c.markDead(now, target, "Gossip send failed")
}

// ConnectionLost marks the member owning endpoint dead (replication TCP
// connection closed, spec §3.6).
func (c *Core) ConnectionLost(now time.Time, endpoint netip.AddrPort) (changed bool) {
	for k, m := range c.members {
		if m.hasEndpoint(endpoint) {
			return c.markDead(now, k, "TCP connection lost")
		}
	}
	return false
}

// ConnectionEstablished marks the member owning endpoint alive.
func (c *Core) ConnectionEstablished(now time.Time, endpoint netip.AddrPort) (changed bool) {
	for _, m := range c.members {
		if m.hasEndpoint(endpoint) && !m.IsAlive {
			m.IsAlive, m.TimeStamp = true, now
			return true
		}
	}
	return false
}

func (c *Core) markDead(now time.Time, key netip.AddrPort, why string) bool {
	m := c.members[key]
	if m == nil || !m.IsAlive {
		return false
	}
	m.IsAlive, m.TimeStamp = false, now
	c.log.Info(fmt.Sprintf("Looks like node [%s] is DEAD (%s).", key, why))
	return true
}

// merge applies the rules of spec §3.5 to the members peer sent.
func (c *Core) merge(now time.Time, peer netip.AddrPort, ms []Member) (changed bool) {
	for i := range ms {
		m := ms[i]
		// Rule 1: we know ourselves better.
		if (!m.InstanceID.IsZero() && m.InstanceID == c.self.InstanceID) || m.hasEndpoint(c.self.InternalHTTP) {
			continue
		}
		if !m.InternalHTTP.IsValid() {
			continue
		}
		cur := c.members[m.InternalHTTP]
		if cur == nil && len(c.members) >= MaxMembers-1 {
			c.log.Warn("gossip view is full; member ignored", "member", m.InternalHTTP, "max", MaxMembers)
			continue
		}
		if m.hasEndpoint(peer) {
			// Rule 2: the peer knows itself best — as of its newest
			// message. NB: a node pushes its view on every state change
			// (Driver.Nudge), so two POSTs of one peer can be in flight at
			// once and be handled in either order; the older one (a Slave
			// that was CatchingUp a few milliseconds before) must not undo
			// the newer until the next round, a second or more later.
			// Both stamps are the peer's own clock; a new instance (a
			// restart) starts afresh, and a stamp more than
			// selfReorderMax older is a clock set back, taken as is.
			if last, ok := c.selfSeen[m.InternalHTTP]; ok && last.id == m.InstanceID && m.TimeStamp.Before(last.ts) &&
				last.ts.Sub(m.TimeStamp) < selfReorderMax {
				continue
			}
			c.selfSeen[m.InternalHTTP] = selfStamp{m.InstanceID, m.TimeStamp}
			if d := now.Sub(m.TimeStamp); d > c.cfg.AllowedDifference || -d > c.cfg.AllowedDifference {
				if last, ok := c.skewLogged[peer]; !ok || now.Sub(last) >= time.Minute {
					c.skewLogged[peer] = now
					c.log.Error(fmt.Sprintf("Time difference between us and [%s] is too great! UTC now: %s, peer's time stamp: %s.",
						peer, now.UTC().Format(netTimeLayout), m.TimeStamp.UTC().Format(netTimeLayout)))
				}
			}
			changed = c.put(&m) || changed
			continue
		}
		// Rule 3: third-party information.
		if cur != nil && !m.moreUpToDate(cur) {
			continue
		}
		if cur != nil && !c.followed.IsZero() && cur.InstanceID == c.followed {
			m.IsAlive, m.State = cur.IsAlive, cur.State
		}
		changed = c.put(&m) || changed
	}
	c.purge(now)
	return changed
}

// selfReorderMax bounds how much older than the newest one a peer's
// report about itself may be and still be taken for a message that
// arrived out of order (ignored) rather than for the peer's clock set
// back (taken).
const selfReorderMax = 2 * time.Second

// selfStamp identifies a peer's message about itself.
type selfStamp struct {
	id GUID
	ts time.Time
}

// put stores m and reports whether anything but the timestamp changed.
func (c *Core) put(m *Member) bool {
	cur := c.members[m.InternalHTTP]
	if cur == nil {
		v := *m
		c.members[m.InternalHTTP] = &v
		return true
	}
	a, b := *cur, *m
	a.TimeStamp, b.TimeStamp = time.Time{}, time.Time{}
	a.Position, b.Position = Position{}, Position{}
	*cur = *m
	return a != b
}

func (c *Core) purge(now time.Time) {
	for k, m := range c.members {
		if !m.IsAlive && now.Sub(m.TimeStamp) > DeadMemberRemoval {
			delete(c.members, k)
			delete(c.skewLogged, k)
			delete(c.selfSeen, k)
		}
	}
}

// AliveDatabaseNodes counts alive members (self included) that are not
// Manager placeholders: more than ClusterSize means a misconfiguration
// that could allow two majorities (spec §9 pitfall 2).
func (c *Core) AliveDatabaseNodes() int {
	n := 1
	for _, m := range c.members {
		if m.IsAlive && m.State != cluster.StateManager {
			n++
		}
	}
	return n
}
