package reactor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eventstored/eventstored/codec"
)

func floodPayload(count, size uint32) []byte {
	b := binary.LittleEndian.AppendUint32(nil, count)
	return binary.LittleEndian.AppendUint32(b, size)
}

// readAll drains frames until the server closes and returns how many
// Pongs and which BadRequests arrived.
func (c *client) drainUntilClosed() (pongs int, bad []codec.Package) {
	c.t.Helper()
	for _, p := range c.expectClosed() {
		switch p.Command {
		case codec.Pong:
			pongs++
		case codec.BadRequest:
			bad = append(bad, p)
		}
	}
	return pongs, bad
}

func TestPendingPackagesLimit(t *testing.T) {
	h := newTestHandler()
	s := startServer(t, Config{PendingSendPackagesMax: 10}, h)

	t.Run("at the limit", func(t *testing.T) {
		c := dial(t, s)
		c.send(cmdFlood, codec.NewGUID(), floodPayload(10, 8))
		for i := 0; i < 10; i++ {
			c.expect(codec.Pong)
		}
		c.ping("open")
	})
	t.Run("over the limit", func(t *testing.T) {
		c := dial(t, s)
		// All 11 sends happen inside one OnPackage call, before the loop
		// can flush, so 11 packages are queued at once.
		c.send(cmdFlood, codec.NewGUID(), floodPayload(11, 8))
		pongs, bad := c.drainUntilClosed()
		if pongs != 0 || len(bad) != 1 || !bad[0].CorrelationID.IsZero() ||
			string(bad[0].Payload) != "Connection queue size is too large: 11." {
			t.Fatalf("pongs %d, bad requests %s", pongs, describe(bad))
		}
		for {
			ev := waitClose(t, h)
			if ev.err != nil && errors.Is(ev.err, ErrPendingSendPackages) {
				break
			}
		}
	})
}

func TestPendingBytesLimitInOneBatch(t *testing.T) {
	h := newTestHandler()
	s := startServer(t, Config{PendingSendBytesMax: 64 << 10}, h)
	c := dial(t, s)
	c.send(cmdFlood, codec.NewGUID(), floodPayload(4, 30<<10)) // 4 × 30 KiB in one callback: the 4th finds 90 KiB queued
	pongs, bad := c.drainUntilClosed()
	if pongs != 0 || len(bad) != 1 || !strings.HasPrefix(string(bad[0].Payload), "Connection pending send bytes is too large: ") {
		t.Fatalf("pongs %d, bad requests %s", pongs, describe(bad))
	}
	if ev := waitClose(t, h); !errors.Is(ev.err, ErrPendingSendBytes) {
		t.Fatalf("OnClose err %v", ev.err)
	}
	if st := s.Stats(); st.SendOverflows != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestSlowReaderIsClosedAndOthersAreNotSlowed checks the limit against
// bytes the socket layer holds: a peer that never reads while the server
// keeps sending is closed once the backlog passes 1 MiB, and meanwhile
// another connection on the same loops keeps getting answers.
func TestSlowReaderIsClosedAndOthersAreNotSlowed(t *testing.T) {
	h := newTestHandler()
	s := startServer(t, Config{PendingSendBytesMax: 1 << 20, NumEventLoops: 1}, h)
	slow := dial(t, s)
	fast := dial(t, s)
	fast.identify()

	slow.send(cmdFloodAsync, codec.NewGUID(), floodPayload(0, 16<<10))
	done := false
	pings := 0
	start := time.Now()
	for i := 0; !done; i++ {
		fast.ping("still served")
		pings++
		select {
		case err := <-h.asyncErr:
			if !errors.Is(err, ErrPendingSendBytes) && !errors.Is(err, ErrConnClosed) {
				t.Fatalf("Send failed with %v", err)
			}
			done = true
			t.Logf("limit hit after %v", time.Since(start))
		default:
		}
		if i > 100000 {
			t.Fatal("slow reader never hit the limit")
		}
	}
	ev := waitClose(t, h)
	if !errors.Is(ev.err, ErrPendingSendBytes) {
		t.Fatalf("OnClose err %v; want ErrPendingSendBytes", ev.err)
	}
	fast.ping("after")
	// The slow peer gets what the kernel took, then the close (the tail of
	// the backlog is dropped, so the last frame may be cut short).
	for {
		if _, err := slow.read(30 * time.Second); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("slow peer was not closed")
			}
			break
		}
	}
	t.Logf("pings served to the other connection meanwhile: %d", pings)
}

// TestLargeRepliesDoNotPinMemoryPerConnection: after a 100 KiB reply the
// connection keeps at most one small send buffer; the large one goes back
// to the shared pool.
func TestLargeRepliesDoNotPinMemoryPerConnection(t *testing.T) {
	h := newTestHandler()
	s := startServer(t, Config{}, h)
	c := dial(t, s)
	c.send(codec.ReadEventCommand, codec.NewGUID(), nil)
	<-h.packages
	conn := h.lastConn()
	c.send(cmdFlood, codec.NewGUID(), floodPayload(1, 100<<10))
	if p := c.expect(codec.Pong); len(p.Payload) != 100<<10 {
		t.Fatalf("pong of %d bytes", len(p.Payload))
	}
	c.ping("small")
	checkFor(t, 10*time.Second, time.Millisecond, func() error {
		conn.mu.Lock()
		defer conn.mu.Unlock()
		if cap(conn.pending) > sendBufferKeepMax || cap(conn.spare) > sendBufferKeepMax {
			return fmt.Errorf("connection holds send buffers of %d and %d bytes", cap(conn.pending), cap(conn.spare))
		}
		return nil
	})
}

// TestSingleReplyLargerThanLimitIsDelivered: the limit applies to the
// backlog already queued, so one reply bigger than the whole limit (a page
// of large events) still reaches a reading peer and the connection stays
// open.
func TestSingleReplyLargerThanLimitIsDelivered(t *testing.T) {
	h := newTestHandler()
	s := startServer(t, Config{PendingSendBytesMax: 64 << 10}, h)
	c := dial(t, s)
	c.send(cmdFlood, codec.NewGUID(), floodPayload(1, 200<<10))
	if p := c.expect(codec.Pong); len(p.Payload) != 200<<10 {
		t.Fatalf("pong of %d bytes", len(p.Payload))
	}
	c.ping("still open")
	if st := s.Stats(); st.SendOverflows != 0 {
		t.Fatalf("stats %+v", st)
	}
}
