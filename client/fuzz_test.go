package client

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/eventstored/eventstored/codec"
)

// FuzzServerBytes: whatever bytes a server sends in reply (a valid frame,
// a frame of the wrong command, a truncated or garbage payload, several
// frames, an absurd length), the operation in flight ends with a result or
// an error once the server closes, and the client never panics. If the
// input is long enough, bytes 6..22 are overwritten with the request's
// correlation id so that frames reach the operation's own decoder.
func FuzzServerBytes(f *testing.F) {
	id := codec.GUID{}
	ok := codec.AppendFrame(nil, codec.WriteEventsCompletedCommand, &id, writeCompleted(3, 3))
	f.Add(ok)
	f.Add(ok[:len(ok)-3])
	f.Add(codec.AppendFrame(nil, codec.ReadEventCompletedCommand, &id, []byte{8, 0}))
	f.Add(codec.AppendFrame(nil, codec.WriteEventsCompletedCommand, &id, []byte{0xff, 0xff, 0xff}))
	f.Add(codec.AppendFrame(nil, codec.NotHandledCommand, &id, codec.AppendNotHandled(nil, &codec.NotHandled{Reason: codec.NotHandledNotMaster, AdditionalInfo: []byte{1, 2, 3}})))
	f.Add(codec.AppendFrame(nil, codec.BadRequest, &id, []byte("nope")))
	f.Add(codec.AppendFrame(nil, codec.NotAuthenticated, &id, nil))
	f.Add(append(codec.AppendFrame(nil, codec.HeartbeatRequestCommand, &id, nil), ok...))
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f, 1, 2, 3})
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{5, 0, 0, 0, 0x83, 0, 1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		// An in-memory pipe, not loopback TCP: the fuzzer runs thousands
		// of executions per second, more than the ephemeral ports allow.
		cside, sc := net.Pipe()
		o, err := (&Options{MaxRetries: -1, ConnectionName: "test"}).withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		dialed := make(chan *Client, 1)
		go func() {
			c, err := dialWith(context.Background(), "pipe", o, func(context.Context) (net.Conn, error) { return cside, nil })
			if err != nil {
				dialed <- nil
				return
			}
			dialed <- c
		}()
		serveHandshake(t, sc)
		c := <-dialed
		if c == nil {
			t.Fatal("handshake over the pipe failed")
		}
		defer c.Close()
		type result struct {
			res WriteResult
			err error
		}
		_ = result{}.res
		done := make(chan result, 1)
		go func() {
			r, err := c.AppendToStream(context.Background(), "s", ExpectedAny, oneEvent()...)
			done <- result{r, err}
		}()
		req := readPkg(t, sc)
		b := append([]byte(nil), data...)
		if len(b) >= 22 {
			copy(b[6:22], req.CorrelationID[:])
		}
		_, _ = sc.Write(b)
		sc.Close()
		select {
		case r := <-done:
			// A success needs a well-formed WriteEventsCompleted with
			// result Success somewhere in data; the fuzzer may build one.
			if r.err == nil && len(data) < 22 {
				t.Fatalf("success from %d bytes, too short to hold a reply", len(data))
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the operation never ended after the server closed")
		}
	})
}
