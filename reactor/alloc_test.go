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

// TestDirectAndBatchedSendsAllocateNothing: a SendDirect from another
// goroutine and a batched send plus Flush allocate nothing once
// the buffers are warm. The client reads only afterwards (a reading
// goroutine's wake-ups would count): 200 rounds of 300 bytes fit in the
// loopback socket's buffers.
func TestDirectAndBatchedSendsAllocateNothing(t *testing.T) {
	h := newTestHandler()
	s := startServer(t, Config{}, h)
	c, conn := serverConn(t, s, h)
	frame := seqFrame(nil, 1, 1, 100-codec.HeaderSize)
	var b SendBatch
	before := s.Stats()
	direct := testing.AllocsPerRun(200, func() {
		_ = conn.SendDirect(frame)
	})
	batched := testing.AllocsPerRun(200, func() {
		_ = b.Send(conn, frame)
		_ = b.Send(conn, frame)
		b.Flush()
	})
	if direct != 0 || batched != 0 {
		t.Fatalf("allocations per send: direct %.2f, batched %.2f; want 0", direct, batched)
	}
	if got := s.Stats(); got.DirectWrites-before.DirectWrites != got.Writes-before.Writes {
		t.Fatalf("%d of %d writes were direct; want all (the socket buffer filled up)",
			got.DirectWrites-before.DirectWrites, got.Writes-before.Writes)
	}
	for i := 0; i < 3*201; i++ { // AllocsPerRun runs once more to warm up
		c.expect(codec.Pong)
	}
}
