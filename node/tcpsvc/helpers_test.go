package tcpsvc

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/node/auth"
	"github.com/eventstored/eventstored/store"
)

// recConn records the frames the service sends. It stands behind the Conn
// seam for the command tests; the interop test uses real sockets.
type recConn struct{ ch chan []byte }

func newRecConn() *recConn { return &recConn{ch: make(chan []byte, 1024)} }

func (c *recConn) Send(frame []byte) error { c.ch <- append([]byte(nil), frame...); return nil }

type env struct {
	db   *store.DB
	auth *auth.Service
	svc  *Service
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newEnv opens a real in-memory store, a real auth service (cheap hashing)
// and the command service, started unless opts says otherwise.
func newEnv(t testing.TB, tweak func(*Options)) *env {
	t.Helper()
	db, err := store.Open(store.Options{MemDB: true, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	a := auth.New(auth.Options{Backend: auth.NewDBBackend(db), HashIterations: 1000, Logger: quietLogger()})
	if err := a.Start(context.Background()); err != nil {
		t.Fatalf("auth.Start: %v", err)
	}
	opts := Options{DB: db, NewReader: func() Reader { return db.NewReader() }, Auth: a, Logger: quietLogger()}
	start := true
	if tweak != nil {
		tweak(&opts)
		start = opts.Workers >= 0
		if opts.Workers < 0 {
			opts.Workers = 1
		}
	}
	svc := New(opts)
	if start {
		svc.Start()
	}
	t.Cleanup(func() {
		if start {
			svc.Stop()
		}
		db.Close()
	})
	return &env{db: db, auth: a, svc: svc}
}

// client is one session with its recorded replies.
type client struct {
	t    testing.TB
	conn *recConn
	sess *Session
}

func (e *env) client(t testing.TB) *client {
	c := newRecConn()
	return &client{t: t, conn: c, sess: e.svc.Open(c)}
}

type creds struct{ login, password string }

var (
	anon  *creds
	admin = &creds{"admin", "changeit"}
)

// send builds a real frame, splits and decodes it like the reactor does,
// and hands it to the session.
func (c *client) send(cmd codec.Command, id codec.GUID, cr *creds, payload []byte) {
	c.t.Helper()
	var frame []byte
	if cr != nil {
		var err error
		frame, err = codec.AppendFrameAuth(nil, cmd, &id, cr.login, cr.password, payload)
		if err != nil {
			c.t.Fatal(err)
		}
	} else {
		frame = codec.AppendFrame(nil, cmd, &id, payload)
	}
	pkg, n, err := codec.SplitFrame(frame)
	if err != nil || n != len(frame) {
		c.t.Fatalf("SplitFrame: %v (n=%d)", err, n)
	}
	p, err := codec.DecodePackage(pkg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sess.Handle(&p)
	// The reactor reuses its buffer after the callback: make sure the
	// service copied what it keeps.
	for i := range frame {
		frame[i] = 0xEE
	}
}

// reply waits for the next frame. The timeout only guards against a hang.
func (c *client) reply() codec.Package {
	c.t.Helper()
	select {
	case f := <-c.conn.ch:
		pkg, _, err := codec.SplitFrame(f)
		if err != nil {
			c.t.Fatal(err)
		}
		p, err := codec.DecodePackage(pkg)
		if err != nil {
			c.t.Fatal(err)
		}
		return p
	case <-time.After(10 * time.Second):
		c.t.Fatal("no reply")
	}
	return codec.Package{}
}

// noReply asserts nothing is pending right now (for commands without a
// reply, checked after a later command's reply arrived).
func (c *client) noReply() {
	c.t.Helper()
	select {
	case f := <-c.conn.ch:
		c.t.Fatalf("unexpected frame % x", f[:min(len(f), 40)])
	default:
	}
}

// call sends and returns the reply, checking command and correlation id.
func (c *client) call(cmd codec.Command, cr *creds, payload []byte, want codec.Command) codec.Package {
	c.t.Helper()
	id := codec.NewGUID()
	c.send(cmd, id, cr, payload)
	p := c.reply()
	if p.CorrelationID != id {
		c.t.Fatalf("reply to %s has correlation id %s; want %s", cmd, p.CorrelationID, id)
	}
	if p.Command != want {
		c.t.Fatalf("unexpected reply to %s; got %s (%q); want %s", cmd, p.Command, truncate(p.Payload, 200), want)
	}
	return p
}

func newEvent(typ string, data string) codec.NewEvent {
	id := codec.NewGUID()
	return codec.NewEvent{EventID: id[:], EventType: typ, DataContentType: 1, Data: []byte(data)}
}

func (c *client) write(cr *creds, stream string, expected int64, evs ...codec.NewEvent) codec.WriteEventsCompleted {
	c.t.Helper()
	m := codec.WriteEvents{EventStreamID: stream, ExpectedVersion: expected, Events: evs, RequireMaster: true}
	p := c.call(codec.WriteEventsCommand, cr, codec.AppendWriteEvents(nil, &m), codec.WriteEventsCompletedCommand)
	var out codec.WriteEventsCompleted
	if err := codec.DecodeWriteEventsCompleted(p.Payload, &out); err != nil {
		c.t.Fatal(err)
	}
	return out
}

func (c *client) readStream(cr *creds, stream string, from int64, max int32, forward, resolve bool) codec.ReadStreamEventsCompleted {
	c.t.Helper()
	cmd, want := codec.ReadStreamEventsForwardCommand, codec.ReadStreamEventsForwardCompletedCommand
	if !forward {
		cmd, want = codec.ReadStreamEventsBackwardCommand, codec.ReadStreamEventsBackwardCompletedCommand
	}
	m := codec.ReadStreamEvents{EventStreamID: stream, FromEventNumber: from, MaxCount: max, ResolveLinkTos: resolve}
	p := c.call(cmd, cr, codec.AppendReadStreamEvents(nil, &m), want)
	var out codec.ReadStreamEventsCompleted
	if err := codec.DecodeReadStreamEventsCompleted(p.Payload, &out); err != nil {
		c.t.Fatal(err)
	}
	return out
}

func (c *client) readEvent(cr *creds, stream string, n int64, resolve bool) codec.ReadEventCompleted {
	c.t.Helper()
	m := codec.ReadEvent{EventStreamID: stream, EventNumber: n, ResolveLinkTos: resolve}
	p := c.call(codec.ReadEventCommand, cr, codec.AppendReadEvent(nil, &m), codec.ReadEventCompletedCommand)
	var out codec.ReadEventCompleted
	if err := codec.DecodeReadEventCompleted(p.Payload, &out); err != nil {
		c.t.Fatal(err)
	}
	return out
}

func (c *client) readAll(cr *creds, pos store.Position, max int32, forward bool) codec.ReadAllEventsCompleted {
	c.t.Helper()
	cmd, want := codec.ReadAllEventsForwardCommand, codec.ReadAllEventsForwardCompletedCommand
	if !forward {
		cmd, want = codec.ReadAllEventsBackwardCommand, codec.ReadAllEventsBackwardCompletedCommand
	}
	m := codec.ReadAllEvents{CommitPosition: pos.Commit, PreparePosition: pos.Prepare, MaxCount: max}
	p := c.call(cmd, cr, codec.AppendReadAllEvents(nil, &m), want)
	var out codec.ReadAllEventsCompleted
	if err := codec.DecodeReadAllEventsCompleted(p.Payload, &out); err != nil {
		c.t.Fatal(err)
	}
	return out
}

func (c *client) deleteStream(cr *creds, stream string, expected int64, hard bool) codec.DeleteStreamCompleted {
	c.t.Helper()
	m := codec.DeleteStream{EventStreamID: stream, ExpectedVersion: expected, HardDelete: hard}
	p := c.call(codec.DeleteStreamCommand, cr, codec.AppendDeleteStream(nil, &m), codec.DeleteStreamCompletedCommand)
	var out codec.DeleteStreamCompleted
	if err := codec.DecodeDeleteStreamCompleted(p.Payload, &out); err != nil {
		c.t.Fatal(err)
	}
	return out
}

// waitFor polls cond (for effects that happen on another goroutine, such
// as the asynchronous $settings reload). It fails after 10 s.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func newUnstartedAuth(db *store.DB) *auth.Service {
	return auth.New(auth.Options{Backend: auth.NewDBBackend(db), HashIterations: 1000, Logger: quietLogger()})
}

// discardConn accepts frames and drops them (Send must not keep them).
type discardConn struct{ n int }

func (c *discardConn) Send(frame []byte) error { c.n += len(frame); return nil }
