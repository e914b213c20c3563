//go:build long

package tcpsvc

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/store"
)

// TestSoakMixedTraffic runs 16 connections for 60 s through the reactor
// with a random mix of writes (some with wrong credentials or a wrong
// expected version), stream reads, $all reads and garbage payloads, each
// connection keeping up to 64 requests in flight. Every request must get
// exactly one reply of the expected kind, and the heap after the run (and
// a GC) must not have grown by more than 64 MiB over its start.
//
// The index keeps its newest entries in memory by design (a memtable of
// IndexMemTableMax entries, ~50 bytes each, plus up to two frozen ones
// being written out): at the default 1M entries that alone is ~150 MiB
// once a run writes more than a million events (this one writes ~1.4M at
// 57k requests/s). The soak's server keeps 100,000 (~15 MiB at most), so
// the 64 MiB bound still catches anything that grows per request.
func TestSoakMixedTraffic(t *testing.T) {
	addr := startTestReactor(t, func(o *store.Options) { o.IndexMemTableMax = 100_000 }).Addr()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapStart := ms.HeapInuse
	deadline := time.Now().Add(60 * time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	var total [16]int
	for ci := 0; ci < 16; ci++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := dialRaw(t, addr)
			rng := rand.New(rand.NewPCG(uint64(ci), 1))
			stream := fmt.Sprintf("soak-%d", ci)
			pending := map[codec.GUID]codec.Command{}
			for time.Now().Before(deadline) || len(pending) > 0 {
				for len(pending) < 64 && time.Now().Before(deadline) {
					id := codec.NewGUID()
					var frame []byte
					var want codec.Command
					switch k := rng.IntN(10); {
					case k < 4:
						m := codec.WriteEvents{EventStreamID: stream, ExpectedVersion: -2, Events: []codec.NewEvent{newEvent("t", `{"k":1}`)}}
						frame, want = codec.AppendFrame(nil, codec.WriteEventsCommand, &id, codec.AppendWriteEvents(nil, &m)), codec.WriteEventsCompletedCommand
					case k == 4:
						m := codec.WriteEvents{EventStreamID: stream, ExpectedVersion: 1 << 40, Events: []codec.NewEvent{newEvent("t", `{}`)}}
						frame, want = codec.AppendFrame(nil, codec.WriteEventsCommand, &id, codec.AppendWriteEvents(nil, &m)), codec.WriteEventsCompletedCommand
					case k == 5:
						m := codec.WriteEvents{EventStreamID: stream, ExpectedVersion: -2}
						frame, _ = codec.AppendFrameAuth(nil, codec.WriteEventsCommand, &id, "admin", "wrong", codec.AppendWriteEvents(nil, &m))
						want = codec.NotAuthenticated
					case k < 8:
						m := codec.ReadStreamEvents{EventStreamID: stream, FromEventNumber: int64(rng.IntN(100)), MaxCount: 20}
						frame, want = codec.AppendFrame(nil, codec.ReadStreamEventsForwardCommand, &id, codec.AppendReadStreamEvents(nil, &m)), codec.ReadStreamEventsForwardCompletedCommand
					case k == 8:
						m := codec.ReadAllEvents{CommitPosition: -1, PreparePosition: -1, MaxCount: 10}
						frame, _ = codec.AppendFrameAuth(nil, codec.ReadAllEventsBackwardCommand, &id, "admin", "changeit", codec.AppendReadAllEvents(nil, &m))
						want = codec.ReadAllEventsBackwardCompletedCommand
					default:
						frame, want = codec.AppendFrame(nil, codec.ReadEventCommand, &id, []byte{0xff, 0x01}), codec.BadRequest
					}
					pending[id] = want
					if _, err := r.c.Write(frame); err != nil {
						errs <- err
						return
					}
				}
				p := r.nextNoFatal()
				want, ok := pending[p.CorrelationID]
				if !ok || p.Command != want {
					errs <- fmt.Errorf("connection %d: reply %s %s (%q); want %s (known id %v)", ci, p.Command, p.CorrelationID, truncate(p.Payload, 80), want, ok)
					return
				}
				delete(pending, p.CorrelationID)
				total[ci]++
			}
			errs <- nil
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for _, c := range total {
		n += c
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("%d requests in 60 s (%.0f/s); heap in use %d MiB -> %d MiB", n, float64(n)/60, heapStart>>20, ms.HeapInuse>>20)
	if ms.HeapInuse > heapStart+64<<20 {
		t.Fatalf("heap grew from %d to %d bytes", heapStart, ms.HeapInuse)
	}
}
