package reactor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/eventstored/eventstored/codec"
)

// serverConn opens a client connection and returns it with the server's
// Conn for it (grabbed through a package the test handler records).
func serverConn(t *testing.T, s *Server, h *testHandler) (*client, *Conn) {
	t.Helper()
	c := dial(t, s)
	c.identify()
	c.send(codec.ReadEventCommand, codec.NewGUID(), nil)
	<-h.packages
	conn := h.lastConn()
	// The handler runs inside the loop's callback; wait until the loop
	// has left it and nothing is on its way, so the test's first send
	// finds the connection idle.
	checkFor(t, 10*time.Second, time.Millisecond, func() error {
		conn.mu.Lock()
		defer conn.mu.Unlock()
		if conn.inCallback || conn.loopWriting || conn.flushQueued || conn.gnetHolds || len(conn.pending) > 0 {
			return errors.New("connection busy")
		}
		return nil
	})
	return c, conn
}

func seqFrame(buf []byte, sender byte, seq uint32, payload int) []byte {
	var id codec.GUID
	id[0] = sender
	binary.LittleEndian.PutUint32(id[4:], seq)
	return codec.AppendFrame(buf, codec.Pong, &id, make([]byte, payload))
}

// TestSendBatchWritesEachConnectionOnceOnFlush: frames queued on a
// SendBatch are not written until Flush, which writes each connection's
// frames in one write, in order, from the flushing goroutine.
func TestSendBatchWritesEachConnectionOnceOnFlush(t *testing.T) {
	h := newTestHandler()
	s := startServer(t, Config{}, h)
	c1, conn1 := serverConn(t, s, h)
	c2, conn2 := serverConn(t, s, h)
	var b SendBatch
	before := s.Stats()
	const n = 32
	for i := uint32(0); i < n; i++ {
		if err := b.Send(conn1, seqFrame(nil, 1, i, 10)); err != nil {
			t.Fatal(err)
		}
		if err := b.Send(conn2, seqFrame(nil, 2, i, 20)); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Stats(); got.Writes != before.Writes || got.PackagesSent != before.PackagesSent+2*n {
		t.Fatalf("before Flush: %d writes (want %d), %d packages queued (want %d)",
			got.Writes, before.Writes, got.PackagesSent, before.PackagesSent+2*n)
	}
	b.Flush()
	if got := s.Stats(); got.Writes != before.Writes+2 || got.DirectWrites != before.DirectWrites+2 {
		t.Fatalf("after Flush: %d writes, %d direct; want %d and %d",
			got.Writes, got.DirectWrites, before.Writes+2, before.DirectWrites+2)
	}
	for _, cc := range []struct {
		c      *client
		sender byte
	}{{c1, 1}, {c2, 2}} {
		for i := uint32(0); i < n; i++ {
			p := cc.c.expect(codec.Pong)
			if p.CorrelationID[0] != cc.sender || binary.LittleEndian.Uint32(p.CorrelationID[4:]) != i {
				t.Fatalf("connection %d frame %d: got sender %d seq %d", cc.sender, i, p.CorrelationID[0], binary.LittleEndian.Uint32(p.CorrelationID[4:]))
			}
		}
	}
	b.Flush() // nothing queued: no write
	if got := s.Stats(); got.Writes != before.Writes+2 {
		t.Fatalf("empty Flush wrote: %d writes, want %d", got.Writes, before.Writes+2)
	}
}

// TestLargeSendBatchIsWrittenByTheLoops: a flush to more than
// DirectFlushMax connections hands them to their loops (one runnable per
// loop), which write each connection's frames in one write, in order.
func TestLargeSendBatchIsWrittenByTheLoops(t *testing.T) {
	h := newTestHandler()
	s := startServer(t, Config{}, h)
	const conns, n = 3 * DirectFlushMax, 16
	clients := make([]*client, conns)
	servers := make([]*Conn, conns)
	for i := range clients {
		clients[i], servers[i] = serverConn(t, s, h)
	}
	var b SendBatch
	before := s.Stats()
	for i := uint32(0); i < n; i++ {
		for k, c := range servers {
			if err := b.Send(c, seqFrame(nil, byte(k), i, 10+k)); err != nil {
				t.Fatal(err)
			}
		}
	}
	b.Flush()
	for k, c := range clients {
		for i := uint32(0); i < n; i++ {
			p := c.expect(codec.Pong)
			if p.CorrelationID[0] != byte(k) || binary.LittleEndian.Uint32(p.CorrelationID[4:]) != i || len(p.Payload) != 10+k {
				t.Fatalf("connection %d frame %d: got sender %d seq %d len %d", k, i, p.CorrelationID[0], binary.LittleEndian.Uint32(p.CorrelationID[4:]), len(p.Payload))
			}
		}
	}
	got := s.Stats()
	if got.DirectWrites != before.DirectWrites || got.Writes != before.Writes+conns {
		t.Fatalf("%d writes (%d direct); want %d by the loops, none direct",
			got.Writes-before.Writes, got.DirectWrites-before.DirectWrites, conns)
	}
}

// TestSendFromAnotherGoroutineWritesDirectly: a SendDirect off the loop,
// with nothing else on its way, is written by the sender itself; a Send
// goes through the loop.
func TestSendFromAnotherGoroutineWritesDirectly(t *testing.T) {
	h := newTestHandler()
	s := startServer(t, Config{}, h)
	c, conn := serverConn(t, s, h)
	before := s.Stats()
	if err := conn.SendDirect(seqFrame(nil, 1, 7, 5)); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats(); got.DirectWrites != before.DirectWrites+1 {
		t.Fatalf("%d direct writes, want %d", got.DirectWrites, before.DirectWrites+1)
	}
	if p := c.expect(codec.Pong); binary.LittleEndian.Uint32(p.CorrelationID[4:]) != 7 {
		t.Fatalf("got seq %d", binary.LittleEndian.Uint32(p.CorrelationID[4:]))
	}
	if err := conn.Send(seqFrame(nil, 1, 8, 5)); err != nil {
		t.Fatal(err)
	}
	if p := c.expect(codec.Pong); binary.LittleEndian.Uint32(p.CorrelationID[4:]) != 8 {
		t.Fatalf("got seq %d", binary.LittleEndian.Uint32(p.CorrelationID[4:]))
	}
	// The loop counts its write after the syscall returns, so the peer may
	// read the frame before the count moves: wait for it.
	checkFor(t, 10*time.Second, time.Millisecond, func() error {
		if got := s.Stats(); got.DirectWrites != before.DirectWrites+1 || got.Writes != before.Writes+2 {
			return fmt.Errorf("after a Send: %d writes, %d direct; want 2 and 1", got.Writes-before.Writes, got.DirectWrites-before.DirectWrites)
		}
		return nil
	})
	checkFor(t, 10*time.Second, time.Millisecond, func() error { // the loop's flush has finished
		conn.mu.Lock()
		defer conn.mu.Unlock()
		if conn.loopWriting || conn.flushQueued || conn.gnetHolds {
			return errors.New("connection busy")
		}
		return nil
	})
	buf, err := conn.BeginSend()
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.EndSendDirect(seqFrame(seqFrame(buf, 1, 9, 5), 1, 10, 5), 2); err != nil {
		t.Fatal(err)
	}
	for _, want := range []uint32{9, 10} {
		if p := c.expect(codec.Pong); binary.LittleEndian.Uint32(p.CorrelationID[4:]) != want {
			t.Fatalf("got seq %d, want %d", binary.LittleEndian.Uint32(p.CorrelationID[4:]), want)
		}
	}
	if got := s.Stats(); got.DirectWrites != before.DirectWrites+2 || got.Writes != before.Writes+3 {
		t.Fatalf("after EndSendDirect: %d writes, %d direct; want 3 and 2", got.Writes-before.Writes, got.DirectWrites-before.DirectWrites)
	}
}

// TestSendsKeepOrderThroughAFullSocket: while the peer does not read, the
// socket fills, direct writes fall back to the loop and gnet buffers the
// rest; frames sent by one goroutine (direct and batched, mixed) still
// arrive whole and in order, and direct writes resume once the backlog
// has drained.
func TestSendsKeepOrderThroughAFullSocket(t *testing.T) {
	h := newTestHandler()
	s := startServer(t, Config{}, h)
	c, conn := serverConn(t, s, h)
	// Every fourth batched frame also goes to DirectFlushMax other
	// connections, so that flush is handed to the loops.
	others := make([]*Conn, DirectFlushMax)
	for i := range others {
		oc, sc := serverConn(t, s, h)
		_ = oc.nc.SetReadDeadline(time.Time{})
		go discardReader(oc)
		others[i] = sc
	}
	const senders, perSender, size = 4, 1500, 1000 // 6 MB: well past the socket buffers, under the 10 MiB limit
	var wg sync.WaitGroup
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func(g byte) {
			defer wg.Done()
			var b SendBatch
			var frame []byte
			for i := uint32(0); i < perSender; i++ {
				frame = seqFrame(frame[:0], g, i, size)
				var err error
				if i%3 == 0 {
					err = conn.SendDirect(frame)
				} else if i%7 == 0 {
					err = conn.Send(frame)
				} else {
					err = b.Send(conn, frame)
					if i%4 == 0 {
						for _, o := range others {
							_ = b.Send(o, seqFrame(nil, g, i, 1))
						}
					}
					if i%5 == 0 {
						b.Flush()
					}
				}
				if err != nil {
					t.Errorf("sender %d frame %d: %v", g, i, err)
					return
				}
			}
			b.Flush()
		}(byte(g))
	}
	wg.Wait() // everything queued before the client reads a byte
	next := make([]uint32, senders)
	for n := 0; n < senders*perSender; n++ {
		p := c.expect(codec.Pong)
		g, i := p.CorrelationID[0], binary.LittleEndian.Uint32(p.CorrelationID[4:])
		if int(g) >= senders || i != next[g] || len(p.Payload) != size {
			t.Fatalf("frame %d: sender %d seq %d len %d; want seq %d", n, g, i, len(p.Payload), next[g])
		}
		next[g]++
	}
	// The loop has handed everything to the socket; the next send from a
	// goroutine goes direct again.
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		before := s.Stats().DirectWrites
		if err := conn.SendDirect(seqFrame(nil, 9, 0, 1)); err != nil {
			return err
		}
		c.expect(codec.Pong)
		if s.Stats().DirectWrites == before {
			return errors.New("send after the backlog drained was not direct")
		}
		return nil
	})
}

// TestSendBatchAfterCloseFails: a closed connection refuses batched sends,
// and flushing a batch whose connection closed meanwhile is harmless.
func TestSendBatchAfterCloseFails(t *testing.T) {
	h := newTestHandler()
	s := startServer(t, Config{}, h)
	c, conn := serverConn(t, s, h)
	var b SendBatch
	if err := b.Send(conn, seqFrame(nil, 1, 0, 1)); err != nil {
		t.Fatal(err)
	}
	c.nc.Close()
	waitClose(t, h)
	b.Flush()
	if err := b.Send(conn, seqFrame(nil, 1, 1, 1)); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("Send after close: %v, want ErrConnClosed", err)
	}
	if err := conn.Send(seqFrame(nil, 1, 2, 1)); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("Send after close: %v, want ErrConnClosed", err)
	}
	b.Flush()
}

// discardReader reads a connection until it fails, allocating nothing.
func discardReader(c *client) {
	buf := make([]byte, 64<<10)
	for {
		if _, err := c.nc.Read(buf); err != nil {
			if !errors.Is(err, io.EOF) {
				return
			}
			return
		}
	}
}
