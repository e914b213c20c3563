package tcpsvc

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/eventstored/eventstored/cluster"
	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/node/records"
	"github.com/eventstored/eventstored/store"
)

// These tests drive Session.Handle with real frames (built, split and
// decoded by codec as the reactor would), a real in-memory store and real
// auth; only the socket is replaced by a recording Conn. The node client
// interop test covers the same commands over loopback TCP.

func wantBadRequest(t *testing.T, p codec.Package, substr string) {
	t.Helper()
	if p.Command != codec.BadRequest {
		t.Fatalf("unexpected reply; got %s; want BadRequest", p.Command)
	}
	if !strings.Contains(string(p.Payload), substr) {
		t.Fatalf("unexpected BadRequest reason %q; want it to contain %q", p.Payload, substr)
	}
}

func TestIdentifyClientAndPing(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t)
	m := codec.IdentifyClient{Version: codec.ClientVersionV2, ConnectionName: "test-conn"}
	c.call(codec.IdentifyClientCommand, anon, codec.AppendIdentifyClient(nil, &m), codec.ClientIdentifiedCommand)
	if c.sess.ClientName() != "test-conn" {
		t.Fatalf("unexpected client name %q", c.sess.ClientName())
	}
	p := c.call(codec.Ping, anon, []byte("hello"), codec.Pong)
	if string(p.Payload) != "hello" {
		t.Fatalf("Pong payload %q; want %q", p.Payload, "hello")
	}
	c.call(codec.HeartbeatRequestCommand, anon, nil, codec.HeartbeatResponseCommand)
	p = c.call(codec.IdentifyClientCommand, anon, []byte{0xff, 0xff}, codec.BadRequest)
	wantBadRequest(t, p, "IdentifyClient")
}

func TestUnknownAndInternalCommandsAreBadRequests(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t)
	for _, cmd := range []codec.Command{0x05, 0x13, 0x80, 0x81, 0x99, 0xBA, 0xFF, codec.Pong, codec.WriteEventsCompletedCommand} {
		p := c.call(cmd, anon, nil, codec.BadRequest)
		wantBadRequest(t, p, "Could not unwrap network package for command")
	}
	// Clients may send BadRequest: logged, never answered.
	c.send(codec.BadRequest, codec.NewGUID(), anon, []byte("client complaint"))
	c.call(codec.Ping, anon, nil, codec.Pong)
	c.noReply()
}

func TestSubscriptionCommandsAreRefusedClearly(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t)
	sub := codec.SubscribeToStream{EventStreamID: "s"}
	p := c.call(codec.SubscribeToStreamCommand, anon, codec.AppendSubscribeToStream(nil, &sub), codec.BadRequest)
	wantBadRequest(t, p, "SubscribeToStream is not supported")
	p = c.call(codec.CreatePersistentSubscriptionCommand, admin, nil, codec.BadRequest)
	wantBadRequest(t, p, "not supported")
	// Acks, naks and unsubscribe get no reply.
	c.send(codec.UnsubscribeFromStreamCommand, codec.NewGUID(), anon, nil)
	c.send(codec.PersistentSubscriptionAckEventsCommand, codec.NewGUID(), anon, nil)
	c.call(codec.Ping, anon, nil, codec.Pong)
	c.noReply()
}

func TestZeroCorrelationIDIsBadRequest(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t)
	m := codec.WriteEvents{EventStreamID: "s", ExpectedVersion: -2, Events: []codec.NewEvent{newEvent("t", "{}")}}
	c.send(codec.WriteEventsCommand, codec.GUID{}, anon, codec.AppendWriteEvents(nil, &m))
	p := c.reply()
	wantBadRequest(t, p, "correlation id")
	if !p.CorrelationID.IsZero() {
		t.Fatalf("reply id %s; want zero", p.CorrelationID)
	}
	if r := c.readStream(admin, "s", 0, 10, true, false); r.Result != codec.ReadStreamNoStream {
		t.Fatalf("write with zero id was executed: %v", r.Result)
	}
}

func TestGarbagePayloadIsBadRequestWithReason(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t)
	garbage := [][]byte{{0xff}, {0x0a, 0x50, 0x01}, {0x08}}
	for _, cmd := range []codec.Command{codec.WriteEventsCommand, codec.DeleteStreamCommand, codec.TransactionStartCommand,
		codec.TransactionWriteCommand, codec.TransactionCommitCommand, codec.ReadEventCommand,
		codec.ReadStreamEventsForwardCommand, codec.ReadStreamEventsBackwardCommand,
		codec.ReadAllEventsForwardCommand, codec.ReadAllEventsBackwardCommand} {
		for _, g := range garbage {
			p := c.call(cmd, anon, g, codec.BadRequest)
			wantBadRequest(t, p, "Invalid "+cmd.String()+": ")
		}
		// A missing required field is named.
		p := c.call(cmd, anon, nil, codec.BadRequest)
		wantBadRequest(t, p, "Invalid "+cmd.String())
	}
}

func TestArgumentValidationIsBadRequest(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t)
	f := func(name string, cmd codec.Command, payload []byte, substr string) {
		t.Helper()
		p := c.call(cmd, anon, payload, codec.BadRequest)
		if !strings.Contains(strings.ToLower(string(p.Payload)), strings.ToLower(substr)) {
			t.Fatalf("%s: BadRequest reason %q; want it to contain %q", name, p.Payload, substr)
		}
	}
	ev := newEvent("t", "{}")
	w := func(m codec.WriteEvents) []byte { return codec.AppendWriteEvents(nil, &m) }
	f("empty stream", codec.WriteEventsCommand, w(codec.WriteEvents{ExpectedVersion: -2, Events: []codec.NewEvent{ev}}), "stream")
	f("expected version -3", codec.WriteEventsCommand, w(codec.WriteEvents{EventStreamID: "s", ExpectedVersion: -3}), "expected version")
	f("expected version -5", codec.WriteEventsCommand, w(codec.WriteEvents{EventStreamID: "s", ExpectedVersion: -5}), "expected version")
	short := ev
	short.EventID = short.EventID[:15]
	f("short event id", codec.WriteEventsCommand, w(codec.WriteEvents{EventStreamID: "s", ExpectedVersion: -2, Events: []codec.NewEvent{short}}), "id")
	zero := ev
	zero.EventID = make([]byte, 16)
	f("zero event id", codec.WriteEventsCommand, w(codec.WriteEvents{EventStreamID: "s", ExpectedVersion: -2, Events: []codec.NewEvent{zero}}), "id")
	noType := ev
	noType.EventType = ""
	f("empty event type", codec.WriteEventsCommand, w(codec.WriteEvents{EventStreamID: "s", ExpectedVersion: -2, Events: []codec.NewEvent{noType}}), "type")
	del := codec.DeleteStream{EventStreamID: "s", ExpectedVersion: -4}
	f("delete with StreamExists", codec.DeleteStreamCommand, codec.AppendDeleteStream(nil, &del), "expected version")
	re := codec.ReadEvent{EventStreamID: "s", EventNumber: -2}
	f("read event -2", codec.ReadEventCommand, codec.AppendReadEvent(nil, &re), "event number")
	re = codec.ReadEvent{EventNumber: 0}
	f("read event empty stream", codec.ReadEventCommand, codec.AppendReadEvent(nil, &re), "stream")
	rs := codec.ReadStreamEvents{MaxCount: 1}
	f("read stream empty stream", codec.ReadStreamEventsForwardCommand, codec.AppendReadStreamEvents(nil, &rs), "stream")
	// Nothing was written by any of these.
	if r := c.readStream(admin, "s", 0, 10, true, false); r.Result != codec.ReadStreamNoStream {
		t.Fatalf("a rejected write reached the store: %v", r.Result)
	}
}

func TestAuthenticateCommand(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t)
	c.call(codec.Authenticate, admin, nil, codec.Authenticated)
	// Twice: the second is a cache hit on the event loop.
	c.call(codec.Authenticate, admin, nil, codec.Authenticated)
	p := c.call(codec.Authenticate, &creds{"admin", "wrong"}, nil, codec.NotAuthenticated)
	if string(p.Payload) != "Unauthorized" {
		t.Fatalf("NotAuthenticated text %q; want Unauthorized", p.Payload)
	}
	p = c.call(codec.Authenticate, anon, nil, codec.NotAuthenticated)
	if string(p.Payload) != "No user credentials provided." {
		t.Fatalf("NotAuthenticated text %q", p.Payload)
	}
	p = c.call(codec.Authenticate, &creds{"ghost", ""}, nil, codec.NotAuthenticated)
	if string(p.Payload) != "Unauthorized" {
		t.Fatalf("NotAuthenticated text %q; want Unauthorized", p.Payload)
	}
}

func TestDefaultCredentialsApplyToLaterRequests(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t)
	// Anonymous cannot read $all.
	if r := c.readAll(anon, store.PositionStart, 10, true); r.Result != codec.ReadAllAccessDenied {
		t.Fatalf("anonymous $all read: %v; want AccessDenied", r.Result)
	}
	c.call(codec.Authenticate, admin, nil, codec.Authenticated)
	if r := c.readAll(anon, store.PositionStart, 10, true); r.Result != codec.ReadAllSuccess {
		t.Fatalf("$all read as default admin: %v %q", r.Result, r.Error)
	}
	// Quirk of the original (spec §4.3): after a failed Authenticate the
	// stored bad credentials make unflagged requests NotAuthenticated.
	c.call(codec.Authenticate, &creds{"admin", "bad"}, nil, codec.NotAuthenticated)
	m := codec.ReadAllEvents{MaxCount: 10}
	p := c.call(codec.ReadAllEventsForwardCommand, anon, codec.AppendReadAllEvents(nil, &m), codec.NotAuthenticated)
	if string(p.Payload) != "Not Authenticated" {
		t.Fatalf("NotAuthenticated text %q", p.Payload)
	}
	wm := codec.WriteEvents{EventStreamID: "s", ExpectedVersion: -2, Events: []codec.NewEvent{newEvent("t", "{}")}}
	c.call(codec.WriteEventsCommand, anon, codec.AppendWriteEvents(nil, &wm), codec.NotAuthenticated)
	// Per-package credentials still win.
	if r := c.readAll(admin, store.PositionStart, 10, true); r.Result != codec.ReadAllSuccess {
		t.Fatalf("$all read with package credentials: %v", r.Result)
	}
	c.call(codec.Authenticate, admin, nil, codec.Authenticated)
	if r := c.readAll(anon, store.PositionStart, 10, true); r.Result != codec.ReadAllSuccess {
		t.Fatalf("$all read after re-authentication: %v", r.Result)
	}
}

func TestWrongPackageCredentialsAreNotAuthenticated(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t)
	bad := &creds{"admin", "nope"}
	wm := codec.WriteEvents{EventStreamID: "s", ExpectedVersion: -2, Events: []codec.NewEvent{newEvent("t", "{}")}}
	for i := 0; i < 2; i++ {
		p := c.call(codec.WriteEventsCommand, bad, codec.AppendWriteEvents(nil, &wm), codec.NotAuthenticated)
		if string(p.Payload) != "Not Authenticated" {
			t.Fatalf("text %q", p.Payload)
		}
	}
	rm := codec.ReadEvent{EventStreamID: "s", EventNumber: 0}
	c.call(codec.ReadEventCommand, &creds{"nobody", "x"}, codec.AppendReadEvent(nil, &rm), codec.NotAuthenticated)
	if r := c.readStream(admin, "s", 0, 10, true, false); r.Result != codec.ReadStreamNoStream {
		t.Fatalf("unauthenticated write executed: %v", r.Result)
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t)
	evs := []codec.NewEvent{newEvent("a", `{"n":0}`), newEvent("b", `{"n":1}`), newEvent("c", `{"n":2}`)}
	evs[2].DataContentType = 0
	evs[2].Metadata = []byte("meta")
	w := c.write(anon, "orders-1", -1, evs...)
	if w.Result != codec.OperationSuccess || w.FirstEventNumber != 0 || w.LastEventNumber != 2 {
		t.Fatalf("write: %+v", w)
	}
	if w.PreparePosition < 0 || w.CommitPosition < 0 {
		t.Fatalf("write positions %d/%d", w.PreparePosition, w.CommitPosition)
	}
	// Idempotent retry: same ids, success, same numbers.
	w2 := c.write(anon, "orders-1", -1, evs...)
	if w2.Result != codec.OperationSuccess || w2.FirstEventNumber != 0 || w2.LastEventNumber != 2 {
		t.Fatalf("idempotent retry: %+v", w2)
	}
	r := c.readStream(anon, "orders-1", 0, 10, true, false)
	if r.Result != codec.ReadStreamSuccess || len(r.Events) != 3 || !r.IsEndOfStream || r.LastEventNumber != 2 || r.NextEventNumber != 3 {
		t.Fatalf("read forward: result %v, %d events, eos %v, last %d, next %d", r.Result, len(r.Events), r.IsEndOfStream, r.LastEventNumber, r.NextEventNumber)
	}
	for i, ev := range r.Events {
		rec := ev.Event
		if !ev.HasEvent || rec.EventNumber != int64(i) || string(rec.EventID) != string(evs[i].EventID) ||
			rec.EventType != evs[i].EventType || string(rec.Data) != string(evs[i].Data) || rec.EventStreamID != "orders-1" {
			t.Fatalf("event %d: %+v", i, rec)
		}
		if rec.CreatedEpoch <= 0 || rec.Created != rec.CreatedEpoch*10000+records.TicksAtUnixEpoch && rec.Created/10000 != rec.CreatedEpoch+records.TicksAtUnixEpoch/10000 {
			t.Fatalf("event %d timestamps: created %d epoch %d", i, rec.Created, rec.CreatedEpoch)
		}
	}
	if r.Events[0].Event.DataContentType != 1 || r.Events[2].Event.DataContentType != 0 || string(r.Events[2].Event.Metadata) != "meta" {
		t.Fatalf("content types / metadata not kept: %+v", r.Events[2].Event)
	}
	b := c.readStream(anon, "orders-1", -1, 2, false, false)
	if b.Result != codec.ReadStreamSuccess || len(b.Events) != 2 || b.Events[0].Event.EventNumber != 2 || b.Events[1].Event.EventNumber != 1 || b.IsEndOfStream {
		t.Fatalf("read backward: %v %d events eos %v", b.Result, len(b.Events), b.IsEndOfStream)
	}
	re := c.readEvent(anon, "orders-1", -1, false)
	if re.Result != codec.ReadEventSuccess || re.Event.Event.EventNumber != 2 {
		t.Fatalf("read event -1: %v %+v", re.Result, re.Event.Event)
	}
	re = c.readEvent(anon, "orders-1", 7, false)
	if re.Result != codec.ReadEventNotFound || re.Event.HasEvent {
		t.Fatalf("read event 7: %v", re.Result)
	}
	re = c.readEvent(anon, "nope", 0, false)
	if re.Result != codec.ReadEventNoStream {
		t.Fatalf("read event of missing stream: %v", re.Result)
	}
	all := c.readAll(admin, store.PositionStart, 4096, true)
	if all.Result != codec.ReadAllSuccess {
		t.Fatalf("read all: %v %q", all.Result, all.Error)
	}
	found := 0
	for _, ev := range all.Events {
		if ev.Event.EventStreamID == "orders-1" {
			found++
		}
	}
	if found != 3 {
		t.Fatalf("read all: found %d of 3 events", found)
	}
	end := c.readAll(admin, store.Position{Commit: all.NextCommitPosition, Prepare: all.NextPreparePosition}, 10, true)
	if end.Result != codec.ReadAllSuccess || len(end.Events) != 0 {
		t.Fatalf("read all past the end: %v, %d events", end.Result, len(end.Events))
	}
	back := c.readAll(admin, store.PositionEnd, 1, false)
	if back.Result != codec.ReadAllSuccess || len(back.Events) != 1 || back.Events[0].Event.EventStreamID != "orders-1" || back.Events[0].Event.EventNumber != 2 {
		t.Fatalf("read all backward: %v %+v", back.Result, back.Events)
	}
}

func TestWrongExpectedVersionReportsCurrentVersion(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t)
	c.write(anon, "s", -1, newEvent("a", "{}"), newEvent("b", "{}"))
	f := func(expected int64) {
		t.Helper()
		w := c.write(anon, "s", expected, newEvent("c", "{}"))
		if w.Result != codec.OperationWrongExpectedVersion || w.CurrentVersion != 1 || w.Message != "Wrong expected version." {
			t.Fatalf("expected %d: %+v", expected, w)
		}
	}
	f(-1)
	f(0)
	f(5)
	if w := c.write(anon, "s", 1, newEvent("c", "{}")); w.Result != codec.OperationSuccess || w.FirstEventNumber != 2 {
		t.Fatalf("exact expected version: %+v", w)
	}
	if w := c.write(anon, "new", -4, newEvent("c", "{}")); w.Result != codec.OperationWrongExpectedVersion {
		t.Fatalf("StreamExists on a new stream: %+v", w)
	}
}

func TestAccessControl(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t)
	ctx := t.Context()
	adminP, err := e.auth.Authenticate("admin", "changeit")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.auth.CreateUser(ctx, adminP, "alice", "Alice", []string{"readers"}, "pw"); err != nil {
		t.Fatal(err)
	}
	alice := &creds{"alice", "pw"}
	c.write(admin, "secret", -1, newEvent("a", `{}`))
	meta := newEvent("$metadata", `{"$acl":{"$r":"readers","$w":"$admins","$d":"$admins","$mr":"$admins","$mw":"$admins"}}`)
	if w := c.write(admin, "$$secret", -2, meta); w.Result != codec.OperationSuccess {
		t.Fatalf("metadata write: %+v", w)
	}
	if w := c.write(anon, "secret", -2, newEvent("x", "{}")); w.Result != codec.OperationAccessDenied || w.Message != "Access denied." {
		t.Fatalf("anonymous write: %+v", w)
	}
	if w := c.write(alice, "secret", -2, newEvent("x", "{}")); w.Result != codec.OperationAccessDenied {
		t.Fatalf("alice write: %+v", w)
	}
	if r := c.readStream(anon, "secret", 0, 10, true, false); r.Result != codec.ReadStreamAccessDenied || len(r.Events) != 0 || r.NextEventNumber != -1 || r.LastEventNumber != -1 || !r.IsEndOfStream {
		t.Fatalf("anonymous read: %+v", r)
	}
	if r := c.readStream(alice, "secret", 0, 10, true, false); r.Result != codec.ReadStreamSuccess || len(r.Events) != 1 {
		t.Fatalf("alice read: %v", r.Result)
	}
	if r := c.readEvent(anon, "secret", 0, false); r.Result != codec.ReadEventAccessDenied {
		t.Fatalf("anonymous read event: %v", r.Result)
	}
	if r := c.readEvent(alice, "$$secret", -1, false); r.Result != codec.ReadEventAccessDenied {
		t.Fatalf("alice metadata read: %v", r.Result)
	}
	if r := c.readEvent(admin, "$$secret", -1, false); r.Result != codec.ReadEventSuccess {
		t.Fatalf("admin metadata read: %v", r.Result)
	}
	if d := c.deleteStream(alice, "secret", -2, false); d.Result != codec.OperationAccessDenied || d.PreparePosition != -1 {
		t.Fatalf("alice delete: %+v", d)
	}
	if w := c.write(anon, "$settings", -2, newEvent("$settings", `{}`)); w.Result != codec.OperationAccessDenied {
		t.Fatalf("anonymous $settings write: %+v", w)
	}
	if w := c.write(admin, "$all", -2, newEvent("x", `{}`)); w.Result != codec.OperationAccessDenied {
		t.Fatalf("admin write to $all: %+v", w)
	}
	// Links: resolving a link into a forbidden stream denies the whole read.
	link := codec.NewEvent{EventID: newEvent("", "").EventID, EventType: "$>", Data: []byte("0@secret")}
	c.write(anon, "links", -1, link)
	if r := c.readStream(anon, "links", 0, 10, true, true); r.Result != codec.ReadStreamAccessDenied {
		t.Fatalf("resolved link into a forbidden stream: %v", r.Result)
	}
	if r := c.readStream(anon, "links", 0, 10, true, false); r.Result != codec.ReadStreamSuccess || r.Events[0].Event.EventType != "$>" {
		t.Fatalf("unresolved link read: %v", r.Result)
	}
	r := c.readStream(alice, "links", 0, 10, true, true)
	if r.Result != codec.ReadStreamSuccess || !r.Events[0].HasLink || r.Events[0].Event.EventStreamID != "secret" {
		t.Fatalf("resolved link as alice: %v %+v", r.Result, r.Events)
	}
	if re := c.readEvent(anon, "links", 0, true); re.Result != codec.ReadEventAccessDenied {
		t.Fatalf("read event through a forbidden link: %v", re.Result)
	}
	// $settings restrict user streams; auth notices the write at once.
	if w := c.write(admin, "$settings", -2, newEvent("$settings", `{"$userStreamAcl":{"$r":"$admins","$w":"$admins"}}`)); w.Result != codec.OperationSuccess {
		t.Fatalf("$settings write: %+v", w)
	}
	waitFor(t, func() bool { return e.auth.Settings().UserStreamACL != nil })
	if r := c.readStream(anon, "links", 0, 10, true, false); r.Result != codec.ReadStreamAccessDenied {
		t.Fatalf("read after $settings restricted user streams: %v", r.Result)
	}
}

func TestDeletes(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t)
	c.write(anon, "soft", -1, newEvent("a", "{}"), newEvent("b", "{}"))
	d := c.deleteStream(anon, "soft", 1, false)
	if d.Result != codec.OperationSuccess || d.PreparePosition < 0 {
		t.Fatalf("soft delete: %+v", d)
	}
	if r := c.readStream(anon, "soft", 0, 10, true, false); r.Result != codec.ReadStreamNoStream || r.LastEventNumber != 1 {
		t.Fatalf("read of soft-deleted: %v last %d", r.Result, r.LastEventNumber)
	}
	if w := c.write(anon, "soft", -1, newEvent("c", "{}")); w.Result != codec.OperationSuccess || w.FirstEventNumber != 2 {
		t.Fatalf("recreate after soft delete: %+v", w)
	}
	c.write(anon, "hard", -1, newEvent("a", "{}"))
	if d := c.deleteStream(anon, "hard", -2, true); d.Result != codec.OperationSuccess {
		t.Fatalf("hard delete: %+v", d)
	}
	if r := c.readStream(anon, "hard", 0, 10, true, false); r.Result != codec.ReadStreamStreamDeleted || r.LastEventNumber != store.EventNumberDeletedStream {
		t.Fatalf("read of hard-deleted: %v last %d", r.Result, r.LastEventNumber)
	}
	if r := c.readEvent(anon, "hard", 0, false); r.Result != codec.ReadEventStreamDeleted {
		t.Fatalf("read event of hard-deleted: %v", r.Result)
	}
	if w := c.write(anon, "hard", -2, newEvent("x", "{}")); w.Result != codec.OperationStreamDeleted || w.Message != "Stream is deleted." {
		t.Fatalf("write to hard-deleted: %+v", w)
	}
	if d := c.deleteStream(anon, "hard", -2, true); d.Result != codec.OperationStreamDeleted {
		t.Fatalf("second hard delete: %+v", d)
	}
	if d := c.deleteStream(anon, "$$soft", -2, false); d.Result != codec.OperationAccessDenied {
		t.Fatalf("delete of a metastream: %+v", d)
	}
}

func TestTransactions(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t)
	start := func(cr *creds, stream string, expected int64) codec.TransactionStartCompleted {
		t.Helper()
		m := codec.TransactionStart{EventStreamID: stream, ExpectedVersion: expected}
		p := c.call(codec.TransactionStartCommand, cr, codec.AppendTransactionStart(nil, &m), codec.TransactionStartCompletedCommand)
		var out codec.TransactionStartCompleted
		if err := codec.DecodeTransactionStartCompleted(p.Payload, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	write := func(cr *creds, id int64, evs ...codec.NewEvent) codec.TransactionWriteCompleted {
		t.Helper()
		m := codec.TransactionWrite{TransactionID: id, Events: evs}
		p := c.call(codec.TransactionWriteCommand, cr, codec.AppendTransactionWrite(nil, &m), codec.TransactionWriteCompletedCommand)
		var out codec.TransactionWriteCompleted
		if err := codec.DecodeTransactionWriteCompleted(p.Payload, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	commit := func(cr *creds, id int64) codec.TransactionCommitCompleted {
		t.Helper()
		m := codec.TransactionCommit{TransactionID: id}
		p := c.call(codec.TransactionCommitCommand, cr, codec.AppendTransactionCommit(nil, &m), codec.TransactionCommitCompletedCommand)
		var out codec.TransactionCommitCompleted
		if err := codec.DecodeTransactionCommitCompleted(p.Payload, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	s := start(anon, "tx", -1)
	if s.Result != codec.OperationSuccess || s.TransactionID < 0 {
		t.Fatalf("start: %+v", s)
	}
	if w := write(anon, s.TransactionID, newEvent("a", "{}"), newEvent("b", "{}")); w.Result != codec.OperationSuccess || w.TransactionID != s.TransactionID {
		t.Fatalf("write: %+v", w)
	}
	if w := write(anon, s.TransactionID, newEvent("c", "{}")); w.Result != codec.OperationSuccess {
		t.Fatalf("second write: %+v", w)
	}
	if r := c.readStream(anon, "tx", 0, 10, true, false); r.Result != codec.ReadStreamNoStream {
		t.Fatalf("uncommitted events visible: %v", r.Result)
	}
	cm := commit(anon, s.TransactionID)
	if cm.Result != codec.OperationSuccess || cm.FirstEventNumber != 0 || cm.LastEventNumber != 2 || cm.CommitPosition < 0 || cm.TransactionID != s.TransactionID {
		t.Fatalf("commit: %+v", cm)
	}
	if r := c.readStream(anon, "tx", 0, 10, true, false); len(r.Events) != 3 {
		t.Fatalf("committed events: %d", len(r.Events))
	}
	// A violated expected version fails at commit, not at start.
	s2 := start(anon, "tx", -1)
	if s2.Result != codec.OperationSuccess {
		t.Fatalf("start 2: %+v", s2)
	}
	write(anon, s2.TransactionID, newEvent("d", "{}"))
	if cm := commit(anon, s2.TransactionID); cm.Result != codec.OperationWrongExpectedVersion {
		t.Fatalf("commit with a violated expected version: %+v", cm)
	}
	// Unknown transaction ids.
	if w := write(anon, 987654321, newEvent("z", "{}")); w.Result != codec.OperationInvalidTransaction {
		t.Fatalf("write to unknown transaction: %+v", w)
	}
	if cm := commit(anon, 987654321); cm.Result != codec.OperationInvalidTransaction || cm.TransactionID != 987654321 {
		t.Fatalf("commit of unknown transaction: %+v", cm)
	}
	// Access: a transaction on a system stream needs $admins, at start
	// and for every later step.
	if s := start(anon, "$sys-tx", -2); s.Result != codec.OperationAccessDenied || s.TransactionID != -1 {
		t.Fatalf("anonymous start on a system stream: %+v", s)
	}
	s3 := start(admin, "$sys-tx", -2)
	if s3.Result != codec.OperationSuccess {
		t.Fatalf("admin start: %+v", s3)
	}
	if w := write(anon, s3.TransactionID, newEvent("e", "{}")); w.Result != codec.OperationAccessDenied {
		t.Fatalf("anonymous write into an admin transaction: %+v", w)
	}
	if cm := commit(anon, s3.TransactionID); cm.Result != codec.OperationAccessDenied {
		t.Fatalf("anonymous commit of an admin transaction: %+v", cm)
	}
	// Another connection may continue a transaction by id.
	c2 := e.client(t)
	c, c2 = c2, c
	if cm := commit(admin, s3.TransactionID); cm.Result != codec.OperationSuccess {
		t.Fatalf("commit from another connection: %+v", cm)
	}
	c = c2
	if e.svc.txs.len() != 1 { // s2 failed its commit and stays open
		t.Fatalf("open transactions %d; want 1", e.svc.txs.len())
	}
}

func TestTransactionTableIsBounded(t *testing.T) {
	var tt txTable
	tt.init(3)
	for i := int64(1); i <= 5; i++ {
		tt.add(i, "s")
	}
	if tt.len() != 3 {
		t.Fatalf("table holds %d; limit 3", tt.len())
	}
	for i, want := range map[int64]bool{1: false, 2: false, 3: true, 4: true, 5: true} {
		if _, ok := tt.lookup(i); ok != want {
			t.Fatalf("lookup(%d) = %v; want %v", i, ok, want)
		}
	}
}

func TestReadLimits(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t)
	c.write(anon, "s", -1, newEvent("a", "{}"))
	r := c.readStream(anon, "s", 0, 4097, true, false)
	if r.Result != codec.ReadStreamError || r.Error != errReadSizeTooBig {
		t.Fatalf("read 4097: %v %q", r.Result, r.Error)
	}
	if r := c.readStream(anon, "s", 0, 4096, true, false); r.Result != codec.ReadStreamSuccess {
		t.Fatalf("read 4096: %v %q", r.Result, r.Error)
	}
	if r := c.readStream(anon, "s", 0, 0, true, false); r.Result != codec.ReadStreamError {
		t.Fatalf("read 0: %v", r.Result)
	}
	a := c.readAll(admin, store.PositionStart, 4097, true)
	if a.Result != codec.ReadAllError || a.Error != errReadSizeTooBig {
		t.Fatalf("read all 4097: %v %q", a.Result, a.Error)
	}
}

func TestScavengeDatabase(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t)
	f := func(cr *creds, wantErr string) {
		t.Helper()
		p := c.call(codec.ScavengeDatabaseCommand, cr, nil, codec.ScavengeDatabaseCompletedCommand)
		var m codec.ScavengeDatabaseCompleted
		if err := codec.DecodeScavengeDatabaseCompleted(p.Payload, &m); err != nil {
			t.Fatal(err)
		}
		if m.Result != codec.ScavengeCompletedFailed || m.Error != wantErr {
			t.Fatalf("scavenge: %+v; want Failed %q", m, wantErr)
		}
	}
	f(anon, "Access denied.")
	f(admin, "Scavenging is not supported by this server yet.")
	f(&creds{"ops", "changeit"}, "Scavenging is not supported by this server yet.")
}

func TestWorkQueueFullIsTooBusy(t *testing.T) {
	// No workers run (Workers < 0 in the test env), so the queue of two
	// fills deterministically.
	e := newEnv(t, func(o *Options) { o.Workers = -1; o.WorkQueueMax = 2 })
	c := e.client(t)
	m := codec.ReadEvent{EventStreamID: "s", EventNumber: 0}
	for i := 0; i < 2; i++ {
		c.send(codec.ReadEventCommand, codec.NewGUID(), anon, codec.AppendReadEvent(nil, &m))
	}
	c.noReply()
	p := c.call(codec.ReadEventCommand, anon, codec.AppendReadEvent(nil, &m), codec.NotHandledCommand)
	var nh codec.NotHandled
	if err := codec.DecodeNotHandled(p.Payload, &nh); err != nil || nh.Reason != codec.NotHandledTooBusy {
		t.Fatalf("NotHandled: %+v %v", nh, err)
	}
	if e.svc.TooBusyCount() != 1 {
		t.Fatalf("TooBusyCount %d; want 1", e.svc.TooBusyCount())
	}
}

func TestNotReadyBeforeAuthStarts(t *testing.T) {
	db, err := store.Open(store.Options{MemDB: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a := newUnstartedAuth(db)
	svc := New(Options{DB: db, NewReader: func() Reader { return db.NewReader() }, Auth: a, Logger: quietLogger()})
	svc.Start()
	defer svc.Stop()
	conn := newRecConn()
	c := &client{t: t, conn: conn, sess: svc.Open(conn)}
	m := codec.ReadEvent{EventStreamID: "s", EventNumber: 0}
	p := c.call(codec.ReadEventCommand, anon, codec.AppendReadEvent(nil, &m), codec.NotHandledCommand)
	var nh codec.NotHandled
	if err := codec.DecodeNotHandled(p.Payload, &nh); err != nil || nh.Reason != codec.NotHandledNotReady {
		t.Fatalf("NotHandled: %+v %v", nh, err)
	}
	p = c.call(codec.Authenticate, admin, nil, codec.NotAuthenticated)
	if string(p.Payload) != "Server not yet ready" {
		t.Fatalf("text %q", p.Payload)
	}
}

func TestReplyOverFrameLimitIsReadError(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t)
	big := strings.Repeat("x", 4000)
	c.write(anon, "huge", -1, newEvent("a", `"`+big+`"`), newEvent("b", `"`+big+`"`), newEvent("c", `"`+big+`"`))
	old := replyFrameBytesMax
	replyFrameBytesMax = 10_000
	defer func() { replyFrameBytesMax = old }()
	// Two events fit, three do not.
	if r := c.readStream(anon, "huge", 0, 2, true, false); r.Result != codec.ReadStreamSuccess || len(r.Events) != 2 {
		t.Fatalf("read of 2: %v %d", r.Result, len(r.Events))
	}
	r := c.readStream(anon, "huge", 0, 3, true, false)
	if r.Result != codec.ReadStreamError || r.Error != errReplyTooLarge || len(r.Events) != 0 {
		t.Fatalf("read of 3: %v %q %d", r.Result, r.Error, len(r.Events))
	}
	a := c.readAll(admin, store.PositionStart, 4096, true)
	if a.Result != codec.ReadAllError || a.Error != errReplyTooLarge {
		t.Fatalf("read all: %v %q", a.Result, a.Error)
	}
	re := c.readEvent(anon, "huge", 0, false)
	if re.Result != codec.ReadEventSuccess {
		t.Fatalf("read event: %v", re.Result)
	}
	if st := e.svc.Stats(); st.Workers != WorkersDefault || st.WorkQueueMax != WorkQueueMaxDefault {
		t.Fatalf("stats: %+v", st)
	}
}

func TestTransactionStartRejectsStreamExists(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t)
	m := codec.TransactionStart{EventStreamID: "s", ExpectedVersion: -4}
	p := c.call(codec.TransactionStartCommand, anon, codec.AppendTransactionStart(nil, &m), codec.BadRequest)
	if !strings.Contains(strings.ToLower(string(p.Payload)), "expected version") {
		t.Fatalf("reason %q", p.Payload)
	}
}

func TestRepeatedBadCredentialsAreRefusedWithoutAWorker(t *testing.T) {
	// No workers run: only the first failure needs one (it is served by
	// hand below); repeats are refused on the event loop.
	e := newEnv(t, func(o *Options) { o.Workers = -1 })
	c := e.client(t)
	bad := &creds{"admin", "bad"}
	m := codec.ReadEvent{EventStreamID: "s", EventNumber: 0}
	c.send(codec.ReadEventCommand, codec.NewGUID(), bad, codec.AppendReadEvent(nil, &m))
	w := &worker{s: e.svc, rd: e.db.NewReader()}
	w.serve(<-e.svc.work)
	if p := c.reply(); p.Command != codec.NotAuthenticated {
		t.Fatalf("first failure: %s", p.Command)
	}
	for i := 0; i < 3; i++ {
		p := c.call(codec.ReadEventCommand, bad, codec.AppendReadEvent(nil, &m), codec.NotAuthenticated)
		if string(p.Payload) != "Not Authenticated" {
			t.Fatalf("text %q", p.Payload)
		}
	}
	c.call(codec.Authenticate, bad, nil, codec.NotAuthenticated)
	if n := len(e.svc.work); n != 0 {
		t.Fatalf("%d requests queued for workers; want 0", n)
	}
}

// TestStateTable checks the require_master table of spec §4.13 through
// the State seam a cluster will provide.
func TestStateTable(t *testing.T) {
	var state NodeState
	master := &codec.MasterInfo{ExternalTCPAddress: "10.0.0.1", ExternalTCPPort: 1113, ExternalHTTPAddress: "10.0.0.1", ExternalHTTPPort: 2113}
	e := newEnv(t, func(o *Options) { o.State = func() NodeState { return state } })
	c := e.client(t)
	write := func(requireMaster bool) []byte {
		m := codec.WriteEvents{EventStreamID: "s", ExpectedVersion: -2, Events: []codec.NewEvent{newEvent("t", "{}")}, RequireMaster: requireMaster}
		return codec.AppendWriteEvents(nil, &m)
	}
	read := func(requireMaster bool) []byte {
		m := codec.ReadEvent{EventStreamID: "s", EventNumber: -1, RequireMaster: requireMaster}
		return codec.AppendReadEvent(nil, &m)
	}
	f := func(role cluster.VNodeState, cmd codec.Command, payload []byte, want codec.Command, wantReason codec.NotHandledReason) {
		t.Helper()
		state = NodeState{State: role, Master: master}
		p := c.call(cmd, anon, payload, want)
		if want != codec.NotHandledCommand {
			return
		}
		var nh codec.NotHandled
		if err := codec.DecodeNotHandled(p.Payload, &nh); err != nil || nh.Reason != wantReason {
			t.Fatalf("role %d %s: NotHandled %+v %v; want reason %d", role, cmd, nh, err, wantReason)
		}
		if wantReason == codec.NotHandledNotMaster {
			var mi codec.MasterInfo
			if err := codec.DecodeMasterInfo(nh.AdditionalInfo, &mi); err != nil || mi.ExternalTCPAddress != "10.0.0.1" || mi.ExternalTCPPort != 1113 {
				t.Fatalf("MasterInfo %+v %v", mi, err)
			}
		}
	}
	const nh = codec.NotHandledCommand
	f(cluster.StateMaster, codec.WriteEventsCommand, write(true), codec.WriteEventsCompletedCommand, 0)
	f(cluster.StateMaster, codec.ReadEventCommand, read(true), codec.ReadEventCompletedCommand, 0)
	f(cluster.StateSlave, codec.WriteEventsCommand, write(true), nh, codec.NotHandledNotMaster)
	f(cluster.StateSlave, codec.WriteEventsCommand, write(false), nh, codec.NotHandledNotMaster)
	f(cluster.StateSlave, codec.ReadEventCommand, read(true), nh, codec.NotHandledNotMaster)
	f(cluster.StateSlave, codec.ReadEventCommand, read(false), codec.ReadEventCompletedCommand, 0)
	f(cluster.StateUnknown, codec.WriteEventsCommand, write(false), nh, codec.NotHandledNotReady)
	f(cluster.StateUnknown, codec.ReadEventCommand, read(true), nh, codec.NotHandledNotReady)
	f(cluster.StateUnknown, codec.ReadEventCommand, read(false), codec.ReadEventCompletedCommand, 0)
	f(cluster.StateInitializing, codec.ReadEventCommand, read(false), nh, codec.NotHandledNotReady)
	f(cluster.StateInitializing, codec.WriteEventsCommand, write(true), nh, codec.NotHandledNotReady)
	// A slave that does not know the master's endpoints cannot redirect.
	state = NodeState{State: cluster.StateSlave}
	p := c.call(codec.WriteEventsCommand, anon, write(true), nh)
	var m codec.NotHandled
	if codec.DecodeNotHandled(p.Payload, &m); m.Reason != codec.NotHandledNotReady {
		t.Fatalf("slave without master info: %+v", m)
	}
}

func TestVersion1ClientsGet32BitEventNumbers(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t)
	m := codec.IdentifyClient{Version: codec.ClientVersionV1}
	c.call(codec.IdentifyClientCommand, anon, codec.AppendIdentifyClient(nil, &m), codec.ClientIdentifiedCommand)
	c.write(anon, "v1", -1, newEvent("a", "{}"))
	c.deleteStream(anon, "v1", -2, true)
	if r := c.readStream(anon, "v1", 0, 10, true, false); r.Result != codec.ReadStreamStreamDeleted || r.LastEventNumber != math.MaxInt32 {
		t.Fatalf("V1 read of a hard-deleted stream: %v last %d; want %d", r.Result, r.LastEventNumber, math.MaxInt32)
	}
	all := c.readAll(admin, store.PositionEnd, 1, false)
	if len(all.Events) != 1 || all.Events[0].Event.EventNumber != math.MaxInt32 {
		t.Fatalf("V1 $all read of a tombstone: %+v", all.Events)
	}
	// ReadEvent is never converted; V2 clients see the full number.
	c2 := e.client(t)
	m.Version = codec.ClientVersionV2
	c2.call(codec.IdentifyClientCommand, anon, codec.AppendIdentifyClient(nil, &m), codec.ClientIdentifiedCommand)
	if r := c2.readStream(anon, "v1", 0, 10, true, false); r.LastEventNumber != store.EventNumberDeletedStream {
		t.Fatalf("V2 last event number %d", r.LastEventNumber)
	}
}

// A connection keeps its last accepted credentials to skip the shared
// cache's hashing; a password reset, a disabled user or a different
// password on the same connection is still refused at once.
func TestConnectionCredentialCacheFollowsUserChanges(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	adminP, err := e.auth.Authenticate("admin", "changeit")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.auth.CreateUser(ctx, adminP, "alice", "Alice", nil, "pw1"); err != nil {
		t.Fatal(err)
	}
	alice := &creds{"alice", "pw1"}
	c := e.client(t)
	for i := 0; i < 3; i++ { // a miss (worker), then hits on the loop
		if r := c.write(alice, "alice-s", -2, newEvent("t", "{}")); r.Result != codec.OperationSuccess {
			t.Fatalf("write %d: %v", i, r.Result)
		}
	}
	wm := codec.WriteEvents{EventStreamID: "alice-s", ExpectedVersion: -2, Events: []codec.NewEvent{newEvent("t", "{}")}, RequireMaster: true}
	payload := codec.AppendWriteEvents(nil, &wm)
	// Same login, wrong password, same connection.
	c.call(codec.WriteEventsCommand, &creds{"alice", "pw1x"}, payload, codec.NotAuthenticated)
	if r := c.write(alice, "alice-s", -2, newEvent("t", "{}")); r.Result != codec.OperationSuccess {
		t.Fatalf("write after a wrong password: %v", r.Result)
	}
	if err := e.auth.ResetPassword(ctx, adminP, "alice", "pw2"); err != nil {
		t.Fatal(err)
	}
	c.call(codec.WriteEventsCommand, alice, payload, codec.NotAuthenticated)
	alice2 := &creds{"alice", "pw2"}
	if r := c.write(alice2, "alice-s", -2, newEvent("t", "{}")); r.Result != codec.OperationSuccess {
		t.Fatalf("write with the new password: %v", r.Result)
	}
	if r := c.write(alice2, "alice-s", -2, newEvent("t", "{}")); r.Result != codec.OperationSuccess {
		t.Fatalf("second write with the new password: %v", r.Result)
	}
	if err := e.auth.DisableUser(ctx, adminP, "alice"); err != nil {
		t.Fatal(err)
	}
	c.call(codec.WriteEventsCommand, alice2, payload, codec.NotAuthenticated)
}
