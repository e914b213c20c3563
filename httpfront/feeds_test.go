package httpfront

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

const ctEvents = "Content-Type: application/vnd.eventstore.events+json"
const acceptAtomJSON = "Accept: application/vnd.eventstore.atom+json"

// writeN appends count JSON events {"n": i} of type "Counted" to stream.
func (n *testNode) writeN(t testing.TB, stream string, count int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("[")
	for i := 0; i < count; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		id := newGUID()
		fmt.Fprintf(&b, `{"eventId":"%s","eventType":"Counted","data":{"n":%d}}`, appendGUID(nil, &id), i)
	}
	b.WriteString("]")
	expectStatus(t, n.req(t, "POST", "/streams/"+stream, b.String(), ctEvents), 201, "Created")
}

type feedJSON struct {
	Title        string `json:"title"`
	ID           string `json:"id"`
	Updated      string `json:"updated"`
	StreamID     string `json:"streamId"`
	HeadOfStream bool   `json:"headOfStream"`
	SelfURL      string `json:"selfUrl"`
	ETag         string `json:"eTag"`
	Links        []struct {
		URI      string `json:"uri"`
		Relation string `json:"relation"`
	} `json:"links"`
	Entries []map[string]any `json:"entries"`
}

func (f *feedJSON) links() string {
	var s []string
	for _, l := range f.Links {
		s = append(s, l.Relation+" "+l.URI)
	}
	return strings.Join(s, "\n")
}

func (f *feedJSON) numbers() []int {
	var out []int
	for _, e := range f.Entries {
		var n int
		fmt.Sscanf(e["title"].(string), "%d@", &n)
		out = append(out, n)
	}
	return out
}

func getFeed(t *testing.T, n *testNode, path string, hdrs ...string) (*feedJSON, *resp) {
	t.Helper()
	r := n.req(t, "GET", path, "", append([]string{acceptAtomJSON}, hdrs...)...)
	expectStatus(t, r, 200, "")
	var f feedJSON
	if err := json.Unmarshal([]byte(r.body), &f); err != nil {
		t.Fatalf("feed is not JSON: %v\n%s", err, r.body)
	}
	return &f, r
}

const S = "http://127.0.0.1:2113/streams/orders-17"

// TestFeedBackwardHeadMatchesSpecExample pins the example of spec §2.5.3:
// GET /streams/orders-17/head/backward/2?embed=body on events 0…5.
func TestFeedBackwardHeadMatchesSpecExample(t *testing.T) {
	n := newTestNode(t)
	n.writeN(t, "orders-17", 6)
	f, r := getFeed(t, n, "/streams/orders-17/head/backward/2?EMBED=body")
	want := strings.Join([]string{
		"self " + S, "first " + S + "/head/backward/2", "last " + S + "/0/forward/2",
		"next " + S + "/3/backward/2", "previous " + S + "/6/forward/2", "metadata " + S + "/metadata"}, "\n")
	if f.links() != want {
		t.Fatalf("unexpected links;\ngot\n%s\nwant\n%s", f.links(), want)
	}
	if f.Title != "Event stream 'orders-17'" || f.ID != S || f.SelfURL != S || f.StreamID != "orders-17" ||
		!f.HeadOfStream || f.ETag != "5;-2060438500" {
		t.Fatalf("unexpected feed members %+v", f)
	}
	if got := fmt.Sprint(f.numbers()); got != "[5 4]" {
		t.Fatalf("unexpected entries %s", got)
	}
	e := f.Entries[0]
	if e["data"] != "{\n  \"n\": 5\n}" || e["eventNumber"] != 5.0 || e["isJson"] != true || e["positionStreamId"] != "orders-17" ||
		e["summary"] != "Counted" || e["id"] != S+"/5" {
		t.Fatalf("unexpected entry %v", e)
	}
	if _, ok := e["content"]; ok {
		t.Fatalf("embed=body entries have no content: %v", e)
	}
	// Member order of a rich entry (spec §2.5.3): rich members first.
	if i, j := strings.Index(r.body, `"eventId"`), strings.Index(r.body, `"title": "5@`); i < 0 || j < i {
		t.Fatalf("rich members must precede the plain ones:\n%s", r.body)
	}
	if r.h("Cache-Control") != "max-age=0, no-cache, must-revalidate" || r.h("ETag") != `"5;-2060438500"` || r.h("Vary") != "Accept" {
		t.Fatalf("unexpected caching headers %v", r.hdr)
	}
	// Conditional GET with the ETag → 304, status only.
	r = n.req(t, "GET", "/streams/orders-17/head/backward/2", "", acceptAtomJSON, `If-None-Match: "5;-2060438500"`)
	expectStatus(t, r, 304, "")
	if r.h("ETag") != "" || r.body != "" {
		t.Fatalf("304 must be status-only: %v", r.hdr)
	}
	// A hash of another media type is ignored.
	expectStatus(t, n.req(t, "GET", "/streams/orders-17/head/backward/2", "", acceptAtomJSON, `If-None-Match: "5;1391431453"`), 200, "")
}

func TestFeedPaging(t *testing.T) {
	n := newTestNode(t)
	n.writeN(t, "orders-17", 6)
	f := func(path, wantLinks, wantNums string, head bool, cc string) {
		t.Helper()
		feed, r := getFeed(t, n, path)
		if got := feed.links(); got != wantLinks {
			t.Fatalf("%s: unexpected links;\ngot\n%s\nwant\n%s", path, got, wantLinks)
		}
		if got := fmt.Sprint(feed.numbers()); got != wantNums {
			t.Fatalf("%s: unexpected entries; got %s; want %s", path, got, wantNums)
		}
		if feed.HeadOfStream != head {
			t.Fatalf("%s: unexpected headOfStream %v", path, feed.HeadOfStream)
		}
		if r.h("Cache-Control") != cc {
			t.Fatalf("%s: unexpected Cache-Control %q", path, r.h("Cache-Control"))
		}
	}
	lines := func(ls ...string) string { return strings.Join(ls, "\n") }
	forever := "max-age=31536000, public"
	revalidate := "max-age=0, no-cache, must-revalidate"
	f("/streams/orders-17/0/forward/2", lines("self "+S, "first "+S+"/head/backward/2", "previous "+S+"/2/forward/2", "metadata "+S+"/metadata"),
		"[1 0]", false, forever)
	f("/streams/orders-17/4/forward/2", lines("self "+S, "first "+S+"/head/backward/2", "last "+S+"/0/forward/2", "next "+S+"/3/backward/2",
		"previous "+S+"/6/forward/2", "metadata "+S+"/metadata"), "[5 4]", true, forever)
	f("/streams/orders-17/6/forward/2", lines("self "+S, "first "+S+"/head/backward/2", "last "+S+"/0/forward/2", "next "+S+"/5/backward/2",
		"metadata "+S+"/metadata"), "[]", true, revalidate)
	f("/streams/orders-17/3/backward/2", lines("self "+S, "first "+S+"/head/backward/2", "last "+S+"/0/forward/2", "next "+S+"/1/backward/2",
		"previous "+S+"/4/forward/2", "metadata "+S+"/metadata"), "[3 2]", false, forever)
	f("/streams/orders-17/1/2", lines("self "+S, "first "+S+"/head/backward/2", "previous "+S+"/2/forward/2", "metadata "+S+"/metadata"),
		"[1 0]", false, forever)
	// Default head route: 20 entries, backward.
	feed, _ := getFeed(t, n, "/streams/orders-17")
	if got := fmt.Sprint(feed.numbers()); got != "[5 4 3 2 1 0]" || !feed.HeadOfStream {
		t.Fatalf("unexpected head feed %s", got)
	}
}

func TestFeedEmbedLevels(t *testing.T) {
	n := newTestNode(t)
	n.writeN(t, "emb", 1)
	for _, tc := range []struct {
		embed               string
		content, rich, data bool
	}{
		{"", false, false, false}, {"bogus", false, false, false}, {"content", true, false, false},
		{"rich", false, true, false}, {"body", false, true, true}, {"pretty", false, true, true}, {"TryHarder", false, true, true},
	} {
		feed, _ := getFeed(t, n, "/streams/emb/0/forward/1?embed="+tc.embed)
		e := feed.Entries[0]
		_, c := e["content"]
		_, rich := e["eventType"]
		_, d := e["data"]
		if c != tc.content || rich != tc.rich || d != tc.data {
			t.Fatalf("embed=%q: unexpected entry %v", tc.embed, e)
		}
	}
}

func TestFeedNegotiation(t *testing.T) {
	n := newTestNode(t)
	n.writeN(t, "neg", 2)
	t.Run("no Accept gives the description document with 406", func(t *testing.T) {
		r := n.req(t, "GET", "/streams/neg", "")
		expectStatus(t, r, 406, reasonDescNoAccept)
		if !strings.Contains(r.body, "Description document for 'neg'") ||
			r.h("Content-Type") != "application/vnd.eventstore.streamdesc+json; charset=utf-8" {
			t.Fatalf("unexpected description document %q %v", r.body, r.hdr)
		}
	})
	t.Run("curl's */* gives 406 Description Document", func(t *testing.T) {
		expectStatus(t, n.req(t, "GET", "/streams/neg", "", "Accept: */*"), 406, reasonDescriptionDocument)
	})
	t.Run("asking for streamdesc gives 200", func(t *testing.T) {
		r := n.req(t, "GET", "/streams/neg/head/backward/5", "", "Accept: application/vnd.eventstore.streamdesc+json")
		expectStatus(t, r, 200, reasonDescriptionDocument)
		var d map[string]any
		if err := json.Unmarshal([]byte(r.body), &d); err != nil || d["description"] != "The description document will be presented when no accept header is present or it was requested" {
			t.Fatalf("unexpected document %v %s", err, r.body)
		}
	})
	t.Run("application/json gives the feed labelled application/json", func(t *testing.T) {
		r := n.req(t, "GET", "/streams/neg", "", "Accept: application/json")
		expectStatus(t, r, 200, "")
		if r.h("Content-Type") != "application/json; charset=utf-8" || !strings.Contains(r.body, `"title": "Event stream 'neg'"`) ||
			r.h("ETag") != `"1;1391431453"` {
			t.Fatalf("unexpected reply %v %q", r.hdr, r.body)
		}
	})
	t.Run("q values order the Accept list", func(t *testing.T) {
		r := n.req(t, "GET", "/streams/neg", "", "Accept: application/json;q=0.5, application/atom+xml")
		if r.h("Content-Type") != "application/atom+xml; charset=utf-8" {
			t.Fatalf("unexpected type %q", r.h("Content-Type"))
		}
	})
	t.Run("atom xml feed", func(t *testing.T) {
		r := n.req(t, "GET", "/streams/neg?format=atom", "")
		expectStatus(t, r, 200, "")
		if !strings.HasPrefix(r.body, `<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Event stream &apos;neg&apos;</title>`) &&
			!strings.HasPrefix(r.body, `<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Event stream 'neg'</title>`) {
			t.Fatalf("unexpected atom feed %q", r.body)
		}
		if !strings.Contains(r.body, `<link href="http://127.0.0.1:2113/streams/neg" rel="self" />`) || strings.Count(r.body, "<entry>") != 2 {
			t.Fatalf("unexpected atom feed %q", r.body)
		}
	})
	t.Run("browsers get the HTML page", func(t *testing.T) {
		r := n.req(t, "GET", "/streams/neg", "", "Accept: text/html,application/xhtml+xml,*/*;q=0.8")
		expectStatus(t, r, 200, "")
		if !strings.Contains(r.body, "/web/index.html#/streams/neg") {
			t.Fatalf("unexpected page %q", r.body)
		}
	})
	t.Run("forward feeds never give the description document", func(t *testing.T) {
		r := n.req(t, "GET", "/streams/neg/0/forward/5", "")
		expectStatus(t, r, 200, "")
		if r.h("Content-Type") != "application/vnd.eventstore.streamdesc+json; charset=utf-8" || !strings.Contains(r.body, `"entries"`) {
			t.Fatalf("unexpected reply %v %q", r.hdr, r.body)
		}
	})
}

func TestFeedErrors(t *testing.T) {
	n := newTestNode(t)
	n.writeN(t, "fe", 3)
	cases := []struct {
		path   string
		hdrs   []string
		code   int
		reason string
	}{
		{"/streams/missing", nil, 404, "Not Found"},
		{"/streams/fe/abc/backward/2", nil, 400, "'abc' is not valid event number"},
		{"/streams/fe/head/forward/2", nil, 400, "'head' is not valid event number"},
		{"/streams/fe/0/forward/0", nil, 400, "'0' is not valid count. Should be positive integer"},
		{"/streams/fe/0/forward/-1", nil, 400, "'-1' is not valid count. Should be positive integer"},
		{"/streams/fe/0/forward/4097", nil, 500, reasonReadTooBig},
		{"/streams/fe/0/forward/2", []string{"ES-ResolveLinkTos: maybe"}, 400, "ES-ResolveLinkTos header in wrong format."},
		{"/streams/fe/0/forward/2", []string{"ES-RequireMaster: yes"}, 400, "ES-RequireMaster header in wrong format."},
		{"/streams/fe/0/forward/2", []string{"ES-LongPoll: soon"}, 400, "ES-LongPoll header in wrong format."},
		{"/streams/fe/0/forward/2", []string{"ES-LongPoll: 0"}, 400, "ES-LongPoll header in wrong format."},
		{"/streams/%24all", nil, 401, "Unauthorized"},
		{"/streams/$settings/0/forward/2", nil, 401, "Unauthorized"},
	}
	for _, c := range cases {
		r := n.req(t, "GET", c.path, "", append([]string{acceptAtomJSON}, c.hdrs...)...)
		if r.code != c.code || r.reason != c.reason {
			t.Errorf("GET %s %v: got %d %q; want %d %q", c.path, c.hdrs, r.code, r.reason, c.code, c.reason)
		}
	}
	expectStatus(t, n.req(t, "GET", "/streams/fe/0/forward/4096", "", acceptAtomJSON), 200, "")
}

func TestFeedOfDeletedStreams(t *testing.T) {
	n := newTestNode(t)
	n.writeN(t, "soft", 2)
	n.writeN(t, "hard", 2)
	expectStatus(t, n.req(t, "DELETE", "/streams/soft", ""), 204, "Stream deleted")
	expectStatus(t, n.req(t, "DELETE", "/streams/hard", "", "ES-HardDelete: true"), 204, "Stream deleted")
	expectStatus(t, n.req(t, "GET", "/streams/soft", "", acceptAtomJSON), 404, "Not Found")
	expectStatus(t, n.req(t, "GET", "/streams/soft/0", "", acceptAtomJSON), 404, "Not Found")
	expectStatus(t, n.req(t, "GET", "/streams/hard", "", acceptAtomJSON), 410, "Deleted")
	expectStatus(t, n.req(t, "GET", "/streams/hard/0", "", acceptAtomJSON), 410, "Deleted")
	expectStatus(t, n.req(t, "POST", "/streams/hard", `[{"eventId":"3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11","eventType":"x","data":{}}]`, ctEvents), 410, "Stream deleted")
	expectStatus(t, n.req(t, "DELETE", "/streams/hard", ""), 410, "Stream deleted")
}

func TestAllFeed(t *testing.T) {
	n := newTestNode(t)
	n.writeN(t, "a1", 3)
	f, r := getFeed(t, n, "/streams/%24all/head/backward/2", admin)
	if f.Title != "All events" || f.ID != "http://127.0.0.1:2113/streams/%24all" || f.HeadOfStream || f.StreamID != "" || f.ETag != "" {
		t.Fatalf("unexpected $all feed %+v", f)
	}
	if len(f.Entries) != 2 {
		t.Fatalf("unexpected entries %d", len(f.Entries))
	}
	if r.h("Cache-Control") != "max-age=0, no-cache, must-revalidate" || !strings.HasPrefix(r.h("ETag"), `"`) {
		t.Fatalf("unexpected caching headers %v", r.hdr)
	}
	var next, prev string
	for _, l := range f.Links {
		switch l.Relation {
		case "next":
			next = l.URI
		case "previous":
			prev = l.URI
		}
	}
	const A = "http://127.0.0.1:2113/streams/%24all/"
	if !strings.HasPrefix(next, A) || !strings.HasSuffix(next, "/backward/2") || len(next) != len(A)+32+len("/backward/2") {
		t.Fatalf("unexpected next link %q", next)
	}
	if !strings.HasPrefix(prev, A) || !strings.HasSuffix(prev, "/forward/2") {
		t.Fatalf("unexpected previous link %q", prev)
	}
	// Following next walks back without repeating entries.
	f2, _ := getFeed(t, n, strings.TrimPrefix(next, "http://127.0.0.1:2113"), admin)
	if len(f2.Entries) == 0 || f2.Entries[0]["id"] == f.Entries[len(f.Entries)-1]["id"] {
		t.Fatalf("next page repeats or is empty: %v", f2.Entries)
	}
	// Forward from the start.
	f3, _ := getFeed(t, n, "/streams/%24all/00000000000000000000000000000000/forward/1000", admin)
	if len(f3.Entries) < 3 {
		t.Fatalf("forward $all returned %d entries", len(f3.Entries))
	}
	for _, c := range []struct{ path, reason string }{
		{"/streams/%24all/xyz/forward/2", "Invalid position argument: xyz"},
		{"/streams/%24all/head/forward/2", "Invalid position argument: head"},
		{"/streams/%24all/FFFFFFFFFFFFFFFF0000000000000000/forward/2", "Invalid position argument: FFFFFFFFFFFFFFFF0000000000000000"},
		{"/streams/%24all/head/backward/x", "Invalid count argument: x"},
	} {
		expectStatus(t, n.req(t, "GET", c.path, "", acceptAtomJSON, admin), 400, c.reason)
	}
	expectStatus(t, n.req(t, "GET", "/streams/%24all/head/backward/5000", "", acceptAtomJSON, admin), 500, reasonReadTooBig)
	// Conditional GET on $all: the ETag version is the last commit position.
	etag := r.h("ETag")
	expectStatus(t, n.req(t, "GET", "/streams/%24all/head/backward/2", "", acceptAtomJSON, admin, "If-None-Match: "+etag), 304, "")
	n.writeN(t, "a2", 1)
	expectStatus(t, n.req(t, "GET", "/streams/%24all/head/backward/2", "", acceptAtomJSON, admin, "If-None-Match: "+etag), 200, "")
	// HEAD answers like GET without a body.
	h := n.req(t, "HEAD", "/streams/a1/0", "", acceptAtomJSON)
	if h.code != 200 || h.body != "" || h.h("Cache-Control") != "max-age=31536000, public" {
		t.Fatalf("unexpected HEAD reply %d %v %q", h.code, h.hdr, h.body)
	}
	// "/streams/$all/5" is a single-event read of a stream named $all.
	expectStatus(t, n.req(t, "GET", "/streams/$all/5", "", acceptAtomJSON, admin), 404, "")
}

func TestPositionFormat(t *testing.T) {
	b := appendPosition(nil, 4718, 4718)
	if string(b) != "000000000000126E000000000000126E" {
		t.Fatalf("unexpected position text %s", b)
	}
	c, p, ok := parsePosition([]byte("000000000000126e000000000000126E"))
	if !ok || c != 4718 || p != 4718 {
		t.Fatalf("unexpected parse %d %d %v", c, p, ok)
	}
}

// TestLinkResolution writes link events ($>) by hand and reads them with
// and without resolution (spec §2.9), including the ACL of the target.
func TestLinkResolution(t *testing.T) {
	n := newTestNode(t)
	n.writeN(t, "target", 2)
	link := func(id, data string) string {
		return `[{"eventId":"` + id + `","eventType":"$>","data":"` + data + `"}]`
	}
	expectStatus(t, n.req(t, "POST", "/streams/links", link("6f1c2a70-88b4-4b8e-b0d3-5e9f1a2c4d71", "1@target"), ctEvents), 201, "")
	f, _ := getFeed(t, n, "/streams/links/0/forward/5?embed=body")
	e := f.Entries[0]
	if e["title"] != "1@target" || e["summary"] != "$>" || e["positionStreamId"] != "links" || e["positionEventNumber"] != 0.0 ||
		e["data"] != "{\n  \"n\": 1\n}" || e["streamId"] != "target" {
		t.Fatalf("unexpected resolved entry %v", e)
	}
	if _, ok := e["linkMetaData"]; !ok {
		t.Fatalf("resolved entries carry linkMetaData: %v", e)
	}
	f, _ = getFeed(t, n, "/streams/links/0/forward/5?embed=body", "ES-ResolveLinkTos: false")
	e = f.Entries[0]
	if e["title"] != "0@links" || e["eventType"] != "$>" || e["isJson"] != false {
		t.Fatalf("unexpected unresolved entry %v", e)
	}
	if _, ok := e["data"]; ok {
		t.Fatalf("an unresolved link is not JSON: no data at Body: %v", e)
	}
	// A link whose target is missing: single read 404.
	expectStatus(t, n.req(t, "POST", "/streams/links", link("6f1c2a70-88b4-4b8e-b0d3-5e9f1a2c4d72", "9@target"), ctEvents), 201, "")
	expectStatus(t, n.req(t, "GET", "/streams/links/1", "", acceptAtomJSON), 404, "Not Found")
	f, _ = getFeed(t, n, "/streams/links/1/forward/1?embed=rich")
	if e := f.Entries[0]; e["title"] != "9@target" {
		t.Fatalf("a broken link is named after its data: %v", e)
	} else if _, ok := e["eventType"]; ok {
		t.Fatalf("a broken link has no rich members: %v", e)
	}
	// A link into a stream the caller may not read refuses the whole read.
	expectStatus(t, n.req(t, "POST", "/streams/$sys-src", `[{"eventId":"6f1c2a70-88b4-4b8e-b0d3-5e9f1a2c4d73","eventType":"X","data":{"s":1}}]`, ctEvents, admin), 201, "")
	expectStatus(t, n.req(t, "POST", "/streams/links2", link("6f1c2a70-88b4-4b8e-b0d3-5e9f1a2c4d74", "0@$sys-src"), ctEvents), 201, "")
	expectStatus(t, n.req(t, "GET", "/streams/links2/0/forward/5", "", acceptAtomJSON), 401, "Unauthorized")
	expectStatus(t, n.req(t, "GET", "/streams/links2/0", "", acceptAtomJSON), 401, "Unauthorized")
	expectStatus(t, n.req(t, "GET", "/streams/links2/0", "", acceptAtomJSON, admin), 200, "")
	expectStatus(t, n.req(t, "GET", "/streams/links2/0", "", acceptAtomJSON), 401, "Unauthorized") // not served from a cache
}

func TestResponseCompression(t *testing.T) {
	n := newTestNode(t)
	n.writeN(t, "gz", 20)
	plain := n.req(t, "GET", "/streams/gz?embed=body", "", acceptAtomJSON)
	for _, c := range []struct{ ae, want string }{
		{"gzip, deflate, br", "gzip"}, {"br, deflate", "deflate"}, {"identity", ""}, {"GZIP", ""}, {"x-gzip;q=1, gzip;q=0.1", "gzip"},
	} {
		rq := fasthttp.AcquireRequest()
		rs := fasthttp.AcquireResponse()
		rq.SetRequestURI("http://127.0.0.1:2113/streams/gz?embed=body")
		rq.Header.Set("Accept", "application/vnd.eventstore.atom+json")
		rq.Header.Set("Accept-Encoding", c.ae)
		if err := n.client.Do(rq, rs); err != nil {
			t.Fatal(err)
		}
		if got := string(rs.Header.Peek("Content-Encoding")); got != c.want {
			t.Fatalf("Accept-Encoding %q: got encoding %q; want %q", c.ae, got, c.want)
		}
		body, err := rs.BodyUncompressed()
		if err != nil || string(body) != plain.body {
			t.Fatalf("Accept-Encoding %q: body differs after decompression (%v)", c.ae, err)
		}
		fasthttp.ReleaseRequest(rq)
		fasthttp.ReleaseResponse(rs)
	}
	// Small and empty bodies are left alone.
	r := n.req(t, "GET", "/ping", "", "Accept-Encoding: gzip")
	if r.h("Content-Encoding") != "" {
		t.Fatalf("small body was compressed")
	}
}

// TestAtomXMLIsWellFormed parses every XML representation with
// encoding/xml, including data that needs escaping.
func TestAtomXMLIsWellFormed(t *testing.T) {
	n := newTestNode(t)
	body := `[{"eventId":"3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11","eventType":"A<&>\"'","data":{"x":"<b>&amp;</b>","list":[1,2],"9bad name":true},"metadata":"m<>"}]`
	expectStatus(t, n.req(t, "POST", "/streams/x%3Cml", body, ctEvents), 201, "")
	for _, c := range []struct{ path, accept string }{
		{"/streams/x%3Cml", "application/atom+xml"}, {"/streams/x%3Cml/0/forward/5?embed=content", "application/atom+xml"},
		{"/streams/x%3Cml/0", "application/atom+xml"}, {"/streams/x%3Cml/0", "text/xml"},
		{"/streams/x%3Cml/0", "application/vnd.eventstore.event+xml"}, {"/streams/%24all", "application/atom+xml"},
	} {
		r := n.req(t, "GET", c.path, "", "Accept: "+c.accept, admin)
		expectStatus(t, r, 200, "")
		dec := xml.NewDecoder(strings.NewReader(r.body))
		for {
			_, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s as %s is not well-formed XML: %v\n%s", c.path, c.accept, err, r.body)
			}
		}
	}
}

// TestFeedPagingWithMaxCount checks the backward "end" rule of spec §2.5.1
// when $maxCount hides older events: the page holding the oldest visible
// event is the end (no last/next links).
func TestFeedPagingWithMaxCount(t *testing.T) {
	n := newTestNode(t)
	n.writeN(t, "mc", 6)
	expectStatus(t, n.req(t, "POST", "/streams/mc/metadata", `{"$maxCount":3}`, "Content-Type: application/json",
		"ES-EventId: 6f1c2a70-88b4-4b8e-b0d3-5e9f1a2c4d75"), 201, "")
	const M = "http://127.0.0.1:2113/streams/mc"
	f, _ := getFeed(t, n, "/streams/mc/head/backward/2")
	if got := fmt.Sprint(f.numbers()); got != "[5 4]" || !strings.Contains(f.links(), "next "+M+"/3/backward/2") {
		t.Fatalf("unexpected head page %s\n%s", got, f.links())
	}
	f, _ = getFeed(t, n, "/streams/mc/3/backward/2")
	if got := fmt.Sprint(f.numbers()); got != "[3]" || strings.Contains(f.links(), "next ") || strings.Contains(f.links(), "last ") {
		t.Fatalf("the page with the oldest visible event must be the end: %s\n%s", got, f.links())
	}
	f, _ = getFeed(t, n, "/streams/mc/0/forward/10")
	if got := fmt.Sprint(f.numbers()); got != "[5 4 3]" || !f.HeadOfStream {
		t.Fatalf("unexpected forward page %s", got)
	}
}
