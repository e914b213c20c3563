//go:build long

package subscriptions

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/store"
)

// TestWritePathAtFanOutRate measures, in one process and without TCP or a
// load tool, the write path the fan-out figure includes: single-event
// writes to one stream at an open-loop 10,000/s on a disk database, 100
// subscribers on 32 connections whose sends cost one locked copy, for
// two group-commit windows (FlushDelayMax 2 ms, the default, and 50 µs).
// It logs write-ack and write-to-push-handover percentiles with the
// store's fsync histogram, so the time before delivery can be split into
// the fsync, the commit window and everything else. It checks only that
// every push arrives in order; the figures are for reading
// (node/subscriptions/doc.go). Run with
//
//	go test -tags long -count=1 -run TestWritePathAtFanOutRate -v ./node/subscriptions
func TestWritePathAtFanOutRate(t *testing.T) {
	for _, fd := range []time.Duration{2 * time.Millisecond, 50 * time.Microsecond, 2 * time.Millisecond, 50 * time.Microsecond} {
		t.Run(fmt.Sprint("FlushDelayMax=", fd), func(t *testing.T) { writePathRun(t, fd) })
	}
}

// stampConn records, per push batch, when it was handed over and the
// event numbers it carries (decoded after the run, off the clock).
type stampConn struct {
	lockConn
	mu      sync.Mutex
	batches []stampBatch
}

type stampBatch struct {
	at     time.Time
	frames []byte
}

func (c *stampConn) SendFrames(frames []byte, n int) error {
	now := time.Now()
	c.mu.Lock()
	c.batches = append(c.batches, stampBatch{now, append([]byte(nil), frames...)})
	c.mu.Unlock()
	return nil
}

func writePathRun(t *testing.T, fd time.Duration) {
	db, err := store.Open(store.Options{Dir: t.TempDir(), Logger: quietLogger(), FlushDelayMax: fd})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := New(Options{DB: db, Logger: quietLogger()})
	s.Start()
	defer s.Stop()
	conns := make([]*stampConn, 32)
	for i := range conns {
		conns[i] = &stampConn{}
	}
	for i := 0; i < 100; i++ {
		if _, err := s.Subscribe(conns[i%len(conns)], codec.NewGUID(), "fanout", false, false); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond) // admitted (confirmations are plain Sends)
	const rate, seconds = 10_000, 5
	n := rate * seconds
	sent := make([]time.Time, n)
	acked := make([]time.Duration, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		if d := time.Until(start.Add(time.Duration(i) * time.Second / rate)); d > 0 {
			time.Sleep(d)
		}
		i := i
		op := &store.Op{Kind: store.OpWrite, Stream: "fanout", ExpectedVersion: store.ExpectedVersionAny,
			Events: []store.NewEvent{{ID: codec.NewGUID(), Type: "tick", Data: make([]byte, 100)}}}
		wg.Add(1)
		op.Done = func(o *store.Op) {
			if o.Result.Status != store.OpSuccess {
				t.Errorf("write %d: %v", i, o.Result.Status)
			}
			acked[i] = time.Since(sent[i])
			wg.Done()
		}
		sent[i] = time.Now()
		if err := db.Submit(op); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	time.Sleep(50 * time.Millisecond)
	st := db.Stats()
	// Handover latency per event: the first batch (of any connection)
	// that carries its event number. Written in order to one stream from
	// one goroutine, event i has number i.
	handed := make([]time.Duration, n)
	for _, c := range conns {
		c.mu.Lock()
		next := int64(0)
		for _, b := range c.batches {
			buf := b.frames
			for len(buf) > 0 {
				pkg, size, err := codec.SplitFrame(buf)
				if err != nil || size == 0 {
					t.Fatalf("bad batch: %v", err)
				}
				p, _ := codec.DecodePackage(pkg)
				if p.Command == codec.StreamEventAppearedCommand {
					var m codec.StreamEventAppeared
					if err := codec.DecodeStreamEventAppeared(p.Payload, &m); err != nil {
						t.Fatal(err)
					}
					num := m.Event.Event.EventNumber
					if num < next-1 || num > next { // each of the connection's subscriptions gets it in turn
						t.Fatalf("push of event %d after %d", num, next-1)
					}
					next = num + 1
					if d := b.at.Sub(sent[num]); handed[num] == 0 || d < handed[num] {
						handed[num] = d
					}
				}
				buf = buf[size:]
			}
		}
		c.mu.Unlock()
	}
	pct := func(name string, ds []time.Duration) string {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		at := func(q float64) float64 { return float64(ds[int(q*float64(len(ds)-1))]) / 1e6 }
		return fmt.Sprintf("%s p50 %.2f p90 %.2f p99 %.2f p99.9 %.2f max %.2f ms", name, at(.5), at(.9), at(.99), at(.999), at(1))
	}
	var buckets string
	for i, c := range st.FsyncLatencyBuckets {
		if c == 0 {
			continue
		}
		bound := "inf"
		if i < len(store.FsyncLatencyBoundsNs) {
			bound = fmt.Sprintf("%gms", float64(store.FsyncLatencyBoundsNs[i])/1e6)
		}
		buckets += fmt.Sprintf(" <=%s:%d", bound, c)
	}
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("FlushDelayMax %v, load %.4s: %d writes, %d fsyncs (%.1f events each)\n  %s\n  %s\n  fsync:%s",
		fd, load, n, st.Fsyncs, float64(n)/float64(st.Fsyncs), pct("ack", acked), pct("push handed over", handed), buckets)
}
