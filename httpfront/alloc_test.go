//go:build !race

package httpfront

import (
	"net"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestGetCachedEventAllocatesNothing proves the steady-state hot path of
// GET /streams/{s}/{n} for a cached event allocates nothing in the handler:
// authentication (anonymous and cached Basic), routing, negotiation, the
// ACL check, the cache lookup and the reply.
func TestGetCachedEventAllocatesNothing(t *testing.T) {
	n := newTestNode(t)
	body := `[{"eventId":"3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11","eventType":"OrderPlaced","data":{"orderId":17}}]`
	expectStatus(t, n.req(t, "POST", "/streams/alloc-1", body, "Content-Type: application/vnd.eventstore.events+json"), 201, "")
	for _, tc := range []struct {
		name   string
		hdrs   []string
		accept string
	}{
		{"anonymous atom+json", nil, "application/vnd.eventstore.atom+json"},
		{"anonymous json", nil, "application/json"},
		{"admin atom+json", []string{"Authorization", "Basic YWRtaW46Y2hhbmdlaXQ="}, "application/vnd.eventstore.atom+json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req fasthttp.Request
			req.Header.SetMethod("GET")
			req.SetRequestURI("/streams/alloc-1/0")
			req.Header.SetHost("127.0.0.1:2113")
			req.Header.Set("Accept", tc.accept)
			for i := 0; i+1 < len(tc.hdrs); i += 2 {
				req.Header.Set(tc.hdrs[i], tc.hdrs[i+1])
			}
			var ctx fasthttp.RequestCtx
			ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}, nil)
			serve := n.h.RequestHandler()
			run := func() {
				ctx.Response.Reset()
				serve(&ctx)
				if ctx.Response.StatusCode() != 200 {
					t.Fatalf("unexpected status %d", ctx.Response.StatusCode())
				}
			}
			for i := 0; i < 10; i++ {
				run() // warm the cache, the pools and the credential cache
			}
			if n.h.cache.len() == 0 {
				t.Fatalf("event was not cached")
			}
			if allocs := testing.AllocsPerRun(200, run); allocs != 0 {
				t.Fatalf("unexpected allocations per GET; got %v; want 0", allocs)
			}
		})
	}
}
