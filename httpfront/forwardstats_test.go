package httpfront

import (
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventstored/eventstored/cluster"
)

// TestForwardingFiguresOnStatsAndMetrics: the TCP forwarder's counters fed
// through Counters.Forwarding and the HTTP proxy's own (relayed, failed,
// timed out, in flight) appear on /metrics and on /stats.
func TestForwardingFiguresOnStatsAndMetrics(t *testing.T) {
	var view atomic.Pointer[ClusterView]
	view.Store(&ClusterView{State: cluster.StateSlave})
	fw := ForwardingFigures{Forwarded: 7, TimedOut: 2, TooBusy: 3, NotReady: 4, InFlight: 5}
	f := newSubsNode(t, func(d *Deps) {
		d.Cluster = func() ClusterView { return *view.Load() }
		d.Counters.Forwarding = func() ForwardingFigures { return fw }
		d.Options.RequestTimeout = 300 * time.Millisecond
		d.Options.StatsOnExt = true
	})
	evJSON := "Content-Type: application/vnd.eventstore.events+json"
	metric := func(line string) bool {
		return strings.Contains("\n"+f.req(t, "GET", "/metrics", "").body, "\n"+line+"\n")
	}

	// One relayed.
	master := newSubsNode(t)
	view.Store(&ClusterView{State: cluster.StateSlave, MasterExternalHTTP: masterExt, MasterInternalHTTP: serveTCP(t, master)})
	expectStatus(t, f.req(t, "POST", "/streams/fs", fwdBody, evJSON, admin), 201, "")

	// One that cannot connect.
	dead := closedAddr(t)
	view.Store(&ClusterView{State: cluster.StateSlave, MasterExternalHTTP: masterExt, MasterInternalHTTP: dead})
	expectStatus(t, f.req(t, "POST", "/streams/fs", fwdBody, evJSON, admin), 500, "Error while forwarding request")

	// One to a master that accepts and never answers: in flight, then a
	// timeout.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	defer func() {
		for len(accepted) > 0 {
			(<-accepted).Close()
		}
	}()
	view.Store(&ClusterView{State: cluster.StateSlave, MasterExternalHTTP: masterExt,
		MasterInternalHTTP: netip.MustParseAddrPort(silent.Addr().String())})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.req(t, "POST", "/streams/fs", fwdBody, evJSON, admin) // 408 or 500: the request's own timeout races the proxy's
	}()
	waitFor(t, func() bool { return metric("eventstored_http_proxies_in_flight 1") })
	<-done
	waitFor(t, func() bool { return metric("eventstored_http_proxy_timeouts_total 1") })

	for _, want := range []string{
		"eventstored_http_proxied_total 1",
		"eventstored_http_proxy_errors_total 2",
		"eventstored_http_proxy_timeouts_total 1",
		"eventstored_http_proxies_in_flight 0",
		"eventstored_tcp_forwarded_total 7",
		"eventstored_tcp_forward_timeouts_total 2",
		"eventstored_tcp_forward_too_busy_total 3",
		"eventstored_tcp_forward_not_ready_total 4",
		"eventstored_tcp_forwards_in_flight 5",
	} {
		if !metric(want) {
			t.Fatalf("/metrics lacks %q:\n%s", want, f.req(t, "GET", "/metrics", "").body)
		}
	}
	r := f.req(t, "GET", "/stats/es/forwarding", "")
	expectStatus(t, r, 200, "")
	for _, want := range []string{`"tcp": {`, `"forwarded": 7`, `"timedOut": 2`, `"tooBusy": 3`, `"notReady": 4`, `"inFlight": 5`,
		`"http": {`, `"proxied": 1`, `"errors": 2`, `"timeouts": 1`, `"inFlight": 0`} {
		if !strings.Contains(r.body, want) {
			t.Fatalf("/stats/es/forwarding lacks %q:\n%s", want, r.body)
		}
	}
}

// TestForwardingFiguresZeroOnSingleNode: without a forwarder /stats still
// has the keys (zero) and /metrics has no TCP forwarding series.
func TestForwardingFiguresZeroOnSingleNode(t *testing.T) {
	n := newTestNode(t)
	r := n.req(t, "GET", "/stats?group=false", "")
	for _, want := range []string{`"es-forwarding-tcp-forwarded": 0`, `"es-forwarding-http-proxied": 0`} {
		if !strings.Contains(r.body, want) {
			t.Fatalf("/stats lacks %q:\n%s", want, r.body)
		}
	}
	if m := n.req(t, "GET", "/metrics", "").body; strings.Contains(m, "eventstored_tcp_forwarded_total") {
		t.Fatalf("/metrics has TCP forwarding series on a single node:\n%s", m)
	}
}

// waitFor polls cond for an effect on another goroutine; it fails after
// 10 s (a hang guard, not a timing).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
