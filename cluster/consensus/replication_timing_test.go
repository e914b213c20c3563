package consensus

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
)

// BenchmarkReplicatedAppend: appends of 256 bytes proposed on the master
// of three drivers on loopback (votes over HTTP, appends over internal
// TCP), timed until the master has applied them all (a majority has
// them). The disks are MemDisk: no fsync, so this measures raft plus
// transport, not storage. cpu-us/op is the process's CPU time (all three
// nodes) an append: steadier than the time when other work shares the
// machine.
func BenchmarkReplicatedAppend(b *testing.B) { benchReplicated(b, false) }

// BenchmarkReplicatedRoundTrip is BenchmarkReplicatedAppend one append
// at a time: each is proposed once the one before is applied on the
// master, so an op is one whole replication round trip (the hand-offs
// and sends of one write at low load).
func BenchmarkReplicatedRoundTrip(b *testing.B) { benchReplicated(b, true) }

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchReplicated(b *testing.B, serial bool) {
	addrs, tcpAddrs := map[uint64]string{}, map[uint64]string{}
	ns := make([]*loopNode, 3)
	for i := range ns {
		addrs[uint64(i+1)], tcpAddrs[uint64(i+1)] = freeAddr(b), freeAddr(b)
	}
	for i := range ns {
		n := &loopNode{id: uint64(i + 1), disk: NewMemDisk(), addrs: addrs, split: true, tcpAddrs: tcpAddrs, notify: make(chan struct{}, 1)}
		if err := Bootstrap(n.disk.MemoryStorage, []uint64{1, 2, 3}, nil); err != nil {
			b.Fatal(err)
		}
		ns[i] = n
		n.start(b, addrs[n.id])
	}
	defer func() {
		for _, n := range ns {
			n.stop()
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	var l *loopNode
	for l = leaderOf(ns); l == nil; l = leaderOf(ns) {
		if time.Now().After(deadline) {
			b.Fatal("no master")
		}
		time.Sleep(10 * time.Millisecond)
	}
	payload := make([]byte, 256)
	start := l.drv.Status().Applied
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	cpu0 := processCPU()
	for i := 0; i < b.N; i++ {
		for serial && l.lastApplied() < start+uint64(i) {
			<-l.notify
		}
		for {
			err := l.drv.Propose(payload)
			if err == nil {
				break
			}
			if !errors.Is(err, raft.ErrProposalDropped) {
				b.Fatal(err)
			}
			time.Sleep(100 * time.Microsecond) // uncommitted limit reached: let commits catch up
		}
	}
	for l.drv.Status().Applied < start+uint64(b.N) {
		if time.Now().After(deadline.Add(time.Minute)) {
			b.Fatalf("applied %d of %d", l.drv.Status().Applied-start, b.N)
		}
		time.Sleep(100 * time.Microsecond)
	}
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-us/op")
}
