package bench

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Kind names a workload.
type Kind string

const (
	KindWrite     Kind = "write"     // write flood
	KindRead      Kind = "read"      // read flood (see ReadMode)
	KindMixed     Kind = "mixed"     // reads and writes in one closed loop
	KindSubscribe Kind = "subscribe" // subscription fan-out
	KindSoak      Kind = "soak"      // idle connections through heartbeats
)

// ReadMode selects what a read request asks for.
type ReadMode string

const (
	ReadEvent  ReadMode = "event"  // ReadEvent of one random prefilled event
	ReadStream ReadMode = "stream" // one page of a prefilled stream, forward
	ReadAll    ReadMode = "all"    // one page of $all, forward, wrapping at the end
)

// Expected-version policies of the write workload.
const (
	ExpectAny   = "any"   // -2: no check, every client may share streams
	ExpectExact = "exact" // the writer tracks each stream's version; one writer per stream
)

// Limits on workload parameters. They are generous for the machine this
// runs on (2 cores, 24 GiB) but stop a typo from asking for something that
// can only exhaust memory or file descriptors.
const (
	MaxClients        = 100_000
	MaxInFlight       = 4096
	MaxEventSizeBytes = 1 << 20 // 1 MiB per event is plenty for a load test
	MaxEventsPerWrite = 4096    // the protocol's read page limit; writes beyond it make no sense here
	MaxPageSize       = 4096    // spec §4.10 MaxReadCount
	MaxStreams        = 1_000_000
	MaxPrefillEvents  = 100_000_000
)

// ErrInvalidConfig wraps every validation error, so callers can tell a bad
// flag from a run-time failure.
var ErrInvalidConfig = errors.New("invalid workload")

// ErrSubscriptionsUnavailable was returned by the subscription fan-out
// workload before subscriptions landed; kept for callers that test for it.
var ErrSubscriptionsUnavailable = errors.New("subscription fan-out is not available")

// Config describes one run. Zero values are replaced by Defaults.
type Config struct {
	Kind Kind `json:"kind"`
	// Target is "eventstored" (TCP), "eventstored-http", "redis", "postgres" or "nats".
	Target string `json:"target"`
	// Addr is host:port of the target (TCP port for eventstored).
	Addr string `json:"addr"`
	// User and Password are the credentials sent with Authenticate.
	User     string `json:"user,omitempty"`
	Password string `json:"-"`

	// Clients is the number of closed-loop clients; each keeps InFlight
	// requests outstanding, waiting for each reply before sending the next.
	Clients  int `json:"clients"`
	InFlight int `json:"inflight"`
	// Connections the clients share (round robin); 0 = one per client.
	Connections int `json:"connections"`
	// Driver of the eventstored TCP write workload: DriverLoops (the
	// tool's event loops, loops.go; the default) or DriverClient (package
	// client, a goroutine per client slot). Reads and the other targets
	// always go through their clients.
	Driver string `json:"driver,omitempty"`

	// Duration of the measured window; Requests, if > 0, ends the window
	// after that many requests instead.
	Duration time.Duration `json:"duration_ns"`
	Requests int64         `json:"requests,omitempty"`
	Warmup   time.Duration `json:"warmup_ns"`
	// Timeout bounds each request.
	Timeout time.Duration `json:"timeout_ns"`

	Streams        int    `json:"streams"`
	EventSize      int    `json:"event_size"`
	EventsPerWrite int    `json:"events_per_write"`
	Expected       string `json:"expected_version"`

	ReadMode  ReadMode `json:"read_mode,omitempty"`
	PageSize  int      `json:"page_size,omitempty"`
	Prefill   int64    `json:"prefill,omitempty"`
	ReadRatio float64  `json:"read_ratio,omitempty"` // mixed only: share of reads

	// Interval is the width of one throughput-over-time bucket.
	Interval time.Duration `json:"interval_ns"`
	// Rate is the subscribe workload's write rate in events/s (0: 10,000).
	Rate int `json:"rate,omitempty"`
	// Progress shows a progress bar on stderr for runs of 3 s or more.
	Progress bool `json:"-"`
	// ServerPID, if > 0, is the target's process: its CPU time over the
	// window is reported (Result.ServerCPUSeconds).
	ServerPID int `json:"-"`
	// RunID makes stream names unique per run, so repeated runs against one
	// node do not collide on expected versions.
	RunID string `json:"run_id"`
}

// Defaults returns a config with every default filled in for kind.
func Defaults(kind Kind) Config {
	c := Config{
		Kind:           kind,
		Target:         "eventstored",
		Addr:           "127.0.0.1:1113",
		User:           "admin",
		Password:       "changeit",
		Clients:        16,
		InFlight:       1,
		Driver:         DriverLoops,
		Duration:       10 * time.Second,
		Warmup:         2 * time.Second,
		Timeout:        7 * time.Second,
		Streams:        1000,
		EventSize:      100,
		EventsPerWrite: 1,
		Expected:       ExpectAny,
		ReadMode:       ReadStream,
		PageSize:       100,
		Prefill:        0,
		ReadRatio:      0.5,
		Interval:       time.Second,
		Progress:       true,
	}
	switch kind {
	case KindRead, KindMixed:
		c.Prefill = 100_000
		c.Streams = 100
	case KindSubscribe:
		c.Clients = 100 // subscribers
		c.Rate = subscribeRateDefault
	case KindSoak:
		c.Clients = 1000
		c.Duration = 10 * time.Second
		c.Warmup = 0
	}
	return c
}

// Validate checks every parameter and returns an error wrapping
// ErrInvalidConfig that names the flag at fault.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch c.Kind {
	case KindWrite, KindRead, KindMixed, KindSoak:
	case KindSubscribe:
		if c.Target != "eventstored" {
			return bad("the subscribe workload runs over TCP; use --target eventstored")
		}
		if c.Rate < 0 || c.Rate > subscribeRateMax {
			return bad("--rate %d out of range 0..%d", c.Rate, subscribeRateMax)
		}
	default:
		return bad("unknown workload %q (want write, read, mixed, subscribe or soak)", c.Kind)
	}
	switch c.Target {
	case "eventstored", "eventstored-http", "redis", "postgres", "nats":
	default:
		return bad("--target %q is not one of eventstored, eventstored-http, redis, postgres, nats", c.Target)
	}
	if err := validateAddr(c.Addr); err != nil {
		return bad("--addr %q: %v", c.Addr, err)
	}
	if c.Target != "eventstored" && c.Target != "eventstored-http" && c.Kind != KindWrite {
		return bad("--target %s supports only the write workload", c.Target)
	}
	if c.Target == "eventstored-http" && c.Kind == KindSoak {
		return bad("the soak workload holds TCP connections; use --target eventstored")
	}
	if len(c.User) > 255 || len(c.Password) > 255 {
		return bad("--user and --password must be at most 255 bytes each (spec §1.6)")
	}
	if c.Clients < 1 || c.Clients > MaxClients {
		return bad("--clients %d out of range 1..%d", c.Clients, MaxClients)
	}
	if c.InFlight < 1 || c.InFlight > MaxInFlight {
		return bad("--inflight %d out of range 1..%d", c.InFlight, MaxInFlight)
	}
	switch c.Driver {
	case "", DriverLoops, DriverClient:
	default:
		return bad("--driver %q is not one of %s, %s", c.Driver, DriverLoops, DriverClient)
	}
	if c.Connections < 0 || c.Connections > c.Clients {
		return bad("--connections %d out of range 0..clients (%d)", c.Connections, c.Clients)
	}
	if c.Duration <= 0 && c.Requests <= 0 {
		return bad("give a positive --duration or --requests")
	}
	if c.Requests < 0 {
		return bad("--requests %d is negative", c.Requests)
	}
	if c.Duration > 24*time.Hour {
		return bad("--duration %v is longer than a day", c.Duration)
	}
	if c.Warmup < 0 || c.Warmup > time.Hour {
		return bad("--warmup %v out of range 0..1h", c.Warmup)
	}
	if c.Timeout <= 0 || c.Timeout > 10*time.Minute {
		return bad("--timeout %v out of range (0, 10m]", c.Timeout)
	}
	if c.Interval < 10*time.Millisecond || c.Interval > time.Hour {
		return bad("--interval %v out of range 10ms..1h", c.Interval)
	}
	if c.Kind == KindSoak {
		return nil
	}
	if c.Streams < 1 || c.Streams > MaxStreams {
		return bad("--streams %d out of range 1..%d", c.Streams, MaxStreams)
	}
	if c.EventSize < 0 || c.EventSize > MaxEventSizeBytes {
		return bad("--event-size %d out of range 0..%d", c.EventSize, MaxEventSizeBytes)
	}
	if c.EventsPerWrite < 1 || c.EventsPerWrite > MaxEventsPerWrite {
		return bad("--events-per-write %d out of range 1..%d", c.EventsPerWrite, MaxEventsPerWrite)
	}
	switch c.Expected {
	case ExpectAny:
	case ExpectExact:
		if c.Kind != KindWrite {
			return bad("--expected-version exact applies to the write workload only")
		}
		if c.Streams < c.Clients*c.InFlight {
			return bad("--expected-version exact needs one writer per stream: --streams %d < clients×inflight %d", c.Streams, c.Clients*c.InFlight)
		}
	default:
		return bad("--expected-version %q is not any or exact", c.Expected)
	}
	if c.Kind == KindRead || c.Kind == KindMixed {
		switch c.ReadMode {
		case ReadEvent, ReadStream, ReadAll:
		default:
			return bad("--read %q is not event, stream or all", c.ReadMode)
		}
		if c.PageSize < 1 || c.PageSize > MaxPageSize {
			return bad("--page %d out of range 1..%d", c.PageSize, MaxPageSize)
		}
		if c.Prefill < 1 || c.Prefill > MaxPrefillEvents {
			return bad("--prefill %d out of range 1..%d (reads need data)", c.Prefill, MaxPrefillEvents)
		}
		if c.Prefill < int64(c.Streams) {
			return bad("--prefill %d is below --streams %d: every stream needs an event", c.Prefill, c.Streams)
		}
	}
	if c.Kind == KindMixed && (c.ReadRatio <= 0 || c.ReadRatio >= 1) {
		return bad("--read-ratio %v must be strictly between 0 and 1", c.ReadRatio)
	}
	return nil
}

func validateAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "" {
		return errors.New("missing host")
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("port %q is not 1..65535", port)
	}
	return nil
}

// ConnectionCount is the effective number of connections.
func (c *Config) ConnectionCount() int {
	if c.Connections == 0 {
		return c.Clients
	}
	return c.Connections
}

// Label is a short human description of the run, used in summaries.
func (c *Config) Label() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", c.Target, c.Kind)
	switch c.Kind {
	case KindSoak:
		fmt.Fprintf(&b, " %d conns", c.Clients)
		return b.String()
	case KindRead:
		fmt.Fprintf(&b, "(%s", c.ReadMode)
		if c.ReadMode != ReadEvent {
			fmt.Fprintf(&b, " page %d", c.PageSize)
		}
		b.WriteString(")")
	case KindMixed:
		fmt.Fprintf(&b, "(%.0f%% %s reads)", c.ReadRatio*100, c.ReadMode)
	}
	fmt.Fprintf(&b, " %d client", c.Clients)
	if c.Clients != 1 {
		b.WriteString("s")
	}
	if c.InFlight > 1 {
		fmt.Fprintf(&b, "×%d in flight", c.InFlight)
	}
	if c.Kind != KindRead {
		fmt.Fprintf(&b, " × %d ev/write, %d B", c.EventsPerWrite, c.EventSize)
	}
	return b.String()
}
