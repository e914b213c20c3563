package httpfront

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestPingAndInfo(t *testing.T) {
	n := newTestNode(t)
	r := n.req(t, "GET", "/ping", "")
	expectStatus(t, r, 200, "")
	if r.body != "{\n  \"text\": \"Ping request successfully handled\",\n  \"msgTypeId\": 36\n}" {
		t.Fatalf("unexpected ping body %q", r.body)
	}
	if r.h("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("unexpected content type %q", r.h("Content-Type"))
	}
	r = n.req(t, "GET", "/ping", "", "Accept: text/plain")
	if r.body != "Text: Ping request successfully handled" {
		t.Fatalf("unexpected text ping %q", r.body)
	}
	r = n.req(t, "GET", "/info?format=xml", "")
	expectStatus(t, r, 200, "")
	if r.h("Content-Type") != "text/xml; charset=utf-8" || !strings.Contains(r.body, `"state": "master"`) {
		t.Fatalf("info: got %q %q", r.h("Content-Type"), r.body)
	}
}

func TestPipelineErrors(t *testing.T) {
	n := newTestNode(t)
	t.Run("unknown path is 404 with empty Allow-Methods", func(t *testing.T) {
		r := n.req(t, "GET", "/nope", "")
		expectStatus(t, r, 404, "Not Found")
		if r.h("Access-Control-Allow-Methods") != "" || r.h("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("unexpected CORS headers %v", r.hdr)
		}
	})
	t.Run("wrong method is 405 listing the methods", func(t *testing.T) {
		r := n.req(t, "PUT", "/streams/foo", "")
		expectStatus(t, r, 405, "Method Not Allowed")
		if r.h("Access-Control-Allow-Methods") != "POST, DELETE, GET, OPTIONS" {
			t.Fatalf("unexpected allow %q", r.h("Access-Control-Allow-Methods"))
		}
	})
	t.Run("OPTIONS answers 200 with CORS", func(t *testing.T) {
		r := n.req(t, "OPTIONS", "/streams/foo/1", "")
		expectStatus(t, r, 200, "")
		if r.body != "" || r.h("Access-Control-Allow-Methods") != "GET, OPTIONS" ||
			r.h("Access-Control-Expose-Headers") != "Location, ES-Position, ES-CurrentVersion" ||
			!strings.Contains(r.h("Access-Control-Allow-Headers"), "ES-RequiresMaster") {
			t.Fatalf("unexpected OPTIONS reply %v %q", r.hdr, r.body)
		}
	})
	t.Run("bad credentials are 401 even on unknown paths", func(t *testing.T) {
		r := n.req(t, "GET", "/nope", "", "@admin:wrong")
		expectStatus(t, r, 401, "Unauthorized")
		if r.h("WWW-Authenticate") != `Basic realm="ES"` {
			t.Fatalf("missing WWW-Authenticate: %v", r.hdr)
		}
	})
	t.Run("malformed Basic value is 401", func(t *testing.T) {
		r := n.req(t, "GET", "/ping", "", "Authorization: Basic !!!")
		expectStatus(t, r, 401, "Unauthorized")
	})
	t.Run("good credentials pass", func(t *testing.T) {
		expectStatus(t, n.req(t, "GET", "/ping", "", admin), 200, "")
	})
	t.Run("unknown format is 500", func(t *testing.T) {
		expectStatus(t, n.req(t, "GET", "/ping?format=yaml", ""), 500, "Internal Server Error")
	})
	t.Run("unacceptable Accept is 406", func(t *testing.T) {
		expectStatus(t, n.req(t, "GET", "/ping", "", "Accept: image/png"), 406, reasonNotAcceptable)
	})
	t.Run("POST without content type is 415", func(t *testing.T) {
		expectStatus(t, n.req(t, "POST", "/streams/foo", "[]"), 415, reasonBadContentType)
	})
	t.Run("charset other than utf-8 is 415", func(t *testing.T) {
		expectStatus(t, n.req(t, "POST", "/streams/foo", "[]", "Content-Type: application/vnd.eventstore.events+json; charset=latin1"), 415, reasonBadContentType)
	})
	t.Run("octet-stream with a charset is 415", func(t *testing.T) {
		expectStatus(t, n.req(t, "POST", "/streams/foo", "x", "Content-Type: application/octet-stream; charset=utf-8"), 415, reasonBadContentType)
	})
}

func TestWriteAndReadBack(t *testing.T) {
	n := newTestNode(t)
	body := `[{"eventId":"3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11","eventType":"OrderPlaced","data":{"orderId":17,"total":42.5},"metadata":{"user":"alice"}}]`
	r := n.req(t, "POST", "/streams/orders-17", body, "Content-Type: application/vnd.eventstore.events+json")
	expectStatus(t, r, 201, "Created")
	if r.h("Location") != "http://127.0.0.1:2113/streams/orders-17/0" {
		t.Fatalf("unexpected Location %q", r.h("Location"))
	}
	r = n.req(t, "GET", "/streams/orders-17/0", "", "Accept: application/vnd.eventstore.atom+json")
	expectStatus(t, r, 200, "")
	var e map[string]any
	if err := json.Unmarshal([]byte(r.body), &e); err != nil {
		t.Fatalf("bad JSON %v: %s", err, r.body)
	}
	c := e["content"].(map[string]any)
	if c["eventId"] != "3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11" || c["eventType"] != "OrderPlaced" || e["title"] != "0@orders-17" {
		t.Fatalf("unexpected entry %s", r.body)
	}
	if d := c["data"].(map[string]any); d["total"] != 42.5 {
		t.Fatalf("unexpected data %v", d)
	}
	if r.h("Cache-Control") != "max-age=31536000, public" || r.h("Vary") != "Accept" || r.h("ETag") != "" {
		t.Fatalf("unexpected caching headers %v", r.hdr)
	}
	r = n.req(t, "GET", "/streams/orders-17/0", "", "Accept: application/json")
	if r.body != "{\n  \"orderId\": 17,\n  \"total\": 42.5\n}" {
		t.Fatalf("unexpected data-only body %q", r.body)
	}
}
