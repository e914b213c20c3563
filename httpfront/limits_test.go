package httpfront

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventstored/eventstored/store"
)

// stallingStore is a Store whose writer never answers (or refuses), to
// drive the request-deadline and back-pressure replies. Reads go to the
// real store.
type stallingStore struct {
	Store
	refuse    error
	submitted atomic.Int64
}

func (s *stallingStore) Submit(op *store.Op) error {
	if s.refuse != nil {
		return s.refuse
	}
	s.submitted.Add(1)
	return nil // Done is never called
}

func TestWriteRepliesWithoutStoreOutcome(t *testing.T) {
	for _, c := range []struct {
		name   string
		refuse error
		code   int
		reason string
	}{
		{"writer never answers", nil, 408, reasonTimeout},
		{"queue full", store.ErrTooBusy, 503, reasonTooBusy},
		{"store closed", store.ErrClosed, 503, reasonNotReady},
		{"writer failed", store.ErrWriterFailed, 500, "Write failed: the node refuses writes until restarted"},
		{"disk full", store.ErrDiskFull, 500, "Write failed: no space left on the database disk"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var st *stallingStore
			n := newTestNode(t, func(d *Deps) {
				st = &stallingStore{Store: d.DB, refuse: c.refuse}
				d.DB = st
				d.Options.RequestTimeout = 50 * time.Millisecond
			})
			expectStatus(t, n.req(t, "POST", "/streams/stall", evBody, ctEvents), c.code, c.reason)
			// The node keeps serving.
			expectStatus(t, n.req(t, "GET", "/ping", ""), 200, "")
		})
	}
}

func TestRequestLimits(t *testing.T) {
	n := newTestNode(t)
	expectStatus(t, n.req(t, "GET", "/streams/a"+strings.Repeat("/x", maxSegments), ""), 404, "Not Found")
	expectStatus(t, n.req(t, "GET", "/streams/a/0/forward/1", "", acceptAtomJSON, "ES-LongPoll: 3601"), 400, "ES-LongPoll header in wrong format.")
	var b strings.Builder
	b.WriteString("[")
	for i := 0; i <= maxEventsPerWrite; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"eventId":"3b0a4f5e-2d5c-4f1e-9a57-%012x","eventType":"T"}`, i+1)
	}
	b.WriteString("]")
	expectStatus(t, n.req(t, "POST", "/streams/many", b.String(), ctEvents), 400, errTooMany.Error())
	var segs [maxSegments][]byte
	if _, _, _, ok := splitPath([]byte("/streams/%zz"), nil, &segs); ok {
		t.Fatalf("a malformed escape must not route")
	}
	// A Host header that is not a host is replaced by the listen address.
	r := n.req(t, "POST", "/streams/hosty", evBody, ctEvents, "Host: <evil>")
	if r.h("Location") != "http://127.0.0.1:2113/streams/hosty/0" {
		t.Fatalf("unexpected Location %q", r.h("Location"))
	}
}

// TestJSONWriterLayout pins jw's layout to json.MarshalIndent's.
func TestJSONWriterLayout(t *testing.T) {
	var w jw
	w.reset(nil)
	w.obj()
	w.kStr("a", "x\"<>&\n\u2028")
	w.key("b")
	w.arr()
	w.endArr()
	w.key("c")
	w.obj()
	w.endObj()
	w.key("d")
	w.arr()
	w.int(1)
	w.obj()
	w.kBool("e", true)
	w.key("f")
	w.raw([]byte(`{"g": [1, {"h":null}], "i": {}}`))
	w.endObj()
	w.endArr()
	w.endObj()
	want := map[string]any{}
	if err := json.Unmarshal(w.b, &want); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, w.b)
	}
	const pinned = "{\n  \"a\": \"x\\\"<>&\\n\u2028\",\n  \"b\": [],\n  \"c\": {},\n  \"d\": [\n    1,\n    {\n      \"e\": true,\n" +
		"      \"f\": {\n        \"g\": [\n          1,\n          {\n            \"h\": null\n          }\n        ],\n        \"i\": {}\n      }\n    }\n  ]\n}"
	if string(w.b) != pinned {
		t.Fatalf("unexpected layout;\ngot\n%s\nwant\n%s", w.b, pinned)
	}
}

func TestTimeAndGUIDFormats(t *testing.T) {
	f := func(ns int64, want string) {
		t.Helper()
		if got := string(appendTime(nil, ns)); got != want {
			t.Fatalf("unexpected time; got %s; want %s", got, want)
		}
	}
	f(0, "0001-01-01T00:00:00Z")
	f(time.Date(2018, 8, 27, 9, 21, 39, 668888000, time.UTC).UnixNano(), "2018-08-27T09:21:39.668888Z")
	f(time.Date(2018, 8, 27, 9, 21, 39, 0, time.UTC).UnixNano(), "2018-08-27T09:21:39Z")
	f(time.Date(2018, 8, 27, 9, 21, 39, 123456789, time.UTC).UnixNano(), "2018-08-27T09:21:39.1234567Z")
	id, ok := parseGUID([]byte("3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11"))
	if !ok || id[0] != 0x5e || id[3] != 0x3b || id[4] != 0x5c || id[8] != 0x9a {
		t.Fatalf("unexpected .NET byte order %x", id)
	}
	if s := string(appendGUID(nil, &id)); s != "3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11" {
		t.Fatalf("round trip: %s", s)
	}
	for _, in := range []string{"{3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11}", "(3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11)", "3B0A4F5E2D5C4F1E9A570D6F0B3E8C11"} {
		if got, ok := parseGUID([]byte(in)); !ok || got != id {
			t.Fatalf("parseGUID(%q) = %x %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c1", "3b0a4f5e_2d5c-4f1e-9a57-0d6f0b3e8c11", "zz0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11"} {
		if _, ok := parseGUID([]byte(in)); ok {
			t.Fatalf("parseGUID(%q) accepted", in)
		}
	}
}

func TestMediaHashMatchesAppendixB(t *testing.T) {
	for name, want := range map[string]int32{
		"application/vnd.eventstore.atom+json": -2060438500, "application/atom+xml": -1359611486, "application/json": 1391431453,
		"text/xml": -650849973, "application/xml": 421361534, "application/vnd.eventstore.event+json": 1580925873,
		"application/vnd.eventstore.event+xml": -1645235210, "application/vnd.eventstore.events+json": 1646817468,
		"application/vnd.eventstore.events+xml": 439203259, "application/vnd.eventstore.streamdesc+json": 1415427280,
		"text/html": 1268450035, "application/octet-stream": -1248183151,
		"application/vnd.eventstore.competingatom+json": 865826550, "application/vnd.eventstore.competingatom+xml": 2004263163,
	} {
		if got := mediaHash(name); got != want {
			t.Errorf("mediaHash(%s) = %d; want %d", name, got, want)
		}
	}
}

func TestNegotiate(t *testing.T) {
	f := func(offers []mediaType, format, accept string, want mediaType, wantRes int) {
		t.Helper()
		var fb []byte
		if format != "-" {
			fb = []byte(format)
		}
		got, res := negotiate(offers, fb, []byte(accept), accept != "")
		if got != want || res != wantRes {
			t.Fatalf("negotiate(%q, %q) = %v %d; want %v %d", format, accept, got, res, want, wantRes)
		}
	}
	f(feedCodecs, "-", "", mtStreamDescJSON, negotiateOK)
	f(feedCodecs, "-", "*/*", mtStreamDescJSON, negotiateOK)
	f(feedCodecs, "-", "application/*", mtStreamDescJSON, negotiateOK)
	f(feedCodecs, "-", "text/*", mtTextXML, negotiateOK)
	f(feedCodecs, "-", "APPLICATION/JSON", mtJSON, negotiateOK)
	f(feedCodecs, "-", "image/png, application/vnd.eventstore.atom+json;q=0.1", mtAtomJSON, negotiateOK)
	f(feedCodecs, "-", "text/html;q=0.2, application/json;q=0.9", mtJSON, negotiateOK)
	f(feedCodecs, "-", "garbage, application/json", mtJSON, negotiateOK)
	f(feedCodecs, "-", "image/png", mtNone, negotiateNotAcceptable)
	f(feedCodecs, "json", "application/atom+xml", mtJSON, negotiateOK)
	f(feedCodecs, "atomxj", "", mtAtomJSON, negotiateOK)
	f(feedCodecs, "text", "", mtNone, negotiateNotAcceptable)
	f(feedCodecs, "atomsvc", "", mtNone, negotiateNotAcceptable)
	f(feedCodecs, "yaml", "", mtNone, negotiateBadFormat)
	f(pingCodecs, "text", "", mtTextPlain, negotiateOK)
}

func TestRouterPrecedence(t *testing.T) {
	n := newTestNode(t)
	f := func(m method, path, wantTmpl string) {
		t.Helper()
		var segs [maxSegments][]byte
		cnt, tail, _, ok := splitPath([]byte(path), nil, &segs)
		if !ok {
			t.Fatalf("split %q failed", path)
		}
		var res matchResult
		n.h.rt.lookup(m, segs[:cnt], []byte(path), &tail, &res)
		got := ""
		if res.r != nil {
			got = res.r.tmpl
		}
		if got != wantTmpl {
			t.Fatalf("%s %s: got route %q; want %q", methodNames[m], path, got, wantTmpl)
		}
	}
	f(mGET, "/streams/s/metadata", "/streams/{stream}/metadata")
	f(mGET, "/streams/s/7", "/streams/{stream}/{event}")
	f(mGET, "/streams/$all/head/backward/5", "/streams/$all/{position}/backward/{count}")
	f(mGET, "/streams/%24all/head/backward/5", "/streams/$all/{position}/backward/{count}")
	f(mGET, "/streams/$all/5", "/streams/{stream}/{event}")
	f(mPOST, "/streams/$all", "/streams/{stream}")
	f(mGET, "/streams/s/", "/streams/{stream}/")
	f(mGET, "/users/$current", "/users/$current")
	f(mGET, "/users/bob", "/users/{login}")
	f(mGET, "/stats", "/stats")
	f(mGET, "/stats/", "/stats/{*path}")
	f(mGET, "/stats/proc/tcp", "/stats/{*path}")
	f(mDELETE, "/streams/s/metadata", "")
}

func TestReaderPoolIsBounded(t *testing.T) {
	n := newTestNode(t, func(d *Deps) { d.ReadersMax = 2; d.Options.RequestTimeout = 50 * time.Millisecond })
	n.writeN(t, "rp", 1)
	a, b := n.h.acquireReader(), n.h.acquireReader()
	if a == nil || b == nil {
		t.Fatal("the pool should hand out ReadersMax readers")
	}
	// Pool exhausted: a read waits, then answers 503.
	expectStatus(t, n.req(t, "GET", "/streams/rp/0/forward/1", "", acceptAtomJSON), 503, reasonTooBusy)
	n.h.releaseReader(a)
	expectStatus(t, n.req(t, "GET", "/streams/rp/0/forward/1", "", acceptAtomJSON), 200, "")
	n.h.releaseReader(b)
	if made := n.h.readersMade.Load(); made != 2 {
		t.Fatalf("unexpected readers made %d", made)
	}
}

func TestParkedLongPollsHoldNoReader(t *testing.T) {
	n := newTestNode(t, func(d *Deps) { d.ReadersMax = 1 })
	n.writeN(t, "lpr", 1)
	done := make(chan *resp, 1)
	go func() { done <- n.req(t, "GET", "/streams/lpr/1/forward/1", "", acceptAtomJSON, "ES-LongPoll: 30") }()
	deadline := time.Now().Add(10 * time.Second)
	for n.h.parked.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("long poll never parked")
		}
		time.Sleep(time.Millisecond)
	}
	// The only reader is free while the long poll waits.
	expectStatus(t, n.req(t, "GET", "/streams/lpr/0/forward/1", "", acceptAtomJSON), 200, "")
	n.writeN(t, "lpr", 1)
	expectStatus(t, <-done, 200, "")
}
