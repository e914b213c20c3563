//go:build !race

package reactor

import (
	"bufio"
	"runtime"
	"testing"

	"github.com/eventstored/eventstored/codec"
)

// TestEchoPathAllocatesNothingPerPackage pushes pipelined Ping frames
// through a live loopback connection (split, decode, handler, batched
// reply) and counts heap allocations in the whole process, client
// included, per package. The client reuses its buffers; the remaining
// allocations (gnet's ticker, the runtime) are amortised over many
// packages, so the per-package figure must be ~0.
func TestEchoPathAllocatesNothingPerPackage(t *testing.T) {
	s := startServer(t, Config{}, newTestHandler())
	c := dial(t, s)
	c.identify()
	const batch, rounds = 64, 300
	var frames []byte
	for i := 0; i < batch; i++ {
		id := codec.NewGUID()
		frames = codec.AppendFrame(frames, codec.Ping, &id, make([]byte, 16))
	}
	br := bufio.NewReaderSize(c.nc, 64<<10)
	buf := make([]byte, 256)
	run := func() {
		done := make(chan error, 1)
		go func() { done <- readPongs(br, batch*rounds, buf) }()
		for i := 0; i < rounds; i++ {
			c.write(frames)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	run() // warm up buffers and pools
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	run()
	runtime.ReadMemStats(&after)
	perPackage := float64(after.Mallocs-before.Mallocs) / (batch * rounds)
	if perPackage > 0.05 {
		t.Fatalf("%.3f allocations per package (%d over %d packages); want ~0", perPackage, after.Mallocs-before.Mallocs, batch*rounds)
	}
}
