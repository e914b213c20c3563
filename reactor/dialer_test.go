package reactor

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/eventstored/eventstored/codec"
)

// TestDialerServesOutgoingConnections: a dialed connection speaks the
// same framing as an accepted one, in both directions.
func TestDialerServesOutgoingConnections(t *testing.T) {
	sh := newTestHandler()
	s := startServer(t, Config{Name: "internal TCP", Addr: "127.0.0.1:0", Logger: quietLogger(), NumEventLoops: 1, Internal: true}, sh)
	dh := newTestHandler()
	d := NewDialer(Config{Name: "internal TCP out", Logger: quietLogger(), NumEventLoops: 1, Internal: true}, dh)
	if _, err := d.Dial(context.Background(), s.Addr()); !errors.Is(err, ErrDialerStopped) {
		t.Fatalf("dial before start: %v", err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	c, err := d.Dial(context.Background(), s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	var id codec.GUID
	id[0] = 7
	// Dialer → server: the server's handler answers Ping with Pong, which
	// arrives at the dialer's handler.
	if err := c.Send(codec.AppendFrame(nil, codec.Ping, &id, []byte("x"))); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-dh.packages:
		if p.Command != codec.Pong || p.CorrelationID != id || string(p.Payload) != "x" {
			t.Fatalf("got %+v", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no Pong on the dialed connection")
	}
	// Server → dialer on the accepted side.
	if err := c.Send(codec.AppendFrame(nil, codec.Command(0x7e), &id, []byte("y"))); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-sh.packages:
		if p.Command != 0x7e || string(p.Payload) != "y" {
			t.Fatalf("server got %+v", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server got nothing")
	}
	if _, err := d.Dial(context.Background(), "127.0.0.1:1"); err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
	if st := d.Stats(); st.ConnectionsOpen != 1 {
		t.Fatalf("open connections: %d", st.ConnectionsOpen)
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Dial(context.Background(), s.Addr()); !errors.Is(err, ErrDialerStopped) {
		t.Fatalf("dial after stop: %v", err)
	}
}

// TestDialerHeartbeats: an idle dialed connection is probed by its own
// heartbeat wheel and closed when the peer never answers.
func TestDialerHeartbeats(t *testing.T) {
	// A raw listener that reads and never answers.
	ln := listenSilent(t)
	dh := newTestHandler()
	d := NewDialer(Config{Name: "internal TCP out", Logger: quietLogger(), NumEventLoops: 1, Internal: true,
		HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: 100 * time.Millisecond}, dh)
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	if _, err := d.Dial(context.Background(), ln); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-dh.closed:
		if !errors.Is(ev.err, ErrHeartbeatTimeout) {
			t.Fatalf("closed with %v, want heartbeat timeout", ev.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("silent peer never timed out")
	}
}

// listenSilent accepts connections, reads everything and never writes.
func listenSilent(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return ln.Addr().String()
}
