//go:build !race

package bench

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/eventstored/eventstored/codec"
)

// TestLoopDriverAllocatesNothingPerRequest: in steady state a request of
// the loop driver (encode, send, the reply's decode and check, latency
// recording, the next request) allocates nothing. The fake node reuses its
// buffers; what the process allocates otherwise (gnet's ticker, the
// runtime) is spread over many thousands of requests.
func TestLoopDriverAllocatesNothingPerRequest(t *testing.T) {
	f := startFakeNode(t, func(dst []byte, p *codec.Package) []byte {
		return writeReply(dst, p, codec.WriteEventsCompleted{Result: codec.OperationSuccess, FirstEventNumber: 3, LastEventNumber: 3})
	})
	cfg := Defaults(KindWrite)
	cfg.Addr, cfg.Clients, cfg.InFlight, cfg.Progress = f.ln.Addr().String(), 4, 8, false
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	tl := &tally{stop: stop, rec: NewRecorder()}
	context.AfterFunc(ctx, func() { tl.ended.Store(true) })
	tgt := &TCPTarget{Addr: cfg.Addr, Credentials: adminCreds}
	wait, err := tgt.startLoops(ctx, &cfg, StreamNames("alloc", cfg.Streams), make([]byte, cfg.EventSize), tl)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { stop(); wait() }()
	tl.phase.Store(phaseMeasure)
	until := func(n int64) {
		for deadline := time.Now().Add(time.Minute); tl.requests.Load() < n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) { // a hang guard, not a timing check
				t.Fatalf("only %d requests of %d: %v", tl.requests.Load(), n, tl.errs.counts)
			}
		}
	}
	until(5_000) // warm pools, maps and buffers
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r0 := tl.requests.Load()
	until(r0 + 50_000)
	runtime.ReadMemStats(&after)
	r1 := tl.requests.Load()
	per := float64(after.Mallocs-before.Mallocs) / float64(r1-r0)
	t.Logf("%.4f allocations per request over %d requests", per, r1-r0)
	if per >= 0.05 {
		t.Fatalf("%.3f allocations per request; want 0", per)
	}
	if n := len(tl.errs.counts); n != 0 {
		t.Fatalf("errors: %v", tl.errs.counts)
	}
}
