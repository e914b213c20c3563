package httpfront

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp/fasthttputil"
)

func TestUsersRoutes(t *testing.T) {
	n := newTestNode(t)
	create := `{"loginName":"alice","fullName":"Alice","groups":["ops-team"],"password":"pw1"}`
	expectStatus(t, n.req(t, "POST", "/users/", create, "Content-Type: application/json"), 401, "")
	r := n.req(t, "POST", "/users/", create, "Content-Type: application/json", admin)
	expectStatus(t, r, 201, "")
	if r.h("Location") != "http://127.0.0.1:2113/users/alice" ||
		r.body != "{\n  \"loginName\": \"alice\",\n  \"success\": true,\n  \"error\": \"Success\",\n  \"msgTypeId\": 50\n}" {
		t.Fatalf("unexpected create reply %v %q", r.hdr, r.body)
	}
	expectStatus(t, n.req(t, "POST", "/users/", create, "Content-Type: application/json", admin), 201, "") // same password: 201 again
	expectStatus(t, n.req(t, "POST", "/users/", strings.Replace(create, "pw1", "pw2", 1), "Content-Type: application/json", admin), 409, "")
	r = n.req(t, "GET", "/users/", "", admin)
	expectStatus(t, r, 200, "")
	var list struct {
		Data []struct {
			LoginName string `json:"loginName"`
			Links     []struct{ Href, Rel string }
		} `json:"data"`
		Success bool `json:"success"`
	}
	if err := json.Unmarshal([]byte(r.body), &list); err != nil || !list.Success || len(list.Data) != 3 || list.Data[1].LoginName != "alice" {
		t.Fatalf("unexpected list %v %q", err, r.body)
	}
	if l := list.Data[1].Links; len(l) != 5 || l[4].Rel != "disable" || l[2].Href != "http://127.0.0.1:2113/users/alice" {
		t.Fatalf("unexpected links %+v", l)
	}
	expectStatus(t, n.req(t, "GET", "/ping", "", "@alice:pw1"), 200, "")
	r = n.req(t, "GET", "/users/$current", "", "@alice:pw1")
	if !strings.Contains(r.body, `"loginName": "alice"`) || !strings.Contains(r.body, `+00:00"`) {
		t.Fatalf("unexpected $current %q", r.body)
	}
	expectStatus(t, n.req(t, "GET", "/users/$current", ""), 401, "")
	expectStatus(t, n.req(t, "PUT", "/users/alice", `{"fullName":"Alice B","groups":[]}`, "Content-Type: application/json", admin), 200, "")
	expectStatus(t, n.req(t, "POST", "/users/alice/command/disable", "", admin), 200, "")
	expectStatus(t, n.req(t, "GET", "/ping", "", "@alice:pw1"), 401, "Unauthorized")
	expectStatus(t, n.req(t, "POST", "/users/alice/command/enable", "", admin), 200, "")
	expectStatus(t, n.req(t, "POST", "/users/alice/command/reset-password", `{"newPassword":"pw3"}`, "Content-Type: application/json", admin), 200, "")
	expectStatus(t, n.req(t, "GET", "/ping", "", "@alice:pw3"), 200, "")
	expectStatus(t, n.req(t, "POST", "/users/alice/command/change-password", `{"currentPassword":"bad","newPassword":"pw4"}`, "Content-Type: application/json"), 401, "")
	expectStatus(t, n.req(t, "POST", "/users/alice/command/change-password", `{"currentPassword":"pw3","newPassword":"pw4"}`, "Content-Type: application/json"), 200, "")
	expectStatus(t, n.req(t, "DELETE", "/users/alice", "", admin), 200, "")
	expectStatus(t, n.req(t, "GET", "/users/alice", "", admin), 404, "")
	expectStatus(t, n.req(t, "GET", "/ping", "", "@alice:pw4"), 401, "")
}

func TestStats(t *testing.T) {
	n := newTestNode(t)
	r := n.req(t, "GET", "/stats", "")
	expectStatus(t, r, 200, "")
	var s map[string]map[string]any
	if err := json.Unmarshal([]byte(r.body), &s); err != nil {
		t.Fatalf("stats not JSON: %v", err)
	}
	if _, ok := s["proc"]["startTime"]; !ok || s["es"]["queue"] == nil || s["sys"]["freeMem"] == nil {
		t.Fatalf("unexpected stats %q", r.body)
	}
	if r.h("Cache-Control") != "max-age=1, public" {
		t.Fatalf("unexpected Cache-Control %q", r.h("Cache-Control"))
	}
	r = n.req(t, "GET", "/stats/es/queue", "")
	if !strings.Contains(r.body, `"storageWriterQueue": {`) || !strings.Contains(r.body, `"queueName": "StorageWriterQueue"`) {
		t.Fatalf("unexpected sub-stats %q", r.body)
	}
	r = n.req(t, "GET", "/stats?group=false", "")
	if !strings.Contains(r.body, `"proc-startTime": "`) {
		t.Fatalf("unexpected flat stats %q", r.body)
	}
	expectStatus(t, n.req(t, "GET", "/stats/nope", ""), 404, "Not Found")
	expectStatus(t, n.req(t, "GET", "/stats/proc/id", ""), 404, "Not Found")
	expectStatus(t, n.req(t, "GET", "/stats/proc?group=false", ""), 400, reasonStatsNoGroup)
	expectStatus(t, n.req(t, "GET", "/stats/", ""), 200, "")
	if r := n.req(t, "GET", "/stats/tcp", ""); r.code != 200 || r.body != "[]" {
		t.Fatalf("unexpected /stats/tcp %d %q", r.code, r.body)
	}
	if r := n.req(t, "GET", "/stats/replication", ""); r.code != 200 || r.body != "[]" {
		t.Fatalf("unexpected /stats/replication %d %q", r.code, r.body)
	}
}

func TestGossipHealthMetricsAdmin(t *testing.T) {
	n := newTestNode(t)
	r := n.req(t, "GET", "/gossip", "")
	expectStatus(t, r, 200, "")
	var g struct {
		Members    []map[string]any `json:"members"`
		ServerIP   string           `json:"serverIp"`
		ServerPort int              `json:"serverPort"`
	}
	if err := json.Unmarshal([]byte(r.body), &g); err != nil || len(g.Members) != 1 || g.Members[0]["state"] != "Master" ||
		g.Members[0]["externalHttpPort"] != 2113.0 || g.ServerPort != 2112 || r.h("Cache-Control") != "max-age=0, no-cache, must-revalidate" {
		t.Fatalf("unexpected gossip %v %q", err, r.body)
	}
	expectStatus(t, n.req(t, "GET", "/health/live", ""), 200, "")
	expectStatus(t, n.req(t, "GET", "/health/ready", ""), 200, "")
	n.writeN(t, "m", 2)
	r = n.req(t, "GET", "/metrics", "")
	expectStatus(t, r, 200, "")
	for _, want := range []string{"eventstored_http_requests_total", "eventstored_store_fsync_seconds_bucket", "eventstored_store_events_written_total",
		"eventstored_store_writer_queue_length", "eventstored_http_writes_total 1"} {
		if !strings.Contains(r.body, want) {
			t.Fatalf("metrics lack %q:\n%s", want, r.body)
		}
	}
	expectStatus(t, n.req(t, "POST", "/admin/scavenge", ""), 401, "Unauthorized")
	expectStatus(t, n.req(t, "POST", "/admin/scavenge", "", "@ops:changeit"), 200, "")
	expectStatus(t, n.req(t, "POST", "/admin/shutdown", ""), 401, "Unauthorized")
	expectStatus(t, n.req(t, "POST", "/admin/shutdown", "", admin), 200, "")
	select {
	case <-n.shut:
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown func was not called")
	}
}

func TestRouteGroupsFollowOptions(t *testing.T) {
	off := newTestNode(t, func(d *Deps) { d.Options.AdminOnExt, d.Options.StatsOnExt, d.Options.GossipOnExt = false, false, false })
	for _, p := range []string{"/stats", "/gossip"} {
		expectStatus(t, off.req(t, "GET", p, ""), 404, "Not Found")
	}
	expectStatus(t, off.req(t, "POST", "/admin/shutdown", "", admin), 404, "Not Found")
	internal := newTestNode(t, func(d *Deps) {
		d.Interface = Internal
		d.Options.AdminOnExt, d.Options.StatsOnExt, d.Options.GossipOnExt = false, false, false
	})
	expectStatus(t, internal.req(t, "GET", "/stats", ""), 200, "")
	expectStatus(t, internal.req(t, "GET", "/gossip", ""), 200, "")
}

func TestTrustedAuth(t *testing.T) {
	n := newTestNode(t, func(d *Deps) { d.Options.EnableTrustedAuth = true })
	expectStatus(t, n.req(t, "GET", "/streams/%24all", "", acceptAtomJSON, "ES-TrustedAuth: bob; $admins"), 200, "")
	expectStatus(t, n.req(t, "GET", "/streams/%24all", "", acceptAtomJSON, "ES-TrustedAuth: bob"), 401, "")
	expectStatus(t, n.req(t, "GET", "/ping", "", "ES-TrustedAuth: a;b;c"), 401, "")
	plain := newTestNode(t)
	expectStatus(t, plain.req(t, "GET", "/streams/%24all", "", acceptAtomJSON, "ES-TrustedAuth: bob; $admins"), 401, "")
}

func TestServerLimits(t *testing.T) {
	n := newTestNode(t)
	// A second server with small limits, on an in-memory listener (a TCP
	// peer could see the reply lost to the reset of an early close).
	srv := newFastHTTPServer(Config{Name: "limits", MaxRequestBodySize: 1024, ReadBufferSize: 4096}, n.h.RequestHandler())
	ln := fasthttputil.NewInmemoryListener()
	go srv.Serve(ln) //nolint:errcheck
	defer ln.Close()
	exchange := func(req string) string {
		c, err := ln.Dial()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go io.WriteString(c, req)                           //nolint:errcheck
		c.SetReadDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck
		b, _ := io.ReadAll(c)
		return string(b)
	}
	body := strings.Repeat("x", 4096)
	got := exchange("POST /streams/lim HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nES-EventType: T\r\n" +
		"ES-EventId: 6f1c2a70-88b4-4b8e-b0d3-5e9f1a2c4d70\r\nContent-Length: 4096\r\n\r\n" + body)
	if !strings.HasPrefix(got, "HTTP/1.1 413 ") || !strings.Contains(got, "Access-Control-Allow-Origin: *") {
		t.Fatalf("oversized body: got %q", got)
	}
	got = exchange("GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("y", 8192) + "\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 431 ") {
		t.Fatalf("oversized headers: got %q", got)
	}
	got = exchange("GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 200 ") {
		t.Fatalf("server unusable after limits: %q", got)
	}
	expectStatus(t, n.req(t, "GET", "/streams/lim", "", acceptAtomJSON), 404, "Not Found")
}

func TestInfoOptionsHistogramWebRoutes(t *testing.T) {
	n := newTestNode(t, func(d *Deps) {
		d.InfoOptions = func() any {
			return []map[string]string{{"name": "ExtHttpPort", "value": "2113"}}
		}
	})
	expectStatus(t, n.req(t, "GET", "/info/options", ""), 401, "Unauthorized")
	r := n.req(t, "GET", "/info/options", "", admin)
	expectStatus(t, r, 200, "")
	if !strings.Contains(r.body, `"name": "ExtHttpPort"`) {
		t.Fatalf("unexpected options %q", r.body)
	}
	expectStatus(t, n.req(t, "GET", "/histogram/writer-flush", ""), 404, "Not found")
	r = n.req(t, "GET", "/", "")
	expectStatus(t, r, 302, "Found")
	if r.h("Location") != "http://127.0.0.1:2113/web/index.html" || r.body != "Moved" {
		t.Fatalf("unexpected root redirect %v %q", r.hdr, r.body)
	}
	expectStatus(t, n.req(t, "GET", "/web/index.html", ""), 404, "Not Found")
	r = n.req(t, "GET", "/sys/subsystems", "")
	if r.code != 200 || r.body != "[]" {
		t.Fatalf("unexpected subsystems %d %q", r.code, r.body)
	}
}
