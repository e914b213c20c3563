package client

import (
	"context"
	"errors"
	"sync"

	"github.com/eventstored/eventstored/codec"
)

// Catch-up subscriptions (spec tcp-client-protocol §6): history read with
// ordinary reads, then live events, each event once and in order. Unlike
// the 4.0 clients this one subscribes first and buffers live events while
// it reads history up to the confirmation, then drops live events it has
// already delivered: the same guarantee with one fewer read pass.

// CatchUpLiveBufferMax bounds the live events buffered while history is
// read; a subscription that overflows it is dropped with
// ErrCatchUpTooSlow.
const CatchUpLiveBufferMax = 100_000

// ErrCatchUpTooSlow drops a catch-up subscription whose live buffer
// overflowed.
var ErrCatchUpTooSlow = errors.New("catch-up subscription dropped: live buffer overflow while reading history")

// CatchUp is a running catch-up subscription.
type CatchUp struct {
	sub    *Subscription
	ctx    context.Context // of the run goroutine; Stop cancels it
	cancel context.CancelFunc
	done   chan struct{}
	err    error
	// page is catchUpPage when the catch-up started: the run goroutine
	// reads this copy, so a test restoring the variable while a stopped
	// catch-up's goroutine finishes does not race with it.
	page int

	mu   sync.Mutex
	live []*ResolvedEvent
	wake chan struct{}
	drop error
}

// CatchUpStream delivers the events of stream numbered after `after` (-1:
// from the first), then every new one, to onEvent, which runs on the
// subscription's own goroutine, one call at a time. Stop ends it; Wait
// returns why it ended.
func (c *Client) CatchUpStream(ctx context.Context, stream string, after int64, resolveLinks bool,
	onEvent func(*ResolvedEvent)) (*CatchUp, error) {
	if stream == "" {
		return nil, &kindError{"invalid argument", errors.New("stream is empty (use CatchUpAll for $all)")}
	}
	cu, err := c.startCatchUp(ctx, stream, resolveLinks)
	if err != nil {
		return nil, err
	}
	go cu.runStream(c, stream, after, resolveLinks, onEvent)
	return cu, nil
}

// CatchUpAll delivers the events of $all after position *after (nil: from
// the first event), then every new one, to onEvent, in $all order, each
// once; as CatchUpStream otherwise. $all needs read access to $all
// ($admins by default).
func (c *Client) CatchUpAll(ctx context.Context, after *Position, resolveLinks bool,
	onEvent func(*ResolvedEvent)) (*CatchUp, error) {
	cu, err := c.startCatchUp(ctx, "", resolveLinks)
	if err != nil {
		return nil, err
	}
	from, last, skip := PositionStart, Position{-1, -1}, false
	if after != nil {
		from, last, skip = *after, *after, true
	}
	go cu.runAll(c, from, last, skip, resolveLinks, onEvent)
	return cu, nil
}

// startCatchUp subscribes to stream ("" = $all) and buffers live events
// (at most CatchUpLiveBufferMax) until the run goroutine takes them.
func (c *Client) startCatchUp(ctx context.Context, stream string, resolveLinks bool) (*CatchUp, error) {
	cu := &CatchUp{done: make(chan struct{}), wake: make(chan struct{}, 1), page: catchUpPage}
	sub, err := c.SubscribeToStream(ctx, stream, resolveLinks, func(e *codec.ResolvedEvent) {
		ev := convertPushed(e)
		cu.mu.Lock()
		if cu.drop == nil && len(cu.live) >= CatchUpLiveBufferMax {
			cu.drop = ErrCatchUpTooSlow
		}
		if cu.drop == nil {
			cu.live = append(cu.live, ev)
		}
		cu.mu.Unlock()
		cu.poke()
	}, func(err error) {
		cu.mu.Lock()
		if cu.drop == nil {
			cu.drop = err
		}
		cu.mu.Unlock()
		cu.poke()
	})
	if err != nil {
		return nil, err
	}
	cu.sub = sub
	cu.ctx, cu.cancel = context.WithCancel(context.Background())
	return cu, nil
}

func (cu *CatchUp) poke() {
	select {
	case cu.wake <- struct{}{}:
	default:
	}
}

// Stop ends the subscription; Wait then returns ErrUnsubscribed.
func (cu *CatchUp) Stop() {
	cu.cancel()
	_ = cu.sub.Close()
}

// Wait blocks until the subscription ends and returns why.
func (cu *CatchUp) Wait() error {
	<-cu.done
	return cu.err
}

// catchUpPage is the history page size (the 4.0 clients' default read
// batch is 500). A variable so that tests can page through small
// histories.
var catchUpPage = 500

func (cu *CatchUp) runStream(c *Client, stream string, after int64, resolve bool, onEvent func(*ResolvedEvent)) {
	defer close(cu.done)
	last := after
	// History up to (at least) the confirmation's last event number.
	for next := after + 1; last < cu.sub.LastEventNumber; {
		sl, err := c.ReadStreamForward(cu.ctx, stream, next, cu.page, resolve)
		if err != nil {
			cu.finish(err)
			return
		}
		for i := range sl.Events {
			e := &sl.Events[i]
			if n := e.OriginalEvent().Number; n > last {
				onEvent(e)
				last = n
			}
		}
		if sl.IsEndOfStream || len(sl.Events) == 0 {
			break
		}
		next = sl.NextEventNumber
	}
	// Live, skipping what history delivered.
	cu.goLive(func(e *ResolvedEvent) {
		if n := e.OriginalEvent().Number; n > last {
			onEvent(e)
			last = n
		}
	})
}

// runAll reads $all from `from` and delivers every event after `last`
// (every event when !skip), then goes live. Events that share a commit
// position (one transaction) differ in prepare position, so the
// comparison is on the whole position.
func (cu *CatchUp) runAll(c *Client, from, last Position, skip bool, resolve bool, onEvent func(*ResolvedEvent)) {
	defer close(cu.done)
	deliver := func(e *ResolvedEvent) {
		if !skip || last.Less(e.Position) {
			onEvent(e)
			last, skip = e.Position, true
		}
	}
	// History. Every event at or below the confirmation's commit position
	// was committed before the subscription and is not pushed; every one
	// above it is. Reading stops at a page holding an event above that
	// position (all at or below it are then read: $all is in order, and a
	// transaction's events share one commit position) or at a short page
	// (the end of $all when read, which was after the confirmation).
	for confirmed := cu.sub.LastCommitPosition; ; {
		sl, err := c.ReadAllForward(cu.ctx, from, cu.page, resolve)
		if err != nil {
			cu.finish(err)
			return
		}
		past := false
		for i := range sl.Events {
			e := &sl.Events[i]
			deliver(e)
			past = past || e.Position.Commit > confirmed
		}
		if past || len(sl.Events) < cu.page {
			break
		}
		from = sl.Next
	}
	cu.goLive(deliver)
}

// goLive hands buffered live events to deliver until the subscription is
// dropped or stopped.
func (cu *CatchUp) goLive(deliver func(*ResolvedEvent)) {
	for {
		cu.mu.Lock()
		batch, drop := cu.live, cu.drop
		cu.live = nil
		cu.mu.Unlock()
		for _, e := range batch {
			deliver(e)
		}
		if drop != nil {
			cu.finish(drop)
			return
		}
		select {
		case <-cu.wake:
		case <-cu.ctx.Done():
			cu.finish(ErrUnsubscribed)
			return
		}
	}
}

func (cu *CatchUp) finish(err error) {
	cu.err = err
	cu.cancel()
	_ = cu.sub.Close()
}

// convertPushed copies a pushed event into the client's types.
func convertPushed(e *codec.ResolvedEvent) *ResolvedEvent {
	size := 0
	if e.HasEvent {
		size += recordSize(&e.Event)
	}
	if e.HasLink {
		size += recordSize(&e.Link)
	}
	a := newArena(size)
	out := &ResolvedEvent{Position: Position{e.CommitPosition, e.PreparePosition}}
	if e.HasEvent {
		out.Event = a.record(&e.Event, "")
	}
	if e.HasLink {
		out.Link = a.record(&e.Link, "")
	}
	return out
}
