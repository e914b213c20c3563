package httpfront

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/eventstored/eventstored/node/auth"
	"github.com/eventstored/eventstored/store"
)

// Benchmarks of the HTTP front. The in-memory ones use fasthttputil's
// listener and the mem-FS store (no network, no disk); the loopback ones
// start a real server on 127.0.0.1 with a store on disk (durable writes,
// fsync per group commit) and drive it with C keep-alive connections.
//
//	go test -run - -bench . -benchtime 5s ./httpfront

var benchSink int

func benchEventBody(i int64) string {
	return fmt.Sprintf(`[{"eventId":"%08x-0000-4000-8000-%012x","eventType":"Bench","data":{"n":%d}}]`, uint32(i>>48), i, i)
}

func BenchmarkPostSingleEventInmem(b *testing.B) {
	n := newTestNode(b)
	var seq atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		rq, rs := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		rq.Header.SetMethod("POST")
		rq.Header.SetContentType("application/vnd.eventstore.events+json")
		for pb.Next() {
			i := seq.Add(1)
			rq.SetRequestURI("http://127.0.0.1:2113/streams/bench-" + strconv.FormatInt(i%64, 10))
			rq.SetBodyString(benchEventBody(i))
			if err := n.client.Do(rq, rs); err != nil || rs.StatusCode() != 201 {
				b.Fatalf("POST: %v %d", err, rs.StatusCode())
			}
		}
	})
}

func BenchmarkGetEventInmem(b *testing.B) {
	n := newTestNode(b)
	expectStatus(b, n.req(b, "POST", "/streams/bench-get", benchEventBody(1), "Content-Type: application/vnd.eventstore.events+json"), 201, "")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		rq, rs := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		rq.SetRequestURI("http://127.0.0.1:2113/streams/bench-get/0")
		rq.Header.Set("Accept", "application/vnd.eventstore.atom+json")
		for pb.Next() {
			if err := n.client.Do(rq, rs); err != nil || rs.StatusCode() != 200 {
				b.Fatalf("GET: %v %d", err, rs.StatusCode())
			}
			benchSink += len(rs.Body())
		}
	})
}

// loopbackNode is a real server on a free loopback port over a disk store.
func loopbackNode(b *testing.B) (*Server, *store.DB) { return loopbackNodeT(b) }

func loopbackNodeT(b testing.TB) (*Server, *store.DB) {
	db, err := store.Open(store.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	a := auth.New(auth.Options{Backend: auth.NewDBBackend(db), HashIterations: 1000})
	if err := a.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	dbs, figures := FromDB(db)
	h := NewHandler(Deps{DB: dbs, StoreFigures: figures, Auth: a, Options: Options{ListenAddr: "127.0.0.1"}})
	srv := NewServer(Config{Name: "bench HTTP", Addr: "127.0.0.1:0"}, h.RequestHandler())
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		srv.Stop(context.Background()) //nolint:errcheck
		db.Close()
	})
	return srv, db
}

// runLoopback drives fn from conns goroutines, each with its own
// keep-alive connection, and reports requests per second.
func runLoopback(b *testing.B, srv *Server, conns int, prep func(rq *fasthttp.Request, i int64), want int) {
	addr := "127.0.0.1:" + strconv.Itoa(srv.Port())
	var seq atomic.Int64
	b.ResetTimer()
	start := time.Now()
	done := make(chan error, conns)
	per := b.N / conns
	if per == 0 {
		per = 1
	}
	for c := 0; c < conns; c++ {
		go func() {
			hc := &fasthttp.HostClient{Addr: addr, MaxConns: 1, ReadTimeout: 30 * time.Second,
				Dial: func(a string) (net.Conn, error) { return net.Dial("tcp", a) }}
			rq, rs := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			for k := 0; k < per; k++ {
				prep(rq, seq.Add(1))
				if err := hc.Do(rq, rs); err != nil {
					done <- err
					return
				}
				if rs.StatusCode() != want {
					done <- fmt.Errorf("status %d %s", rs.StatusCode(), rs.Header.StatusMessage())
					return
				}
			}
			done <- nil
		}()
	}
	for c := 0; c < conns; c++ {
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(start)
	b.ReportMetric(float64(per*conns)/el.Seconds(), "req/s")
}

func BenchmarkLoopbackGet(b *testing.B) {
	for _, conns := range []int{16, 256} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			srv, _ := loopbackNode(b)
			cl := &fasthttp.Client{}
			rq, rs := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			rq.SetRequestURI("http://127.0.0.1:" + strconv.Itoa(srv.Port()) + "/streams/hot")
			rq.Header.SetMethod("POST")
			rq.Header.SetContentType("application/vnd.eventstore.events+json")
			for i := int64(0); i < 100; i++ {
				rq.SetBodyString(benchEventBody(i + 1))
				if err := cl.Do(rq, rs); err != nil || rs.StatusCode() != 201 {
					b.Fatalf("seed: %v %d", err, rs.StatusCode())
				}
			}
			runLoopback(b, srv, conns, func(rq *fasthttp.Request, i int64) {
				rq.Header.SetMethod("GET")
				rq.SetRequestURI("/streams/hot/" + strconv.FormatInt(i%100, 10))
				rq.Header.SetHost("127.0.0.1")
				rq.Header.Set("Accept", "application/vnd.eventstore.atom+json")
			}, 200)
		})
	}
}

func BenchmarkLoopbackPostDurable(b *testing.B) {
	for _, conns := range []int{16, 256} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			srv, db := loopbackNode(b)
			before := db.Stats()
			defer func() {
				st := db.Stats()
				if f := st.Fsyncs - before.Fsyncs; f > 0 {
					b.ReportMetric(float64(st.EventsWritten-before.EventsWritten)/float64(f), "events/fsync")
				}
			}()
			runLoopback(b, srv, conns, func(rq *fasthttp.Request, i int64) {
				rq.Header.SetMethod("POST")
				rq.SetRequestURI("/streams/w-" + strconv.FormatInt(i%1024, 10))
				rq.Header.SetHost("127.0.0.1")
				rq.Header.SetContentType("application/vnd.eventstore.events+json")
				rq.SetBodyString(benchEventBody(i))
			}, 201)
		})
	}
}

// BenchmarkServeEventHandlerOnly measures the handler alone (no network,
// no HTTP parsing): GET /streams/{s}/{n}, cached and uncached (the
// response cache switched off).
func BenchmarkServeEventHandlerOnly(b *testing.B) {
	n := newTestNode(b)
	expectStatus(b, n.req(b, "POST", "/streams/h-only", benchEventBody(1), "Content-Type: application/vnd.eventstore.events+json"), 201, "")
	for _, cached := range []bool{true, false} {
		b.Run(fmt.Sprintf("cached=%v", cached), func(b *testing.B) {
			var req fasthttp.Request
			req.SetRequestURI("/streams/h-only/0")
			req.Header.SetHost("127.0.0.1:2113")
			req.Header.Set("Accept", "application/vnd.eventstore.atom+json")
			if !cached {
				saved := n.h.cache
				n.h.cache = nil
				defer func() { n.h.cache = saved }()
			}
			var ctx fasthttp.RequestCtx
			ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}, nil)
			serve := n.h.RequestHandler()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ctx.Response.Reset()
				serve(&ctx)
			}
			if ctx.Response.StatusCode() != 200 {
				b.Fatalf("status %d", ctx.Response.StatusCode())
			}
		})
	}
}

// BenchmarkReaderPerRequest compares what a read pays for its store
// reader: a new one per request (store.DB.NewReader, what the front did
// before readers were pooled) against the handler's bounded pool
// (acquireReader/releaseReader).
func BenchmarkReaderPerRequest(b *testing.B) {
	n := newTestNode(b)
	expectStatus(b, n.req(b, "POST", "/streams/bench-rd", benchEventBody(1), "Content-Type: application/vnd.eventstore.events+json"), 201, "")
	read := func(r StoreReader) {
		if st, ev := r.ReadEvent("bench-rd", 0, false); st != store.ReadSuccess {
			b.Fatalf("read: %v", st)
		} else {
			benchSink += len(ev.Event.Data)
		}
	}
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			read(n.h.d.DB.NewReader())
		}
	})
	b.Run("pooled", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			r := n.h.acquireReader()
			read(r)
			n.h.releaseReader(r)
		}
	})
}
