//go:build !race

package client

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/eventstored/eventstored/codec"
)

// TestAppendToStreamAllocatesNothing: the load tool's write path, a whole
// round trip over loopback, allocates nothing in steady state (STYLE §6),
// whether the caller's context has a deadline or Options.OperationTimeout
// gives it one.
func TestAppendToStreamAllocatesNothing(t *testing.T) {
	for _, background := range []bool{false, true} {
		t.Run(fmt.Sprintf("background=%v", background), func(t *testing.T) { testAppendAllocatesNothing(t, background) })
	}
}

func testAppendAllocatesNothing(t *testing.T, background bool) {
	p := newPeer(t)
	c, sc := dialPeer(t, p, Options{})
	go replyingPeer(sc)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if background {
		ctx = context.Background()
	}
	evs := []EventData{{ID: NewGUID(), Type: "bench", Data: make([]byte, 100)}}
	for i := 0; i < 100; i++ { // warm pools, maps and buffers
		if _, err := c.AppendToStream(ctx, "s", ExpectedAny, evs...); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := c.AppendToStream(ctx, "s", ExpectedAny, evs...); err != nil {
			t.Fatal(err)
		}
	})
	// NB: < 0.1 rather than == 0: the heartbeat timer and runtime
	// background work may allocate once in a thousand runs.
	if allocs >= 0.1 {
		t.Fatalf("AppendToStream allocates %.2f times per call; want 0", allocs)
	}
}

// TestReadRawAllocatesNothing: a page of 20 events read through
// ReadStreamRaw and ReadAllRaw decodes into pooled messages.
func TestReadRawAllocatesNothing(t *testing.T) {
	p := newPeer(t)
	c, sc := dialPeer(t, p, Options{})
	rec := codec.EventRecord{EventStreamID: "s", EventID: make([]byte, 16), EventType: "bench", Data: make([]byte, 100), Metadata: []byte{}}
	rs := codec.ReadStreamEventsCompleted{Result: codec.ReadStreamSuccess, NextEventNumber: 20, LastEventNumber: 40}
	ra := codec.ReadAllEventsCompleted{Result: codec.ReadAllSuccess}
	for i := 0; i < 20; i++ {
		rec.EventNumber = int64(i)
		rs.Events = append(rs.Events, codec.ResolvedIndexedEvent{Event: rec, HasEvent: true})
		ra.Events = append(ra.Events, codec.ResolvedEvent{Event: rec, HasEvent: true, CommitPosition: int64(i), PreparePosition: int64(i)})
	}
	go replyingPeerWith(sc, map[codec.Command][]byte{
		codec.ReadStreamEventsForwardCommand: codec.AppendMessageFrame(nil, codec.ReadStreamEventsForwardCompletedCommand, &codec.GUID{}, &rs, codec.AppendReadStreamEventsCompleted),
		codec.ReadAllEventsForwardCommand:    codec.AppendMessageFrame(nil, codec.ReadAllEventsForwardCompletedCommand, &codec.GUID{}, &ra, codec.AppendReadAllEventsCompleted),
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := 0
	countStream := func(m *codec.ReadStreamEventsCompleted) error { n += len(m.Events); return nil }
	countAll := func(m *codec.ReadAllEventsCompleted) error { n += len(m.Events); return nil }
	read := func() {
		if err := c.ReadStreamRaw(ctx, true, "s", 0, 20, false, countStream); err != nil {
			t.Fatal(err)
		}
		if err := c.ReadAllRaw(ctx, true, PositionStart, 20, false, countAll); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 100; i++ {
		read()
	}
	if n != 100*40 {
		t.Fatalf("unexpected events read: %d", n)
	}
	if allocs := testing.AllocsPerRun(500, read); allocs >= 0.1 {
		t.Fatalf("a stream page and a $all page allocate %.2f times; want 0", allocs)
	}
}

// TestReadStreamForwardAllocationsArePerPage: the convenience read copies
// a page into caller-owned memory with a fixed number of allocations per
// page (slice, records, arena, result), not per event.
func TestReadStreamForwardAllocationsArePerPage(t *testing.T) {
	p := newPeer(t)
	c, sc := dialPeer(t, p, Options{})
	rec := codec.EventRecord{EventStreamID: "s", EventID: make([]byte, 16), EventType: "bench", Data: make([]byte, 100), Metadata: []byte{}}
	rs := codec.ReadStreamEventsCompleted{Result: codec.ReadStreamSuccess, NextEventNumber: 100, LastEventNumber: 200}
	for i := 0; i < 100; i++ {
		rec.EventNumber = int64(i)
		rs.Events = append(rs.Events, codec.ResolvedIndexedEvent{Event: rec, HasEvent: true})
	}
	go replyingPeerWith(sc, map[codec.Command][]byte{
		codec.ReadStreamEventsForwardCommand: codec.AppendMessageFrame(nil, codec.ReadStreamEventsForwardCompletedCommand, &codec.GUID{}, &rs, codec.AppendReadStreamEventsCompleted),
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	read := func() {
		s, err := c.ReadStreamForward(ctx, "s", 0, 100, false)
		if err != nil || len(s.Events) != 100 || s.Events[99].Event.Number != 99 {
			t.Fatalf("unexpected page: %v", err)
		}
	}
	for i := 0; i < 50; i++ {
		read()
	}
	if allocs := testing.AllocsPerRun(200, read); allocs > 6 {
		t.Fatalf("a 100-event page costs %.1f allocations; want at most 6", allocs)
	}
}
