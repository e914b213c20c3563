package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Target is a system under test. Run calls Dial once per connection, then
// Prepare once, then the sessions' methods from many goroutines.
type Target interface {
	// Name is the short name shown in reports ("eventstored", "redis", …).
	Name() string
	// Dial opens one connection (with its handshake). The error must say
	// what could not be reached, e.g. "cannot connect to eventstored at …".
	Dial(ctx context.Context) (Session, error)
	// Prepare runs once before the clients start, on one session: schema
	// creation, prefilling data for reads.
	Prepare(ctx context.Context, cfg *Config, s Session, names []string) error
	// Close releases what Prepare and Dial left behind (not the sessions).
	Close() error
}

// Session is one connection. It is shared by every client assigned to it,
// so its methods must be safe for concurrent use.
type Session interface {
	// Write performs one write request for w and returns the number of
	// events it wrote.
	Write(ctx context.Context, w *Worker) (int, error)
	// Read performs one read request for w and returns the number of
	// events it read.
	Read(ctx context.Context, w *Worker) (int, error)
	Close() error
}

// Worker is the state of one closed-loop client slot. It is owned by one
// goroutine; sessions may read and update it during Write and Read.
type Worker struct {
	ID  int
	Cfg *Config
	Rng *rand.Rand
	// Streams are the names of every stream of the run; for expected
	// version "exact" this worker writes only the streams ≡ ID (mod workers).
	Streams []string
	Workers int
	// Payload is EventSize bytes, reused for every event.
	Payload []byte
	// Versions tracks, for ExpectExact, the last event number of each
	// stream this worker owns (index = stream index).
	Versions map[int]int64
	// Next is the stream index this worker writes next (round robin over
	// its own streams for ExpectExact, random otherwise).
	next int
	// AllCommit, AllPrepare continue this worker's $all read.
	AllCommit, AllPrepare int64
	// Scratch is free for the session to reuse between requests.
	Scratch any
}

// NextWriteStream picks the stream of the next write and, for ExpectExact,
// returns its expected version (-2 for ExpectAny).
func (w *Worker) NextWriteStream() (idx int, expected int64) {
	if w.Cfg.Expected == ExpectExact {
		idx = w.ID + w.next*w.Workers
		if idx >= len(w.Streams) {
			w.next = 0
			idx = w.ID
		}
		w.next++
		v, ok := w.Versions[idx]
		if !ok {
			v = -1
		}
		return idx, v
	}
	return w.Rng.IntN(len(w.Streams)), -2
}

// Wrote records the outcome of an exact write so the next one expects the
// right version.
func (w *Worker) Wrote(idx int, lastEventNumber int64) {
	if w.Cfg.Expected == ExpectExact {
		w.Versions[idx] = lastEventNumber
	}
}

// ErrorKind classifies errors in the report. An error that has a Kind()
// method names its own kind (the client's typed errors do); deadlines count
// as "timeout"; everything else is "other".
func ErrorKind(err error) string {
	var k interface{ Kind() string }
	if errors.As(err, &k) {
		return k.Kind()
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return "timeout"
	}
	return "other"
}

// maxErrorKinds bounds the error map: kinds are a small closed set, but an
// "other" error text could vary without bound, so only kinds are counted and
// one sample text is kept per kind.
const maxErrorKinds = 64

type errorCounts struct {
	mu      sync.Mutex
	counts  map[string]int64
	samples map[string]string
}

func (e *errorCounts) add(err error) {
	k := ErrorKind(err)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.counts == nil {
		e.counts = make(map[string]int64)
		e.samples = make(map[string]string)
	}
	if _, ok := e.counts[k]; !ok && len(e.counts) >= maxErrorKinds {
		k = "other"
	}
	e.counts[k]++
	if _, ok := e.samples[k]; !ok {
		msg := err.Error()
		if len(msg) > 300 {
			msg = msg[:300]
		}
		e.samples[k] = msg
	}
}

// StreamNames returns the stream names of a run.
func StreamNames(runID string, n int) []string {
	names := make([]string, n)
	prefix := "bench-" + runID + "-"
	for i := range names {
		names[i] = prefix + strconv.Itoa(i)
	}
	return names
}

// phases of a run, in order.
const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseDone
)

// Run executes one closed-loop run of cfg against t and returns its result.
// Progress (if enabled) goes to progressOut.
//
// Every client sends a request, waits for the reply, and sends the next
// one (closed loop), so the measured throughput is what the target
// sustains at that concurrency. Requests completing during the warm-up are
// not recorded; the measured window starts when the warm-up ends and stops
// after cfg.Duration or cfg.Requests requests. Throughput is events
// completed in the window divided by the window's length.
func Run(ctx context.Context, cfg Config, t Target, progressOut io.Writer) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Kind == KindSoak {
		return nil, fmt.Errorf("%w: the soak workload runs through RunSoak", ErrInvalidConfig)
	}
	if cfg.RunID == "" {
		cfg.RunID = strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	}
	if ct, ok := t.(configurable); ok {
		ct.configure(&cfg)
	}
	lt, loops := t.(loopTarget)
	loops = loops && lt.drivesLoops(&cfg)
	nSessions := cfg.ConnectionCount()
	if loops {
		nSessions = 1 // for Prepare: the loops dial connections of their own
	}
	sessions, err := dialAll(ctx, t, nSessions)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, s := range sessions {
			s.Close()
		}
	}()
	names := StreamNames(cfg.RunID, cfg.Streams)
	if cfg.Prefill > 0 && cfg.Progress && progressOut != nil {
		fmt.Fprintf(progressOut, "prefilling %s events over %d streams…\n", fmtRate(float64(cfg.Prefill)), cfg.Streams)
	}
	if err := t.Prepare(ctx, &cfg, sessions[0], names); err != nil {
		return nil, fmt.Errorf("cannot prepare %s: %w", t.Name(), err)
	}

	var (
		runCtx, stop = context.WithCancel(ctx)
		tl           = &tally{stop: stop, requestsMax: cfg.Requests, rec: NewRecorder()}
	)
	defer stop()
	context.AfterFunc(runCtx, func() { tl.ended.Store(true) })
	payload := make([]byte, cfg.EventSize)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	var wait func()
	if loops {
		// The target runs every closed loop on event loops of its own
		// (no goroutine per client slot): see loops.go.
		if wait, err = lt.startLoops(runCtx, &cfg, names, payload, tl); err != nil {
			return nil, err
		}
	} else {
		wait = startWorkers(runCtx, &cfg, sessions, names, payload, tl)
	}

	// Warm-up, then the measured window.
	if cfg.Warmup > 0 {
		select {
		case <-time.After(cfg.Warmup):
		case <-runCtx.Done():
		}
	}
	cpu := startCPUMeter(cfg.ServerPID)
	windowStart := time.Now()
	tl.measureAt.Store(windowStart.UnixNano())
	tl.phase.Store(phaseMeasure)

	var bar *progressbar.ProgressBar
	if cfg.Progress && progressOut != nil && (cfg.Duration >= 3*time.Second || cfg.Requests > 0) {
		bar = newBar(&cfg, progressOut)
	}
	var series []float64
	ticker := time.NewTicker(cfg.Interval)
	var deadline <-chan time.Time
	if cfg.Requests == 0 {
		deadline = time.After(cfg.Duration)
	}
	lastEvents, lastTick := int64(0), windowStart
loop:
	for {
		select {
		case now := <-ticker.C:
			e := tl.events.Load()
			series = append(series, float64(e-lastEvents)/now.Sub(lastTick).Seconds())
			lastEvents, lastTick = e, now
			if bar != nil {
				if cfg.Requests > 0 {
					_ = bar.Set64(tl.requests.Load())
				} else {
					_ = bar.Set64(int64(now.Sub(windowStart) / time.Millisecond))
				}
			}
		case <-deadline:
			break loop
		case <-runCtx.Done():
			break loop
		}
	}
	ticker.Stop()
	window := time.Since(windowStart)
	tl.phase.Store(phaseDone)
	totalEvents, totalRequests, totalRead := tl.events.Load(), tl.requests.Load(), tl.readEvents.Load()
	cpuRes := Result{Requests: totalRequests}
	cpu.fill(&cpuRes)
	stop()
	wait()
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(progressOut)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res := &Result{
		Label:           cfg.Label(),
		Target:          t.Name(),
		Config:          cfg,
		Started:         windowStart.UTC(),
		WindowSeconds:   window.Seconds(),
		Requests:        totalRequests,
		Events:          totalEvents,
		EventsPerSec:    float64(totalEvents) / window.Seconds(),
		RequestsPerSec:  float64(totalRequests) / window.Seconds(),
		Latency:         Summarize(tl.rec.Snapshot()),
		Series:          series,
		IntervalSeconds: cfg.Interval.Seconds(),
		Errors:          tl.errs.counts,
		ErrorSamples:    tl.errs.samples,

		ServerCPUSeconds:      cpuRes.ServerCPUSeconds,
		ServerCPUPerRequestUs: cpuRes.ServerCPUPerRequestUs,
		ToolCPUSeconds:        cpuRes.ToolCPUSeconds,
		ToolCPUPerRequestUs:   cpuRes.ToolCPUPerRequestUs,
	}
	if cfg.Kind == KindMixed {
		res.ReadEventsPerSec = float64(totalRead) / window.Seconds()
		res.WriteEventsPerSec = float64(totalEvents-totalRead) / window.Seconds()
	}
	return res, nil
}

// configurable is a Target that takes settings from the run's Config
// before Run dials it.
type configurable interface{ configure(cfg *Config) }

// selfTimed is a Session that bounds each request by Config.Timeout
// itself (the Go client's OperationTimeout, enforced without a timer per
// request), so the worker passes the run's context as it is.
type selfTimed interface{ boundsRequests() bool }

// tally collects the outcome of every request of a run, from whichever
// goroutines complete them (the client slots' goroutines, or the event
// loops of a loop-driven target).
type tally struct {
	ended       atomic.Bool // the run's context is done
	stop        context.CancelFunc
	requestsMax int64 // Config.Requests
	phase       atomic.Int32
	measureAt   atomic.Int64 // unix nanos when the window opened
	events      atomic.Int64
	requests    atomic.Int64
	readEvents  atomic.Int64 // the part of events that was read (mixed reports both)
	errs        errorCounts
	rec         *Recorder
}

// done records one request of worker id sent at start: n events on
// success, else err. Requests that started before the window opened, or
// that end after the run did, are not counted.
func (t *tally) done(id int, start time.Time, n int, read bool, err error) {
	t.doneAt(id, start, time.Now(), n, read, err)
}

// doneAt is done for a request that ended at now.
func (t *tally) doneAt(id int, start, now time.Time, n int, read bool, err error) {
	if t.ended.Load() {
		return // the run ended while this request was in flight
	}
	if t.phase.Load() != phaseMeasure || start.UnixNano() < t.measureAt.Load() {
		return
	}
	if err != nil {
		t.errs.add(err)
		return
	}
	t.rec.Record(id, now.Sub(start))
	t.events.Add(int64(n))
	if read {
		t.readEvents.Add(int64(n))
	}
	if r := t.requests.Add(1); t.requestsMax > 0 && r >= t.requestsMax {
		// NB: ended at once, not when the context's AfterFunc gets to
		// run: the event loops would go on counting meanwhile.
		t.ended.Store(true)
		t.stop()
	}
}

// startWorkers runs one goroutine per client × in-flight slot, each a
// closed loop over its client's session, until ctx ends; the returned
// function waits for them.
func startWorkers(ctx context.Context, cfg *Config, sessions []Session, names []string, payload []byte, tl *tally) (wait func()) {
	var wg sync.WaitGroup
	workers := cfg.Clients * cfg.InFlight
	for i := 0; i < workers; i++ {
		client := i / cfg.InFlight
		s := sessions[client%len(sessions)]
		w := &Worker{
			ID: i, Cfg: cfg, Rng: rand.New(rand.NewPCG(uint64(i)+1, 0x5eed)),
			Streams: names, Workers: workers, Payload: payload, Versions: map[int]int64{},
		}
		st, timed := s.(selfTimed)
		timed = timed && st.boundsRequests()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				read := cfg.Kind == KindRead || (cfg.Kind == KindMixed && w.Rng.Float64() < cfg.ReadRatio)
				start := time.Now()
				opCtx, cancel := ctx, context.CancelFunc(nil)
				if !timed {
					opCtx, cancel = context.WithTimeout(ctx, cfg.Timeout)
				}
				var n int
				var err error
				if read {
					n, err = s.Read(opCtx, w)
				} else {
					n, err = s.Write(opCtx, w)
				}
				if cancel != nil {
					cancel()
				}
				tl.done(w.ID, start, n, read, err)
			}
		}()
	}
	return wg.Wait
}

func newBar(cfg *Config, out io.Writer) *progressbar.ProgressBar {
	max := int64(cfg.Duration / time.Millisecond)
	desc := cfg.Label()
	if cfg.Requests > 0 {
		max = cfg.Requests
	}
	return progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(out),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionShowElapsedTimeOnFinish(),
	)
}

// dialParallelism bounds concurrent connection attempts so that 10,000
// connections do not overflow the listen backlog of the target.
const dialParallelism = 64

// dialAll opens n sessions. On any failure it closes those already open
// and returns the first error.
func dialAll(ctx context.Context, t Target, n int) ([]Session, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sessions := make([]Session, n)
	errc := make(chan error, n)
	sem := make(chan struct{}, dialParallelism)
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if ctx.Err() != nil {
				return // an earlier dial failed; do not hammer a dead target
			}
			s, err := t.Dial(ctx)
			if err != nil {
				errc <- err
				cancel()
				return
			}
			sessions[i] = s
		}()
	}
	wg.Wait()
	close(errc)
	err := <-errc
	if err == nil {
		err = ctx.Err() // cancelled from outside before every dial ran
	}
	if err != nil {
		for _, s := range sessions {
			if s != nil {
				s.Close()
			}
		}
		return nil, err
	}
	return sessions, nil
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }
