// Command esbench is the load tool of eventstored. See bench/README.md.
//
//	esbench write  [flags]   write flood
//	esbench read   [flags]   read flood (--read event|stream|all)
//	esbench mixed  [flags]   reads and writes (--read-ratio)
//	esbench soak   [flags]   idle connections through heartbeats
//	esbench subscribe [flags] subscription fan-out (--clients subscribers, --rate)
//	esbench suite  [flags]   the standard suite with peers (make bench)
//	esbench cluster [flags]  replicated appends and failovers on a 3-node cluster (cluster.go)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/eventstored/eventstored/bench"
	"github.com/eventstored/eventstored/client"
)

const usage = `usage: esbench <command> [flags]

commands:
  write      write flood
  read       read flood (--read event|stream|all)
  mixed      reads and writes in one closed loop (--read-ratio)
  soak       N idle connections kept open by heartbeats (--clients N)
  subscribe  --clients volatile subscribers on one stream written at --rate events/s
  suite      the standard suite against a node it starts, and the peers
  cluster    replicated appends on a 3-node cluster it starts (--clients 16,256),
             and failover times under write load (--failovers 20)

Run 'esbench <command> --help' for the flags of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code (0 ok, 1 run
// failed, 2 bad usage).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "suite":
		return runSuite(ctx, args, stdout, stderr)
	case "cluster":
		return runCluster(ctx, args, stdout, stderr)
	case "write", "read", "mixed", "soak", "subscribe":
		return runWorkload(ctx, bench.Kind(cmd), args, stdout, stderr)
	}
	fmt.Fprintf(stderr, "esbench: unknown command %q\n\n%s", cmd, usage)
	return 2
}

func runWorkload(ctx context.Context, kind bench.Kind, args []string, stdout, stderr io.Writer) int {
	cfg := bench.Defaults(kind)
	fs := pflag.NewFlagSet("esbench "+string(kind), pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Target, "target", cfg.Target, "eventstored (TCP), eventstored-http, redis, postgres or nats")
	fs.StringVar(&cfg.Addr, "addr", "", "host:port of the target (default: the target's usual port on 127.0.0.1)")
	fs.StringVar(&cfg.User, "user", cfg.User, "login sent with Authenticate (empty: anonymous)")
	fs.StringVar(&cfg.Password, "password", cfg.Password, "password")
	fs.IntVar(&cfg.Clients, "clients", cfg.Clients, "closed-loop clients (soak: connections)")
	fs.IntVar(&cfg.InFlight, "inflight", cfg.InFlight, "requests each client keeps in flight")
	fs.StringVar(&cfg.Driver, "driver", cfg.Driver, "TCP writes: loops (requests sent and replies checked on the tool's event loops) or client (package client, a goroutine per request slot)")
	fs.IntVar(&cfg.Connections, "connections", 0, "connections shared by the clients (0: one per client)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured window (soak: idle time)")
	fs.Int64Var(&cfg.Requests, "requests", 0, "end the window after this many requests instead of --duration")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "warm-up before the measured window")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "per-request timeout")
	fs.IntVar(&cfg.Streams, "streams", cfg.Streams, "number of streams")
	fs.IntVar(&cfg.EventSize, "event-size", cfg.EventSize, "bytes of data per event")
	fs.IntVar(&cfg.EventsPerWrite, "events-per-write", cfg.EventsPerWrite, "events per write request")
	fs.StringVar(&cfg.Expected, "expected-version", cfg.Expected, "any, or exact (each client owns its streams and tracks their versions)")
	readMode := fs.String("read", string(cfg.ReadMode), "read requests: event, stream (a page) or all (a page of $all)")
	fs.IntVar(&cfg.PageSize, "page", cfg.PageSize, "events per read page")
	fs.Int64Var(&cfg.Prefill, "prefill", cfg.Prefill, "events written before reads start (spread over --streams)")
	fs.Float64Var(&cfg.ReadRatio, "read-ratio", cfg.ReadRatio, "mixed: share of requests that are reads")
	fs.DurationVar(&cfg.Interval, "interval", cfg.Interval, "throughput sampling interval")
	fs.IntVar(&cfg.Rate, "rate", cfg.Rate, "subscribe: events written per second (--clients = subscribers)")
	noProgress := fs.Bool("no-progress", false, "no progress bar")
	out := fs.String("out", "", "directory for result.json, result.md and SVG plots")
	startNode := fs.String("start-node", "", "start this eventstored binary (database in a temp dir) and target it")
	startPeer := fs.Bool("start-peer", false, "start the --target peer with bench/peers/<target>.sh")
	peersDir := fs.String("peers-dir", "bench/peers", "directory of the peer scripts")
	pid := fs.Int("pid", 0, "pid of the server, for its CPU time per request (soak: its RSS); set automatically with --start-node")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the tool (client side) to this file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "esbench %s: %v\n", kind, err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "esbench %s: unexpected argument %q\n", kind, fs.Arg(0))
		return 2
	}
	cfg.ReadMode = bench.ReadMode(*readMode)
	cfg.Progress = !*noProgress
	if cfg.Addr == "" {
		cfg.Addr = defaultAddr(cfg.Target)
	}
	if *startNode != "" && *startPeer {
		fmt.Fprintln(stderr, "esbench: give --start-node or --start-peer, not both")
		return 2
	}
	// Validate before starting anything, so a bad flag costs nothing.
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "esbench %s: %v\n", kind, err)
		if errors.Is(err, bench.ErrSubscriptionsUnavailable) {
			return 1
		}
		return 2
	}
	if *startNode != "" {
		if !strings.HasPrefix(cfg.Target, "eventstored") {
			fmt.Fprintln(stderr, "esbench: --start-node needs --target eventstored or eventstored-http")
			return 2
		}
		node, err := bench.StartNode(ctx, *startNode)
		if err != nil {
			fmt.Fprintf(stderr, "esbench: %v\n", err)
			return 1
		}
		defer node.Stop()
		cfg.Addr = node.TCPAddr
		if cfg.Target == "eventstored-http" {
			cfg.Addr = node.HTTPAddr
		}
		*pid = node.PID()
	}
	if *startPeer {
		p, err := bench.StartPeer(ctx, *peersDir, cfg.Target)
		if err != nil {
			fmt.Fprintf(stderr, "esbench: %v\n", err)
			return 1
		}
		defer p.Stop()
		cfg.Addr = p.Addr()
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "esbench: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "esbench: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	cfg.ServerPID = *pid
	var creds *client.Credentials
	if cfg.User != "" {
		creds = &client.Credentials{Login: cfg.User, Password: cfg.Password}
	}
	var res *bench.Result
	var err error
	if kind == bench.KindSoak {
		res, err = bench.RunSoak(ctx, cfg, creds, *pid, stderr)
	} else if kind == bench.KindSubscribe {
		res, err = bench.RunSubscribe(ctx, cfg, creds, stderr)
	} else {
		var t bench.Target
		switch cfg.Target {
		case "eventstored":
			t = &bench.TCPTarget{Addr: cfg.Addr, Credentials: creds}
		case "eventstored-http":
			t = &bench.HTTPTarget{Addr: cfg.Addr, Login: cfg.User, Passwd: cfg.Password}
		case "redis":
			t = &bench.RedisTarget{Addr: cfg.Addr}
		case "postgres":
			t = &bench.PostgresTarget{Addr: cfg.Addr}
		case "nats":
			t = &bench.NATSTarget{Addr: cfg.Addr}
		}
		res, err = bench.Run(ctx, cfg, t, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "esbench %s: %v\n", kind, err)
		return 1
	}
	fmt.Fprintln(stdout, res.Summary())
	if *out != "" {
		if err := writeRunOutputs(*out, res); err != nil {
			fmt.Fprintf(stderr, "esbench: %v\n", err)
			return 1
		}
	}
	return 0
}

func defaultAddr(target string) string {
	switch target {
	case "eventstored-http":
		return "127.0.0.1:2113"
	case "redis":
		return "127.0.0.1:6379"
	case "postgres":
		return "127.0.0.1:5432"
	case "nats":
		return "127.0.0.1:4222"
	}
	return "127.0.0.1:1113"
}

func writeRunOutputs(dir string, res *bench.Result) error {
	if err := bench.WriteJSON(filepath.Join(dir, "result.json"), res); err != nil {
		return err
	}
	var md strings.Builder
	if err := bench.WriteMarkdownRuns(&md, []*bench.Result{res}); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "result.md"), []byte(md.String()), 0o644); err != nil {
		return fmt.Errorf("cannot write result.md: %w", err)
	}
	if res.Soak != nil {
		return nil
	}
	for name, p := range map[string]*bench.LinePlot{
		"throughput.svg": bench.ThroughputPlot(res.Label+": throughput", []*bench.Result{res}),
		"latency.svg":    bench.LatencyPlot(res.Label+": latency by percentile", []*bench.Result{res}),
	} {
		var b strings.Builder
		if err := p.WriteSVG(&b); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			return fmt.Errorf("cannot write %s: %w", name, err)
		}
	}
	return nil
}

func runSuite(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o := bench.DefaultSuiteOptions()
	o.Log = stderr
	fs := pflag.NewFlagSet("esbench suite", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Out, "out", o.Out, "results directory (a timestamped subdirectory is created)")
	fs.StringVar(&o.NodeBinary, "node", o.NodeBinary, "eventstored binary to start")
	fs.StringVar(&o.Addr, "addr", "", "use this running node's TCP address instead of starting one")
	fs.IntVar(&o.PID, "pid", 0, "with --addr: the node's pid, for RSS per connection")
	fs.StringSliceVar(&o.Peers, "peers", o.Peers, "peers to compare with (redis, postgres, nats); empty for none")
	fs.StringVar(&o.PeersDir, "peers-dir", o.PeersDir, "directory of the peer scripts")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "measured window of each run")
	fs.DurationVar(&o.Warmup, "warmup", o.Warmup, "warm-up of each run")
	fs.IntVar(&o.SoakConnections, "soak-connections", o.SoakConnections, "idle connections (0: skip)")
	fs.DurationVar(&o.SoakDuration, "soak-duration", o.SoakDuration, "idle time of the soak")
	fs.Int64Var(&o.AllPrefill, "all-prefill", o.AllPrefill, "events written before the $all read")
	noProgress := fs.Bool("no-progress", false, "no progress bars")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "esbench suite: %v\n", err)
		return 2
	}
	o.Progress = !*noProgress
	for _, p := range o.Peers {
		if p != "redis" && p != "postgres" && p != "nats" {
			fmt.Fprintf(stderr, "esbench suite: unknown peer %q (want redis, postgres, nats)\n", p)
			return 2
		}
	}
	if o.Duration <= 0 || o.Warmup < 0 || o.SoakConnections < 0 || o.AllPrefill < 1 {
		fmt.Fprintln(stderr, "esbench suite: --duration must be positive, --warmup and --soak-connections not negative, --all-prefill ≥ 1")
		return 2
	}
	if o.SoakConnections > bench.MaxClients {
		fmt.Fprintf(stderr, "esbench suite: --soak-connections %d above %d\n", o.SoakConnections, bench.MaxClients)
		return 2
	}
	started := time.Now()
	rep, err := bench.RunSuite(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "esbench suite: %v\n", err)
		return 1
	}
	var md strings.Builder
	_ = bench.WriteSuiteMarkdown(&md, rep)
	// The summary table only: the first lines up to the run details.
	table, _, _ := strings.Cut(md.String(), "\n## Runs")
	fmt.Fprintln(stdout, table)
	fmt.Fprintf(stdout, "suite took %s; report in %s\n", time.Since(started).Round(time.Second), rep.Dir)
	return 0
}
