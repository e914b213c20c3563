//go:build !race

package client

import (
	"context"
	"testing"
	"time"
)

// TestAppendToStreamAllocatesNothing: the load tool's write path, a whole
// round trip over loopback, allocates nothing in steady state (STYLE §6).
func TestAppendToStreamAllocatesNothing(t *testing.T) {
	p := newPeer(t)
	c, sc := dialPeer(t, p, Options{})
	go replyingPeer(sc)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	evs := []EventData{{ID: NewGUID(), Type: "bench", Data: make([]byte, 100)}}
	for i := 0; i < 100; i++ { // warm pools, maps and buffers
		if _, err := c.AppendToStream(ctx, "s", ExpectedAny, evs...); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := c.AppendToStream(ctx, "s", ExpectedAny, evs...); err != nil {
			t.Fatal(err)
		}
	})
	// NB: < 0.1 rather than == 0: the heartbeat timer and runtime
	// background work may allocate once in a thousand runs.
	if allocs >= 0.1 {
		t.Fatalf("AppendToStream allocates %.2f times per call; want 0", allocs)
	}
}
