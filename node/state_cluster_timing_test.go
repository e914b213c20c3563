package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eventstored/eventstored/node/config"
	"github.com/eventstored/eventstored/store"
)

// BenchmarkClusterWrite measures replicated appends: three nodes on
// loopback (127.0.0.1-3), each with its database in its own directory on
// the real disk (one fsync per raft Ready on every node), and N
// closed-loop writers of single events on the master's store (the store
// API: no client protocol, so the figure is the replication path's).
//
//	go test ./node -run XXX -bench ClusterWrite -benchtime 5s
func BenchmarkClusterWrite(b *testing.B) {
	for _, writers := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) { benchClusterWrite(b, writers, false) })
	}
}

// BenchmarkClusterWriteNoFsync is BenchmarkClusterWrite with
// --unsafe-disable-flush-to-disk on every node: the ceiling of the
// replication path itself (CPU, loopback, raft) when three nodes do not
// share one disk's fsyncs.
func BenchmarkClusterWriteNoFsync(b *testing.B) {
	for _, writers := range []int{16, 256} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) { benchClusterWrite(b, writers, true) })
	}
}

func benchClusterWrite(b *testing.B, writers int, noFsync bool) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var nodes []*clusterNode
	var seeds []string
	for i := 1; i <= 3; i++ {
		c := newClusterNode(i)
		c.intHTTP, c.extHTTP, c.intTCP, c.extTCP = freePortTB(b, c.ip), freePortTB(b, c.ip), freePortTB(b, c.ip), freePortTB(b, c.ip)
		nodes = append(nodes, c)
		seeds = append(seeds, c.intGossipSeed())
	}
	for _, c := range nodes {
		args := []string{"--db", b.TempDir(), "--tcp-event-loops", "1", "--cluster-size", "3",
			"--int-ip", c.ip, "--ext-ip", c.ip,
			"--int-http-port", strconv.Itoa(c.intHTTP), "--ext-http-port", strconv.Itoa(c.extHTTP),
			"--int-tcp-port", strconv.Itoa(c.intTCP), "--ext-tcp-port", strconv.Itoa(c.extTCP),
			"--discover-via-dns=false", "--gossip-seed", strings.Join(seeds, ","), "--skip-db-verify",
		}
		if noFsync {
			args = append(args, "--unsafe-disable-flush-to-disk")
		}
		o, err := config.Loader{Args: args}.Load()
		if err != nil {
			b.Fatal(err)
		}
		n, err := New(o, WithLogger(log), WithAuthHashIterations(1), WithClusterID("bench"))
		if err != nil {
			b.Fatal(err)
		}
		if err := n.Start(); err != nil {
			b.Fatal(err)
		}
		c.n = n
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			n.Stop(ctx)
		}()
	}
	var master *Node
	deadline := time.Now().Add(30 * time.Second)
	for master == nil {
		for _, c := range nodes {
			if c.n.State() == StateMaster && c.n.db.Leading() {
				master = c.n
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("no master")
		}
		time.Sleep(20 * time.Millisecond)
	}
	db := master.db
	saves0, nanos0 := master.raft.disk.Saves.Load(), master.raft.disk.SaveNanos.Load()
	st := &master.raft.rep.Stages
	stages0 := [5]int64{int64(st.Batches.Load()), st.Queue.Load(), st.Replicate.Load(), st.ApplyWait.Load(), st.Apply.Load()}
	var next atomic.Int64
	var failed atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream, data := fmt.Sprintf("bench-%d", g), make([]byte, 100)
			for {
				k := next.Add(1)
				if k > int64(b.N) {
					return
				}
				op := &store.Op{Kind: store.OpWrite, Stream: stream, ExpectedVersion: store.ExpectedVersionAny,
					Events: []store.NewEvent{{Type: "t", Data: data}}}
				copy(op.Events[0].ID[:], fmt.Sprintf("%d/%d", g, k))
				if err := db.Do(context.Background(), op); err != nil || op.Result.Err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d writes failed", f)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
	// CPU of the whole process (three nodes and the writers) per event:
	// the 2-core VM's ceiling is 2 s of CPU a second.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/event")
	if saves := master.raft.disk.Saves.Load() - saves0; saves > 0 {
		b.ReportMetric(float64(b.N)/float64(saves), "events/fsync")
		b.ReportMetric(float64(saves)/el.Seconds(), "master-saves/s")
		b.ReportMetric(float64(master.raft.disk.SaveNanos.Load()-nanos0)/float64(saves)/1e3, "master-save-us")
	}
	if n := int64(st.Batches.Load()) - stages0[0]; n > 0 {
		// Where a batch's time goes (microseconds per batch, means).
		for i, name := range []string{"queue", "replicate", "applywait", "apply"} {
			v := [4]int64{st.Queue.Load(), st.Replicate.Load(), st.ApplyWait.Load(), st.Apply.Load()}[i]
			b.ReportMetric(float64(v-stages0[i+1])/float64(n)/1e3, name+"-us")
		}
	}
	for _, c := range nodes {
		if c.n != master {
			d := c.n.raft.disk
			b.ReportMetric(float64(d.Saves.Load())/el.Seconds(), "slave-saves/s")
			b.ReportMetric(float64(d.SaveNanos.Load())/float64(max(d.Saves.Load(), 1))/1e3, "slave-save-us")
			break
		}
	}
}

// cpuTime is the user+system CPU the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func freePortTB(tb testing.TB, ip string) int {
	tb.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
