package httpfront

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/eventstored/eventstored/node/auth"
	"github.com/eventstored/eventstored/node/subscriptions"
	"github.com/eventstored/eventstored/store"
)

// Interface names which HTTP listener a handler serves (spec http-api §1.1).
type Interface uint8

const (
	External Interface = iota
	Internal
)

func (i Interface) String() string {
	if i == Internal {
		return "internal HTTP"
	}
	return "external HTTP"
}

// Options are the node options the HTTP front reads (cluster-and-options
// §1.8, §2.2–§2.4). The composition root copies them from config.Options.
type Options struct {
	// AdminOnExt, StatsOnExt, GossipOnExt place route groups on the
	// external interface (§2.3). They do not affect the internal one.
	AdminOnExt  bool
	StatsOnExt  bool
	GossipOnExt bool
	// GossipOnSingleNode answers GET /gossip on a single node; without it
	// the route exists but never answers (408 after the request timeout, as
	// 4.0.3 does).
	GossipOnSingleNode bool
	// DisableHTTPCaching turns every cacheable Cache-Control into
	// "max-age=0, no-cache, must-revalidate" (spec §2.7).
	DisableHTTPCaching bool
	// EnableTrustedAuth accepts ES-TrustedAuth (spec §5.1).
	EnableTrustedAuth bool
	// AdvertiseIP / AdvertiseHTTPPort are this interface's advertise-as
	// values ("" / 0 = unset) used for absolute links (spec §1.5).
	AdvertiseIP       string
	AdvertiseHTTPPort int
	// ListenAddr is the interface's host:port, used in links when a request
	// has no usable Host header.
	ListenAddr string
	// RunProjections is "None", "System" or "All" (for /info).
	RunProjections string
	// ClusterSize is 1 for a single node.
	ClusterSize int
	// RequestTimeout is the answer deadline of spec §1.2 step 9 (default
	// 10 s, ESConsts.HttpTimeout).
	RequestTimeout time.Duration
}

// Store is the storage the HTTP front reads and writes. *store.DB
// satisfies it through FromDB; the method contract is store's.
type Store interface {
	// Submit hands op to the writer without blocking; Done runs later on
	// the writer goroutine (store.DB.Submit's contract).
	Submit(op *store.Op) error
	NewReader() StoreReader
	StreamMetadata(stream string) (store.StreamMetadata, int64, bool)
	LastCommitPosition() int64
	OnCommitted(fn func(last store.Position))
	Err() error
}

// StoreReader is store.Reader's method set: not concurrency-safe; results
// stay valid until its next call.
type StoreReader interface {
	ReadEvent(stream string, number int64, resolveLinks bool) (store.ReadStatus, *store.ResolvedEvent)
	ReadStreamForward(stream string, from int64, max int, resolveLinks bool) *store.StreamSlice
	ReadStreamBackward(stream string, from int64, max int, resolveLinks bool) *store.StreamSlice
	ReadAllForward(from store.Position, max int, resolveLinks bool) *store.AllSlice
	ReadAllBackward(from store.Position, max int, resolveLinks bool) *store.AllSlice
}

// Auth is what the front needs from node/auth; *auth.Service satisfies it.
type Auth interface {
	AuthenticateCached(login, password []byte) (*auth.Principal, bool)
	Authenticate(login, password string) (*auth.Principal, error)
	CheckStreamAccess(p *auth.Principal, stream string, a auth.Action) bool
	NoteStreamWritten(stream string)
	Ready() bool

	CreateUser(ctx context.Context, actor *auth.Principal, login, fullName string, groups []string, password string) error
	UpdateUser(ctx context.Context, actor *auth.Principal, login, fullName string, groups []string) error
	EnableUser(ctx context.Context, actor *auth.Principal, login string) error
	DisableUser(ctx context.Context, actor *auth.Principal, login string) error
	ResetPassword(ctx context.Context, actor *auth.Principal, login, newPassword string) error
	ChangePassword(ctx context.Context, login, currentPassword, newPassword string) error
	DeleteUser(ctx context.Context, actor *auth.Principal, login string) error
	GetUser(ctx context.Context, login string) (auth.User, error)
	ListUsers(ctx context.Context) ([]auth.User, error)
}

// Counters lets other components feed connection figures into /metrics
// and /stats without the HTTP front importing them. Each func may be nil.
type Counters struct {
	// TCPConnections returns the open client TCP connections per interface
	// name (e.g. "external TCP").
	TCPConnections func() map[string]int
	// HTTPConnections likewise for the HTTP listeners (Server.Connections).
	HTTPConnections func() map[string]int
	// Forwarding returns the TCP forwarder's counters; nil on a single
	// node (the figures then read zero on /stats and are absent from
	// /metrics).
	Forwarding func() ForwardingFigures
}

// Deps are the handler's collaborators. DB and Auth are required.
type Deps struct {
	DB        Store
	Auth      Auth
	Options   Options
	Interface Interface
	// Shutdown is called (once, on its own goroutine) after /admin/shutdown
	// has been answered.
	Shutdown func()
	// Scavenge starts a scavenge in the background; nil answers 200 and
	// logs that scavenging is not available yet.
	Scavenge func() error
	// Version is reported by /info ("0.0.0.0" for development builds).
	Version string
	// InstanceID identifies this process in gossip.
	InstanceID [16]byte
	// Gossip describes this node's advertised endpoints for /gossip.
	Gossip   GossipSelf
	Counters Counters
	Logger   *slog.Logger
	// Persistent serves /subscriptions (nil: those routes are not
	// registered).
	Persistent *subscriptions.PersistentService
	// StartTime of the process, for /stats.
	StartTime time.Time
	// ReadersMax bounds the pool of store readers (and so the number of
	// reads in flight); default 64.
	ReadersMax int
	// Metrics, when set, is the registry /metrics serves; nil creates a
	// private registry.
	Metrics *Metrics
	// TCPConnectionStats returns the array of GET /stats/tcp (spec §4.3:
	// one object per TCP connection), marshalled as JSON; nil serves [].
	TCPConnectionStats func() any
	// InfoOptions returns the option list of GET /info/options (spec
	// §4.2), marshalled as JSON (the node passes config.Options.Info);
	// nil serves an empty list.
	InfoOptions func() any
	// StoreFigures returns the storage counters for /stats and /metrics;
	// FromDB provides it for *store.DB. Nil reports zeros.
	StoreFigures func() StoreFigures
	// Cluster reports the node's state and master for request handling
	// on followers (forward.go); nil: a single node, always the master.
	// Called for every request that is not node-local: must be cheap.
	Cluster func() ClusterView
}

// Handler serves one HTTP interface. It is safe for concurrent use; every
// method runs on fasthttp's connection goroutines.
type Handler struct {
	d       Deps
	log     *slog.Logger
	rt      *router
	readers chan StoreReader
	reqPool sync.Pool
	cache   *eventCache
	metrics *Metrics
	timeout time.Duration

	// Long-poll wakeups: waiters park on commitCh until the next group
	// commit closes it.
	commitMu       sync.Mutex
	commitCh       chan struct{}
	commitWatchers int

	shutdownOnce sync.Once
	statsC       statsCache
	names        internTable
	inflight     atomic.Int64
	parked       atomic.Int64 // long polls waiting for a commit
	readersMade  atomic.Int64
	proxies      proxyPool
}

// NewHandler builds the request handler for d.Interface with the route
// table its options select.
func NewHandler(d Deps) *Handler {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.ReadersMax <= 0 {
		d.ReadersMax = 64
	}
	if d.Version == "" {
		d.Version = "0.0.0.0"
	}
	if d.StartTime.IsZero() {
		d.StartTime = time.Now()
	}
	if d.Options.RunProjections == "" {
		d.Options.RunProjections = "None"
	}
	if d.Options.ClusterSize == 0 {
		d.Options.ClusterSize = 1
	}
	h := &Handler{d: d, log: d.Logger.With("interface", d.Interface.String()), timeout: d.Options.RequestTimeout}
	if h.timeout <= 0 {
		h.timeout = 10 * time.Second
	}
	h.readers = make(chan StoreReader, d.ReadersMax)
	h.reqPool.New = func() any {
		r := &request{h: h, done: make(chan struct{}, 1)}
		// Built once per pooled request so a write allocates no closure.
		r.opDone = func(*store.Op) { r.done <- struct{}{} }
		return r
	}
	h.cache = newEventCache(eventCacheEntriesMax, eventCacheBytesMax)
	h.metrics = d.Metrics
	if h.metrics == nil {
		h.metrics = NewMetrics(nil)
	}
	h.metrics.attach(d.StoreFigures, d.Counters)
	h.commitCh = make(chan struct{})
	if d.DB != nil {
		d.DB.OnCommitted(h.onCommitted)
	}
	h.rt = newRouter(h.routes())
	return h
}

// RequestHandler returns the fasthttp handler.
func (h *Handler) RequestHandler() fasthttp.RequestHandler { return h.serve }

// onCommitted runs on the store's writer goroutine after each group commit:
// it must not block. It wakes parked long polls by closing the channel they
// watch; with no watcher it does nothing (no allocation per commit).
func (h *Handler) onCommitted(store.Position) {
	h.commitMu.Lock()
	if h.commitWatchers > 0 {
		close(h.commitCh)
		h.commitCh = make(chan struct{})
	}
	h.commitMu.Unlock()
}

// commitWatch registers a watcher and returns the channel the next commit
// closes. REQUIRES: a matching commitUnwatch. Registering under the lock
// before the read means a commit either happened before the read (the read
// sees it) or will close this channel.
func (h *Handler) commitWatch() <-chan struct{} {
	h.commitMu.Lock()
	h.commitWatchers++
	ch := h.commitCh
	h.commitMu.Unlock()
	return ch
}

func (h *Handler) commitUnwatch() {
	h.commitMu.Lock()
	h.commitWatchers--
	h.commitMu.Unlock()
}

// acquireReader takes a store reader from the bounded pool: at most
// Deps.ReadersMax readers exist, so at most that many store reads run at
// once; further requests wait for one (back-pressure) until the request
// deadline, then get nil (the caller answers 503 Server Is Too Busy).
func (h *Handler) acquireReader() StoreReader {
	select {
	case r := <-h.readers:
		return r
	default:
	}
	if n := h.readersMade.Add(1); n <= int64(h.d.ReadersMax) {
		return h.d.DB.NewReader()
	}
	h.readersMade.Add(-1)
	t := time.NewTimer(h.timeout)
	defer t.Stop()
	select {
	case r := <-h.readers:
		return r
	case <-t.C:
		return nil
	}
}

func (h *Handler) releaseReader(r StoreReader) {
	if r != nil { // nil: none held (callers release unconditionally)
		h.readers <- r // never blocks: the channel holds every reader made
	}
}

// request is the per-request state, pooled. Nothing in it outlives the
// fasthttp handler call, except when a write timed out (then the request
// is not returned to the pool, because the store still owns op).
type request struct {
	h     *Handler
	ctx   *fasthttp.RequestCtx
	m     method
	mr    matchResult
	segs  [maxSegments][]byte
	sbuf  []byte
	media mediaType // negotiated response type
	user  *auth.Principal
	base  []byte // scheme://host[:port]
	buf   []byte // body scratch
	w     jw
	done  chan struct{}
	// opDone signals done; it runs on the store's writer goroutine and
	// never blocks (done has room for the one signal of the one op).
	opDone func(*store.Op)
	timer  *time.Timer
	op     store.Op
	evs    []store.NewEvent
	key    []byte // cache key scratch
	tmp    []byte
	lbuf   []byte // feed link URIs (views of it live until the page is rendered)
	body   []byte // request body copy / parse scratch
	// abandoned is set when the store still owns op after the handler
	// returned (a write that outlived the request deadline): the request
	// must not go back to the pool.
	abandoned bool
}

func (r *request) param(i int) []byte { return r.mr.params[i] }

// serve is the pipeline of spec §1.2.
func (h *Handler) serve(ctx *fasthttp.RequestCtx) {
	r := h.reqPool.Get().(*request)
	r.ctx = ctx
	// Header names go out exactly as the original spells them
	// ("ES-CurrentVersion", "ETag", "WWW-Authenticate").
	ctx.Response.Header.DisableNormalizing()
	h.metrics.httpRequests.Inc()
	h.inflight.Add(1)
	keep := h.serveRequest(r)
	h.inflight.Add(-1)
	r.ctx = nil
	r.user = nil
	if keep {
		h.reqPool.Put(r)
	}
}

func (h *Handler) serveRequest(r *request) (reusable bool) {
	ctx := r.ctx
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("HTTP handler panicked", "path", string(ctx.Path()), "panic", p)
			setCORS(ctx, nil)
			statusOnly(ctx, fasthttp.StatusInternalServerError, "Internal Server Error")
			reusable = false
		}
	}()
	// 1. Authentication.
	if !h.authenticate(r) {
		return true
	}
	// 2. Route lookup by path.
	r.m = parseMethod(ctx.Method())
	raw := ctx.Request.URI().PathOriginal()
	n, tailOff, sbuf, ok := splitPath(raw, r.sbuf[:0], &r.segs)
	r.sbuf = sbuf
	if !ok {
		setCORS(ctx, nil)
		statusOnly(ctx, fasthttp.StatusNotFound, "Not Found")
		return true
	}
	h.rt.lookup(r.m, r.segs[:n], raw, &tailOff, &r.mr)
	if r.mr.any == nil {
		setCORS(ctx, nil)
		statusOnly(ctx, fasthttp.StatusNotFound, "Not Found")
		return true
	}
	allow := r.mr.any.allow
	// 3. OPTIONS.
	if r.m == mOPTIONS {
		setCORS(ctx, allow)
		statusOnly(ctx, fasthttp.StatusOK, "")
		return true
	}
	// 4. Method.
	rt := r.mr.r
	if rt == nil {
		setCORS(ctx, allow)
		statusOnly(ctx, fasthttp.StatusMethodNotAllowed, "Method Not Allowed")
		return true
	}
	// 5. Request media type.
	if rt.accepts != nil && (r.m == mPOST || r.m == mPUT || r.m == mDELETE) {
		if _, ok := requestMedia(ctx.Request.Header.ContentType(), rt.accepts); !ok {
			setCORS(ctx, nil)
			statusOnly(ctx, fasthttp.StatusUnsupportedMediaType, reasonBadContentType)
			return true
		}
	}
	// 6. Response media type.
	format, hasFormat := r.queryArg("format")
	if hasFormat && format == nil {
		format = []byte{}
	}
	accept := ctx.Request.Header.Peek("Accept")
	media, res := negotiate(rt.offers, format, accept, len(accept) > 0)
	switch res {
	case negotiateBadFormat:
		setCORS(ctx, nil)
		statusOnly(ctx, fasthttp.StatusInternalServerError, "Internal Server Error")
		return true
	case negotiateNotAcceptable:
		setCORS(ctx, nil)
		statusOnly(ctx, fasthttp.StatusNotAcceptable, reasonNotAcceptable)
		return true
	}
	r.media = media
	setCORS(ctx, allow)
	r.base = appendBase(r.base[:0], ctx, h.d.Options.AdvertiseIP, h.d.Options.AdvertiseHTTPPort, h.d.Options.ListenAddr)
	// 8. Handler, unless the node's state sends the request elsewhere.
	if h.byState(r, rt) {
		return true
	}
	rt.fn(h, r)
	r.maybeCompress()
	if ctx.Response.StatusCode() == fasthttp.StatusUnauthorized {
		ctx.Response.Header.SetBytesKV(hdrWWWAuthenticate, wwwAuthenticate)
	}
	return !r.abandoned
}

var (
	basicPrefix    = []byte("Basic ")
	hdrTrustedAuth = []byte("ES-TrustedAuth")
)

// authenticate runs spec §5.1: Basic, then ES-TrustedAuth when enabled,
// else anonymous. It writes the failure reply itself.
func (h *Handler) authenticate(r *request) bool {
	ctx := r.ctx
	authz := ctx.Request.Header.Peek("Authorization")
	if len(authz) > len(basicPrefix) && equalFoldString(authz[:len(basicPrefix)], "Basic ") {
		enc := bytes.TrimSpace(authz[len(basicPrefix):])
		n := base64.StdEncoding.DecodedLen(len(enc))
		if n > 1024 {
			return h.authFail(ctx, fasthttp.StatusUnauthorized, "Unauthorized")
		}
		r.tmp = growLen(r.tmp, n)
		m, err := base64.StdEncoding.Decode(r.tmp, enc)
		if err != nil {
			return h.authFail(ctx, fasthttp.StatusUnauthorized, "Unauthorized")
		}
		cred := r.tmp[:m]
		i := bytes.IndexByte(cred, ':')
		if i < 0 {
			return h.authFail(ctx, fasthttp.StatusUnauthorized, "Unauthorized")
		}
		login, pass := cred[:i], cred[i+1:]
		if p, ok := h.d.Auth.AuthenticateCached(login, pass); ok {
			r.user = p
			return true
		}
		p, err := h.d.Auth.Authenticate(string(login), string(pass))
		switch {
		case err == nil:
			r.user = p
			return true
		case errors.Is(err, auth.ErrNotReady):
			ctx.Response.Header.SetBytesKV(hdrRetryAfter, []byte("5"))
			return h.authFail(ctx, fasthttp.StatusServiceUnavailable, "Not yet ready.")
		case errors.Is(err, auth.ErrNotAuthenticated):
			return h.authFail(ctx, fasthttp.StatusUnauthorized, "Unauthorized")
		default:
			h.log.Warn("authentication failed", "login", string(login), "err", err)
			return h.authFail(ctx, fasthttp.StatusInternalServerError, "Internal Server Error")
		}
	}
	if h.d.Options.EnableTrustedAuth {
		if v := ctx.Request.Header.PeekBytes(hdrTrustedAuth); len(v) > 0 {
			p, ok := parseTrustedAuth(v)
			if !ok {
				return h.authFail(ctx, fasthttp.StatusUnauthorized, "Unauthorized")
			}
			r.user = p
			return true
		}
	}
	r.user = nil
	return true
}

func (h *Handler) authFail(ctx *fasthttp.RequestCtx, code int, reason string) bool {
	setCORS(ctx, nil)
	statusOnly(ctx, code, reason)
	return false
}

// parseTrustedAuth parses "login" or "login;group1,group2" (spec §5.1).
func parseTrustedAuth(v []byte) (*auth.Principal, bool) {
	parts := bytes.Split(v, []byte(";"))
	if len(parts) > 2 {
		return nil, false
	}
	login := string(bytes.TrimSpace(parts[0]))
	if login == "" {
		return nil, false
	}
	var groups []string
	if len(parts) == 2 {
		for _, g := range bytes.Split(parts[1], []byte(",")) {
			if g = bytes.TrimSpace(g); len(g) > 0 {
				groups = append(groups, string(g))
			}
		}
	}
	return auth.NewPrincipal(login, groups), true
}

func growLen(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// reply writes body with the negotiated media type's Content-Type.
func (r *request) reply(code int, reason string, m mediaType, body []byte) {
	ctx := r.ctx
	ctx.SetStatusCode(code)
	if reason != "" {
		ctx.Response.Header.SetStatusMessage(s2b(reason))
	}
	if m == mtNone {
		ctx.Response.Header.SetContentTypeBytes(textPlainUTF8)
	} else {
		ctx.Response.Header.SetContentTypeBytes(contentTypes[m])
	}
	ctx.SetBody(body)
}

// status writes a status-only reply.
func (r *request) status(code int, reason string) { statusOnly(r.ctx, code, reason) }
