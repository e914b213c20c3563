package client

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"sync"

	"github.com/eventstored/eventstored/codec"
)

// Volatile subscriptions (spec tcp-client-protocol §4.12).

// ErrUnsubscribed is the drop cause after Close or a server-side
// SubscriptionDropped{Unsubscribed}.
var ErrUnsubscribed = errors.New("subscription dropped: unsubscribed")

// Subscription is a live volatile subscription. Its event callback runs on
// the connection's reader goroutine: it must be quick and must not call
// the client synchronously.
type Subscription struct {
	// LastCommitPosition and LastEventNumber are the confirmation's (-1
	// event number for $all).
	LastCommitPosition int64
	LastEventNumber    int64

	cn      *conn
	id      codec.GUID
	onEvent func(*codec.ResolvedEvent)
	// onPersistent is set instead of onEvent for a persistent consumer.
	onPersistent func(*codec.PersistentSubscriptionStreamEventAppeared)
	onDrop       func(error)
	pev          codec.PersistentSubscriptionStreamEventAppeared
	once         sync.Once
	ev           codec.StreamEventAppeared
}

// SubscribeToStream subscribes to stream ("" = $all). onEvent gets every
// event committed after the confirmation (the value is only valid during
// the call); onDrop (may be nil) gets the reason the subscription ended,
// once.
func (c *Client) SubscribeToStream(ctx context.Context, stream string, resolveLinks bool,
	onEvent func(*codec.ResolvedEvent), onDrop func(error)) (*Subscription, error) {
	if onEvent == nil {
		return nil, &kindError{"invalid argument", errors.New("onEvent is nil")}
	}
	m := codec.SubscribeToStream{EventStreamID: stream, ResolveLinkTos: resolveLinks}
	sub, cl, err := c.startSubscription(ctx, codec.SubscribeToStreamCommand, codec.AppendSubscribeToStream(nil, &m),
		func(sub *Subscription) { sub.onEvent = onEvent }, onDrop)
	if err != nil {
		return nil, err
	}
	defer func() { cl.fixedID = false; releaseCall(cl) }()
	switch cl.cmd {
	case codec.SubscriptionConfirmationCommand:
		var conf codec.SubscriptionConfirmation
		if err := codec.DecodeSubscriptionConfirmation(replyPayload(cl), &conf); err != nil {
			sub.remove()
			return nil, err
		}
		sub.LastCommitPosition = conf.LastCommitPosition
		if conf.HasLastEventNumber {
			sub.LastEventNumber = conf.LastEventNumber
		}
		return sub, nil
	case codec.SubscriptionDroppedCommand:
		sub.remove()
		var d codec.SubscriptionDropped
		_ = codec.DecodeSubscriptionDropped(replyPayload(cl), &d)
		if d.Reason == codec.DropAccessDenied {
			return nil, &AccessDeniedError{Stream: stream, Operation: "subscribe"}
		}
		return nil, errors.New("subscription dropped: reason " + strconv.Itoa(int(d.Reason)))
	}
	sub.remove()
	return nil, replyError("SubscribeToStream", cl)
}

// startSubscription registers a subscription under a fresh id (init sets
// its callbacks before anything can be pushed), sends cmd and waits for
// the first reply, left in the returned call (release it with fixedID
// cleared).
func (c *Client) startSubscription(ctx context.Context, cmd codec.Command, payload []byte,
	init func(*Subscription), onDrop func(error)) (*Subscription, *call, error) {
	if _, ok := ctx.Deadline(); !ok && c.opts.OperationTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.OperationTimeout)
		defer cancel()
	}
	cn, err := c.conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	cl := acquireCall()
	cl.id, cl.fixedID = cn.newID(), true
	sub := &Subscription{cn: cn, id: cl.id, onDrop: onDrop, LastEventNumber: -1}
	init(sub)
	cn.pmu.Lock()
	if cn.dead {
		cn.pmu.Unlock()
		cl.fixedID = false
		releaseCall(cl)
		return nil, nil, connectionError(cn.closeErr)
	}
	if cn.subs == nil {
		cn.subs = make(map[codec.GUID]*Subscription)
	}
	cn.subs[cl.id] = sub
	cn.pmu.Unlock()
	// The confirmation (or a refusal) comes back as the call's reply;
	// pushes go to sub through dispatchSubscription.
	if err := c.roundTrip(&opCtx{ctx: ctx}, cn, cl, cmd, credentialsFrom(ctx), payload); err != nil {
		sub.remove()
		cl.fixedID = false
		releaseCall(cl)
		return nil, nil, err
	}
	return sub, cl, nil
}

// Close unsubscribes; onDrop then gets ErrUnsubscribed when the server
// confirms (or the connection's error if it fails first).
func (s *Subscription) Close() error {
	return s.cn.send(codec.UnsubscribeFromStreamCommand, &s.id, nil, nil, false) // may run in onEvent, on the reader
}

func (s *Subscription) remove() {
	s.cn.pmu.Lock()
	delete(s.cn.subs, s.id)
	s.cn.pmu.Unlock()
}

func (s *Subscription) dropped(err error) {
	s.once.Do(func() {
		if s.onDrop != nil {
			s.onDrop(err)
		}
	})
}

// dispatchSubscription handles pushes and drops of live subscriptions on
// the reader goroutine; it reports whether p was one.
func (c *conn) dispatchSubscription(p *codec.Package) bool {
	if p.Command != codec.StreamEventAppearedCommand && p.Command != codec.SubscriptionDroppedCommand &&
		p.Command != codec.PersistentSubscriptionStreamEventAppearedCommand {
		return false
	}
	c.pmu.Lock()
	sub := c.subs[p.CorrelationID]
	_, isCall := c.pending[p.CorrelationID]
	if sub != nil && p.Command == codec.SubscriptionDroppedCommand && !isCall {
		delete(c.subs, p.CorrelationID)
	}
	c.pmu.Unlock()
	if sub == nil || isCall {
		return false // the subscribe call's own reply (a refusal)
	}
	if p.Command == codec.SubscriptionDroppedCommand {
		var d codec.SubscriptionDropped
		_ = codec.DecodeSubscriptionDropped(p.Payload, &d)
		if d.Reason == codec.DropUnsubscribed {
			sub.dropped(ErrUnsubscribed)
		} else {
			sub.dropped(errors.New("subscription dropped: reason " + strconv.Itoa(int(d.Reason))))
		}
		return true
	}
	if p.Command == codec.PersistentSubscriptionStreamEventAppearedCommand {
		if sub.onPersistent != nil && codec.DecodePersistentSubscriptionStreamEventAppeared(p.Payload, &sub.pev) == nil {
			sub.onPersistent(&sub.pev)
		}
		return true
	}
	if sub.onEvent == nil {
		return true
	}
	// The server sends an event to every subscription of a connection in a
	// row, with identical payloads (only the correlation id differs): the
	// decoding of the previous push is reused when the bytes are equal,
	// which a callback that changed them in place would break, so a
	// mismatch just decodes. Each subscription still gets its own struct.
	if c.lastPush != nil && bytes.Equal(p.Payload, c.lastPush) {
		sub.ev = c.lastPushEv
	} else if codec.DecodeStreamEventAppeared(p.Payload, &sub.ev) == nil {
		c.lastPush, c.lastPushEv = p.Payload, sub.ev
	} else {
		c.lastPush = nil
		return true
	}
	sub.onEvent(&sub.ev.Event)
	return true
}

func replyPayload(cl *call) []byte {
	p, err := codec.DecodePackage(cl.reply)
	if err != nil {
		return nil
	}
	return p.Payload
}
