package node

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventstored/eventstored/client"
	"github.com/eventstored/eventstored/node/config"
)

// BenchmarkClusterAppends compares replicated appends sent to the master
// with the same appends sent to a Slave, which forwards them over
// internal TCP (spec §7.1): a three-node cluster on loopback (in-memory
// stores), 16 client connections, each with up to 16 single-event
// appends in flight, and one connection with one append at a time (the
// latency of a forward). It reports events/s.
func BenchmarkClusterAppends(b *testing.B) {
	for _, cfg := range []struct {
		via           string
		conns, window int
	}{{"master", 16, 16}, {"slave", 16, 16}, {"master-1x1", 1, 1}, {"slave-1x1", 1, 1}} {
		via, conns, window := strings.TrimSuffix(cfg.via, "-1x1"), cfg.conns, cfg.window
		b.Run(cfg.via, func(b *testing.B) {
			master, slaves := startClusterB(b)
			target := master
			if via == "slave" {
				target = slaves[0]
			}
			cls := make([]*client.Client, conns)
			for i := range cls {
				cls[i] = dialNodeB(b, target)
			}
			var next atomic.Int64
			ctx := context.Background()
			data := []byte(`{"orderId":"12345","amount":100}`)
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			var failed atomic.Value
			for _, cl := range cls {
				for w := 0; w < window; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for next.Add(1) <= int64(b.N) {
							ev := client.EventData{ID: client.NewGUID(), Type: "OrderPlaced", IsJSON: true, Data: data}
							if _, err := cl.AppendToStream(ctx, "bench-"+via, client.ExpectedAny, ev); err != nil {
								failed.Store(err)
								return
							}
						}
					}()
				}
			}
			wg.Wait()
			b.StopTimer()
			if err, _ := failed.Load().(error); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// startClusterB is formedCluster for benchmarks (testing.TB): three
// nodes on 127.0.0.1-3, in-memory stores, one Master and two Slaves that
// know it.
func startClusterB(b *testing.B) (*clusterNode, []*clusterNode) {
	b.Helper()
	port := func(ip string) int {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().(*net.TCPAddr).Port
	}
	nodes := []*clusterNode{newClusterNode(1), newClusterNode(2), newClusterNode(3)}
	var seeds []string
	for _, c := range nodes {
		c.intHTTP, c.extHTTP, c.intTCP, c.extTCP = port(c.ip), port(c.ip), port(c.ip), port(c.ip)
		seeds = append(seeds, c.intGossipSeed())
	}
	for _, c := range nodes {
		o, err := config.Loader{Args: []string{"--mem-db", "--tcp-event-loops", "1", "--cluster-size", "3",
			"--int-ip", c.ip, "--ext-ip", c.ip,
			"--int-http-port", strconv.Itoa(c.intHTTP), "--ext-http-port", strconv.Itoa(c.extHTTP),
			"--int-tcp-port", strconv.Itoa(c.intTCP), "--ext-tcp-port", strconv.Itoa(c.extTCP),
			"--discover-via-dns=false", "--gossip-seed", strings.Join(seeds, ",")}}.Load()
		if err != nil {
			b.Fatal(err)
		}
		n, err := New(o, WithLogger(quietLogger()), WithAuthHashIterations(1), WithClusterID("bench"))
		if err != nil {
			b.Fatal(err)
		}
		if err := n.Start(); err != nil {
			b.Fatal(err)
		}
		c.n = n
		b.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			n.Stop(ctx)
		})
	}
	start := time.Now()
	for {
		if m, _ := clusterStates(nodes); m != "" {
			var master *clusterNode
			var slaves []*clusterNode
			for _, c := range nodes {
				if c.intGossipSeed() == m {
					master = c
				} else if c.n.tcpState().Master != nil {
					slaves = append(slaves, c)
				}
			}
			users := true
			for _, c := range nodes {
				if _, err := c.n.auth.GetUser(context.Background(), "admin"); err != nil {
					users = false
				}
			}
			if len(slaves) == 2 && users {
				return master, slaves
			}
		}
		if time.Since(start) > 30*time.Second {
			b.Fatal("no cluster within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func dialNodeB(b *testing.B, c *clusterNode) *client.Client {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		cl, err := client.Dial(ctx, fmt.Sprintf("%s:%d", c.ip, c.extTCP), client.Options{
			Credentials: &client.Credentials{Login: "admin", Password: "changeit"}, MaxRetries: 50})
		if err == nil {
			b.Cleanup(func() { cl.Close() })
			return cl
		}
		if ctx.Err() != nil {
			b.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
