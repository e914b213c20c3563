package httpfront

import (
	"bytes"
	"testing"

	"github.com/valyala/fasthttp"
)

type fakeCluster struct{ gets, posts int }

func (f *fakeCluster) GossipGet() (int, []byte) { f.gets++; return 200, []byte(`{"members":[]}`) }
func (f *fakeCluster) GossipPost(id string, body []byte) (int, string, []byte) {
	f.posts++
	if id != "c1" {
		return 400, "c1", []byte("foreign")
	}
	return 200, "c1", body
}

func (f *fakeCluster) RaftPost(body []byte) (int, []byte) { return 200, nil }

func serve(h fasthttp.RequestHandler, method, path, clusterID string, body []byte) *fasthttp.RequestCtx {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(path)
	if clusterID != "" {
		ctx.Request.Header.Set(ClusterIDHeader, clusterID)
	}
	ctx.Request.SetBody(body)
	h(&ctx)
	return &ctx
}

// TestWithClusterRoutesPerInterface: GET /gossip on internal always and on
// external only with GossipOnExt; POST /gossip on internal only; every
// other request (and the removed routes) reach the regular handler.
func TestWithClusterRoutesPerInterface(t *testing.T) {
	nextCalls := 0
	next := func(ctx *fasthttp.RequestCtx) { nextCalls++; ctx.SetStatusCode(404) }
	cases := []struct {
		iface       Interface
		gossipOnExt bool
		method      string
		path        string
		wantStatus  int
		wantNext    bool
	}{
		{Internal, false, "GET", "/gossip", 200, false},
		{Internal, false, "POST", "/gossip", 200, false},
		{External, true, "GET", "/gossip?format=json", 200, false},
		{External, false, "GET", "/gossip", 404, true},
		{External, true, "POST", "/gossip", 404, true},
		{Internal, true, "GET", "/ping", 404, true},
		{Internal, true, "PUT", "/gossip", 404, true},
		{Internal, false, "POST", "/cluster/raft", 200, false},
		{External, true, "POST", "/cluster/raft", 404, true},
	}
	for _, c := range cases {
		fc := &fakeCluster{}
		nextCalls = 0
		h := WithCluster(next, fc, c.iface, c.gossipOnExt)
		ctx := serve(h, c.method, c.path, "c1", []byte(`{}`))
		if ctx.Response.StatusCode() != c.wantStatus || (nextCalls == 1) != c.wantNext {
			t.Errorf("%v gossipOnExt=%v %s %s: status %d, next called %d times", c.iface, c.gossipOnExt, c.method, c.path,
				ctx.Response.StatusCode(), nextCalls)
		}
	}
	fc := &fakeCluster{}
	h := WithCluster(next, fc, Internal, false)
	ctx := serve(h, "POST", "/gossip", "other", []byte(`{}`))
	if ctx.Response.StatusCode() != 400 || string(ctx.Response.Header.Peek(ClusterIDHeader)) != "c1" {
		t.Fatalf("foreign: %d %q", ctx.Response.StatusCode(), ctx.Response.Header.Peek(ClusterIDHeader))
	}
	ctx = serve(h, "POST", "/gossip", "c1", bytes.Repeat([]byte("x"), maxClusterBody+1))
	if ctx.Response.StatusCode() != fasthttp.StatusRequestEntityTooLarge || fc.posts != 1 {
		t.Fatalf("oversized body: %d (posts %d)", ctx.Response.StatusCode(), fc.posts)
	}
	ctx = serve(h, "GET", "/gossip", "", nil)
	if cc := string(ctx.Response.Header.Peek("Cache-Control")); cc != "max-age=0, no-cache, must-revalidate" {
		t.Fatalf("Cache-Control %q", cc)
	}
	if WithCluster(nil, nil, Internal, true) != nil {
		t.Fatal("nil cluster handler must leave the handler as is")
	}
}
