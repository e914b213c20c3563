package bench

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memTarget is a Target behind the runner's seam: writes succeed at once
// except every errEvery-th, which fails with a kinded error; it records
// what the runner asked for.
type memTarget struct {
	dialErrAt int32 // the dial number that fails (1-based), 0: none
	dials     atomic.Int32
	closed    atomic.Int32
	writes    atomic.Int64
	errEvery  int64
	prepared  []string
	mu        sync.Mutex
	perStream map[string]int
}

func (m *memTarget) Name() string { return "mem" }
func (m *memTarget) Close() error { return nil }
func (m *memTarget) Dial(ctx context.Context) (Session, error) {
	n := m.dials.Add(1)
	if n == m.dialErrAt {
		return nil, errors.New("cannot connect to mem: refused")
	}
	return &memSession{m: m}, nil
}
func (m *memTarget) Prepare(ctx context.Context, cfg *Config, s Session, names []string) error {
	m.prepared = names
	return nil
}

type memSession struct{ m *memTarget }

func (s *memSession) Write(ctx context.Context, w *Worker) (int, error) {
	n := s.m.writes.Add(1)
	idx, _ := w.NextWriteStream()
	s.m.mu.Lock()
	s.m.perStream[w.Streams[idx]]++
	s.m.mu.Unlock()
	if s.m.errEvery > 0 && n%s.m.errEvery == 0 {
		return 0, namedKind("wrong_expected_version")
	}
	time.Sleep(50 * time.Microsecond) // yield, like a network round trip
	return w.Cfg.EventsPerWrite, nil
}
func (s *memSession) Read(ctx context.Context, w *Worker) (int, error) { return 7, nil }
func (s *memSession) Close() error                                     { s.m.closed.Add(1); return nil }

func TestRunStopsAfterRequestsAndCountsEventsAndErrors(t *testing.T) {
	cfg := Defaults(KindWrite)
	cfg.Clients, cfg.InFlight, cfg.Connections = 4, 2, 2
	cfg.Requests, cfg.Duration, cfg.Warmup = 2000, 0, 0
	cfg.EventsPerWrite, cfg.Streams, cfg.Progress = 3, 10, false
	cfg.Interval = 10 * time.Millisecond
	m := &memTarget{errEvery: 10, perStream: map[string]int{}}
	res, err := Run(context.Background(), cfg, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests < cfg.Requests {
		t.Fatalf("unexpected requests; got %d; want at least %d", res.Requests, cfg.Requests)
	}
	if res.Events != 3*res.Requests {
		t.Fatalf("unexpected events; got %d; want 3 × %d requests", res.Events, res.Requests)
	}
	if res.Latency.Count != res.Requests {
		t.Fatalf("every successful request must be timed; got %d samples for %d requests", res.Latency.Count, res.Requests)
	}
	if res.Errors["wrong_expected_version"] == 0 || res.ErrorSamples["wrong_expected_version"] == "" {
		t.Fatalf("errors not counted by kind: %v", res.Errors)
	}
	if got := m.dials.Load(); got != 2 {
		t.Fatalf("unexpected connections; got %d; want 2", got)
	}
	if got := m.closed.Load(); got != 2 {
		t.Fatalf("sessions not closed; got %d closes; want 2", got)
	}
	if len(m.prepared) != 10 || !strings.HasPrefix(m.prepared[0], "bench-"+res.Config.RunID+"-") {
		t.Fatalf("unexpected stream names %v", m.prepared[:1])
	}
}

func TestRunDurationWindowExcludesWarmup(t *testing.T) {
	cfg := Defaults(KindWrite)
	cfg.Clients, cfg.Duration, cfg.Warmup, cfg.Progress = 2, 200*time.Millisecond, 100*time.Millisecond, false
	cfg.Interval = 50 * time.Millisecond
	m := &memTarget{perStream: map[string]int{}}
	res, err := Run(context.Background(), cfg, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.WindowSeconds < 0.2 {
		t.Fatalf("window shorter than --duration: %v s", res.WindowSeconds)
	}
	// Requests completed during the warm-up (and those cut off at the end)
	// are not counted, so the measured ones are strictly fewer than all.
	if total := m.writes.Load(); res.Requests >= total {
		t.Fatalf("warm-up requests were counted: %d measured of %d writes", res.Requests, total)
	}
	if len(res.Series) == 0 {
		t.Fatal("no throughput samples")
	}
	if res.Events == 0 {
		t.Fatal("no events measured")
	}
}

func TestRunFailsCleanlyWhenADialFails(t *testing.T) {
	cfg := Defaults(KindWrite)
	cfg.Clients, cfg.Progress = 8, false
	m := &memTarget{dialErrAt: 3, perStream: map[string]int{}}
	_, err := Run(context.Background(), cfg, m, nil)
	if err == nil || !strings.Contains(err.Error(), "cannot connect to mem") {
		t.Fatalf("unexpected error; got %v; want the dial error", err)
	}
	if opened, closed := m.dials.Load()-1, m.closed.Load(); closed != opened {
		t.Fatalf("sessions leaked: %d opened, %d closed", opened, closed)
	}
}

func TestRunRejectsInvalidConfigBeforeDialing(t *testing.T) {
	cfg := Defaults(KindWrite)
	cfg.Clients = -1
	m := &memTarget{perStream: map[string]int{}}
	if _, err := Run(context.Background(), cfg, m, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("unexpected error %v", err)
	}
	if m.dials.Load() != 0 {
		t.Fatal("dialled despite an invalid config")
	}
}

func TestRunHonoursCancellation(t *testing.T) {
	cfg := Defaults(KindWrite)
	cfg.Clients, cfg.Duration, cfg.Warmup, cfg.Progress = 2, time.Hour, 0, false
	ctx, cancel := context.WithCancel(context.Background())
	m := &memTarget{perStream: map[string]int{}}
	go func() {
		for m.writes.Load() < 100 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	if _, err := Run(ctx, cfg, m, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("unexpected error %v; want context.Canceled", err)
	}
}

func TestRunMixedSplitsReadsAndWrites(t *testing.T) {
	cfg := Defaults(KindMixed)
	cfg.Clients, cfg.Requests, cfg.Duration, cfg.Warmup, cfg.Progress = 2, 500, 0, 0, false
	res, err := Run(context.Background(), cfg, &memTarget{perStream: map[string]int{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// memSession reads 7 events per read and writes 1 per write.
	if res.ReadEventsPerSec == 0 || res.WriteEventsPerSec == 0 {
		t.Fatalf("mixed run without both reads and writes: %+v", res)
	}
	if sum := res.ReadEventsPerSec + res.WriteEventsPerSec; sum < res.EventsPerSec*0.999 || sum > res.EventsPerSec*1.001 {
		t.Fatalf("split %v + %v does not add up to %v", res.ReadEventsPerSec, res.WriteEventsPerSec, res.EventsPerSec)
	}
	if !strings.Contains(res.Summary(), "events/s, wrote") {
		t.Fatalf("summary lacks the split: %s", res.Summary())
	}
}
