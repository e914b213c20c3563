package httpfront

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/eventstored/eventstored/node/auth"
	"github.com/eventstored/eventstored/node/subscriptions"
	"github.com/eventstored/eventstored/store"
)

// newSubsNode is newTestNode with a real persistent subscription service.
func newSubsNode(t *testing.T, opts ...nodeOpt) *testNode {
	t.Helper()
	db, err := store.Open(store.Options{MemDB: true})
	if err != nil {
		t.Fatal(err)
	}
	a := auth.New(auth.Options{Backend: auth.NewDBBackend(db), HashIterations: 1000})
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ps := subscriptions.NewPersistent(subscriptions.PersistentOptions{DB: db})
	if err := ps.Start(); err != nil {
		t.Fatal(err)
	}
	dbs, figures := FromDB(db)
	n := &testNode{t: t, db: db, auth: a, shut: make(chan struct{}, 1)}
	d := Deps{DB: dbs, StoreFigures: figures, Auth: a, Interface: External, Persistent: ps,
		Options: Options{ListenAddr: "127.0.0.1:2113", RequestTimeout: 10 * time.Second}}
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
		ps.Stop()
		db.Close()
	})
	return n
}

type competingFeed struct {
	Links   []struct{ URI, Relation string }
	Entries []struct {
		EventNumber int64
		Links       []struct{ URI, Relation string }
	}
}

func linkOf(links []struct{ URI, Relation string }, rel string) string {
	for _, l := range links {
		if l.Relation == rel {
			return strings.TrimPrefix(l.URI, "http://127.0.0.1:2113")
		}
	}
	return ""
}

// TestHTTPCompetingConsumers drives a group with plain HTTP: create,
// two consumers taking messages, ack and nack links that work, info,
// replayParked, delete.
func TestHTTPCompetingConsumers(t *testing.T) {
	n := newSubsNode(t)
	for i := 0; i < 10; i++ {
		r := n.req(t, "POST", "/streams/orders", `[{"eventId":"`+guidN(i)+`","eventType":"E","data":{"i":`+itoa(i)+`}}]`,
			"Content-Type: application/vnd.eventstore.events+json", admin)
		expectStatus(t, r, 201, "")
	}
	body := `{"startFrom":0,"maxRetryCount":0,"messageTimeoutMilliseconds":60000,"namedConsumerStrategy":"RoundRobin"}`
	expectStatus(t, n.req(t, "PUT", "/subscriptions/orders/billing", body, "Content-Type: application/json"), 401, "")
	r := n.req(t, "PUT", "/subscriptions/orders/billing", body, "Content-Type: application/json", admin)
	expectStatus(t, r, 201, "Created")
	if !strings.Contains(r.body, `"result": "Success"`) && !strings.Contains(r.body, `"result":"Success"`) {
		t.Fatalf("create body %s", r.body)
	}
	expectStatus(t, n.req(t, "PUT", "/subscriptions/orders/billing", body, "Content-Type: application/json", admin), 409, "")
	expectStatus(t, n.req(t, "PUT", "/subscriptions/orders/bad", `{"bufferSize":10,"readBatchSize":20}`, "Content-Type: application/json", admin), 400, "")

	take := func(count string) competingFeed {
		r := n.req(t, "GET", "/subscriptions/orders/billing/"+count, "", "Accept: application/vnd.eventstore.competingatom+json", admin)
		expectStatus(t, r, 200, "")
		var f competingFeed
		if err := json.Unmarshal([]byte(r.body), &f); err != nil {
			t.Fatalf("feed %v: %s", err, r.body)
		}
		return f
	}
	expectStatus(t, n.req(t, "GET", "/subscriptions/orders/billing/1", "", "Accept: application/json", admin), 406, "")
	expectStatus(t, n.req(t, "GET", "/subscriptions/orders/billing/101", "", "Accept: application/vnd.eventstore.competingatom+json", admin), 400, "")
	expectStatus(t, n.req(t, "GET", "/subscriptions/orders/nope/1", "", "Accept: application/vnd.eventstore.competingatom+json", admin), 404, "")
	a := take("4")
	b := take("4")
	if len(a.Entries) != 4 || len(b.Entries) != 4 || a.Entries[0].EventNumber != 3 || b.Entries[3].EventNumber != 4 {
		t.Fatalf("competing takes %+v / %+v", a.Entries, b.Entries)
	}
	// a acks everything at once; b acks two, nacks one with park and one
	// with retry.
	expectStatus(t, n.req(t, "POST", linkOf(a.Links, "ackAll"), "", admin), 202, "")
	expectStatus(t, n.req(t, "POST", linkOf(b.Entries[0].Links, "ack"), "", admin), 202, "")
	expectStatus(t, n.req(t, "POST", linkOf(b.Entries[1].Links, "ack"), "", admin), 202, "")
	expectStatus(t, n.req(t, "POST", linkOf(b.Entries[2].Links, "nack")+"?action=Park", "", admin), 202, "")
	expectStatus(t, n.req(t, "POST", linkOf(b.Entries[3].Links, "nack")+"?action=retry", "", admin), 202, "")
	expectStatus(t, n.req(t, "POST", "/subscriptions/orders/billing/ack/not-a-guid", "", admin), 400, "")
	// maxRetryCount 0: the retried one is parked too; 8 and 9 remain.
	rest := take("10")
	if len(rest.Entries) != 2 || rest.Entries[0].EventNumber != 9 {
		t.Fatalf("rest %+v", rest.Entries)
	}
	expectStatus(t, n.req(t, "POST", linkOf(rest.Links, "ackAll"), "", admin), 202, "")
	var info struct {
		ParkedMessageCount, TotalInFlightMessages int
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := n.req(t, "GET", "/subscriptions/orders/billing/info", "", admin)
		expectStatus(t, r, 200, "")
		json.Unmarshal([]byte(r.body), &info)
		if (info.ParkedMessageCount == 2 && info.TotalInFlightMessages == 0) || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if info.ParkedMessageCount != 2 || info.TotalInFlightMessages != 0 {
		t.Fatalf("info %+v", info)
	}
	r = n.req(t, "GET", "/subscriptions", "", admin)
	if !strings.Contains(r.body, `"groupName"`) || !strings.Contains(r.body, "billing") {
		t.Fatalf("list %s", r.body)
	}
	// Replay the parked pair: they come back.
	expectStatus(t, n.req(t, "POST", "/subscriptions/orders/billing/replayParked", "", admin), 200, "")
	again := take("10")
	if len(again.Entries) != 2 || again.Entries[0].EventNumber != 5 || again.Entries[1].EventNumber != 4 {
		t.Fatalf("replayed %+v", again.Entries)
	}
	expectStatus(t, n.req(t, "DELETE", "/subscriptions/orders/billing", "", admin), 200, "")
	expectStatus(t, n.req(t, "DELETE", "/subscriptions/orders/billing", "", admin), 404, "")
}

func guidN(i int) string {
	return "00000000-0000-0000-0000-0000000000" + string(rune('1'+i/10)) + string(rune('0'+i%10))
}
