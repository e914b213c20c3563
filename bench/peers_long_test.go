//go:build long

package bench

import (
	"context"
	"testing"
	"time"
)

// TestPeersWriteWorkload starts each peer with its script (make bench-peers
// installs them), runs a short durable write flood against it with 1 and
// 10 events per write, and stops it. Long-tagged: it needs the Debian
// packages and, for NATS, builds nats-server once.
func TestPeersWriteWorkload(t *testing.T) {
	for _, name := range []string{"redis", "postgres", "nats"} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			p, err := StartPeer(ctx, "peers", name)
			if err != nil {
				t.Fatalf("%v (install the peers with 'make bench-peers')", err)
			}
			defer p.Stop()
			var target Target
			switch name {
			case "redis":
				target = &RedisTarget{Addr: p.Addr()}
			case "postgres":
				target = &PostgresTarget{Addr: p.Addr()}
			case "nats":
				target = &NATSTarget{Addr: p.Addr()}
			}
			for _, events := range []int{1, 10} {
				c := Defaults(KindWrite)
				c.Target, c.Addr, c.Clients, c.EventsPerWrite = name, p.Addr(), 4, events
				c.Duration, c.Warmup, c.Interval, c.Progress = time.Second, 200*time.Millisecond, 250*time.Millisecond, false
				res, err := Run(ctx, c, target, nil)
				checkRun(t, res, err)
			}
		})
	}
}
