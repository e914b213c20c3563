package reactor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/eventstored/eventstored/codec"
)

// Test commands understood by testHandler (unassigned TcpCommand values).
const (
	cmdFlood      codec.Command = 0xE0 // payload: uint32 count, uint32 size; sends count frames of size bytes
	cmdFloodAsync codec.Command = 0xE1 // like cmdFlood but from another goroutine, until Send fails
)

// testHandler answers IdentifyClient with ClientIdentified and Ping with
// Pong, as the real command service will; it records closes.
type testHandler struct {
	mu       sync.Mutex
	opened   int
	closed   chan closeEvent
	packages chan codec.Package
	asyncErr chan error
	last     *Conn
}

func (h *testHandler) lastConn() *Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

type closeEvent struct {
	id  uint64
	err error
}

func newTestHandler() *testHandler {
	return &testHandler{closed: make(chan closeEvent, 100000), packages: make(chan codec.Package, 1000), asyncErr: make(chan error, 10)}
}

func (h *testHandler) OnOpen(c *Conn) {
	h.mu.Lock()
	h.opened++
	h.mu.Unlock()
}

func (h *testHandler) OnPackage(c *Conn, p *codec.Package) {
	switch p.Command {
	case codec.IdentifyClientCommand:
		var m codec.IdentifyClient
		if err := codec.DecodeIdentifyClient(p.Payload, &m); err != nil {
			_ = c.Send(codec.AppendBadRequest(nil, &p.CorrelationID, err.Error()))
			return
		}
		buf, err := c.BeginSend()
		if err == nil {
			_ = c.EndSend(codec.AppendFrame(buf, codec.ClientIdentifiedCommand, &p.CorrelationID, nil), 1)
		}
	case codec.Ping:
		buf, err := c.BeginSend()
		if err == nil {
			_ = c.EndSend(codec.AppendFrame(buf, codec.Pong, &p.CorrelationID, p.Payload), 1)
		}
	case cmdFlood:
		n, size := binary.LittleEndian.Uint32(p.Payload), binary.LittleEndian.Uint32(p.Payload[4:])
		frame := codec.AppendFrame(nil, codec.Pong, &p.CorrelationID, make([]byte, size))
		for i := uint32(0); i < n; i++ {
			if c.Send(frame) != nil {
				return
			}
		}
	case cmdFloodAsync:
		size := binary.LittleEndian.Uint32(p.Payload[4:])
		frame := codec.AppendFrame(nil, codec.Pong, &p.CorrelationID, make([]byte, size))
		go func() {
			for {
				if err := c.Send(frame); err != nil {
					h.asyncErr <- err
					return
				}
				time.Sleep(100 * time.Microsecond)
			}
		}()
	default:
		h.mu.Lock()
		h.last = c
		h.mu.Unlock()
		cp := *p
		cp.Login, cp.Password, cp.Payload = bytes.Clone(p.Login), bytes.Clone(p.Password), bytes.Clone(p.Payload)
		select {
		case h.packages <- cp:
		default:
		}
	}
}

func (h *testHandler) OnClose(c *Conn, err error) {
	h.closed <- closeEvent{c.ID(), err}
}

func quietLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func startServer(t testing.TB, cfg Config, h Handler) *Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Name == "" {
		cfg.Name = "external TCP"
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	if cfg.NumEventLoops == 0 {
		cfg.NumEventLoops = 2
	}
	s := NewServer(cfg, h)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Stop(ctx)
	})
	return s
}

// client is a minimal blocking protocol client for tests.
type client struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func dial(t testing.TB, s *Server) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, nc: nc, br: bufio.NewReaderSize(nc, 64<<10)}
}

func (c *client) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) send(cmd codec.Command, id codec.GUID, payload []byte) {
	c.t.Helper()
	c.write(codec.AppendFrame(nil, cmd, &id, payload))
}

// read returns the next package (copied), or an error (io.EOF when the
// server closed the connection).
func (c *client) read(timeout time.Duration) (codec.Package, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
	var hdr [4]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
		return codec.Package{}, err
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	if n > codec.FrameLengthMax {
		return codec.Package{}, errors.New("server sent a bad length")
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.br, body); err != nil {
		return codec.Package{}, err
	}
	return codec.DecodePackage(body)
}

// expect reads packages, answering heartbeat requests, until one with
// command cmd arrives.
func (c *client) expect(cmd codec.Command) codec.Package {
	c.t.Helper()
	for {
		p, err := c.read(10 * time.Second)
		if err != nil {
			c.t.Fatalf("waiting for %v: %v", cmd, err)
		}
		if p.Command == cmd {
			return p
		}
		if p.Command == codec.HeartbeatRequestCommand {
			c.send(codec.HeartbeatResponseCommand, p.CorrelationID, nil)
			continue
		}
		c.t.Fatalf("waiting for %v: got %v %q", cmd, p.Command, p.Payload)
	}
}

// expectClosed reads until EOF (answering nothing) and returns the
// packages seen on the way.
func (c *client) expectClosed() []codec.Package {
	c.t.Helper()
	var seen []codec.Package
	for {
		p, err := c.read(10 * time.Second)
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
			return seen
		}
		if err != nil {
			c.t.Fatalf("waiting for the server to close: %v", err)
		}
		seen = append(seen, p)
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

func (c *client) identify() {
	c.t.Helper()
	id := codec.NewGUID()
	c.send(codec.IdentifyClientCommand, id, codec.AppendIdentifyClient(nil, &codec.IdentifyClient{Version: 1, ConnectionName: "test"}))
	if p := c.expect(codec.ClientIdentifiedCommand); p.CorrelationID != id {
		c.t.Fatalf("ClientIdentified with id %v; want %v", p.CorrelationID, id)
	}
}

func (c *client) ping(payload string) {
	c.t.Helper()
	id := codec.NewGUID()
	c.send(codec.Ping, id, []byte(payload))
	p := c.expect(codec.Pong)
	if p.CorrelationID != id || string(p.Payload) != payload {
		c.t.Fatalf("Pong %v %q; want %v %q", p.CorrelationID, p.Payload, id, payload)
	}
}

func waitClose(t testing.TB, h *testHandler) closeEvent {
	t.Helper()
	select {
	case ev := <-h.closed:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no OnClose")
		return closeEvent{}
	}
}

// checkFor polls fn until it returns nil or total passes.
func checkFor(t testing.TB, total, every time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(every)
	}
}
