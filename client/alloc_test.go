//go:build !race

package client

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/eventstored/eventstored/codec"
)

// replyingPeer answers every WriteEvents on c with the same
// WriteEventsCompleted, patching in the request's correlation id, and
// allocates nothing per request itself, so AllocsPerRun sees only the
// client's allocations.
func replyingPeer(c net.Conn) {
	reply := codec.AppendFrame(nil, codec.WriteEventsCompletedCommand, &codec.GUID{}, writeCompleted(0, 0))
	buf := make([]byte, 1<<16)
	var l [4]byte
	for {
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return
		}
		n := int(binary.LittleEndian.Uint32(l[:]))
		if n > len(buf) {
			return
		}
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			return
		}
		switch codec.Command(buf[0]) {
		case codec.WriteEventsCommand:
			copy(reply[4+2:4+18], buf[2:18])
			if _, err := c.Write(reply); err != nil {
				return
			}
		case codec.HeartbeatRequestCommand:
			hb := codec.AppendFrame(nil, codec.HeartbeatResponseCommand, (*codec.GUID)(buf[2:18]), nil)
			_, _ = c.Write(hb)
		}
	}
}

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
