package client

import (
	"context"
	"testing"
	"time"
)

// BenchmarkAppendToStreamLoopback measures the client's write path: one
// round trip over loopback to a peer that answers at once (so the figure
// is client + kernel cost, no storage). Parallel: many goroutines
// pipelining on one connection.
func BenchmarkAppendToStreamLoopback(b *testing.B) {
	for _, mode := range []string{"serial", "parallel"} {
		b.Run(mode, func(b *testing.B) {
			p := newPeer(b)
			c, sc := dialPeerB(b, p)
			go replyingPeer(sc)
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			evs := []EventData{{ID: NewGUID(), Type: "bench", Data: make([]byte, 100)}}
			b.ReportAllocs()
			b.SetBytes(100)
			b.ResetTimer()
			if mode == "serial" {
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
