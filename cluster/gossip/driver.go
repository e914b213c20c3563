package gossip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventstored/eventstored/cluster"
)

// ClusterIDHeader carries the cluster identity on node-to-node gossip
// (requests and replies); see the package documentation.
const ClusterIDHeader = "ES-ClusterId"

// Driver errors.
var (
	// ErrNotReady: the seeds are still being resolved (spec §3.3: GET
	// /gossip is not answered until then).
	ErrNotReady = errors.New("gossip: still resolving the cluster's seeds")
	// ErrNotGossipEndpoint: a gossip target answered 404/405, typically
	// a seed naming a peer's external HTTP port (spec §9 pitfall 1).
	ErrNotGossipEndpoint = errors.New("gossip: target does not accept POST /gossip")
	// ErrStopped: the driver was stopped.
	ErrStopped = errors.New("gossip: stopped")
)

// Resolver is the DNS seam (net.DefaultResolver satisfies it).
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// Poster is the HTTP seam: POST body to url, return the status, the
// reply's cluster identity header and body. DefaultPoster uses net/http.
type Poster func(ctx context.Context, url, clusterID string, body []byte) (status int, replyClusterID string, reply []byte, err error)

// DriverConfig configures a Driver.
type DriverConfig struct {
	Core Config
	// DiscoverViaDNS resolves ClusterDNS once at start (port GossipPort
	// for every address); otherwise Core.Seeds are used (spec §3.1).
	DiscoverViaDNS bool
	ClusterDNS     string
	GossipPort     int
	Resolver       Resolver
	// Timeout of one outgoing POST (GossipTimeoutMs).
	Timeout time.Duration
	Post    Poster
	// Status returns this node's state and position; called every round
	// on the driver goroutine.
	Status func() (cluster.VNodeState, Position)
	// OnChange is called on the driver goroutine with the new view after
	// every change (the node pushes it to consensus and its controller).
	OnChange func(ClusterInfo)
	// MaxClusterSize: more alive database nodes than this is logged as a
	// misconfiguration (spec §9 pitfall 2); 0 disables the check.
	MaxClusterSize int
	Now            func() time.Time
	Log            *slog.Logger
}

// Driver runs a Core: one goroutine owns it; rounds are timer messages,
// HTTP requests and POST results are messages on its inbox.
type Driver struct {
	cfg     DriverConfig
	inbox   chan func()
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	started atomic.Bool
	core    *Core // owned by the run goroutine
	log     *slog.Logger
	sends   sync.WaitGroup
	warnd   time.Time
	nudged  bool // a broadcast was asked for (driver goroutine only)
	// sending holds the targets with a POST in flight (driver goroutine
	// only): at most one POST per target at a time, so two views sent to
	// one peer cannot arrive out of order (the peer takes our own entry
	// from whichever arrives last, spec §3.5 rule 2), and the sends in
	// flight are bounded by the members. again asks for one more POST,
	// with the view of that moment, once the current one is done.
	sending map[netip.AddrPort]*sendState
	client  *http.Client // the default poster's pool, nil with a custom Post
	// misconf rate-limits the misconfigured-seed warning per target.
	misconf map[netip.AddrPort]time.Time
}

// inboxSize bounds queued work; HTTP handlers that find it full get
// ErrBusy-like failure rather than queueing without bound.
const inboxSize = 256

// NewDriver builds a driver; Start runs it.
func NewDriver(cfg DriverConfig) *Driver {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Core.Log == nil {
		cfg.Core.Log = cfg.Log
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 500 * time.Millisecond
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	var client *http.Client
	if cfg.Post == nil {
		// An own connection pool, closed by Stop.
		client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second}}
		cfg.Post = DefaultPoster(client)
	}
	return &Driver{cfg: cfg, client: client, inbox: make(chan func(), inboxSize), stop: make(chan struct{}), done: make(chan struct{}), log: cfg.Log}
}

// DefaultPoster posts with c; bodies larger than MaxMessageBytes fail.
func DefaultPoster(c *http.Client) Poster {
	return func(ctx context.Context, url, clusterID string, body []byte) (int, string, []byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return 0, "", nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		if clusterID != "" {
			req.Header.Set(ClusterIDHeader, clusterID)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, MaxMessageBytes+1))
		if err != nil {
			return 0, "", nil, err
		}
		if len(b) > MaxMessageBytes {
			return 0, "", nil, ErrTooLarge
		}
		return resp.StatusCode, resp.Header.Get(ClusterIDHeader), b, nil
	}
}

// Start launches the driver goroutine (once).
func (d *Driver) Start() {
	if d.started.CompareAndSwap(false, true) {
		go d.run()
	}
}

// Stop ends the driver and waits for it and its in-flight sends (each
// bounded by the gossip timeout). Stop without Start returns at once.
func (d *Driver) Stop() {
	d.once.Do(func() { close(d.stop) })
	if d.started.CompareAndSwap(false, true) {
		close(d.done) // never started: nothing to wait for
	}
	<-d.done
	d.sends.Wait()
	if d.client != nil {
		d.client.CloseIdleConnections()
	}
}

func (d *Driver) run() {
	defer close(d.done)
	seeds, ok := d.seeds()
	if !ok {
		return
	}
	cfg := d.cfg.Core
	cfg.Seeds = seeds
	d.core = New(cfg, d.cfg.Now())
	d.refreshSelf()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-d.stop:
			return
		case fn := <-d.inbox:
			fn()
			if d.nudged {
				// A state change worth spreading: push the view to every
				// alive member now; rounds go on at their pace.
				d.nudged = false
				d.broadcast()
			}
		case <-timer.C:
			timer.Reset(d.round())
		}
	}
}

// seeds returns the seed list: DNS (retried every second until it
// answers, spec §3.1) or the configured seeds.
func (d *Driver) seeds() ([]netip.AddrPort, bool) {
	if !d.cfg.DiscoverViaDNS {
		return d.cfg.Core.Seeds, true
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		// The lookup blocks this goroutine (at most 5 s); requests queue
		// meanwhile and are answered when it returns.
		addrs, err := d.cfg.Resolver.LookupHost(ctx, d.cfg.ClusterDNS)
		cancel()
		var seeds []netip.AddrPort
		for _, a := range addrs {
			if ip, perr := netip.ParseAddr(a); perr == nil {
				seeds = append(seeds, netip.AddrPortFrom(ip.Unmap(), uint16(d.cfg.GossipPort)))
			}
		}
		if err == nil && len(seeds) > 0 {
			return seeds, true
		}
		d.log.Error("Error while retrieving cluster members through DNS.", "cluster_dns", d.cfg.ClusterDNS, "err", err,
			"hint", "to use --gossip-seed instead, also pass --discover-via-dns=false")
		retry := time.NewTimer(time.Second)
	wait:
		for {
			select {
			case <-d.stop:
				retry.Stop()
				return nil, false
			case fn := <-d.inbox:
				fn() // no core yet: requests get ErrNotReady at once
			case <-retry.C:
				break wait
			}
		}
	}
}

func (d *Driver) refreshSelf() {
	if d.cfg.Status != nil {
		st, pos := d.cfg.Status()
		d.core.SetSelf(st, pos)
	}
}

func (d *Driver) round() time.Duration {
	d.refreshSelf()
	target, _, next, ok := d.core.Round(d.cfg.Now())
	if ok {
		d.send(target)
	}
	return next
}

// broadcast pushes the view to every alive member (Core.BroadcastTargets).
func (d *Driver) broadcast() {
	d.refreshSelf()
	for _, target := range d.core.BroadcastTargets() {
		d.send(target)
	}
}

type sendState struct{ again bool }

// send POSTs the current view to target on its own goroutine; the result
// comes back as a message. With a POST to target in flight it only asks
// for another one after it (Driver.sending). Driver goroutine.
func (d *Driver) send(target netip.AddrPort) {
	if st := d.sending[target]; st != nil {
		st.again = true
		return
	}
	if d.sending == nil {
		d.sending = map[netip.AddrPort]*sendState{}
	}
	st := &sendState{}
	d.sending[target] = st
	body := d.core.View(d.cfg.Now()).Encode()
	url := "http://" + target.String() + "/gossip"
	d.sends.Add(1)
	go func() {
		defer d.sends.Done()
		ctx, cancel := context.WithTimeout(context.Background(), d.cfg.Timeout)
		status, cid, reply, err := d.cfg.Post(ctx, url, d.cfg.Core.ClusterID, body)
		cancel()
		var info ClusterInfo
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("HTTP %d: %s", status, strings.TrimSpace(string(reply[:min(len(reply), 200)])))
			if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
				// Typical of a seed that names a peer's external HTTP port
				// (spec §9 pitfall 1).
				err = fmt.Errorf("%w: %w (is %s the peer's internal HTTP endpoint? gossip seeds must be)", ErrNotGossipEndpoint, err, target)
			}
			if ours := d.cfg.Core.ClusterID; cid != "" && ours != "" && cid != ours {
				// The peer refused us (400) and named its own identity: a
				// node of another cluster, typically a mistyped seed.
				err = fmt.Errorf("%w: %s belongs to cluster %q, this node to %q (%w)", ErrForeignCluster, target, cid, ours, err)
			}
		}
		if err == nil {
			info, err = Decode(reply)
		}
		// NB: waits for room in the inbox rather than dropping the
		// result: the target stays in d.sending until it is handled.
		d.postWait(func() {
			delete(d.sending, target)
			d.sendDone(target, cid, info, err)
			if st.again {
				d.refreshSelf()
				d.send(target)
			}
		})
	}()
}

func (d *Driver) sendDone(target netip.AddrPort, cid string, info ClusterInfo, err error) {
	now := d.cfg.Now()
	var changed bool
	if err != nil {
		misconf := errors.Is(err, ErrNotGossipEndpoint) || errors.Is(err, ErrForeignCluster)
		if misconf && now.Sub(d.misconf[target]) >= time.Minute {
			if d.misconf == nil {
				d.misconf = map[netip.AddrPort]time.Time{}
			}
			d.misconf[target] = now
			if errors.Is(err, ErrForeignCluster) {
				d.log.Error("gossip refused by a node of another cluster (check --gossip-seed and --cluster-id)", "target", target, "err", err)
			} else {
				d.log.Warn("gossip target is not a node's internal HTTP endpoint", "target", target, "err", err)
			}
		}
		d.log.Debug("gossip send failed", "target", target, "err", err)
		changed = d.core.SendFailed(now, target)
	} else {
		changed, err = d.core.ReplyReceived(now, target, cid, info)
		if err != nil {
			d.log.Error("gossip reply refused", "target", target, "err", err)
		}
	}
	if changed {
		d.changed(now)
	}
}

func (d *Driver) changed(now time.Time) {
	v := d.core.View(now)
	var sb strings.Builder
	for _, m := range v.Members {
		fmt.Fprintf(&sb, "\n  %s %s alive=%v epoch=%d writer=%d", m.InternalHTTP, m.State, m.IsAlive, m.EpochNumber, m.WriterCheckpoint)
	}
	d.log.Info("CLUSTER HAS CHANGED" + sb.String())
	if n := d.core.AliveDatabaseNodes(); d.cfg.MaxClusterSize > 0 && n > d.cfg.MaxClusterSize && now.Sub(d.warnd) > time.Minute {
		d.warnd = now
		d.log.Error("gossip shows more alive database nodes than --cluster-size: two majorities (and two masters) become possible",
			"alive", n, "cluster_size", d.cfg.MaxClusterSize)
	}
	if d.cfg.OnChange != nil {
		d.cfg.OnChange(v)
	}
}

// post queues fn for the driver goroutine; false if stopped or full.
func (d *Driver) post(fn func()) bool {
	select {
	case d.inbox <- fn:
		return true
	case <-d.stop:
		return false
	default:
		d.log.Warn("gossip driver inbox full; message dropped", "max", inboxSize)
		return false
	}
}

// postWait queues fn for the driver goroutine, waiting for room; false
// if the driver stopped first. For the driver's own send goroutines,
// whose results must not be dropped.
func (d *Driver) postWait(fn func()) bool {
	select {
	case d.inbox <- fn:
		return true
	case <-d.stop:
		return false
	}
}

// call runs fn on the driver goroutine and waits for it.
func (d *Driver) call(fn func() error) error {
	errc := make(chan error, 1)
	if !d.post(func() {
		if d.core == nil {
			errc <- ErrNotReady
			return
		}
		errc <- fn()
	}) {
		return ErrStopped
	}
	select {
	case err := <-errc:
		return err
	case <-d.done:
		return ErrStopped
	}
}

// View returns the current view encoded as gossip JSON (GET /gossip).
// Safe from any goroutine.
func (d *Driver) View() ([]byte, error) {
	var b []byte
	err := d.call(func() error {
		d.refreshSelf()
		b = d.core.View(d.cfg.Now()).Encode()
		return nil
	})
	return b, err
}

// Members returns a copy of the current view. Safe from any goroutine.
func (d *Driver) Members() (ClusterInfo, error) {
	var v ClusterInfo
	err := d.call(func() error {
		d.refreshSelf()
		v = d.core.View(d.cfg.Now())
		return nil
	})
	return v, err
}

// Receive handles POST /gossip: body from a peer whose identity header
// was clusterID; returns our merged view. Errors: ErrBadMessage /
// ErrTooLarge (400), ErrForeignCluster (400, logged), ErrNotReady.
func (d *Driver) Receive(clusterID string, body []byte) (reply []byte, err error) {
	info, err := Decode(body)
	if err != nil {
		return nil, err
	}
	err = d.call(func() error {
		d.refreshSelf()
		now := d.cfg.Now()
		v, changed, err := d.core.Received(now, clusterID, info)
		if err != nil {
			d.log.Error("gossip from another cluster refused", "from", info.Server, "err", err)
			return err
		}
		if changed {
			d.changed(now)
		}
		reply = v.Encode()
		return nil
	})
	return reply, err
}

// Nudge pushes this node's view to every alive member now (not one
// random member, as a round does), e.g. after this node's state changed,
// so that every peer learns it within one POST instead of after random
// rounds. Safe from any goroutine; nudges while one is pending coalesce,
// and a target with a POST in flight gets one more after it.
func (d *Driver) Nudge() {
	d.post(func() {
		if d.core != nil {
			d.nudged = true
		}
	})
}

// Do runs fn on the driver goroutine with the core (for events such as
// replication connections established or lost). Safe from any goroutine.
func (d *Driver) Do(fn func(c *Core, now time.Time) (changed bool)) error {
	return d.call(func() error {
		if d.core == nil {
			return ErrNotReady
		}
		now := d.cfg.Now()
		if fn(d.core, now) {
			d.changed(now)
		}
		return nil
	})
}
