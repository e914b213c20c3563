package bench

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/eventstored/eventstored/client"
)

// RunSoak opens cfg.Clients connections to an eventstored TCP endpoint,
// each completing the handshake (Authenticate when credentials are given,
// IdentifyClient), lets them idle for cfg.Duration while heartbeats keep
// them open, then pings every one. When pid > 0 the server's RSS is read
// before the connections open and after the idle period, giving the memory
// cost per connection. The latency histogram holds the dial + handshake
// times.
func RunSoak(ctx context.Context, cfg Config, creds *client.Credentials, pid int, progressOut io.Writer) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Kind != KindSoak {
		return nil, fmt.Errorf("%w: RunSoak runs the soak workload only", ErrInvalidConfig)
	}
	if err := raiseFileLimit(uint64(cfg.Clients) + 1024); err != nil {
		return nil, err
	}
	var rssBefore int64
	if pid > 0 {
		var err error
		if rssBefore, err = RSSBytes(pid); err != nil {
			return nil, err
		}
	}
	rec := NewRecorder()
	clients := make([]*client.Client, cfg.Clients)
	var (
		wg       sync.WaitGroup
		sem      = make(chan struct{}, dialParallelism)
		failed   atomic.Int64
		firstErr atomic.Value
	)
	start := time.Now()
	for i := range clients {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t0 := time.Now()
			dctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
			c, err := client.Dial(dctx, cfg.Addr, client.Options{Credentials: creds, MaxInFlight: 4})
			cancel()
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
				return
			}
			rec.Record(i, time.Since(t0))
			clients[i] = c
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	if n := failed.Load(); n > 0 {
		return nil, fmt.Errorf("%d of %d connections failed; first error: %v", n, cfg.Clients, firstErr.Load())
	}
	connectTime := time.Since(start)

	idleStart := time.Now()
	var bar interface{ Finish() error }
	done := make(chan struct{})
	if cfg.Progress && progressOut != nil && cfg.Duration >= 3*time.Second {
		b := newBar(&cfg, progressOut)
		bar = b
		go func() {
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					_ = b.Set64(int64(time.Since(idleStart) / time.Millisecond))
				case <-done:
					return
				}
			}
		}()
	}
	select {
	case <-time.After(cfg.Duration):
	case <-ctx.Done():
	}
	close(done)
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(progressOut)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	idle := time.Since(idleStart)
	var rssAfter int64
	if pid > 0 {
		var err error
		if rssAfter, err = RSSBytes(pid); err != nil {
			return nil, err
		}
	}
	// Every connection must still answer: heartbeats kept it open.
	var alive atomic.Int64
	errs := errorCounts{}
	for i, c := range clients {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			pctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
			defer cancel()
			if err := c.Ping(pctx); err != nil {
				errs.add(fmt.Errorf("connection %d: %w", i, err))
				return
			}
			alive.Add(1)
		}()
	}
	wg.Wait()
	soak := &SoakResult{Connections: cfg.Clients, Alive: int(alive.Load()),
		RSSBeforeBytes: rssBefore, RSSAfterBytes: rssAfter, IdleSeconds: idle.Seconds()}
	if rssAfter > 0 {
		soak.RSSPerConnBytes = float64(rssAfter-rssBefore) / float64(cfg.Clients)
	}
	return &Result{
		Label: cfg.Label(), Target: "eventstored", Config: cfg, Started: idleStart.UTC(),
		WindowSeconds: connectTime.Seconds(), Requests: int64(cfg.Clients),
		RequestsPerSec: float64(cfg.Clients) / connectTime.Seconds(),
		Latency:        Summarize(rec.Snapshot()), Errors: errs.counts, ErrorSamples: errs.samples,
		Soak: soak,
	}, nil
}

// raiseFileLimit lifts RLIMIT_NOFILE to at least n (up to the hard limit),
// since the soak holds one descriptor per connection.
func raiseFileLimit(n uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("cannot read the open-file limit: %w", err)
	}
	if lim.Cur >= n {
		return nil
	}
	if lim.Max < n {
		return fmt.Errorf("the open-file hard limit %d is below the %d descriptors the soak needs (raise it with ulimit -Hn)", lim.Max, n)
	}
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("cannot raise the open-file limit to %d: %w", n, err)
	}
	return nil
}
