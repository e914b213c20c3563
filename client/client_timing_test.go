package client

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventstored/eventstored/codec"
)

// BenchmarkAppendToStreamLoopback measures the client's write path: one
// round trip over loopback to a peer that answers at once (so the figure
// is client + kernel cost, no storage). Parallel: many goroutines
// pipelining on one connection. "deadline": the caller's context has a
// deadline; "background": it has none, so Options.OperationTimeout bounds
// each operation.
func BenchmarkAppendToStreamLoopback(b *testing.B) {
	for _, mode := range []string{"serial/deadline", "parallel/deadline", "serial/background", "parallel/background"} {
		b.Run(mode, func(b *testing.B) {
			p := newPeer(b)
			c, sc := dialPeerB(b, p)
			go replyingPeer(sc)
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			if strings.HasSuffix(mode, "background") {
				ctx = context.Background()
			}
			evs := []EventData{{ID: NewGUID(), Type: "bench", Data: make([]byte, 100)}}
			b.ReportAllocs()
			b.SetBytes(100)
			b.ResetTimer()
			if strings.HasPrefix(mode, "serial") {
				for i := 0; i < b.N; i++ {
					if _, err := c.AppendToStream(ctx, "s", ExpectedAny, evs...); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				evs := []EventData{{ID: NewGUID(), Type: "bench", Data: make([]byte, 100)}}
				for pb.Next() {
					if _, err := c.AppendToStream(ctx, "s", ExpectedAny, evs...); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkReadAllRawLoopback reads 1,000-event pages of $all (100-byte
// events) from a peer that answers at once: the client's cost of one page
// (copy of the reply, protobuf decode of every event) plus loopback.
// SetBytes is the events per page, so MB/s reads as million events/s.
func BenchmarkReadAllRawLoopback(b *testing.B) {
	p := newPeer(b)
	c, sc := dialPeerB(b, p)
	rec := codec.EventRecord{EventStreamID: "stream-1", EventID: make([]byte, 16), EventType: "bench", Data: make([]byte, 100), Metadata: []byte{}, CreatedEpoch: 1}
	ra := codec.ReadAllEventsCompleted{Result: codec.ReadAllSuccess}
	for i := 0; i < 1000; i++ {
		rec.EventNumber = int64(i)
		ra.Events = append(ra.Events, codec.ResolvedEvent{Event: rec, HasEvent: true, CommitPosition: int64(i) * 200, PreparePosition: int64(i) * 200})
	}
	go replyingPeerWith(sc, map[codec.Command][]byte{
		codec.ReadAllEventsForwardCommand: codec.AppendMessageFrame(nil, codec.ReadAllEventsForwardCompletedCommand, &codec.GUID{}, &ra, codec.AppendReadAllEventsCompleted),
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	n := 0
	count := func(m *codec.ReadAllEventsCompleted) error { n += len(m.Events); return nil }
	b.ReportAllocs()
	b.SetBytes(1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.ReadAllRaw(ctx, true, PositionStart, 1000, false, count); err != nil {
			b.Fatal(err)
		}
	}
	if n != 1000*b.N {
		b.Fatalf("read %d events; want %d", n, 1000*b.N)
	}
}

// BenchmarkSubscriptionPushesLoopback measures the client's push path: a
// peer writes pages of 32 events, each pushed to the 3 subscriptions of
// the connection (as the node frames a page: 96 frames, ~16 KiB), over
// loopback; b.N counts pushes delivered to callbacks. It covers the read
// syscalls (the read buffer grows to take a page in one read), framing,
// decoding once per identical payload, and the callback.
func BenchmarkSubscriptionPushesLoopback(b *testing.B) {
	const subs, perPage = 3, 32
	p := newPeer(b)
	c, sc := dialPeerB(b, p)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	var got atomic.Int64
	done := make(chan struct{}, 1)
	target := atomic.Int64{}
	ids := make([]codec.GUID, subs)
	for i := range ids {
		errc := make(chan error, 1)
		go func() {
			_, err := c.SubscribeToStream(ctx, "s", false, func(e *codec.ResolvedEvent) {
				if got.Add(1) == target.Load() {
					done <- struct{}{}
				}
			}, nil)
			errc <- err
		}()
		req := readPkg(b, sc)
		ids[i] = req.CorrelationID
		conf := codec.SubscriptionConfirmation{LastCommitPosition: 1, LastEventNumber: -1, HasLastEventNumber: true}
		writePkg(b, sc, codec.SubscriptionConfirmationCommand, req.CorrelationID, codec.AppendSubscriptionConfirmation(nil, &conf))
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	var page []byte
	for n := 0; n < perPage; n++ {
		m := codec.StreamEventAppeared{Event: codec.ResolvedEvent{HasEvent: true, CommitPosition: int64(n) * 200, PreparePosition: int64(n) * 200,
			Event: codec.EventRecord{EventStreamID: "bench-1x2y3z-fanout", EventNumber: int64(n), EventID: make([]byte, 16), EventType: "tick",
				Data: make([]byte, 100), Metadata: []byte{}, Created: 638000000000000000, CreatedEpoch: 1700000000000}}}
		payload := codec.AppendStreamEventAppeared(nil, &m)
		for i := range ids {
			page = codec.AppendFrame(page, codec.StreamEventAppearedCommand, &ids[i], payload)
		}
	}
	pages := (b.N + subs*perPage - 1) / (subs * perPage)
	target.Store(int64(pages * subs * perPage))
	b.ReportAllocs()
	b.SetBytes(int64(len(page) / (subs * perPage)))
	b.ResetTimer()
	go func() {
		for i := 0; i < pages; i++ {
			if _, err := sc.Write(page); err != nil {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatalf("got %d of %d pushes", got.Load(), target.Load())
	}
}
