package main

// esbench cluster: replicated appends against a 3-node cluster of real
// processes (started with the process harness of
// cmd/eventstored/clustertest on 127.0.0.1-3), and failover figures (kill
// -9 of the master under write load, repeated).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/eventstored/eventstored/bench"
	"github.com/eventstored/eventstored/client"
	"github.com/eventstored/eventstored/cmd/eventstored/clustertest"
)

// clusterOptions are the flags of `esbench cluster`.
type clusterOptions struct {
	bin       string
	dir       string
	size      int
	clients   []int
	duration  time.Duration
	warmup    time.Duration
	perWrite  int
	inFlight  int
	driver    string
	eventSize int
	streams   int
	failovers int
	out       string
	profDir   string
	progress  bool
	nodeArgs  []string
}

// Limits on the flags, so a typo cannot ask for something absurd.
const (
	maxClusterSize      = 9
	maxClusterFailovers = 1000
)

func parseClusterFlags(args []string, stderr io.Writer) (*clusterOptions, int) {
	o := &clusterOptions{}
	fs := pflag.NewFlagSet("esbench cluster", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "node", "bin/eventstored", "eventstored binary to start")
	fs.StringVar(&o.dir, "dir", "", "directory for the nodes' databases and logs (default: a temp dir, removed afterwards)")
	fs.IntVar(&o.size, "size", 3, "cluster size (nodes on 127.0.0.1..N)")
	clients := fs.String("clients", "16,256", "comma-separated client counts, one write run each (empty: none)")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measured window of each write run")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "warm-up before each window")
	fs.IntVar(&o.perWrite, "events-per-write", 1, "events per write request")
	// Event Store's own load generator (TestClient WRFL) keeps a write
	// window of 2,000 requests in flight split over its clients
	// (ClientOptions.WriteWindow / clientsCnt, oss-v4.0.3
	// src/EventStore.TestClient/Commands/WriteFloodProcessor.cs); --inflight
	// is the per-client share of such a window. The default, 1, is a closed
	// loop: each client waits for its reply before the next write.
	fs.IntVar(&o.inFlight, "inflight", 1, "writes each client keeps in flight (Event Store's WRFL window 2000 over 256 clients is 7)")
	fs.IntVar(&o.eventSize, "event-size", 100, "bytes of data per event")
	fs.StringVar(&o.driver, "driver", bench.DriverLoops, "loops (requests sent and replies checked on the tool's event loops) or client (package client, a goroutine per request slot)")
	fs.IntVar(&o.streams, "streams", 1000, "number of streams")
	fs.IntVar(&o.failovers, "failovers", 0, "then kill -9 the master this many times under write load and report failover times")
	fs.StringVar(&o.out, "out", "", "directory for result.json and result.md of each write run")
	fs.StringVar(&o.profDir, "cpuprofile-dir", "", "write each node's CPU profile, start to stop, to DIR/node<i>.pprof (the nodes are then stopped with SIGTERM)")
	noProgress := fs.Bool("no-progress", false, "no progress bar")
	fs.StringSliceVar(&o.nodeArgs, "node-arg", nil, "extra option for every node (repeatable), e.g. --node-arg=--min-flush-delay-ms=1")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, 0
		}
		fmt.Fprintf(stderr, "esbench cluster: %v\n", err)
		return nil, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "esbench cluster: unexpected argument %q\n", fs.Arg(0))
		return nil, 2
	}
	o.progress = !*noProgress
	bad := func(format string, a ...any) (*clusterOptions, int) {
		fmt.Fprintf(stderr, "esbench cluster: "+format+"\n", a...)
		return nil, 2
	}
	if o.size < 3 || o.size > maxClusterSize {
		return bad("--size %d: want 3..%d", o.size, maxClusterSize)
	}
	if o.failovers < 0 || o.failovers > maxClusterFailovers {
		return bad("--failovers %d: want 0..%d", o.failovers, maxClusterFailovers)
	}
	for _, s := range strings.Split(*clients, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return bad("--clients: %q is not a positive count", s)
		}
		o.clients = append(o.clients, n)
	}
	if len(o.clients) == 0 && o.failovers == 0 {
		return bad("nothing to do: give --clients and/or --failovers")
	}
	// The write runs' own limits (clients, sizes, durations) are checked
	// by bench.Config.Validate.
	for _, n := range o.clients {
		cfg := o.writeConfig(n, "127.0.0.1:1113")
		if err := cfg.Validate(); err != nil {
			return bad("%v", err)
		}
	}
	if _, err := os.Stat(o.bin); err != nil {
		fmt.Fprintf(stderr, "esbench cluster: --node %s: %v (run make build)\n", o.bin, err)
		return nil, 1
	}
	return o, -1
}

func (o *clusterOptions) writeConfig(clients int, addr string) bench.Config {
	cfg := bench.Defaults(bench.KindWrite)
	cfg.Addr, cfg.Clients, cfg.Duration, cfg.Warmup = addr, clients, o.duration, o.warmup
	cfg.EventsPerWrite, cfg.EventSize, cfg.Streams, cfg.Progress = o.perWrite, o.eventSize, o.streams, o.progress
	cfg.InFlight, cfg.Driver = o.inFlight, o.driver
	return cfg
}

func runCluster(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, code := parseClusterFlags(args, stderr)
	if o == nil {
		return code
	}
	dir := o.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "esbench-cluster-")
		if err != nil {
			fmt.Fprintf(stderr, "esbench cluster: %v\n", err)
			return 1
		}
		defer os.RemoveAll(d)
		dir = d
	}
	cfg := clustertest.Config{Bin: o.bin, Dir: dir, Size: o.size,
		Args: func(int) []string { return o.nodeArgs }}
	if o.profDir != "" {
		if err := os.MkdirAll(o.profDir, 0o755); err != nil {
			fmt.Fprintf(stderr, "esbench cluster: --cpuprofile-dir: %v\n", err)
			return 1
		}
		// EVENTSTORED_CPUPROFILE (cmd/eventstored) flushes on a clean
		// shutdown only, hence the SIGTERM below instead of Close's kill.
		cfg.EnvOf = func(i int) []string {
			return []string{"EVENTSTORED_CPUPROFILE=" + filepath.Join(o.profDir, fmt.Sprintf("node%d.pprof", i))}
		}
	}
	c, err := clustertest.New(cfg)
	if err == nil {
		err = c.Start()
	}
	if err != nil {
		fmt.Fprintf(stderr, "esbench cluster: %v\n", err)
		return 1
	}
	defer c.Close()
	if o.profDir != "" {
		defer func() {
			for _, n := range c.Nodes {
				if err := n.Stop(); err != nil {
					fmt.Fprintf(stderr, "esbench cluster: node%d: %v (its profile may be incomplete)\n", n.Index, err)
				}
			}
			fmt.Fprintf(stderr, "CPU profiles in %s (go tool pprof %s)\n", o.profDir, filepath.Join(o.profDir, "node0.pprof"))
		}()
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "esbench cluster: %v\nlast lines of the node logs (all in %s):\n%s", err, dir, c.Logs(20))
		return 1
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	master, err := c.WaitRoles(wctx)
	cancel()
	if err != nil {
		return fail(fmt.Errorf("the cluster elected no master within 30 s: %w", err))
	}
	// Clients log in only once every node has the default users.
	wctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	err = c.WaitSettled(wctx, 300*time.Millisecond)
	cancel()
	if err != nil {
		return fail(fmt.Errorf("the cluster did not settle within 30 s: %w", err))
	}
	fmt.Fprintf(stderr, "cluster of %d up; master node%d at %s\n", o.size, master.Index, master.ExtTCPAddr())

	var results []*bench.Result
	for _, n := range o.clients {
		cfg := o.writeConfig(n, master.ExtTCPAddr())
		t := &bench.TCPTarget{Addr: cfg.Addr, Credentials: &client.Credentials{Login: cfg.User, Password: cfg.Password}}
		res, err := bench.Run(ctx, cfg, t, stderr)
		if err != nil {
			return fail(err)
		}
		res.Label = fmt.Sprintf("cluster of %d: %s", o.size, res.Label)
		fmt.Fprintln(stdout, res.Summary())
		results = append(results, res)
	}
	if o.out != "" && len(results) > 0 {
		if err := writeClusterOutputs(o.out, results); err != nil {
			return fail(err)
		}
	}
	if o.failovers > 0 {
		if err := runFailovers(ctx, c, o.failovers, stdout, stderr); err != nil {
			return fail(err)
		}
	}
	return 0
}

func writeClusterOutputs(dir string, results []*bench.Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := bench.WriteJSON(filepath.Join(dir, "result.json"), results); err != nil {
		return err
	}
	var md strings.Builder
	if err := bench.WriteMarkdownRuns(&md, results); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "result.md"), []byte(md.String()), 0o644)
}

// FailoverSample is one kill of the master.
type FailoverSample struct {
	Killed, Next int
	// SelfElected: from the kill to a survivor's own gossip entry saying
	// Master (the election proper).
	SelfElected time.Duration
	// Elected: from the kill to every surviving node's gossip agreeing
	// on one new master (the election plus gossip propagation).
	Elected time.Duration
	// WriteGap: the longest time without an acknowledged write around the
	// kill, as clients writing all along saw it (includes their
	// reconnection to the new master).
	WriteGap time.Duration
}

// runFailovers kills the master n times while clients write (following
// NotMaster, moving to another node on failure), restarting the killed
// node each time once the survivors agree on a new master.
func runFailovers(ctx context.Context, c *clustertest.Cluster, n int, stdout, stderr io.Writer) error {
	var addrs []string
	for _, nd := range c.Nodes {
		addrs = append(addrs, nd.ExtTCPAddr())
	}
	h := clustertest.NewHistory()
	w := &clustertest.Workload{Addrs: addrs, Clients: 8, Streams: 16, Prefix: "failover", ReadRatio: 0.01,
		Pause: time.Millisecond, OpTimeout: 2 * time.Second, Seed: 1}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(wctx, h); close(done) }()
	defer func() { stop(); <-done }()

	var samples []FailoverSample
	for i := 0; i < n; i++ {
		pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		master, err := c.WaitRoles(pctx)
		cancel()
		if err != nil {
			return fmt.Errorf("before kill %d: %w", i+1, err)
		}
		time.Sleep(500 * time.Millisecond) // writes flowing on this master
		killAt := h.Now()
		if err := master.Kill(); err != nil {
			return err
		}
		killed := time.Now()
		var next *clustertest.Node
		pctx, cancel = context.WithTimeout(ctx, 60*time.Second)
		var selfElected time.Duration
		err = clustertest.Poll(pctx, 10*time.Millisecond, func(ctx context.Context) (err error) {
			if selfElected == 0 && c.SelfMaster(ctx) != nil {
				selfElected = time.Since(killed)
			}
			next, err = c.Roles(ctx, false)
			return err
		})
		cancel()
		if err != nil {
			return fmt.Errorf("after kill %d of node%d: %w", i+1, master.Index, err)
		}
		s := FailoverSample{Killed: master.Index, Next: next.Index, Elected: time.Since(killed), SelfElected: selfElected}
		if s.SelfElected == 0 {
			s.SelfElected = s.Elected
		}
		time.Sleep(time.Second) // writes resume on the new master
		s.WriteGap = longestGap(h, killAt)
		samples = append(samples, s)
		fmt.Fprintf(stderr, "kill %2d: node%d killed, node%d master after %v (agreed by all after %v), longest write gap %v\n",
			i+1, s.Killed, s.Next, s.SelfElected.Round(time.Millisecond), s.Elected.Round(time.Millisecond), s.WriteGap.Round(time.Millisecond))
		if err := master.Start(c.Bin()); err != nil {
			return err
		}
	}
	self := make([]time.Duration, len(samples))
	el := make([]time.Duration, len(samples))
	gap := make([]time.Duration, len(samples))
	for i, s := range samples {
		self[i], el[i], gap[i] = s.SelfElected, s.Elected, s.WriteGap
	}
	r := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	fmt.Fprintf(stdout, "failover over %d kills of the master (kill -9): new master median %v, max %v; "+
		"agreed in every survivor's gossip median %v, max %v; longest write gap median %v, max %v\n",
		len(samples), r(median(self)), r(maxDur(self)), r(median(el)), r(maxDur(el)), r(median(gap)), r(maxDur(gap)))
	return nil
}

// longestGap is the longest interval without an acknowledged append
// return, among returns from 500 ms before since (ns of h's clock) to now.
func longestGap(h *clustertest.History, since int64) time.Duration {
	var rets []int64
	from := since - int64(500*time.Millisecond)
	for _, op := range h.Acknowledged() {
		if op.Return >= from {
			rets = append(rets, op.Return)
		}
	}
	rets = append(rets, h.Now())
	sort.Slice(rets, func(i, j int) bool { return rets[i] < rets[j] })
	var gap int64
	prev := from
	for _, r := range rets {
		if r-prev > gap {
			gap = r - prev
		}
		prev = r
	}
	return time.Duration(gap)
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func maxDur(d []time.Duration) time.Duration {
	var m time.Duration
	for _, v := range d {
		m = max(m, v)
	}
	return m
}
