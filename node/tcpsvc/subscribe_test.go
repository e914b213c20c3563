package tcpsvc

import (
	"math"
	"testing"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/node/subscriptions"
	"github.com/eventstored/eventstored/store"
)

func newSubsEnv(t *testing.T) *env {
	var subs *subscriptions.Service
	e := newEnv(t, func(o *Options) {
		subs = subscriptions.New(subscriptions.Options{DB: o.DB.(subscriptionsDB), Logger: quietLogger()})
		subs.Start()
		o.Subscriptions = subs
	})
	t.Cleanup(subs.Stop)
	return e
}

type subscriptionsDB = subscriptions.DB

func TestSubscribeToStreamPushesUnsubscribeDrops(t *testing.T) {
	e := newSubsEnv(t)
	c, w := e.client(t), e.client(t)
	w.write(admin, "s", -2, newEvent("before", "{}"))
	sub := codec.SubscribeToStream{EventStreamID: "s"}
	id := codec.NewGUID()
	c.send(codec.SubscribeToStreamCommand, id, anon, codec.AppendSubscribeToStream(nil, &sub))
	p := c.reply()
	var conf codec.SubscriptionConfirmation
	if p.Command != codec.SubscriptionConfirmationCommand || p.CorrelationID != id ||
		codec.DecodeSubscriptionConfirmation(p.Payload, &conf) != nil || conf.LastEventNumber != 0 {
		t.Fatalf("got %s %+v; want SubscriptionConfirmation with last event 0", p.Command, conf)
	}
	w.write(admin, "s", -2, newEvent("live", "{}"))
	p = c.reply()
	var ev codec.StreamEventAppeared
	if p.Command != codec.StreamEventAppearedCommand || p.CorrelationID != id ||
		codec.DecodeStreamEventAppeared(p.Payload, &ev) != nil || ev.Event.Event.EventType != "live" || ev.Event.Event.EventNumber != 1 {
		t.Fatalf("got %s %+v; want StreamEventAppeared live #1", p.Command, ev)
	}
	c.send(codec.UnsubscribeFromStreamCommand, codec.NewGUID(), anon, nil) // unknown id: no reply
	c.send(codec.UnsubscribeFromStreamCommand, id, anon, nil)
	p = c.reply()
	var d codec.SubscriptionDropped
	if p.Command != codec.SubscriptionDroppedCommand || p.CorrelationID != id ||
		codec.DecodeSubscriptionDropped(p.Payload, &d) != nil || d.Reason != codec.DropUnsubscribed {
		t.Fatalf("got %s %+v; want SubscriptionDropped Unsubscribed", p.Command, d)
	}
	w.write(admin, "s", -2, newEvent("after", "{}"))
	c.noReply()
}

func TestSubscribeChecksAccessAtSubscribeTime(t *testing.T) {
	e := newSubsEnv(t)
	c := e.client(t)
	// $all is readable by $admins only by default; anonymous is refused.
	id := codec.NewGUID()
	c.send(codec.SubscribeToStreamCommand, id, anon, codec.AppendSubscribeToStream(nil, &codec.SubscribeToStream{}))
	p := c.reply()
	var d codec.SubscriptionDropped
	if p.Command != codec.SubscriptionDroppedCommand || codec.DecodeSubscriptionDropped(p.Payload, &d) != nil ||
		d.Reason != codec.DropAccessDenied {
		t.Fatalf("got %s %+v; want SubscriptionDropped AccessDenied", p.Command, d)
	}
	c.send(codec.SubscribeToStreamCommand, id, admin, codec.AppendSubscribeToStream(nil, &codec.SubscribeToStream{}))
	if p := c.reply(); p.Command != codec.SubscriptionConfirmationCommand {
		t.Fatalf("admin $all subscription: got %s", p.Command)
	}
	c.send(codec.SubscribeToStreamCommand, codec.NewGUID(), anon, []byte{0xff})
	wantBadRequest(t, c.reply(), "Invalid SubscribeToStream")
}

func TestSessionCloseRemovesSubscriptionsSilently(t *testing.T) {
	e := newSubsEnv(t)
	c, w := e.client(t), e.client(t)
	c.send(codec.SubscribeToStreamCommand, codec.NewGUID(), anon, codec.AppendSubscribeToStream(nil, &codec.SubscribeToStream{EventStreamID: "s"}))
	if p := c.reply(); p.Command != codec.SubscriptionConfirmationCommand {
		t.Fatalf("got %s", p.Command)
	}
	subs := e.svc.opts.Subscriptions
	c.sess.Close()
	w.write(admin, "s", -2, newEvent("x", "{}"))
	waitFor(t, func() bool { return subs.Count() == 0 })
	c.noReply()
}

// An unsubscribe that overtakes the worker's registration of its
// subscription still ends it.
func TestUnsubscribeBeforeRegistrationStillDrops(t *testing.T) {
	e := newSubsEnv(t)
	c, w := e.client(t), e.client(t)
	id := codec.NewGUID()
	c.sess.unsubscribe(id) // as if it raced ahead of the worker
	c.send(codec.SubscribeToStreamCommand, id, anon, codec.AppendSubscribeToStream(nil, &codec.SubscribeToStream{EventStreamID: "s"}))
	if p := c.reply(); p.Command != codec.SubscriptionConfirmationCommand {
		t.Fatalf("got %s", p.Command)
	}
	if p := c.reply(); p.Command != codec.SubscriptionDroppedCommand {
		t.Fatalf("got %s; want SubscriptionDropped", p.Command)
	}
	w.write(admin, "s", -2, newEvent("x", "{}"))
	c.noReply()
}

// TestVersion1SubscribersGet32BitEventNumbers: a client that identified
// with protocol version 0 gets converted event numbers in the volatile
// confirmation and pushes and in persistent confirmations and pushes
// (spec §4.14); a V2 client on the same stream does not.
func TestVersion1SubscribersGet32BitEventNumbers(t *testing.T) {
	e := newSubsEnv(t)
	c1, c2, w := e.client(t), e.client(t), e.client(t)
	for ver, c := range map[int32]*client{codec.ClientVersionV1: c1, codec.ClientVersionV2: c2} {
		m := codec.IdentifyClient{Version: ver}
		c.call(codec.IdentifyClientCommand, anon, codec.AppendIdentifyClient(nil, &m), codec.ClientIdentifiedCommand)
	}
	w.write(admin, "v1s", -2, newEvent("a", "{}"))
	subscribe := func(c *client) codec.GUID {
		id := codec.NewGUID()
		c.send(codec.SubscribeToStreamCommand, id, anon, codec.AppendSubscribeToStream(nil, &codec.SubscribeToStream{EventStreamID: "v1s"}))
		var conf codec.SubscriptionConfirmation
		if p := c.reply(); p.Command != codec.SubscriptionConfirmationCommand || codec.DecodeSubscriptionConfirmation(p.Payload, &conf) != nil {
			t.Fatalf("got %s; want SubscriptionConfirmation", p.Command)
		}
		return id
	}
	subscribe(c1)
	subscribe(c2)
	w.deleteStream(admin, "v1s", -2, true)
	for c, want := range map[*client]int64{c1: math.MaxInt32, c2: math.MaxInt64} {
		var ev codec.StreamEventAppeared
		if p := c.reply(); p.Command != codec.StreamEventAppearedCommand || codec.DecodeStreamEventAppeared(p.Payload, &ev) != nil ||
			ev.Event.Event.EventNumber != want {
			t.Fatalf("got %s %+v; want the tombstone as #%d", p.Command, ev.Event.Event, want)
		}
	}
	for c, want := range map[*client]int64{c1: math.MaxInt32, c2: math.MaxInt64} {
		id := codec.NewGUID()
		c.send(codec.SubscribeToStreamCommand, id, anon, codec.AppendSubscribeToStream(nil, &codec.SubscribeToStream{EventStreamID: "v1s"}))
		var conf codec.SubscriptionConfirmation
		if p := c.reply(); p.Command != codec.SubscriptionConfirmationCommand ||
			codec.DecodeSubscriptionConfirmation(p.Payload, &conf) != nil || conf.LastEventNumber != want {
			t.Fatalf("got %s %+v; want a confirmation with last event %d", p.Command, conf, want)
		}
	}

	// Persistent consumers: the confirmation and pushes are converted for
	// V1 only.
	for v1, want := range map[bool][2]int64{true: {math.MaxInt32, 5}, false: {math.MaxInt64, 1<<32 + 5}} {
		c := e.client(t)
		pc := &persistentConsumer{sess: c.sess, corr: codec.NewGUID(), v1: v1}
		pc.Confirmed(10, "v1s::g", math.MaxInt64)
		var conf codec.PersistentSubscriptionConfirmation
		if p := c.reply(); codec.DecodePersistentSubscriptionConfirmation(p.Payload, &conf) != nil || conf.LastEventNumber != want[0] {
			t.Fatalf("v1=%v: persistent confirmation %+v; want last event %d", v1, conf, want[0])
		}
		msg := &subscriptions.Message{Event: store.ResolvedEvent{HasEvent: true,
			Event: store.EventRecord{Stream: "big", Number: 1<<32 + 5, Type: "t"}}}
		if err := pc.Deliver(msg); err != nil {
			t.Fatal(err)
		}
		var ev codec.PersistentSubscriptionStreamEventAppeared
		if p := c.reply(); codec.DecodePersistentSubscriptionStreamEventAppeared(p.Payload, &ev) != nil || ev.Event.Event.EventNumber != want[1] {
			t.Fatalf("v1=%v: persistent push %+v; want #%d", v1, ev.Event.Event, want[1])
		}
	}
}
