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
	cancel context.CancelFunc
	done   chan struct{}
	err    error

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
		return nil, &kindError{"invalid argument", errors.New("stream is empty (catch-up on $all is not implemented)")}
	}
	cu := &CatchUp{done: make(chan struct{}), wake: make(chan struct{}, 1)}
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
	runCtx, cancel := context.WithCancel(context.Background())
	cu.cancel = cancel
	go cu.run(runCtx, c, stream, after, resolveLinks, onEvent)
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

func (cu *CatchUp) run(ctx context.Context, c *Client, stream string, after int64, resolve bool, onEvent func(*ResolvedEvent)) {
	defer close(cu.done)
	last := after
	// History up to (at least) the confirmation's last event number.
	for next := after + 1; last < cu.sub.LastEventNumber; {
		sl, err := c.ReadStreamForward(ctx, stream, next, 500, resolve)
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
	for {
		cu.mu.Lock()
		batch, drop := cu.live, cu.drop
		cu.live = nil
		cu.mu.Unlock()
		for _, e := range batch {
			if n := e.OriginalEvent().Number; n > last {
				onEvent(e)
				last = n
			}
		}
		if drop != nil {
			cu.finish(drop)
			return
		}
		select {
		case <-cu.wake:
		case <-ctx.Done():
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
