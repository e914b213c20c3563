package httpfront

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

const evBody = `[{"eventId":"3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11","eventType":"OrderPlaced","data":{"a":1}}]`

func TestWriteErrors(t *testing.T) {
	n := newTestNode(t)
	big := `[{"eventId":"3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11","eventType":"Big","data":"` + strings.Repeat("x", 4*1024*1024+1) + `"}]`
	cases := []struct {
		name   string
		body   string
		hdrs   []string
		code   int
		reason string
	}{
		{"malformed JSON", `[{"eventId":`, []string{ctEvents}, 400, reasonBodyInvalid},
		{"single object instead of array", `{"eventId":"3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11","eventType":"x"}`, []string{ctEvents}, 400, reasonBodyInvalid},
		{"empty array", `[]`, []string{ctEvents}, 400, reasonBodyInvalid},
		{"bad guid in body", `[{"eventId":"nope","eventType":"x"}]`, []string{ctEvents}, 400, reasonBodyInvalid},
		{"missing event id", `[{"eventType":"x","data":{}}]`, []string{ctEvents}, 400, reasonEmptyEventID},
		{"all-zero event id", `[{"eventId":"00000000-0000-0000-0000-000000000000","eventType":"x"}]`, []string{ctEvents}, 400, reasonEmptyEventID},
		{"missing event type", `[{"eventId":"3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11","data":{}}]`, []string{ctEvents}, 400, reasonEmptyEventType},
		{"unsupported media type", evBody, []string{"Content-Type: text/plain"}, 415, reasonBadContentType},
		{"single-event type without ES-EventType", `{"a":1}`, []string{"Content-Type: application/json"}, 400, reasonNeedEventType},
		{"bad ES-EventId", `{"a":1}`, []string{"Content-Type: application/json", "ES-EventType: T", "ES-EventId: nope"}, 400, "ES-EventId header in wrong format."},
		{"bad ES-ExpectedVersion", evBody, []string{ctEvents, "ES-ExpectedVersion: abc"}, 400, "ES-ExpectedVersion header in wrong format."},
		{"ES-ExpectedVersion below -4", evBody, []string{ctEvents, "ES-ExpectedVersion: -5"}, 400, "ES-ExpectedVersion header in wrong format."},
		{"ES-ExpectedVersion -3", evBody, []string{ctEvents, "ES-ExpectedVersion: -3"}, 400, "ES-ExpectedVersion header in wrong format."},
		{"bad ES-RequireMaster", evBody, []string{ctEvents, "ES-RequireMaster: 1"}, 400, "ES-RequireMaster header in wrong format."},
		{"stream description is never parsed", `[]`, []string{"Content-Type: application/vnd.eventstore.streamdesc+json"}, 400, reasonBodyInvalid},
		{"event over 4 MiB", big, []string{ctEvents}, 413, reasonTooLarge},
		{"system stream needs admin", evBody, []string{ctEvents}, 401, "Unauthorized"},
	}
	for _, c := range cases {
		stream := "/streams/we"
		if c.name == "system stream needs admin" {
			stream = "/streams/$sys"
		}
		r := n.req(t, "POST", stream, c.body, c.hdrs...)
		if r.code != c.code || r.reason != c.reason {
			t.Errorf("%s: got %d %q; want %d %q", c.name, r.code, r.reason, c.code, c.reason)
		}
		if c.code == 401 && r.h("WWW-Authenticate") != `Basic realm="ES"` {
			t.Errorf("%s: 401 without WWW-Authenticate", c.name)
		}
	}
	// Nothing was written by any of them.
	expectStatus(t, n.req(t, "GET", "/streams/we", "", acceptAtomJSON), 404, "Not Found")
}

func TestWriteExpectedVersion(t *testing.T) {
	n := newTestNode(t)
	expectStatus(t, n.req(t, "POST", "/streams/ev", evBody, ctEvents, "ES-ExpectedVersion: -1"), 201, "Created")
	r := n.req(t, "POST", "/streams/ev", strings.Replace(evBody, "3b0a", "4b0a", 1), ctEvents, "ES-ExpectedVersion: 5")
	expectStatus(t, r, 400, reasonWrongExpected)
	if r.h("ES-CurrentVersion") != "0" {
		t.Fatalf("unexpected ES-CurrentVersion %q", r.h("ES-CurrentVersion"))
	}
	r = n.req(t, "POST", "/streams/ev", strings.Replace(evBody, "3b0a", "4b0a", 1), ctEvents, "ES-ExpectedVersion: 0")
	expectStatus(t, r, 201, "Created")
	if r.h("Location") != "http://127.0.0.1:2113/streams/ev/1" {
		t.Fatalf("unexpected Location %q", r.h("Location"))
	}
	// Header names are sent exactly as the original spells them.
	raw := n.rawExchange(t, "POST /streams/ev HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.eventstore.events+json\r\n"+
		"ES-ExpectedVersion: 9\r\nContent-Length: "+itoa(len(evBody))+"\r\nConnection: close\r\n\r\n"+evBody)
	if !strings.HasPrefix(raw, "HTTP/1.1 400 Wrong expected EventNumber\r\n") || !strings.Contains(raw, "\r\nES-CurrentVersion: 1\r\n") ||
		!strings.Contains(raw, "\r\nAccess-Control-Allow-Origin: *\r\n") {
		t.Fatalf("unexpected raw reply %q", raw)
	}
	// An idempotent repeat answers with the original number.
	r = n.req(t, "POST", "/streams/ev", evBody, ctEvents, "ES-ExpectedVersion: -1")
	expectStatus(t, r, 201, "Created")
	if r.h("Location") != "http://127.0.0.1:2113/streams/ev/0" {
		t.Fatalf("unexpected Location of an idempotent repeat %q", r.h("Location"))
	}
}

func TestWriteSingleEventMediaTypesAndRedirect(t *testing.T) {
	n := newTestNode(t)
	// No ES-EventId: 307 to an idempotent URI, body not read.
	r := n.req(t, "POST", "/streams/single", `{"x":1}`, "Content-Type: application/json", "ES-EventType: Thing")
	expectStatus(t, r, 307, "Temporary Redirect")
	loc := r.h("Location")
	if !strings.HasPrefix(loc, "http://127.0.0.1:2113/streams/single/incoming/") || len(loc) != len("http://127.0.0.1:2113/streams/single/incoming/")+36 ||
		r.body != "Forwarding to idempotent URI" {
		t.Fatalf("unexpected redirect %q %q", loc, r.body)
	}
	path := strings.TrimPrefix(loc, "http://127.0.0.1:2113")
	for i := 0; i < 2; i++ { // repeating is idempotent
		r = n.req(t, "POST", path, `{"x":1}`, "Content-Type: application/json", "ES-EventType: Thing")
		expectStatus(t, r, 201, "Created")
		if r.h("Location") != "http://127.0.0.1:2113/streams/single/0" {
			t.Fatalf("unexpected Location %q", r.h("Location"))
		}
	}
	expectStatus(t, n.req(t, "POST", "/streams/single/incoming/nope", `{}`, "Content-Type: application/json", "ES-EventType: T"), 400, reasonBadGUID)
	expectStatus(t, n.req(t, "POST", path, `x`, "Content-Type: application/octet-stream", "ES-EventType: T"), 415, reasonBadContentType)
	expectStatus(t, n.req(t, "POST", "/streams/single/incoming/6f1c2a70-88b4-4b8e-b0d3-5e9f1a2c4d70", `{}`, "Content-Type: application/json"), 400, reasonEmptyEventType)
	// Octet stream with an id: raw bytes, read back raw.
	r = n.req(t, "POST", "/streams/single", "\x00\x01raw", "Content-Type: application/octet-stream", "ES-EventType: Blob",
		"ES-EventId: {6f1c2a70-88b4-4b8e-b0d3-5e9f1a2c4d70}")
	expectStatus(t, r, 201, "Created")
	r = n.req(t, "GET", "/streams/single/1", "", "Accept: application/octet-stream")
	if r.body != "\x00\x01raw" || r.h("Content-Type") != "application/octet-stream" {
		t.Fatalf("unexpected octet read %q %q", r.body, r.h("Content-Type"))
	}
	// Non-JSON data as application/json is a JSON string.
	r = n.req(t, "GET", "/streams/single/1", "", "Accept: application/json")
	if r.body != `"\u0000\u0001raw"` {
		t.Fatalf("unexpected json read %q", r.body)
	}
	// XML batch.
	xml := `<events><event><eventId>0d4f3b2e-5c1a-4e7b-8f90-1a2b3c4d5e6f</eventId><eventType>OrderPlaced</eventType>` +
		`<data><orderId>17</orderId><total>42.5</total></data><metadata>plain text</metadata></event></events>`
	expectStatus(t, n.req(t, "POST", "/streams/single", xml, "Content-Type: application/vnd.eventstore.events+xml"), 201, "Created")
	r = n.req(t, "GET", "/streams/single/2", "", "Accept: application/vnd.eventstore.event+json")
	var c map[string]any
	if err := json.Unmarshal([]byte(r.body), &c); err != nil {
		t.Fatalf("bad JSON %v %q", err, r.body)
	}
	if d, ok := c["data"].(map[string]any); !ok || d["orderId"] != "17" || c["eventId"] != "0d4f3b2e-5c1a-4e7b-8f90-1a2b3c4d5e6f" {
		t.Fatalf("unexpected XML-written event %v", c)
	}
	expectStatus(t, n.req(t, "POST", "/streams/single", `<events><event>`, "Content-Type: application/vnd.eventstore.events+xml"), 400, reasonBodyInvalid)
}

func TestWriteDataConversion(t *testing.T) {
	n := newTestNode(t)
	body := `[{"eventId":"3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11","eventType":"T","data":[1,2],"metadata":"free text"},
		{"eventId":"4b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11","eventType":"T","data":"just text"},
		{"eventId":"5b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11","eventType":"T","data":42}]`
	expectStatus(t, n.req(t, "POST", "/streams/conv", body, ctEvents), 201, "")
	f, _ := getFeed(t, n, "/streams/conv/0/forward/3?embed=body")
	byNum := map[float64]map[string]any{}
	for _, e := range f.Entries {
		byNum[e["eventNumber"].(float64)] = e
	}
	if byNum[0]["data"] != "[\n  1,\n  2\n]" || byNum[0]["isJson"] != true || byNum[0]["metaData"] != "free text" {
		t.Fatalf("array data: %v", byNum[0])
	}
	if _, ok := byNum[1]["data"]; ok || byNum[1]["isJson"] != false {
		t.Fatalf("text data of a non-JSON event is not shown at Body: %v", byNum[1])
	}
	r := n.req(t, "GET", "/streams/conv/1", "", "Accept: application/octet-stream")
	if r.body != "just text" {
		t.Fatalf("unexpected text data %q", r.body)
	}
	r = n.req(t, "GET", "/streams/conv/2", "", "Accept: application/octet-stream")
	if r.body != "" {
		t.Fatalf("numbers store nothing; got %q", r.body)
	}
}

func TestDelete(t *testing.T) {
	n := newTestNode(t)
	n.writeN(t, "del", 2)
	expectStatus(t, n.req(t, "DELETE", "/streams/del", "", "ES-ExpectedVersion: 7"), 400, reasonWrongExpected)
	expectStatus(t, n.req(t, "DELETE", "/streams/del", "", "ES-HardDelete: perhaps"), 400, "ES-HardDelete header in wrong format.")
	expectStatus(t, n.req(t, "DELETE", "/streams/del", "", "ES-ExpectedVersion: x"), 400, "ES-ExpectedVersion header in wrong format.")
	expectStatus(t, n.req(t, "DELETE", "/streams/$sys", ""), 401, "Unauthorized")
	r := n.req(t, "DELETE", "/streams/del", "", "ES-ExpectedVersion: 1")
	expectStatus(t, r, 204, "Stream deleted")
	if r.h("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("unexpected content type %q", r.h("Content-Type"))
	}
	// Soft-deleted: a later append recreates it, numbering continues.
	n.writeN(t, "del", 1)
	f, _ := getFeed(t, n, "/streams/del")
	if got := f.numbers(); len(got) != 1 || got[0] != 2 {
		t.Fatalf("unexpected recreated stream %v", got)
	}
}

func TestSingleEventRead(t *testing.T) {
	n := newTestNode(t)
	n.writeN(t, "se", 3)
	r := n.req(t, "GET", "/streams/se/head", "", acceptAtomJSON)
	expectStatus(t, r, 200, "")
	if r.h("ETag") != `"2;-2060438500"` || r.h("Cache-Control") != "max-age=0, no-cache, must-revalidate" || !strings.Contains(r.body, `"title": "2@se"`) {
		t.Fatalf("unexpected head read %v %q", r.hdr, r.body)
	}
	r = n.req(t, "GET", "/streams/se/1?embed=rich", "", acceptAtomJSON)
	var e map[string]any
	json.Unmarshal([]byte(r.body), &e) //nolint:errcheck
	if e["eventNumber"] != 1.0 || e["content"] == nil {
		t.Fatalf("single-event reads carry content at every level: %s", r.body)
	}
	r = n.req(t, "GET", "/streams/se/1", "")
	if r.h("Content-Type") != "application/atom+xml; charset=utf-8" || !strings.HasPrefix(r.body, `<?xml version="1.0" encoding="utf-8"?><entry xmlns="http://www.w3.org/2005/Atom"><title>1@se</title>`) ||
		!strings.Contains(r.body, `<content type="application/xml"><eventStreamId>se</eventStreamId><eventNumber>1</eventNumber>`) {
		t.Fatalf("unexpected default (atom xml) entry %q", r.body)
	}
	for _, c := range []struct {
		path   string
		code   int
		reason string
	}{
		{"/streams/se/9", 404, "Not Found"}, {"/streams/nope/0", 404, "Not Found"},
		{"/streams/se/x1", 400, "'x1' is not valid event number"}, {"/streams/se/-1", 400, "'-1' is not valid event number"},
	} {
		expectStatus(t, n.req(t, "GET", c.path, "", acceptAtomJSON), c.code, c.reason)
	}
	// Cached responses stay correct after a soft delete (new metadata).
	expectStatus(t, n.req(t, "GET", "/streams/se/0", "", acceptAtomJSON), 200, "")
	expectStatus(t, n.req(t, "GET", "/streams/se/0", "", acceptAtomJSON), 200, "")
	expectStatus(t, n.req(t, "DELETE", "/streams/se", ""), 204, "")
	expectStatus(t, n.req(t, "GET", "/streams/se/0", "", acceptAtomJSON), 404, "Not Found")
}

func TestMetadataRoutes(t *testing.T) {
	n := newTestNode(t)
	expectStatus(t, n.req(t, "GET", "/streams/md/metadata", "", "Accept: application/json"), 404, "Not Found")
	n.writeN(t, "md", 1)
	r := n.req(t, "GET", "/streams/md/metadata", "", "Accept: application/json")
	expectStatus(t, r, 200, "")
	if r.body != "{}" {
		t.Fatalf("metadata of a stream without metadata is {}; got %q", r.body)
	}
	expectStatus(t, n.req(t, "POST", "/streams/md/metadata", `{"$maxCount":3}`, "Content-Type: application/json"), 400, reasonEmptyEventID)
	expectStatus(t, n.req(t, "POST", "/streams/md/metadata", `{"$maxCount":3}`, "Content-Type: application/json",
		"ES-EventId: 6f1c2a70-88b4-4b8e-b0d3-5e9f1a2c4d70", "ES-EventType: other"), 400, reasonMetaEventType)
	expectStatus(t, n.req(t, "POST", "/streams/$$md/metadata", `{}`, "Content-Type: application/json",
		"ES-EventId: 6f1c2a70-88b4-4b8e-b0d3-5e9f1a2c4d70"), 400, reasonMetaWriteStream)
	expectStatus(t, n.req(t, "GET", "/streams/$$md/metadata", "", "Accept: application/json"), 400, reasonMetaReadStream)
	r = n.req(t, "POST", "/streams/md/metadata", `{"$maxCount":3,"$cacheControl":60}`, "Content-Type: application/json",
		"ES-EventId: 6f1c2a70-88b4-4b8e-b0d3-5e9f1a2c4d70")
	expectStatus(t, r, 201, "Created")
	if r.h("Location") != "http://127.0.0.1:2113/streams/%24%24md/0" {
		t.Fatalf("unexpected Location %q", r.h("Location"))
	}
	r = n.req(t, "GET", "/streams/md/metadata", "", "Accept: application/json")
	if !strings.Contains(r.body, `"$maxCount": 3`) {
		t.Fatalf("unexpected metadata %q", r.body)
	}
	// $cacheControl drives Cache-Control of head reads.
	r = n.req(t, "GET", "/streams/md/head", "", acceptAtomJSON)
	if r.h("Cache-Control") != "max-age=60, public" {
		t.Fatalf("unexpected Cache-Control with $cacheControl %q", r.h("Cache-Control"))
	}
	f, _ := getFeed(t, n, "/streams/md/metadata/0/forward/5")
	if len(f.Entries) != 1 || f.Links[len(f.Links)-1].URI != "http://127.0.0.1:2113/streams/%24%24md/metadata" {
		t.Fatalf("unexpected metadata feed %+v", f)
	}
}

func TestTrailingSlashRedirect(t *testing.T) {
	n := newTestNode(t)
	r := n.req(t, "GET", "/streams/foo/?embed=body", "")
	expectStatus(t, r, 307, "")
	if r.h("Location") != "http://127.0.0.1:2113/streams/foo?embed=body" || r.body != "Moved Permanently" ||
		r.h("Cache-Control") != "max-age=31536000, public" {
		t.Fatalf("unexpected redirect %v %q", r.hdr, r.body)
	}
	expectStatus(t, n.req(t, "GET", "/streams/%24all/", ""), 307, "")
}

func TestLinksHonourAdvertiseAndForwardedHeaders(t *testing.T) {
	n := newTestNode(t, func(d *Deps) { d.Options.AdvertiseIP = "10.0.0.5"; d.Options.AdvertiseHTTPPort = 2117 })
	r := n.req(t, "POST", "/streams/adv", evBody, ctEvents)
	if r.h("Location") != "http://10.0.0.5:2117/streams/adv/0" {
		t.Fatalf("unexpected advertised Location %q", r.h("Location"))
	}
	r = n.req(t, "POST", "/streams/adv", strings.Replace(evBody, "3b0a", "4b0a", 1), ctEvents,
		"X-Forwarded-Host: proxy.example:8443, other", "X-Forwarded-Proto: https")
	if r.h("Location") != "https://proxy.example:8443/streams/adv/1" {
		t.Fatalf("unexpected forwarded Location %q", r.h("Location"))
	}
	r = n.req(t, "POST", "/streams/adv", strings.Replace(evBody, "3b0a", "5b0a", 1), ctEvents, "X-Forwarded-Port: 80")
	if r.h("Location") != "http://10.0.0.5/streams/adv/2" {
		t.Fatalf("default port must be omitted: %q", r.h("Location"))
	}
	r = n.req(t, "POST", "/streams/adv", strings.Replace(evBody, "3b0a", "6b0a", 1), ctEvents, "X-Forwarded-Host: <script>")
	if r.h("Location") != "http://10.0.0.5:2117/streams/adv/3" {
		t.Fatalf("hostile X-Forwarded-Host must be ignored: %q", r.h("Location"))
	}
}

func TestLongPollWakesOnWrite(t *testing.T) {
	n := newTestNode(t)
	n.writeN(t, "lp", 1)
	var wg sync.WaitGroup
	var got *resp
	wg.Add(1)
	go func() {
		defer wg.Done()
		got = n.req(t, "GET", "/streams/lp/1/forward/10", "", acceptAtomJSON, "ES-LongPoll: 30")
	}()
	// Wait until the request is parked, then write.
	deadline := time.Now().Add(10 * time.Second)
	for n.h.parked.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("long poll never parked")
		}
		time.Sleep(time.Millisecond)
	}
	n.writeN(t, "lp", 1)
	wg.Wait()
	expectStatus(t, got, 200, "")
	var f feedJSON
	json.Unmarshal([]byte(got.body), &f) //nolint:errcheck
	if len(f.Entries) != 1 || f.Entries[0]["title"] != "1@lp" {
		t.Fatalf("long poll did not return the new event: %s", got.body)
	}
}

func TestLongPollAllWakesOnAnyCommit(t *testing.T) {
	n := newTestNode(t)
	n.writeN(t, "lpa", 1)
	// The forward position after the last event: follow the head page's
	// previous link.
	f, _ := getFeed(t, n, "/streams/%24all/head/backward/1", admin)
	var prev string
	for _, l := range f.Links {
		if l.Relation == "previous" {
			prev = strings.TrimPrefix(l.URI, "http://127.0.0.1:2113")
		}
	}
	if prev == "" {
		t.Fatalf("no previous link: %s", f.links())
	}
	var wg sync.WaitGroup
	var got *resp
	wg.Add(1)
	go func() {
		defer wg.Done()
		got = n.req(t, "GET", prev, "", acceptAtomJSON, admin, "ES-LongPoll: 30")
	}()
	deadline := time.Now().Add(10 * time.Second)
	for n.h.parked.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("long poll on $all never parked")
		}
		time.Sleep(time.Millisecond)
	}
	n.writeN(t, "other-stream", 1)
	wg.Wait()
	expectStatus(t, got, 200, "")
	var page feedJSON
	json.Unmarshal([]byte(got.body), &page) //nolint:errcheck
	if len(page.Entries) != 1 || page.Entries[0]["title"] != "0@other-stream" {
		t.Fatalf("long poll on $all did not return the new event: %s", got.body)
	}
}

// TestConcurrentWritersOneWins races 16 writers with the same expected
// version: exactly one write succeeds, the others see the new version.
// Readers run alongside and must always see a consistent prefix.
func TestConcurrentWritersOneWins(t *testing.T) {
	n := newTestNode(t)
	n.writeN(t, "race", 1)
	var wg sync.WaitGroup
	codes := make([]*resp, 16)
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for i := 0; i < 4; i++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := n.req(t, "GET", "/streams/race/0/forward/10", "", acceptAtomJSON)
				var f feedJSON
				if r.code != 200 || json.Unmarshal([]byte(r.body), &f) != nil {
					t.Errorf("read during writes: %d %q", r.code, r.body)
					return
				}
				for k, num := range f.numbers() {
					if num != len(f.Entries)-1-k {
						t.Errorf("inconsistent page %v", f.numbers())
						return
					}
				}
			}
		}()
	}
	for i := range codes {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := newGUID()
			body := `[{"eventId":"` + string(appendGUID(nil, &id)) + `","eventType":"Race","data":{}}]`
			codes[i] = n.req(t, "POST", "/streams/race", body, ctEvents, "ES-ExpectedVersion: 0")
		}(i)
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	won := 0
	for _, r := range codes {
		switch {
		case r.code == 201:
			won++
		case r.code == 400 && r.reason == reasonWrongExpected && r.h("ES-CurrentVersion") == "1":
		default:
			t.Fatalf("unexpected reply %d %q %v", r.code, r.reason, r.hdr)
		}
	}
	if won != 1 {
		t.Fatalf("%d writers won; want exactly 1", won)
	}
}

// TestCachedEventHonoursACLChanges: a cached response must not be served
// once the stream's ACL forbids the caller, and Cache-Control follows who
// may read the stream (public vs private).
func TestCachedEventHonoursACLChanges(t *testing.T) {
	n := newTestNode(t)
	n.writeN(t, "acl", 1)
	for i := 0; i < 2; i++ {
		r := n.req(t, "GET", "/streams/acl/0", "", acceptAtomJSON)
		expectStatus(t, r, 200, "")
		if r.h("Cache-Control") != "max-age=31536000, public" {
			t.Fatalf("unexpected Cache-Control %q", r.h("Cache-Control"))
		}
	}
	expectStatus(t, n.req(t, "POST", "/streams/acl/metadata", `{"$acl":{"$r":"$admins"}}`, "Content-Type: application/json",
		"ES-EventId: 6f1c2a70-88b4-4b8e-b0d3-5e9f1a2c4d76"), 201, "")
	expectStatus(t, n.req(t, "GET", "/streams/acl/0", "", acceptAtomJSON), 401, "Unauthorized")
	r := n.req(t, "GET", "/streams/acl/0", "", acceptAtomJSON, admin)
	expectStatus(t, r, 200, "")
	if r.h("Cache-Control") != "max-age=31536000, private" {
		t.Fatalf("a stream anonymous cannot read is private; got %q", r.h("Cache-Control"))
	}
}
