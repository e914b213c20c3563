package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventstored/eventstored/client"
	"github.com/eventstored/eventstored/codec"
)

// The subscribe workload measures fan-out: cfg.Clients volatile
// subscribers on one stream (spread over cfg.Connections connections, 32
// by default), while subscribeWriters clients write to that stream at a
// steady cfg.Rate events per second (open loop: a write is sent on
// schedule whether or not earlier ones finished). Each event carries its
// send time; the latency recorded is write-sent → delivered to each
// subscriber, so one event gives Clients samples. Throughput is
// deliveries per second.

const (
	subscribeWriters       = 4
	subscribeInflightMax   = 1024 // per writer: 400 ms of writes at 10,000/s
	subscribeConnsDefault  = 32
	subscribeRateDefault   = 10_000
	subscribeRateMax       = 1_000_000
	subscribeStreamPostfix = "fanout"
)

// RunSubscribe runs the subscribe workload against eventstored over TCP.
func RunSubscribe(ctx context.Context, cfg Config, creds *client.Credentials, progressOut io.Writer) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Kind != KindSubscribe {
		return nil, fmt.Errorf("%w: RunSubscribe runs the subscribe workload only", ErrInvalidConfig)
	}
	if cfg.RunID == "" {
		cfg.RunID = strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	}
	rate := cfg.Rate
	if rate <= 0 {
		rate = subscribeRateDefault
	}
	nconn := cfg.Connections
	if nconn == 0 {
		nconn = min(cfg.Clients, subscribeConnsDefault)
	}
	stream := "bench-" + cfg.RunID + "-" + subscribeStreamPostfix
	opts := client.Options{Credentials: creds, OperationTimeout: cfg.Timeout}
	var clients []*client.Client
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	dial := func() (*client.Client, error) {
		c, err := client.Dial(ctx, cfg.Addr, opts)
		if err == nil {
			clients = append(clients, c)
		}
		return c, err
	}
	var (
		measuring atomic.Bool
		dropped   atomic.Int64
		rec       = NewRecorder()
		wrec      = NewRecorder() // write sent → acknowledged (durable)
		errs      errorCounts
	)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	epoch := time.Now() // events carry time.Since(epoch), monotonic
	for i := 0; i < nconn; i++ {
		c, err := dial()
		if err != nil {
			return nil, err
		}
		conn := i
		for j := i; j < cfg.Clients; j += nconn {
			chk := &subscriberCheck{stream: stream}
			sub, err := c.SubscribeToStream(ctx, stream, false, func(e *codec.ResolvedEvent) {
				// NB: chk.start (on this goroutine, after the
				// confirmation) happens before any push of the stream:
				// the writers start only once every subscription is
				// confirmed.
				if bad := chk.check(e); bad != "" {
					errs.add(pushError(bad))
					return
				}
				if len(e.Event.Data) < 8 || !measuring.Load() {
					return
				}
				// Recorded under the connection's index: its subscriptions'
				// callbacks all run on its reader goroutine, so each
				// recorder shard serves few goroutines.
				sent := int64(binary.LittleEndian.Uint64(e.Event.Data))
				rec.Record(conn, time.Since(epoch)-time.Duration(sent))
			}, func(error) {
				if runCtx.Err() == nil {
					dropped.Add(1)
				}
			})
			if err != nil {
				return nil, fmt.Errorf("subscriber %d: %w", j, err)
			}
			chk.start(sub.LastEventNumber)
		}
	}
	payload := max(cfg.EventSize, 8)
	var wg sync.WaitGroup
	var written atomic.Int64
	period := time.Duration(int64(time.Second) * subscribeWriters / int64(rate))
	for i := 0; i < subscribeWriters; i++ {
		c, err := dial()
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			data := make([]byte, payload)
			next := time.Now().Add(time.Duration(i) * period / subscribeWriters)
			// Writes go out on schedule, each from its own goroutine, so
			// that slow replies do not hold the rate back. At most
			// subscribeInflightMax per writer: beyond that the schedule
			// slips (the summary's req/s falls below --rate) and the time
			// a write waited for a slot is not in its latency.
			sem := make(chan struct{}, subscribeInflightMax)
			for runCtx.Err() == nil {
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				}
				next = next.Add(period)
				select {
				case sem <- struct{}{}:
				case <-runCtx.Done():
					return
				}
				d := append([]byte(nil), data...)
				t0 := time.Now()
				binary.LittleEndian.PutUint64(d, uint64(t0.Sub(epoch)))
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					opCtx, cancel := context.WithTimeout(runCtx, cfg.Timeout)
					defer cancel()
					_, err := c.AppendToStream(opCtx, stream, client.ExpectedAny, client.EventData{ID: client.NewGUID(), Type: "tick", Data: d})
					if err != nil && runCtx.Err() == nil && measuring.Load() {
						errs.add(err)
					} else if err == nil && measuring.Load() {
						wrec.Record(i, time.Since(t0))
					}
					written.Add(1)
				}()
			}
		}(i)
	}
	select {
	case <-time.After(cfg.Warmup):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	rec.Reset()
	wrec.Reset()
	cpu := startCPUMeter(cfg.ServerPID)
	measuring.Store(true)
	started := time.Now()
	w0 := written.Load()
	select {
	case <-time.After(cfg.Duration):
	case <-ctx.Done():
	}
	measuring.Store(false)
	window := time.Since(started).Seconds()
	// CPU over the window per delivery (the node's per push, the tool's
	// per received push): robust where latency on a shared machine is not.
	cpuRes := Result{Requests: int64(rec.Snapshot().TotalCount())}
	cpu.fill(&cpuRes)
	stop()
	wg.Wait()
	res := &Result{Label: fmt.Sprintf("subscribe %d subscribers @ %d ev/s", cfg.Clients, rate), Target: "eventstored",
		Config: cfg, Started: started, WindowSeconds: window, Requests: written.Load() - w0,
		Latency: Summarize(rec.Snapshot()), IntervalSeconds: cfg.Interval.Seconds()}
	// Every delivery in the window is one latency sample (no shared
	// counter on the delivery path).
	res.Events = res.Latency.Count
	wl := Summarize(wrec.Snapshot())
	res.WriteLatency = &wl
	res.EventsPerSec = float64(res.Events) / window
	// In the summary, per request = per write with all its deliveries.
	res.ServerCPUSeconds, res.ToolCPUSeconds = cpuRes.ServerCPUSeconds, cpuRes.ToolCPUSeconds
	if res.Requests > 0 {
		res.ServerCPUPerRequestUs = res.ServerCPUSeconds * 1e6 / float64(res.Requests)
		res.ToolCPUPerRequestUs = res.ToolCPUSeconds * 1e6 / float64(res.Requests)
	}
	res.RequestsPerSec = float64(res.Requests) / window
	errs.mu.Lock()
	res.Errors, res.ErrorSamples = errs.counts, errs.samples
	errs.mu.Unlock()
	if n := dropped.Load(); n > 0 {
		if res.Errors == nil {
			res.Errors = map[string]int64{}
		}
		res.Errors["subscription dropped"] = n
	}
	if progressOut != nil {
		fmt.Fprintf(progressOut, "subscribe: %d writes, %d deliveries in %.1f s", res.Requests, res.Events, window)
		if cpuRes.ServerCPUSeconds > 0 {
			fmt.Fprintf(progressOut, "; node CPU %.2f cores, %.2f µs/delivery", cpuRes.ServerCPUSeconds/window, cpuRes.ServerCPUPerRequestUs)
		}
		if cpuRes.ToolCPUSeconds > 0 {
			fmt.Fprintf(progressOut, "; tool CPU %.2f cores, %.2f µs/delivery", cpuRes.ToolCPUSeconds/window, cpuRes.ToolCPUPerRequestUs)
		}
		fmt.Fprintln(progressOut)
	}
	return res, nil
}

// subscriberCheck verifies the pushes of one subscriber of the bench
// stream: each must be of that stream and carry the event number after
// the previous one. It is used on the subscription's connection reader
// goroutine only.
type subscriberCheck struct {
	stream  string
	next    int64 // event number expected next
	started atomic.Bool
}

// start sets the first expected number from the confirmation's last
// event number (-1 for a new stream).
func (c *subscriberCheck) start(lastEventNumber int64) {
	c.next = lastEventNumber + 1
	c.started.Store(true)
}

// check returns "" for the expected event, else the kind of error. After
// a gap or a repeat it follows the number received, so one fault counts
// once.
func (c *subscriberCheck) check(e *codec.ResolvedEvent) string {
	switch {
	case !e.HasEvent || e.Event.EventStreamID != c.stream:
		return "push of another stream"
	case !c.started.Load():
		return "push before the confirmation"
	case e.Event.EventNumber == c.next:
		c.next++
		return ""
	case e.Event.EventNumber > c.next:
		c.next = e.Event.EventNumber + 1
		return "push gap (event numbers skipped)"
	}
	c.next = e.Event.EventNumber + 1
	return "push repeated or out of order"
}

// pushError is a failed subscriberCheck; its text is its report kind.
type pushError string

func (e pushError) Error() string { return string(e) }
func (e pushError) Kind() string  { return string(e) }
