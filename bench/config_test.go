package bench

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDefaultsAreValid(t *testing.T) {
	for _, k := range []Kind{KindWrite, KindRead, KindMixed, KindSoak} {
		c := Defaults(k)
		if err := c.Validate(); err != nil {
			t.Errorf("Defaults(%s) invalid: %v", k, err)
		}
	}
}

// TestValidateRejectsEachBadFlag changes one field of a valid config at a
// time and checks that the error wraps ErrInvalidConfig and names the flag.
func TestValidateRejectsEachBadFlag(t *testing.T) {
	f := func(kind Kind, mutate func(*Config), wantInMsg string) {
		t.Helper()
		c := Defaults(kind)
		mutate(&c)
		err := c.Validate()
		if err == nil {
			t.Fatalf("expected an error mentioning %q; got nil", wantInMsg)
		}
		if !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("unexpected error type; got %v; want it to wrap ErrInvalidConfig", err)
		}
		if !strings.Contains(err.Error(), wantInMsg) {
			t.Fatalf("unexpected error text; got %q; want it to mention %q", err, wantInMsg)
		}
	}
	f(KindWrite, func(c *Config) { c.Kind = "flood" }, `unknown workload "flood"`)
	f(KindWrite, func(c *Config) { c.Target = "mysql" }, `--target "mysql"`)
	f(KindWrite, func(c *Config) { c.Addr = "localhost" }, "--addr")
	f(KindWrite, func(c *Config) { c.Addr = ":1113" }, "missing host")
	f(KindWrite, func(c *Config) { c.Addr = "127.0.0.1:70000" }, "not 1..65535")
	f(KindWrite, func(c *Config) { c.Clients = 0 }, "--clients 0")
	f(KindWrite, func(c *Config) { c.Clients = MaxClients + 1 }, "--clients")
	f(KindWrite, func(c *Config) { c.InFlight = 0 }, "--inflight 0")
	f(KindWrite, func(c *Config) { c.Driver = "gnet" }, `--driver "gnet"`)
	f(KindWrite, func(c *Config) { c.Connections = c.Clients + 1 }, "--connections")
	f(KindWrite, func(c *Config) { c.Duration, c.Requests = 0, 0 }, "--duration or --requests")
	f(KindWrite, func(c *Config) { c.Requests = -1 }, "--requests -1")
	f(KindWrite, func(c *Config) { c.Warmup = -time.Second }, "--warmup")
	f(KindWrite, func(c *Config) { c.Timeout = 0 }, "--timeout")
	f(KindWrite, func(c *Config) { c.Interval = time.Millisecond }, "--interval")
	f(KindWrite, func(c *Config) { c.Streams = 0 }, "--streams 0")
	f(KindWrite, func(c *Config) { c.Streams = MaxStreams + 1 }, "--streams")
	f(KindWrite, func(c *Config) { c.EventSize = -1 }, "--event-size")
	f(KindWrite, func(c *Config) { c.EventSize = MaxEventSizeBytes + 1 }, "--event-size")
	f(KindWrite, func(c *Config) { c.EventsPerWrite = 0 }, "--events-per-write 0")
	f(KindWrite, func(c *Config) { c.EventsPerWrite = MaxEventsPerWrite + 1 }, "--events-per-write")
	f(KindWrite, func(c *Config) { c.Expected = "-2" }, `--expected-version "-2"`)
	f(KindWrite, func(c *Config) { c.Expected, c.Streams = ExpectExact, 4 }, "one writer per stream")
	f(KindWrite, func(c *Config) { c.User = strings.Repeat("u", 256) }, "255 bytes")
	f(KindRead, func(c *Config) { c.ReadMode = "index" }, `--read "index"`)
	f(KindRead, func(c *Config) { c.PageSize = 0 }, "--page 0")
	f(KindRead, func(c *Config) { c.PageSize = MaxPageSize + 1 }, "--page")
	f(KindRead, func(c *Config) { c.Prefill = 0 }, "--prefill 0")
	f(KindRead, func(c *Config) { c.Prefill = 10 }, "every stream needs an event")
	f(KindRead, func(c *Config) { c.Expected = ExpectExact }, "write workload only")
	f(KindRead, func(c *Config) { c.Target = "redis" }, "supports only the write workload")
	f(KindMixed, func(c *Config) { c.ReadRatio = 1 }, "--read-ratio")
	f(KindSoak, func(c *Config) { c.Target = "eventstored-http" }, "TCP connections")
}

func TestValidateSubscribe(t *testing.T) {
	c := Defaults(KindSubscribe)
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c.Target = "eventstored-http"
	if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "over TCP") {
		t.Fatalf("http target: %v", err)
	}
	c = Defaults(KindSubscribe)
	c.Rate = subscribeRateMax + 1
	if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "--rate") {
		t.Fatalf("rate over the limit: %v", err)
	}
}

func TestValidateAcceptsExactWithOneWriterPerStream(t *testing.T) {
	c := Defaults(KindWrite)
	c.Expected, c.Clients, c.InFlight, c.Streams = ExpectExact, 8, 2, 16
	if err := c.Validate(); err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func TestWorkerExactVersionsRoundRobinOverOwnStreams(t *testing.T) {
	cfg := Defaults(KindWrite)
	cfg.Expected = ExpectExact
	w := &Worker{ID: 1, Cfg: &cfg, Streams: StreamNames("t", 7), Workers: 3, Versions: map[int]int64{}}
	// Worker 1 of 3 owns streams 1 and 4.
	var got []int
	for i := 0; i < 4; i++ {
		idx, exp := w.NextWriteStream()
		got = append(got, idx)
		if want := int64(-1) + int64(i/2)*2; exp != want {
			t.Fatalf("write %d: unexpected expected version; got %d; want %d", i, exp, want)
		}
		w.Wrote(idx, exp+2) // pretend each write added two events
	}
	if want := []int{1, 4, 1, 4}; !equalInts(got, want) {
		t.Fatalf("unexpected streams; got %v; want %v", got, want)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
