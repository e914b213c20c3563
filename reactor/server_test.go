package reactor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/eventstored/eventstored/codec"
)

func TestIdentifyPingAndHeartbeatOverLoopback(t *testing.T) {
	h := newTestHandler()
	s := startServer(t, Config{}, h)
	c := dial(t, s)
	c.identify()
	c.ping("hello")
	id := codec.NewGUID()
	c.send(codec.HeartbeatRequestCommand, id, nil)
	if p := c.expect(codec.HeartbeatResponseCommand); p.CorrelationID != id || len(p.Payload) != 0 {
		t.Fatalf("unexpected heartbeat response %+v", p)
	}
	st := s.Stats()
	if st.ConnectionsOpen != 1 || st.ConnectionsAccepted != 1 || st.PackagesReceived != 3 || st.PackagesSent != 3 || st.BytesReceived == 0 || st.BytesSent == 0 {
		t.Fatalf("unexpected stats %+v", st)
	}
}

func TestFramesSplitAcrossReadsAreReassembled(t *testing.T) {
	h := newTestHandler()
	s := startServer(t, Config{}, h)
	c := dial(t, s)
	var stream []byte
	var ids []codec.GUID
	for i := 0; i < 5; i++ {
		id := codec.NewGUID()
		ids = append(ids, id)
		stream = codec.AppendFrame(stream, codec.Ping, &id, []byte(strings.Repeat("x", i*7)))
	}
	// One byte per write (TCP_NODELAY on the client), then everything at once.
	for i := range stream {
		c.write(stream[i : i+1])
	}
	c.write(stream)
	for round := 0; round < 2; round++ {
		for i, id := range ids {
			p := c.expect(codec.Pong)
			if p.CorrelationID != id || len(p.Payload) != i*7 {
				t.Fatalf("round %d pong %d: got id %v len %d", round, i, p.CorrelationID, len(p.Payload))
			}
		}
	}
}

func TestLargeFrameUpToLimitIsAccepted(t *testing.T) {
	h := newTestHandler()
	s := startServer(t, Config{}, h)
	c := dial(t, s)
	id := codec.NewGUID()
	payload := make([]byte, codec.FrameLengthMax-codec.HeaderSize) // exactly 64 MiB package
	payload[len(payload)-1] = 0x5a
	go c.write(codec.AppendFrame(nil, codec.WriteEventsCommand, &id, payload))
	select {
	case p := <-h.packages:
		if p.CorrelationID != id || len(p.Payload) != len(payload) || p.Payload[len(payload)-1] != 0x5a {
			t.Fatalf("unexpected package: id %v len %d", p.CorrelationID, len(p.Payload))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("64 MiB frame not delivered")
	}
	c.ping("still open")
}

func TestFramingErrorsGetBadRequestAndClose(t *testing.T) {
	hdr := func(cmd codec.Command, flags codec.Flags) []byte {
		id := codec.GUID{1}
		return codec.AppendPackageHeader(nil, cmd, flags, &id)
	}
	frame := func(pkg []byte) []byte {
		return append(binary.LittleEndian.AppendUint32(nil, uint32(len(pkg))), pkg...)
	}
	cases := []struct {
		name  string
		bytes []byte
		want  string // in the BadRequest text
	}{
		{"garbage (an HTTP request)", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "invalid frame length"},
		{"zero length", []byte{0, 0, 0, 0}, "invalid frame length"},
		{"negative length", []byte{0xff, 0xff, 0xff, 0xff}, "invalid frame length"},
		{"length over 64 MiB", []byte{1, 0, 0, 4}, "invalid frame length"},
		{"package shorter than header", frame([]byte{0x82, 0, 1, 2, 3}), "shorter than its header"},
		{"auth block past end", frame(append(hdr(codec.ReadEventCommand, codec.FlagAuthenticated), 9, 'a')), "authentication block"},
	}
	h := newTestHandler()
	s := startServer(t, Config{}, h)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, s)
			c.identify()
			c.write(tc.bytes)
			seen := c.expectClosed()
			if len(seen) != 1 || seen[0].Command != codec.BadRequest || !seen[0].CorrelationID.IsZero() ||
				!strings.Contains(string(seen[0].Payload), tc.want) {
				t.Fatalf("got %v; want one BadRequest with zero id containing %q", describe(seen), tc.want)
			}
			if ev := waitClose(t, h); !errors.Is(ev.err, ErrFraming) {
				t.Fatalf("OnClose err %v; want ErrFraming", ev.err)
			}
		})
	}
	if st := s.Stats(); st.FramingErrors != uint64(len(cases)) {
		t.Fatalf("FramingErrors = %d; want %d", st.FramingErrors, len(cases))
	}
}

func describe(ps []codec.Package) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "[%v id=%v %q] ", p.Command, p.CorrelationID, p.Payload)
	}
	return b.String()
}

func TestTruncatedFrameThenPeerCloseIsClean(t *testing.T) {
	h := newTestHandler()
	s := startServer(t, Config{}, h)
	c := dial(t, s)
	c.identify()
	id := codec.NewGUID()
	f := codec.AppendFrame(nil, codec.Ping, &id, []byte("0123456789"))
	c.write(f[:len(f)-3])
	c.nc.Close()
	ev := waitClose(t, h)
	if errors.Is(ev.err, ErrFraming) || ev.err == nil {
		t.Fatalf("OnClose err %v; want the socket's EOF", ev.err)
	}
	// The server goes on serving.
	c2 := dial(t, s)
	c2.ping("after")
}

func TestTrustedWriteOnExternalInterfaceIsRejected(t *testing.T) {
	h := newTestHandler()
	s := startServer(t, Config{}, h)
	c := dial(t, s)
	id := codec.NewGUID()
	buf, start := codec.AppendFrameStart(nil, codec.WriteEventsCommand, codec.FlagTrustedWrite, &id)
	_ = codec.FinishFrame(buf, start)
	c.write(buf)
	seen := c.expectClosed()
	if len(seen) != 1 || seen[0].Command != codec.BadRequest || seen[0].CorrelationID != id ||
		!strings.Contains(string(seen[0].Payload), "trusted writes aren't accepted") && !strings.Contains(string(seen[0].Payload), "Trusted writes aren't accepted") {
		t.Fatalf("got %s", describe(seen))
	}
	if ev := waitClose(t, h); !errors.Is(ev.err, ErrTrustedWrite) {
		t.Fatalf("OnClose err %v", ev.err)
	}

	hi := newTestHandler()
	si := startServer(t, Config{Name: "internal TCP", Internal: true}, hi)
	ci := dial(t, si)
	ci.write(buf)
	select {
	case p := <-hi.packages:
		if p.Flags != codec.FlagTrustedWrite || p.CorrelationID != id {
			t.Fatalf("unexpected package %+v", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("internal listener did not deliver the trusted write")
	}
}

func TestBindErrorNamesInterfaceAndAddress(t *testing.T) {
	s := startServer(t, Config{}, newTestHandler())
	addr := s.Addr()
	s2 := NewServer(Config{Name: "external TCP", Addr: addr, Logger: quietLogger()}, newTestHandler())
	err := s2.Start()
	if err == nil {
		t.Fatal("second bind succeeded")
	}
	if !errors.Is(err, ErrAddrInUse) || !strings.Contains(err.Error(), "external TCP") || !strings.Contains(err.Error(), addr) {
		t.Fatalf("error %q does not name the interface and %s", err, addr)
	}
}

func TestStopClosesConnections(t *testing.T) {
	h := newTestHandler()
	s := NewServer(Config{Name: "external TCP", Addr: "127.0.0.1:0", Logger: quietLogger(), NumEventLoops: 2}, h)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	c := dial(t, s)
	c.identify()
	if err := s.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	c.expectClosed()
	waitClose(t, h)
}

// TestStopReturnsWhenEngineIsDown: Stop signals gnet without its polling
// wait (see Server.Stop), so it must still return only once the engine is
// fully down: every connection's OnClose already ran, the port can be bound
// again, and the engine's goroutines are gone.
func TestStopReturnsWhenEngineIsDown(t *testing.T) {
	base := runtime.NumGoroutine()
	h := newTestHandler()
	s := NewServer(Config{Name: "external TCP", Addr: "127.0.0.1:0", Logger: quietLogger(), NumEventLoops: 2}, h)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	const conns = 4
	for i := 0; i < conns; i++ {
		dial(t, s).identify()
	}
	if err := s.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := len(h.closed); got != conns {
		t.Fatalf("Stop returned with %d of %d OnClose calls made", got, conns)
	}
	if n := s.Stats().ConnectionsOpen; n != 0 {
		t.Fatalf("ConnectionsOpen = %d after Stop", n)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port still held after Stop: %v", err)
	}
	ln.Close()
	if err := s.Stop(t.Context()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	// Goroutines that are not the engine's (the test's own clients'
	// net pollers) may take a moment to exit; poll, never assert a time.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before, %d after Stop:\n%s", base, n, buf[:runtime.Stack(buf, true)])
	}
}

// TestConcurrentSendsKeepFramesWhole has many goroutines send at once to
// one connection; every frame must arrive whole and each goroutine's
// frames in order.
func TestConcurrentSendsKeepFramesWhole(t *testing.T) {
	h := newTestHandler()
	s := startServer(t, Config{}, h)
	c := dial(t, s)
	c.identify()
	// Grab the server-side Conn through a package the handler records.
	c.send(codec.ReadEventCommand, codec.NewGUID(), nil)
	<-h.packages
	conn := h.lastConn()
	const senders, perSender = 8, 2000
	for g := 0; g < senders; g++ {
		go func(g int) {
			for i := 0; i < perSender; i++ {
				var gid codec.GUID
				gid[0] = byte(g)
				binary.LittleEndian.PutUint32(gid[4:], uint32(i))
				payload := make([]byte, 1+(i*g)%300)
				buf, err := conn.BeginSend()
				if err != nil {
					return
				}
				_ = conn.EndSend(codec.AppendFrame(buf, codec.Pong, &gid, payload), 1)
			}
		}(g)
	}
	next := make([]uint32, senders)
	for n := 0; n < senders*perSender; n++ {
		p := c.expect(codec.Pong)
		g, i := p.CorrelationID[0], binary.LittleEndian.Uint32(p.CorrelationID[4:])
		if int(g) >= senders || i != next[g] || len(p.Payload) != 1+int(i)*int(g)%300 {
			t.Fatalf("frame %d: sender %d seq %d len %d; want seq %d", n, g, i, len(p.Payload), next[g])
		}
		next[g]++
	}
}

func TestUserDataSlot(t *testing.T) {
	c := &Conn{}
	if c.UserData() != nil {
		t.Fatal("fresh connection has user data")
	}
	c.SetUserData("admin")
	if c.UserData() != "admin" {
		t.Fatalf("got %v", c.UserData())
	}
}

// TestHostileInputNeverHurtsTheServer sends random bytes, and random
// mutations of valid frames, on many connections; each must end in a
// clean close (or stay open if it happened to be valid) and the server
// must keep serving.
func TestHostileInputNeverHurtsTheServer(t *testing.T) {
	h := newTestHandler()
	s := startServer(t, Config{}, h)
	rng := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < 60; i++ {
		c := dial(t, s)
		var b []byte
		switch i % 3 {
		case 0:
			b = make([]byte, 1+rng.IntN(2000))
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
		case 1:
			id := codec.NewGUID()
			b = codec.AppendFrame(nil, codec.Ping, &id, []byte("payload"))
			b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
		case 2:
			id := codec.NewGUID()
			b, _ = codec.AppendFrameAuth(nil, codec.ReadEventCommand, &id, "admin", "changeit", []byte{1, 2, 3})
			b[4+18+rng.IntN(3)] = byte(rng.Uint32()) // corrupt the auth block lengths
		}
		c.write(b)
		c.nc.Close()
	}
	c := dial(t, s)
	c.identify()
	c.ping("alive")
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if n := s.Stats().ConnectionsOpen; n != 1 {
			return fmt.Errorf("%d connections open; want 1", n)
		}
		return nil
	})
}
