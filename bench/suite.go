package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/eventstored/eventstored/client"
)

// SuiteOptions configure the standard suite.
type SuiteOptions struct {
	// Out is the directory under which a timestamped result directory is
	// created (bench/results).
	Out string
	// NodeBinary is started with its database in a temp dir, unless Addr
	// is given (then that node is used and PID, if set, gives its RSS).
	NodeBinary string
	Addr       string
	PID        int
	// Peers to run the write scenarios against ("redis", "postgres",
	// "nats"); PeersDir holds their scripts.
	Peers    []string
	PeersDir string
	// Duration and Warmup of each measured run.
	Duration, Warmup time.Duration
	// SoakConnections idle for SoakDuration.
	SoakConnections int
	SoakDuration    time.Duration
	// AllPrefill is the number of events the $all read scenario reads
	// through (written before it, counted from the start of $all).
	AllPrefill int64
	Progress   bool
	// Log receives progress lines (and the progress bars).
	Log io.Writer
}

// DefaultSuiteOptions are the options of 'make bench': about 3-4 minutes
// on the 2-core reference machine.
func DefaultSuiteOptions() SuiteOptions {
	return SuiteOptions{
		Out: "bench/results", NodeBinary: "bin/eventstored",
		Peers: []string{"redis", "postgres", "nats"}, PeersDir: "bench/peers",
		Duration: 5 * time.Second, Warmup: time.Second,
		SoakConnections: 10_000, SoakDuration: 10 * time.Second,
		AllPrefill: 200_000, Progress: true, Log: os.Stderr,
	}
}

// Scenario is one row of the suite report.
type Scenario struct {
	Name string `json:"name"`
	// Goal is the target the row is judged against, in words.
	Goal string `json:"goal"`
	// Results: eventstored first, then each peer that ran.
	Results []*Result `json:"results"`
	// Ratios of eventstored's events/s to each peer's.
	Ratios  map[string]float64 `json:"ratios,omitempty"`
	Met     bool               `json:"met"`
	Verdict string             `json:"verdict"`
	Skipped map[string]string  `json:"skipped,omitempty"`
	Error   string             `json:"error,omitempty"`
}

// SuiteReport is the JSON written by the suite.
type SuiteReport struct {
	Started   time.Time  `json:"started"`
	Dir       string     `json:"dir"`
	GoVersion string     `json:"go_version"`
	CPUs      int        `json:"cpus"`
	Node      string     `json:"node"`
	Scenarios []Scenario `json:"scenarios"`
	// PeerNotes explain peers that did not run.
	PeerNotes map[string]string `json:"peer_notes,omitempty"`
	// DiskSync is the append + fdatasync latency of the temp dir's disk.
	DiskSync *DiskSync `json:"disk_sync,omitempty"`
}

type scenarioSpec struct {
	name  string
	goal  string
	cfg   func(base Config) Config
	peers bool
	check func(es *Result, ratio map[string]float64) (bool, string)
}

func writeScenario(clients, events int) func(Config) Config {
	return func(c Config) Config {
		c.Kind, c.Clients, c.EventsPerWrite = KindWrite, clients, events
		c.Streams = max(1000, clients)
		return c
	}
}

// redisRatioCheck judges "≥ min× Redis" plus an optional extra check.
func redisRatioCheck(min float64, extra func(es *Result) []string) func(*Result, map[string]float64) (bool, string) {
	return func(es *Result, ratio map[string]float64) (bool, string) {
		var short []string
		if r, ok := ratio["redis"]; !ok {
			short = append(short, "no Redis result to compare")
		} else if r < min {
			short = append(short, fmt.Sprintf("%.2f× Redis < %.2f×", r, min))
		}
		if extra != nil {
			short = append(short, extra(es)...)
		}
		if n := es.ErrorTotal(); n > 0 {
			short = append(short, fmt.Sprintf("%d errors", n))
		}
		if len(short) == 0 {
			return true, "met"
		}
		return false, "short: " + strings.Join(short, "; ")
	}
}

var standardScenarios = []scenarioSpec{
	{name: "write 1 client × 1 event", goal: "≥ 1.1× Redis, p50 ≤ 0.3 ms", cfg: writeScenario(1, 1), peers: true,
		check: redisRatioCheck(1.1, func(es *Result) []string {
			if es.Latency.P50Ms > 0.3 {
				return []string{fmt.Sprintf("p50 %.3f ms > 0.3 ms", es.Latency.P50Ms)}
			}
			return nil
		})},
	{name: "write 16 clients × 1 event", goal: "≥ 1.5× Redis", cfg: writeScenario(16, 1), peers: true, check: redisRatioCheck(1.5, nil)},
	{name: "write 256 clients × 1 event", goal: "≥ 4× Redis, ≥ 250,000 events/s, p99 ≤ 15 ms", cfg: writeScenario(256, 1), peers: true,
		check: redisRatioCheck(4, func(es *Result) []string {
			var s []string
			if es.EventsPerSec < 250_000 {
				s = append(s, fmt.Sprintf("%s events/s < 250,000", fmtRate(es.EventsPerSec)))
			}
			if es.Latency.P99Ms > 15 {
				s = append(s, fmt.Sprintf("p99 %.2f ms > 15 ms", es.Latency.P99Ms))
			}
			return s
		})},
	{name: "write 16 clients × 100 events", goal: "≥ 1.5× Redis", cfg: writeScenario(16, 100), peers: true, check: redisRatioCheck(1.5, nil)},
}

// RunSuite runs the standard suite and writes its report. Failures of one
// scenario are recorded in the report and the suite goes on; the error
// return is for failures that stop everything (no node, no output dir).
func RunSuite(ctx context.Context, o SuiteOptions) (*SuiteReport, error) {
	logf := func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format+"\n", args...)
		}
	}
	start := time.Now().UTC()
	dir := filepath.Join(o.Out, start.Format("20060102-150405"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", dir, err)
	}
	rep := &SuiteReport{Started: start, Dir: dir, GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), PeerNotes: map[string]string{}}

	if ds, err := MeasureDiskSync(os.TempDir(), 200); err == nil {
		rep.DiskSync = &ds
		logf("disk: append + fdatasync p50 %.3f ms, p99 %.3f ms", ds.P50Ms, ds.P99Ms)
	} else {
		logf("%v", err)
	}

	addr, pid := o.Addr, o.PID
	if addr == "" {
		logf("starting %s (durable, database in a temp dir)", o.NodeBinary)
		node, err := StartNode(ctx, o.NodeBinary)
		if err != nil {
			return nil, err
		}
		defer node.Stop()
		addr, pid = node.TCPAddr, node.PID()
		rep.Node = fmt.Sprintf("%s (pid %d, %s)", o.NodeBinary, pid, addr)
	} else {
		rep.Node = addr
	}
	creds := &client.Credentials{Login: "admin", Password: "changeit"}

	peers := map[string]Target{}
	for _, name := range o.Peers {
		logf("starting peer %s", name)
		p, err := StartPeer(ctx, o.PeersDir, name)
		if err != nil {
			note := err.Error()
			if errors.Is(err, ErrPeerMissing) {
				note = "skipped: " + note
			}
			logf("peer %s: %s", name, note)
			rep.PeerNotes[name] = note
			continue
		}
		defer p.Stop()
		switch name {
		case "redis":
			peers[name] = &RedisTarget{Addr: p.Addr()}
		case "postgres":
			peers[name] = &PostgresTarget{Addr: p.Addr()}
		case "nats":
			peers[name] = &NATSTarget{Addr: p.Addr()}
		default:
			rep.PeerNotes[name] = "unknown peer"
		}
	}

	base := Defaults(KindWrite)
	base.Addr, base.Duration, base.Warmup, base.Progress = addr, o.Duration, o.Warmup, o.Progress
	base.EventSize = 100
	// The peers are driven by goroutine clients (go-redis, pgx, nats.go);
	// eventstored is driven by its own Go client too, so a ratio compares
	// the servers, not the tools (the loop driver's cheaper tool would
	// favour eventstored on these two shared cores).
	base.Driver = DriverClient

	for _, spec := range standardScenarios {
		cfg := spec.cfg(base)
		sc := Scenario{Name: spec.name, Goal: spec.goal, Ratios: map[string]float64{}, Skipped: map[string]string{}}
		logf("== %s", spec.name)
		es, err := Run(ctx, cfg, &TCPTarget{Addr: addr, Credentials: creds}, o.Log)
		if err != nil {
			sc.Error = err.Error()
			sc.Verdict = "failed: " + err.Error()
			rep.Scenarios = append(rep.Scenarios, sc)
			logf("   eventstored failed: %v", err)
			continue
		}
		logf("   %s", es.Summary())
		sc.Results = append(sc.Results, es)
		for _, name := range o.Peers {
			t, ok := peers[name]
			if !ok {
				sc.Skipped[name] = rep.PeerNotes[name]
				continue
			}
			pc := cfg
			pc.Target = name
			pc.Addr = peerAddr(t)
			r, err := Run(ctx, pc, t, o.Log)
			if err != nil {
				sc.Skipped[name] = err.Error()
				logf("   %s failed: %v", name, err)
				continue
			}
			logf("   %s", r.Summary())
			sc.Results = append(sc.Results, r)
			if r.EventsPerSec > 0 {
				sc.Ratios[name] = es.EventsPerSec / r.EventsPerSec
			}
		}
		sc.Met, sc.Verdict = spec.check(es, sc.Ratios)
		rep.Scenarios = append(rep.Scenarios, sc)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}

	// $all read: prefill, then read $all from the start in pages of the
	// protocol's largest size (4,096, spec §4.10), as a catch-up reader
	// would. Measured on 2 cores: 2 clients × 4,096 read ~1.0 M events/s
	// where 4 clients × 1,000 read ~0.8 M (per-request costs dominate).
	{
		sc := Scenario{Name: "read $all forward", Goal: "≥ 1,500,000 events/s"}
		logf("== %s", sc.Name)
		cfg := Defaults(KindRead)
		cfg.Addr, cfg.Duration, cfg.Warmup, cfg.Progress = addr, o.Duration, o.Warmup, o.Progress
		cfg.ReadMode, cfg.PageSize, cfg.Clients = ReadAll, MaxPageSize, 2
		cfg.Streams, cfg.Prefill, cfg.EventSize = 100, o.AllPrefill, 100
		r, err := Run(ctx, cfg, &TCPTarget{Addr: addr, Credentials: creds}, o.Log)
		if err != nil {
			sc.Error, sc.Verdict = err.Error(), "failed: "+err.Error()
		} else {
			logf("   %s", r.Summary())
			sc.Results = []*Result{r}
			sc.Met = r.EventsPerSec >= 1_500_000 && r.ErrorTotal() == 0
			sc.Verdict = "met"
			if !sc.Met {
				sc.Verdict = fmt.Sprintf("short: %s events/s < 1,500,000", fmtRate(r.EventsPerSec))
				if n := r.ErrorTotal(); n > 0 {
					sc.Verdict += fmt.Sprintf("; %d errors", n)
				}
			}
		}
		rep.Scenarios = append(rep.Scenarios, sc)
	}

	// Idle connections.
	if o.SoakConnections > 0 {
		sc := Scenario{Name: fmt.Sprintf("%d idle connections", o.SoakConnections), Goal: "≤ 30 KiB server RSS per connection, all alive"}
		logf("== %s", sc.Name)
		cfg := Defaults(KindSoak)
		cfg.Addr, cfg.Clients, cfg.Duration, cfg.Progress = addr, o.SoakConnections, o.SoakDuration, o.Progress
		soakPID := pid
		var r *Result
		var err error
		if o.Addr == "" {
			// A fresh node: after the write and read scenarios the heap
			// holds freed spans that new connections would reuse without
			// growing the RSS, hiding their cost.
			var fresh *Node
			if fresh, err = StartNode(ctx, o.NodeBinary); err == nil {
				cfg.Addr, soakPID = fresh.TCPAddr, fresh.PID()
				r, err = RunSoak(ctx, cfg, creds, soakPID, o.Log)
				fresh.Stop()
			}
		} else {
			r, err = RunSoak(ctx, cfg, creds, soakPID, o.Log)
		}
		if err != nil {
			sc.Error, sc.Verdict = err.Error(), "failed: "+err.Error()
		} else {
			logf("   %s", r.Summary())
			sc.Results = []*Result{r}
			s := r.Soak
			var short []string
			if s.Alive < s.Connections {
				short = append(short, fmt.Sprintf("%d of %d alive", s.Alive, s.Connections))
			}
			switch {
			case s.RSSAfterBytes == 0:
				short = append(short, "server RSS unknown")
			case s.RSSPerConnBytes > 30*1024:
				short = append(short, fmt.Sprintf("%.1f KiB per connection > 30 KiB", s.RSSPerConnBytes/1024))
			}
			sc.Met = len(short) == 0
			sc.Verdict = "met"
			if !sc.Met {
				sc.Verdict = "short: " + strings.Join(short, "; ")
			}
		}
		rep.Scenarios = append(rep.Scenarios, sc)
	}

	if err := writeSuiteReport(rep, dir); err != nil {
		return rep, err
	}
	logf("report: %s", filepath.Join(dir, "report.md"))
	return rep, nil
}

func peerAddr(t Target) string {
	switch p := t.(type) {
	case *RedisTarget:
		return p.Addr
	case *PostgresTarget:
		return p.Addr
	case *NATSTarget:
		return p.Addr
	}
	return ""
}

// slug turns a scenario name into a file name part.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimRight(b.String(), "-")
}

func writeSuiteReport(rep *SuiteReport, dir string) error {
	if err := WriteJSON(filepath.Join(dir, "results.json"), rep); err != nil {
		return err
	}
	var md strings.Builder
	if err := WriteSuiteMarkdown(&md, rep); err != nil {
		return err
	}
	for _, sc := range rep.Scenarios {
		if len(sc.Results) == 0 || sc.Results[0].Soak != nil {
			continue
		}
		for _, p := range []struct {
			suffix string
			plot   *LinePlot
		}{
			{"throughput", ThroughputPlot(sc.Name+": throughput", sc.Results)},
			{"latency", LatencyPlot(sc.Name+": latency by percentile", sc.Results)},
		} {
			name := slug(sc.Name) + "-" + p.suffix + ".svg"
			f, err := os.Create(filepath.Join(dir, name))
			if err != nil {
				return fmt.Errorf("cannot write plot: %w", err)
			}
			err = p.plot.WriteSVG(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("cannot write plot %s: %w", name, err)
			}
			fmt.Fprintf(&md, "\n![%s](%s)\n", p.plot.Title, name)
		}
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(md.String()), 0o644)
}

// WriteSuiteMarkdown writes the suite's summary table (one row per
// scenario, eventstored against each peer as a ratio) and the details of
// every run.
func WriteSuiteMarkdown(w io.Writer, rep *SuiteReport) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# eventstored benchmark suite, %s\n\n", rep.Started.Format(time.RFC3339))
	fmt.Fprintf(&b, "Node: %s. Go %s, %d CPUs. Every peer runs on the same machine over loopback, with durable writes.", rep.Node, rep.GoVersion, rep.CPUs)
	if d := rep.DiskSync; d != nil {
		fmt.Fprintf(&b, " Disk: 4 KiB append + fdatasync p50 %.3f ms, p99 %.3f ms (%d samples).", d.P50Ms, d.P99Ms, d.Samples)
	}
	b.WriteString("\n\n")
	peers := []string{"redis", "postgres", "nats"}
	b.WriteString("| scenario | eventstored events/s | p50 ms | p99 ms | p99.9 ms |")
	for _, p := range peers {
		fmt.Fprintf(&b, " %s events/s | ×%s |", p, p)
	}
	b.WriteString(" goal | verdict |\n|---|---:|---:|---:|---:|")
	for range peers {
		b.WriteString("---:|---:|")
	}
	b.WriteString("---|---|\n")
	for _, sc := range rep.Scenarios {
		fmt.Fprintf(&b, "| %s |", mdEscape(sc.Name))
		if len(sc.Results) == 0 {
			b.WriteString(" – | – | – | – |")
		} else if es := sc.Results[0]; es.Soak != nil {
			fmt.Fprintf(&b, " %d/%d alive, %s | handshake %s | %s | – |", es.Soak.Alive, es.Soak.Connections,
				rssText(es.Soak), fmtMs(es.Latency.P50Ms), fmtMs(es.Latency.P99Ms))
		} else {
			fmt.Fprintf(&b, " %s | %s | %s | %s |", fmtRate(es.EventsPerSec), fmtMs(es.Latency.P50Ms), fmtMs(es.Latency.P99Ms), fmtMs(es.Latency.P999Ms))
		}
		for _, p := range peers {
			var pr *Result
			for _, r := range sc.Results {
				if r.Target == p {
					pr = r
				}
			}
			if pr == nil {
				b.WriteString(" – | – |")
				continue
			}
			fmt.Fprintf(&b, " %s | %.2f |", fmtRate(pr.EventsPerSec), sc.Ratios[p])
		}
		fmt.Fprintf(&b, " %s | %s |\n", mdEscape(sc.Goal), mdEscape(sc.Verdict))
	}
	if len(rep.PeerNotes) > 0 {
		b.WriteString("\nPeers not run:\n\n")
		for _, p := range peers {
			if n, ok := rep.PeerNotes[p]; ok {
				fmt.Fprintf(&b, "- %s: %s\n", p, n)
			}
		}
	}
	b.WriteString("\n## Runs\n\n")
	var all []*Result
	for _, sc := range rep.Scenarios {
		all = append(all, sc.Results...)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	return WriteMarkdownRuns(w, all)
}

func rssText(s *SoakResult) string {
	if s.RSSAfterBytes == 0 {
		return "RSS unknown"
	}
	return fmt.Sprintf("%.1f KiB RSS/conn", s.RSSPerConnBytes/1024)
}
