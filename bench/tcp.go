package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventstored/eventstored/client"
	"github.com/eventstored/eventstored/codec"
)

// TCPTarget drives eventstored (or Event Store 4.0.x) over the external TCP
// protocol through package client: one client.Client per session.
type TCPTarget struct {
	Addr        string
	Credentials *client.Credentials
	// MaxInFlight per connection (client.Options.MaxInFlight); 0 = default.
	MaxInFlight int
	// timeout is Config.Timeout, set by Run before it dials (configure):
	// the client's OperationTimeout, so that requests need no context
	// timer of their own.
	timeout time.Duration

	// perStream is the number of prefilled events in each stream (set by
	// Prepare, read-only afterwards).
	perStream int64
}

func (t *TCPTarget) Name() string { return "eventstored" }
func (t *TCPTarget) Close() error { return nil }

// configure implements configurable.
func (t *TCPTarget) configure(cfg *Config) { t.timeout = cfg.Timeout }

func (t *TCPTarget) Dial(ctx context.Context) (Session, error) {
	c, err := client.Dial(ctx, t.Addr, client.Options{Credentials: t.Credentials, MaxInFlight: t.MaxInFlight, OperationTimeout: t.timeout})
	if err != nil {
		return nil, fmt.Errorf("cannot connect to eventstored at %s: %w", t.Addr, err)
	}
	return &tcpSession{t: t, c: c}, nil
}

// prefillBatch is the number of events per write while prefilling.
const prefillBatch = 100

// Prepare writes cfg.Prefill events spread evenly over the run's streams
// (reads pick event numbers within what every stream holds).
func (t *TCPTarget) Prepare(ctx context.Context, cfg *Config, s Session, names []string) error {
	if cfg.Prefill == 0 {
		return nil
	}
	t.perStream = cfg.Prefill / int64(len(names))
	return prefill(ctx, s.(*tcpSession).c, names, t.perStream, cfg.EventSize)
}

// prefill writes perStream events to each stream, 16 writers at once.
func prefill(ctx context.Context, c *client.Client, names []string, perStream int64, size int) error {
	payload := make([]byte, size)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			evs := make([]client.EventData, 0, prefillBatch)
			for {
				i := next.Add(1) - 1
				if i >= int64(len(names)) || ctx.Err() != nil {
					return
				}
				for written := int64(0); written < perStream; {
					n := min(perStream-written, prefillBatch)
					evs = evs[:0]
					for k := int64(0); k < n; k++ {
						evs = append(evs, client.EventData{ID: client.NewGUID(), Type: "bench", Data: payload})
					}
					if _, err := c.AppendToStream(ctx, names[i], client.ExpectedAny, evs...); err != nil {
						once.Do(func() { firstErr = fmt.Errorf("prefill of %s: %w", names[i], err) })
						return
					}
					written += n
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

type tcpSession struct {
	t *TCPTarget
	c *client.Client
}

// tcpScratch is a worker's reusable request state.
type tcpScratch struct {
	events []client.EventData
}

// randomGUID makes a version-4 GUID from the worker's generator: cheaper
// than crypto/rand, and unique enough for event ids of one load test.
func randomGUID(w *Worker) codec.GUID {
	var g codec.GUID
	a, b := w.Rng.Uint64(), w.Rng.Uint64()
	for i := 0; i < 8; i++ {
		g[i], g[8+i] = byte(a>>(8*i)), byte(b>>(8*i))
	}
	g[7] = g[7]&0x0f | 0x40 // version nibble: .NET byte 7 holds RFC byte 6
	g[8] = g[8]&0x3f | 0x80
	return g
}

func (s *tcpSession) Write(ctx context.Context, w *Worker) (int, error) {
	sc, _ := w.Scratch.(*tcpScratch)
	if sc == nil {
		sc = &tcpScratch{events: make([]client.EventData, w.Cfg.EventsPerWrite)}
		w.Scratch = sc
	}
	for i := range sc.events {
		sc.events[i] = client.EventData{ID: randomGUID(w), Type: "bench", Data: w.Payload}
	}
	idx, expected := w.NextWriteStream()
	res, err := s.c.AppendToStream(ctx, w.Streams[idx], expected, sc.events...)
	if err != nil {
		return 0, err
	}
	w.Wrote(idx, res.NextExpectedVersion)
	return len(sc.events), nil
}

func (s *tcpSession) Read(ctx context.Context, w *Worker) (int, error) {
	cfg := w.Cfg
	per := s.t.perStream
	switch cfg.ReadMode {
	case ReadEvent:
		stream := w.Streams[w.Rng.IntN(len(w.Streams))]
		r, err := s.c.ReadEvent(ctx, stream, w.Rng.Int64N(per), false)
		if err != nil {
			return 0, err
		}
		if r.Status != client.ReadSuccess {
			return 0, fmt.Errorf("read event %s: %v", stream, r.Status)
		}
		return 1, nil
	case ReadStream:
		stream := w.Streams[w.Rng.IntN(len(w.Streams))]
		from := int64(0)
		if per > int64(cfg.PageSize) {
			from = w.Rng.Int64N(per - int64(cfg.PageSize) + 1)
		}
		n := 0
		err := s.c.ReadStreamRaw(ctx, true, stream, from, cfg.PageSize, false, func(r *codec.ReadStreamEventsCompleted) error {
			if r.Result != codec.ReadStreamSuccess {
				return fmt.Errorf("read stream %s: result %d", stream, r.Result)
			}
			n = len(r.Events)
			return nil
		})
		return n, err
	case ReadAll:
		n := 0
		from := client.Position{Commit: w.AllCommit, Prepare: w.AllPrepare}
		err := s.c.ReadAllRaw(ctx, true, from, cfg.PageSize, false, func(r *codec.ReadAllEventsCompleted) error {
			if r.Result != codec.ReadAllSuccess {
				return fmt.Errorf("read $all: result %d: %s", r.Result, r.Error)
			}
			n = len(r.Events)
			if n == 0 { // end of $all: start over
				w.AllCommit, w.AllPrepare = 0, 0
			} else {
				w.AllCommit, w.AllPrepare = r.NextCommitPosition, r.NextPreparePosition
			}
			return nil
		})
		return n, err
	}
	return 0, fmt.Errorf("%w: read mode %q", ErrInvalidConfig, cfg.ReadMode)
}

func (s *tcpSession) Close() error { return s.c.Close() }

// boundsRequests implements selfTimed: the client's OperationTimeout is
// Config.Timeout (TCPTarget.configure).
func (s *tcpSession) boundsRequests() bool { return s.t.timeout > 0 }
