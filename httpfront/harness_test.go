package httpfront

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/eventstored/eventstored/node/auth"
	"github.com/eventstored/eventstored/store"
)

// testNode is a real store over the in-memory filesystem, the real auth
// service and a Handler served by a real fasthttp server on an in-memory
// listener. Tests talk to it with a real fasthttp client.
type testNode struct {
	t      *testing.T
	db     *store.DB
	auth   *auth.Service
	h      *Handler
	srv    *fasthttp.Server
	ln     *fasthttputil.InmemoryListener
	client *fasthttp.Client
	shut   chan struct{}
}

type nodeOpt func(*Deps)

func newTestNode(t testing.TB, opts ...nodeOpt) *testNode {
	t.Helper()
	db, err := store.Open(store.Options{MemDB: true})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	a := auth.New(auth.Options{Backend: auth.NewDBBackend(db), HashIterations: 1000})
	if err := a.Start(context.Background()); err != nil {
		t.Fatalf("auth.Start: %v", err)
	}
	dbs, figures := FromDB(db)
	n := &testNode{db: db, auth: a, shut: make(chan struct{}, 1)}
	d := Deps{DB: dbs, StoreFigures: figures, Auth: a, Interface: External,
		Options: Options{AdminOnExt: true, StatsOnExt: true, GossipOnExt: true, ListenAddr: "127.0.0.1:2113",
			RequestTimeout: 10 * time.Second},
		Shutdown: func() { n.shut <- struct{}{} },
		Gossip: GossipSelf{InternalTCPIP: "127.0.0.1", ExternalTCPIP: "127.0.0.1", InternalHTTPIP: "127.0.0.1",
			ExternalHTTPIP: "127.0.0.1", InternalTCPPort: 1112, ExternalTCPPort: 1113, InternalHTTPPort: 2112, ExternalHTTPPort: 2113},
	}
	for _, o := range opts {
		o(&d)
	}
	n.h = NewHandler(d)
	n.srv = newFastHTTPServer(Config{Name: "test HTTP"}, n.h.RequestHandler())
	n.ln = fasthttputil.NewInmemoryListener()
	go n.srv.Serve(n.ln) //nolint:errcheck
	n.client = &fasthttp.Client{Dial: func(string) (net.Conn, error) { return n.ln.Dial() }, ReadTimeout: 30 * time.Second}
	t.Cleanup(func() {
		n.srv.Shutdown() //nolint:errcheck
		n.ln.Close()
		db.Close()
	})
	return n
}

type resp struct {
	code   int
	reason string
	hdr    map[string]string
	body   string
}

func (r *resp) h(k string) string { return r.hdr[strings.ToLower(k)] }

// req sends one request. hdrs are "Name: value" strings; a "user:pass"
// string starting with "@" sets Basic credentials.
func (n *testNode) req(t testing.TB, method, path string, body string, hdrs ...string) *resp {
	t.Helper()
	rq := fasthttp.AcquireRequest()
	rs := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(rq)
	defer fasthttp.ReleaseResponse(rs)
	rq.Header.SetMethod(method)
	rq.SetRequestURI("http://127.0.0.1:2113" + path)
	rq.Header.DisableNormalizing()
	rq.Header.SetNoDefaultContentType(true)
	for _, h := range hdrs {
		if strings.HasPrefix(h, "@") {
			rq.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(h[1:])))
			continue
		}
		i := strings.Index(h, ":")
		rq.Header.Set(h[:i], strings.TrimSpace(h[i+1:]))
	}
	if body != "" {
		rq.SetBodyString(body)
	}
	if err := n.client.Do(rq, rs); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	out := &resp{code: rs.StatusCode(), reason: string(rs.Header.StatusMessage()), hdr: map[string]string{}, body: string(rs.Body())}
	for k, v := range rs.Header.All() {
		out.hdr[strings.ToLower(string(k))] = string(v)
	}
	return out
}

func expectStatus(t testing.TB, r *resp, code int, reason string) {
	t.Helper()
	if r.code != code || (reason != "" && r.reason != reason) {
		t.Fatalf("unexpected status; got %d %q; want %d %q (body %q)", r.code, r.reason, code, reason, r.body)
	}
}

const admin = "@admin:changeit"

func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Verbose() {
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	os.Exit(m.Run())
}

func itoa(i int) string { return strconv.Itoa(i) }

// rawExchange writes a raw HTTP/1.1 request on a new in-memory connection
// and returns everything the server sends until it closes.
func (n *testNode) rawExchange(t *testing.T, request string) string {
	t.Helper()
	c, err := n.ln.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck
	b, _ := io.ReadAll(c)
	return string(b)
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

func jsonValidString(b []byte) bool { return json.Valid(b) }
