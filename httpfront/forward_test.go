package httpfront

import (
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/eventstored/eventstored/cluster"
)

// Request handling on followers (spec cluster-and-options §7.3): a
// follower Handler whose Cluster view names a "master" that is another
// real Handler served on a loopback TCP port.

// serveTCP serves n's handler on a loopback TCP port as well (the
// master's internal HTTP) and returns the address.
func serveTCP(t *testing.T, n *testNode) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newFastHTTPServer(Config{Name: "master internal HTTP"}, n.h.RequestHandler())
	go srv.Serve(ln)                     //nolint:errcheck
	t.Cleanup(func() { srv.Shutdown() }) //nolint:errcheck
	return netip.MustParseAddrPort(ln.Addr().String())
}

var masterExt = netip.MustParseAddrPort("10.0.0.1:2113")

// follower returns a follower whose view is *view (changeable by the test).
func follower(t *testing.T, view *atomic.Pointer[ClusterView]) *testNode {
	return newSubsNode(t, func(d *Deps) { d.Cluster = func() ClusterView { return *view.Load() } })
}

const fwdBody = `[{"eventId":"fbc0f9a2-1a0b-4c4b-9a4e-6f7c1b0c0001","eventType":"E","data":{"a":1}}]`

// TestFollowerProxiesAndRedirects: writes, deletes, metadata writes,
// persistent subscription and user management are proxied to the
// master; with ES-RequireMaster: True writes and reads get 307 to the
// master's advertised external HTTP; plain reads are served locally; a
// bad ES-RequireMaster value is 400.
func TestFollowerProxiesAndRedirects(t *testing.T) {
	master := newSubsNode(t)
	var view atomic.Pointer[ClusterView]
	view.Store(&ClusterView{State: cluster.StateSlave, MasterExternalHTTP: masterExt, MasterInternalHTTP: serveTCP(t, master)})
	f := follower(t, &view)
	evJSON := "Content-Type: application/vnd.eventstore.events+json"

	// A write is proxied: the master stores it; its links name the host
	// the client used (X-Forwarded-Host).
	r := f.req(t, "POST", "/streams/px", fwdBody, evJSON, admin)
	expectStatus(t, r, 201, "Created")
	if r.h("Location") != "http://127.0.0.1:2113/streams/px/0" {
		t.Fatalf("Location %q", r.h("Location"))
	}
	expectStatus(t, master.req(t, "GET", "/streams/px/0", "", "Accept: application/json"), 200, "")
	// The follower's own store does not have it: reads are local.
	expectStatus(t, f.req(t, "GET", "/streams/px/0", "", "Accept: application/json"), 404, "")
	// The master's verdicts are relayed (wrong expected version).
	expectStatus(t, f.req(t, "POST", "/streams/px", fwdBody[:len(fwdBody)-3]+`2}}]`, evJSON, "ES-ExpectedVersion: 5", admin), 400, "Wrong expected EventNumber")
	// Credentials are the master's to check: $ streams need admin.
	expectStatus(t, f.req(t, "POST", "/streams/$px", fwdBody, evJSON), 401, "")
	expectStatus(t, f.req(t, "POST", "/streams/px/metadata", `{"$maxCount":5}`, "Content-Type: application/json",
		"ES-EventId: fbc0f9a2-1a0b-4c4b-9a4e-6f7c1b0c0009", admin), 201, "")
	expectStatus(t, master.req(t, "GET", "/streams/px/metadata", "", "Accept: application/json", admin), 200, "")

	// ES-RequireMaster: True → 307 to the master's advertised external HTTP.
	r = f.req(t, "POST", "/streams/px?embed=body", fwdBody, evJSON, "ES-RequireMaster: True", admin)
	expectStatus(t, r, 307, "")
	if r.h("Location") != "http://10.0.0.1:2113/streams/px?embed=body" {
		t.Fatalf("redirect Location %q", r.h("Location"))
	}
	r = f.req(t, "GET", "/streams/px/0", "", "Accept: application/json", "ES-RequireMaster: true")
	expectStatus(t, r, 307, "")
	if r.h("Location") != "http://10.0.0.1:2113/streams/px/0" {
		t.Fatalf("read redirect Location %q", r.h("Location"))
	}
	expectStatus(t, f.req(t, "GET", "/streams/px/0", "", "ES-RequireMaster: sometimes"), 400, "ES-RequireMaster header in wrong format.")
	expectStatus(t, f.req(t, "POST", "/streams/px", fwdBody, evJSON, "ES-RequireMaster: 1"), 400, "ES-RequireMaster header in wrong format.")

	// Persistent subscriptions and users live on the master.
	r = f.req(t, "PUT", "/subscriptions/px/g", `{"startFrom":0}`, "Content-Type: application/json", admin)
	expectStatus(t, r, 201, "")
	expectStatus(t, master.req(t, "GET", "/subscriptions/px/g/info", "", "Accept: application/json", admin), 200, "")
	expectStatus(t, f.req(t, "GET", "/subscriptions/px/g/info", "", "Accept: application/json", admin), 200, "")
	create := `{"loginName":"bob","fullName":"Bob","groups":[],"password":"pw"}`
	expectStatus(t, f.req(t, "POST", "/users/", create, "Content-Type: application/json", admin), 201, "")
	expectStatus(t, master.req(t, "GET", "/users/bob", "", "Accept: application/json", admin), 200, "")
	// ES-RequireMaster means nothing to them: proxied whatever its value.
	expectStatus(t, f.req(t, "GET", "/users/bob", "", "Accept: application/json", "ES-RequireMaster: maybe", admin), 200, "")

	// A request another node proxied here is not sent on (a second
	// follower would bounce it back during an election).
	expectStatus(t, f.req(t, "POST", "/streams/px", fwdBody, evJSON, "ES-Forwarded: 1", admin), 503, "Server Is Not Ready")

	// Delete, proxied.
	expectStatus(t, f.req(t, "DELETE", "/streams/px", "", admin), 204, "")
	expectStatus(t, master.req(t, "GET", "/streams/px/0", "", "Accept: application/json"), 404, "")

	expectStatus(t, f.req(t, "GET", "/health/ready", ""), 200, "")
	// Node-local routes stay local; /info reports the real state.
	r = f.req(t, "GET", "/info", "", "Accept: application/json")
	if !strings.Contains(r.body, `"state": "slave"`) && !strings.Contains(r.body, `"state":"slave"`) {
		t.Fatalf("/info %s", r.body)
	}
	if got := testutilCounter(f.h.metrics.httpProxied); got != 9 {
		t.Fatalf("proxied counter %v", got)
	}
}

// TestFollowerNotReady: Unknown serves reads and refuses writes and
// master-only requests with 503; Initializing/PreMaster refuse all but
// node-local routes; a replica without a known master cannot proxy; an
// unreachable master is 500 "Error while forwarding request".
func TestFollowerNotReady(t *testing.T) {
	var view atomic.Pointer[ClusterView]
	view.Store(&ClusterView{State: cluster.StateUnknown})
	f := follower(t, &view)
	evJSON := "Content-Type: application/vnd.eventstore.events+json"
	expectStatus(t, f.req(t, "POST", "/streams/nr", fwdBody, evJSON, admin), 503, "Server Is Not Ready")
	expectStatus(t, f.req(t, "GET", "/streams/nr/0", "", "Accept: application/json"), 404, "")
	expectStatus(t, f.req(t, "GET", "/streams/nr/0", "", "Accept: application/json", "ES-RequireMaster: True"), 503, "Server Is Not Ready")
	expectStatus(t, f.req(t, "PUT", "/subscriptions/nr/g", `{}`, "Content-Type: application/json", admin), 503, "Server Is Not Ready")
	if r := f.req(t, "GET", "/info", "", "Accept: application/json"); !strings.Contains(r.body, "unknown") {
		t.Fatalf("/info %s", r.body)
	}
	expectStatus(t, f.req(t, "GET", "/health/ready", ""), 503, "Not ready")

	for _, st := range []cluster.VNodeState{cluster.StateInitializing, cluster.StatePreMaster, cluster.StateShuttingDown} {
		view.Store(&ClusterView{State: st})
		expectStatus(t, f.req(t, "GET", "/streams/nr/0", "", "Accept: application/json"), 503, "Server Is Not Ready")
		expectStatus(t, f.req(t, "POST", "/streams/nr", fwdBody, evJSON, admin), 503, "Server Is Not Ready")
		expectStatus(t, f.req(t, "GET", "/ping", ""), 200, "")
		if r := f.req(t, "GET", "/info", "", "Accept: application/json"); !strings.Contains(r.body, st.InfoName()) {
			t.Fatalf("/info in %v: %s", st, r.body)
		}
	}

	view.Store(&ClusterView{State: cluster.StateCatchingUp})
	expectStatus(t, f.req(t, "POST", "/streams/nr", fwdBody, evJSON, admin), 503, "Server Is Not Ready")
	expectStatus(t, f.req(t, "POST", "/streams/nr", fwdBody, evJSON, "ES-RequireMaster: True", admin), 503, "Server Is Not Ready")

	// A master whose internal HTTP does not answer (a closed port).
	dead := closedAddr(t)
	view.Store(&ClusterView{State: cluster.StateSlave, MasterExternalHTTP: masterExt, MasterInternalHTTP: dead})
	expectStatus(t, f.req(t, "POST", "/streams/nr", fwdBody, evJSON, admin), 500, "Error while forwarding request")
	expectStatus(t, f.req(t, "GET", "/users/", "", "Accept: application/json", admin), 500, "Error while forwarding request")

	// After Close (the server stopped) nothing is proxied any more.
	master := newSubsNode(t)
	view.Store(&ClusterView{State: cluster.StateSlave, MasterExternalHTTP: masterExt, MasterInternalHTTP: serveTCP(t, master)})
	expectStatus(t, f.req(t, "POST", "/streams/nr", fwdBody, evJSON, admin), 201, "")
	f.h.Close()
	expectStatus(t, f.req(t, "POST", "/streams/nr", fwdBody, evJSON, admin), 500, "Error while forwarding request")
}

func testutilCounter(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// closedAddr returns a loopback endpoint nothing listens on (a port that
// was just bound and closed): a master whose internal HTTP is down.
func closedAddr(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return netip.MustParseAddrPort(ln.Addr().String())
}
