package httpfront

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/eventstored/eventstored/cluster"
)

// HTTP requests on a node that is not the master (spec
// cluster-and-options §7.3; 4.0.3 HttpForwarder and the controllers'
// NotHandled handling):
//
//	route class   replica (master known)                      Unknown               Initializing, PreMaster, ShuttingDown
//	read          served; ES-RequireMaster: True → 307         served (rm: 503)      503
//	write         proxied; ES-RequireMaster: True → 307        503                   503
//	master-only   proxied (persistent subscriptions, users)    503                   503
//	local         served (ping, info, stats, admin, gossip)    served                served
//
// The decision is cluster.Decide's (one table); this file maps it to
// HTTP. A replica that does not know its master yet answers 503 where it
// would proxy or redirect. On stream routes a bad ES-RequireMaster value
// is 400 before anything else, as their handlers would answer it.
//
// Proxying copies method, path and query, headers and body to
// http://<master internal HTTP><same URI>, with Host rewritten and
// X-Forwarded-Host set to the original Host when absent (so the master's
// links point where the client is) and ES-Forwarded: 1 (a node that is
// not the master either does not send it on: 503), and relays the
// master's status, headers and body. It runs on the fasthttp connection goroutine and
// blocks it for at most the request timeout (10 s); a failure (connect,
// timeout, too-large reply) is 500 "Error while forwarding request".
// One fasthttp.HostClient per master, with at most proxyConnsMax
// connections; a request finding them all busy waits at most
// proxyConnWait, then fails as above.

// ClusterView is the node's state for request handling: its state and,
// in the replica states, the master's advertised HTTP endpoints (zero
// when no master is known).
type ClusterView struct {
	State              cluster.VNodeState
	MasterExternalHTTP netip.AddrPort
	MasterInternalHTTP netip.AddrPort
}

// routeClass says how a route is handled on a node that is not the
// master (table above).
type routeClass uint8

const (
	classLocal routeClass = iota
	classRead
	classWrite
	classMaster
)

// classify assigns the class of rt from its template and method.
func classify(rt *route) routeClass {
	switch {
	case strings.HasPrefix(rt.tmpl, "/streams/"):
		if isRedirectSlash(rt) {
			return classLocal
		}
		if rt.m == mGET {
			return classRead
		}
		return classWrite
	case rt.tmpl == "/users" || strings.HasPrefix(rt.tmpl, "/users/"),
		rt.tmpl == "/subscriptions" || strings.HasPrefix(rt.tmpl, "/subscriptions/"):
		return classMaster
	}
	return classLocal
}

// isRedirectSlash: the trailing-slash routes only redirect (no data).
func isRedirectSlash(rt *route) bool { return strings.HasSuffix(rt.tmpl, "/") }

// Proxy limits.
const (
	proxyConnsMax        = 64
	proxyConnWait        = time.Second
	proxyDialTimeout     = 2 * time.Second
	proxyResponseBodyMax = 64 << 20
)

var (
	hdrForwardedHost = []byte("X-Forwarded-Host")
	// hdrForwarded marks a request one node proxied to another (our
	// nodes only).
	hdrForwarded     = []byte("ES-Forwarded")
	valForwarded     = []byte("1")
	reasonForwardErr = "Error while forwarding request"
)

// proxyPool holds the HostClient of the current master.
type proxyPool struct {
	mu     sync.Mutex
	addr   netip.AddrPort
	hc     *fasthttp.HostClient
	closed bool
}

// errProxyClosed: a request proxied after Close (the server stopped).
var errProxyClosed = errors.New("httpfront: proxy closed")

func (p *proxyPool) client(addr netip.AddrPort, timeout time.Duration) (*fasthttp.HostClient, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errProxyClosed
	}
	if p.hc != nil && p.addr == addr {
		return p.hc, nil
	}
	if p.hc != nil {
		p.hc.CloseIdleConnections()
	}
	p.addr = addr
	dialer := &net.Dialer{Timeout: proxyDialTimeout}
	p.hc = &fasthttp.HostClient{
		Addr: addr.String(), Name: "eventstored-proxy", MaxConns: proxyConnsMax, MaxConnWaitTimeout: proxyConnWait,
		// A plain dialer: the address is an IP, and fasthttp's default
		// dialer starts a process-wide DNS cache goroutine.
		Dial:        func(a string) (net.Conn, error) { return dialer.Dial("tcp", a) },
		ReadTimeout: timeout, WriteTimeout: timeout, MaxResponseBodySize: proxyResponseBodyMax,
		MaxIdleConnDuration:           30 * time.Second,
		DisableHeaderNamesNormalizing: true, DisablePathNormalizing: true, NoDefaultUserAgentHeader: true,
	}
	return p.hc, nil
}

// close drops the pool's connections; later proxying fails.
func (p *proxyPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.hc != nil {
		p.hc.CloseIdleConnections()
		p.hc = nil
	}
}

// Close releases what the handler holds beyond requests: the proxy's
// connections to the master. Call it after the server stopped serving
// (Config.OnStop).
func (h *Handler) Close() { h.proxies.close() }

// byState applies the table above to r. It reports whether r has been
// answered (redirected, proxied, refused); false means serve it here.
func (h *Handler) byState(r *request, rt *route) bool {
	if rt.class == classLocal || h.d.Cluster == nil {
		return false
	}
	v := h.d.Cluster()
	if v.State == cluster.StateMaster {
		return false
	}
	kind, rm := cluster.PersistentSubscription, false
	if rt.class != classMaster {
		// Only the stream routes read ES-RequireMaster (as their handlers
		// do); the master-only routes go to the master regardless.
		var ok bool
		if rm, ok = r.boolHeader(hdrRequireMaster, false); !ok {
			r.status(fasthttp.StatusBadRequest, "ES-RequireMaster header in wrong format.")
			return true
		}
		kind = cluster.Read
		if rt.class == classWrite {
			kind = cluster.Write
		}
	}
	switch cluster.Decide(v.State, kind, rm, v.MasterInternalHTTP.IsValid()) {
	case cluster.Serve:
		return false
	case cluster.Forward:
		if h.mayProxy(r, v) {
			h.proxy(r, v.MasterInternalHTTP)
			return true
		}
	case cluster.NotMaster:
		if rt.class == classMaster && h.mayProxy(r, v) {
			h.proxy(r, v.MasterInternalHTTP)
			return true
		}
		if v.MasterExternalHTTP.IsValid() {
			h.redirectToMaster(r, v.MasterExternalHTTP)
			return true
		}
	}
	r.status(fasthttp.StatusServiceUnavailable, reasonNotReady)
	return true
}

// mayProxy: a master is known and r was not proxied here by another
// node. A proxied request that reaches a node which is not the master
// either (views differ during an election) is refused rather than sent on:
// two nodes each taking the other for the master would otherwise bounce
// it until the connection limits ran out.
func (h *Handler) mayProxy(r *request, v ClusterView) bool {
	return v.MasterInternalHTTP.IsValid() && len(r.ctx.Request.Header.PeekBytes(hdrForwarded)) == 0
}

// redirectToMaster answers 307 with the same path and query on the
// master's advertised external HTTP, scheme kept.
func (h *Handler) redirectToMaster(r *request, master netip.AddrPort) {
	ctx := r.ctx
	b := r.tmp[:0]
	if ctx.IsTLS() {
		b = append(b, "https://"...)
	} else {
		b = append(b, "http://"...)
	}
	b = master.AppendTo(b)
	b = append(b, ctx.Request.Header.RequestURI()...)
	r.tmp = b
	ctx.Response.Header.SetBytesKV(hdrLocation, b)
	ctx.SetStatusCode(fasthttp.StatusTemporaryRedirect)
	ctx.Response.Header.SetStatusMessage(s2b("Temporary Redirect"))
	ctx.Response.Header.SetContentTypeBytes(textPlainUTF8)
}

// proxy relays r to master's internal HTTP and the answer back.
func (h *Handler) proxy(r *request, master netip.AddrPort) {
	ctx := r.ctx
	hc, err := h.proxies.client(master, h.timeout)
	if err != nil {
		h.metrics.httpProxyErrors.Inc()
		statusOnly(ctx, fasthttp.StatusInternalServerError, reasonForwardErr)
		return
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	ctx.Request.CopyTo(req)
	req.Header.DisableNormalizing()
	resp.Header.DisableNormalizing()
	req.Header.SetBytesKV(hdrForwarded, valForwarded)
	if len(req.Header.PeekBytes(hdrForwardedHost)) == 0 {
		req.Header.SetBytesKV(hdrForwardedHost, ctx.Host())
	}
	host := master.String()
	req.URI().SetHost(host)
	req.Header.SetHost(host)
	req.Header.ResetConnectionClose()
	h.metrics.httpProxyInFlight.Inc()
	err = hc.DoTimeout(req, resp, h.timeout)
	h.metrics.httpProxyInFlight.Dec()
	if err != nil {
		h.metrics.httpProxyErrors.Inc()
		if errors.Is(err, fasthttp.ErrTimeout) {
			h.metrics.httpProxyTimeouts.Inc()
		}
		h.log.Warn("cannot forward an HTTP request to the master", "master_internal_http", host,
			"method", string(ctx.Method()), "path", string(ctx.Path()), "err", err)
		statusOnly(ctx, fasthttp.StatusInternalServerError, reasonForwardErr)
		return
	}
	resp.Header.ResetConnectionClose()
	resp.CopyTo(&ctx.Response)
	h.metrics.httpProxied.Inc()
}

// infoState is /info's "state".
func (h *Handler) infoState() string {
	if h.d.Cluster == nil {
		return "master"
	}
	return h.d.Cluster().State.InfoName()
}

// clusterReady: the master, or a caught-up replica (Slave, Clone) that
// knows its master; always true on a single node.
func (h *Handler) clusterReady() bool {
	if h.d.Cluster == nil {
		return true
	}
	v := h.d.Cluster()
	switch v.State {
	case cluster.StateMaster:
		return true
	case cluster.StateSlave, cluster.StateClone:
		return v.MasterInternalHTTP.IsValid()
	}
	return false
}
