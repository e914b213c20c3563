//go:build long

package httpfront

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestSoakMixedLoad runs 64 keep-alive clients against a real loopback
// server over a disk store for 30 s: each appends to its own stream, reads
// its last event back by number and by feed, and occasionally reads a
// missing stream. Every acknowledged write must be readable in order
// afterwards, no request may fail, and the heap must not keep growing
// (bounded caches and pools).
func TestSoakMixedLoad(t *testing.T) {
	srv, db := loopbackNodeT(t)
	addr := "127.0.0.1:" + strconv.Itoa(srv.Port())
	const clients = 64
	deadline := time.Now().Add(30 * time.Second)
	var acked [clients]atomic.Int64
	var failures atomic.Int64
	var heapMid uint64
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			hc := &fasthttp.HostClient{Addr: addr, MaxConns: 1, ReadTimeout: 30 * time.Second}
			rq, rs := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			stream := "/streams/soak-" + strconv.Itoa(c)
			for i := int64(0); time.Now().Before(deadline); i++ {
				rq.Reset()
				rq.Header.SetMethod("POST")
				rq.SetRequestURI(stream)
				rq.Header.SetHost("127.0.0.1")
				rq.Header.SetContentType("application/vnd.eventstore.events+json")
				rq.Header.Set("ES-ExpectedVersion", strconv.FormatInt(i-1, 10))
				rq.SetBodyString(benchEventBody(int64(c)<<32 | i))
				if err := hc.Do(rq, rs); err != nil || rs.StatusCode() != 201 {
					failures.Add(1)
					t.Errorf("client %d write %d: %v %d", c, i, err, rs.StatusCode())
					return
				}
				acked[c].Store(i + 1)
				rq.Reset()
				rq.SetRequestURI(stream + "/" + strconv.FormatInt(i, 10))
				rq.Header.SetHost("127.0.0.1")
				rq.Header.Set("Accept", "application/vnd.eventstore.atom+json")
				if err := hc.Do(rq, rs); err != nil || rs.StatusCode() != 200 {
					failures.Add(1)
					t.Errorf("client %d read %d: %v %d", c, i, err, rs.StatusCode())
					return
				}
				if i%16 == 0 {
					rq.SetRequestURI("/streams/missing-" + strconv.Itoa(c))
					if err := hc.Do(rq, rs); err != nil || rs.StatusCode() != 404 {
						failures.Add(1)
						t.Errorf("client %d missing read: %v %d", c, err, rs.StatusCode())
						return
					}
				}
			}
		}(c)
	}
	time.Sleep(15 * time.Second)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapMid = ms.HeapInuse
	wg.Wait()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if failures.Load() > 0 {
		t.Fatalf("%d requests failed", failures.Load())
	}
	total := int64(0)
	cl := &fasthttp.Client{}
	for c := 0; c < clients; c++ {
		n := acked[c].Load()
		total += n
		rq, rs := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		rq.SetRequestURI(fmt.Sprintf("http://%s/streams/soak-%d/0/forward/4096", addr, c))
		rq.Header.Set("Accept", "application/vnd.eventstore.atom+json")
		if err := cl.Do(rq, rs); err != nil || rs.StatusCode() != 200 {
			t.Fatalf("read back %d: %v %d", c, err, rs.StatusCode())
		}
		var f feedJSON
		if err := json.Unmarshal(rs.Body(), &f); err != nil {
			t.Fatal(err)
		}
		want := n
		if want > 4096 {
			want = 4096
		}
		if int64(len(f.Entries)) != want {
			t.Fatalf("client %d: %d acknowledged, %d read back", c, n, len(f.Entries))
		}
	}
	t.Logf("%d acknowledged writes (%.0f/s with reads interleaved); heap in use mid-run %d MiB, at end %d MiB; events written %d",
		total, float64(total)/30, heapMid>>20, ms.HeapInuse>>20, db.Stats().EventsWritten)
	if ms.HeapInuse > 2*heapMid+64<<20 {
		t.Fatalf("heap kept growing: %d → %d bytes", heapMid, ms.HeapInuse)
	}
}
