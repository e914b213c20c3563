package tcpsvc

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/node/auth"
	"github.com/eventstored/eventstored/node/subscriptions"
)

// Session is the service's state for one client connection. Handle must be
// called from one goroutine at a time (the connection's event loop); the
// reply helpers may be called from any goroutine.
type Session struct {
	s    *Service
	conn Conn
	// internal: a connection to the internal listener (set before the
	// first Handle).
	internal bool

	// Connection defaults (spec §4.3), set by Authenticate on the event
	// loop and read only there.
	defaultLogin    []byte
	defaultPassword []byte
	hasDefault      bool

	clientName    string
	clientVersion int32
	identified    bool

	// The last credentials the shared cache accepted on this connection
	// and its answer (event loop only): a client sends the same
	// credentials with every request, and comparing bytes here costs less
	// than the shared cache's lock and hash (authenticateCached).
	credLogin, credPassword []byte
	cred                    auth.CachedCredential

	closed atomic.Bool

	// subs maps a volatile subscription's correlation id to it. Added by
	// workers, removed on the event loop: guarded by subsMu.
	subsMu sync.Mutex
	subs   map[codec.GUID]*subscriptions.Sub
	psubs  map[codec.GUID]*persistentConsumer
	// early holds UnsubscribeFromStream ids that arrived before their
	// subscription reached subs (the confirmation is sent by the
	// subscription service, possibly before the worker calls addSub).
	early map[codec.GUID]struct{}
}

// earlyUnsubMax bounds Session.early: unknown ids beyond it are dropped
// (an unknown id needs no reply anyway).
const earlyUnsubMax = 64

// Open returns the session for a new connection.
func (s *Service) Open(c Conn) *Session { return &Session{s: s, conn: c} }

// Close marks the session closed; later replies are dropped. Transactions
// started on it survive (spec §4.1).
func (ss *Session) Close() {
	ss.closed.Store(true)
	ss.subsMu.Lock()
	for id, sub := range ss.subs {
		sub.Close() // connection close: silent removal (spec §4.12)
		delete(ss.subs, id)
	}
	for id, c := range ss.psubs {
		ss.s.opts.Persistent.Disconnect(c, false)
		delete(ss.psubs, id)
	}
	ss.subsMu.Unlock()
}

// addSub records sub under id; on a session already closed it closes sub.
func (ss *Session) addSub(id codec.GUID, sub *subscriptions.Sub) {
	ss.subsMu.Lock()
	defer ss.subsMu.Unlock()
	if ss.closed.Load() {
		sub.Close()
		return
	}
	if ss.subs == nil {
		ss.subs = make(map[codec.GUID]*subscriptions.Sub)
	}
	if _, ok := ss.early[id]; ok {
		delete(ss.early, id)
		sub.Unsubscribe()
		return
	}
	if old := ss.subs[id]; old != nil {
		// A client reusing a live correlation id: the newer one wins, as
		// in the original's per-connection dictionary.
		old.Close()
	}
	ss.subs[id] = sub
}

// unsubscribe serves UnsubscribeFromStream: an unknown id gets no reply.
func (ss *Session) unsubscribe(id codec.GUID) {
	ss.subsMu.Lock()
	sub := ss.subs[id]
	delete(ss.subs, id)
	pc := ss.psubs[id]
	delete(ss.psubs, id)
	if sub == nil && pc == nil && len(ss.early) < earlyUnsubMax {
		if ss.early == nil {
			ss.early = make(map[codec.GUID]struct{})
		}
		ss.early[id] = struct{}{}
	}
	ss.subsMu.Unlock()
	if sub != nil {
		sub.Unsubscribe()
	}
	if pc != nil {
		ss.s.opts.Persistent.Disconnect(pc, true)
	}
}

// ClientName returns the name given by IdentifyClient ("" if none).
// Event-loop goroutine only.
func (ss *Session) ClientName() string { return ss.clientName }

// Handle serves one package. p and everything it points to are valid only
// during the call; Handle copies what it keeps and never blocks.
func (ss *Session) Handle(p *codec.Package) {
	switch p.Command {
	case codec.HeartbeatRequestCommand:
		// The reactor answers heartbeats itself; this is for completeness.
		ss.sendFrame(codec.HeartbeatResponseCommand, &p.CorrelationID, nil)
	case codec.HeartbeatResponseCommand:
	case codec.Ping:
		ss.sendFrame(codec.Pong, &p.CorrelationID, p.Payload)
	case codec.IdentifyClientCommand:
		ss.handleIdentify(p)
	case codec.Authenticate:
		ss.handleAuthenticate(p)
	case codec.BadRequest:
		// Clients may report a package they could not parse: log only.
		ss.s.log.Warn("client reported a bad request", "client", ss.clientName,
			"id", p.CorrelationID.String(), "reason", truncate(p.Payload, 256))
	case codec.WriteEventsCommand, codec.DeleteStreamCommand, codec.TransactionStartCommand,
		codec.TransactionWriteCommand, codec.TransactionCommitCommand, codec.ReadEventCommand,
		codec.ReadStreamEventsForwardCommand, codec.ReadStreamEventsBackwardCommand,
		codec.ReadAllEventsForwardCommand, codec.ReadAllEventsBackwardCommand, codec.ScavengeDatabaseCommand:
		ss.handleOperation(p)
	case codec.SubscribeToStreamCommand:
		if ss.s.opts.Subscriptions == nil {
			ss.sendBadRequest(&p.CorrelationID, p.Command.String()+" "+errNotSupported.Error())
			return
		}
		ss.handleOperation(p)
	case codec.UnsubscribeFromStreamCommand:
		ss.unsubscribe(p.CorrelationID)
	case codec.ConnectToPersistentSubscriptionCommand,
		codec.CreatePersistentSubscriptionCommand, codec.UpdatePersistentSubscriptionCommand,
		codec.DeletePersistentSubscriptionCommand:
		if ss.s.opts.Persistent != nil {
			ss.handleOperation(p)
			return
		}
		// See the package doc: a clear per-operation failure.
		ss.sendBadRequest(&p.CorrelationID, p.Command.String()+" "+errNotSupported.Error())
	case codec.PersistentSubscriptionAckEventsCommand, codec.PersistentSubscriptionNakEventsCommand:
		if ss.s.opts.Persistent != nil {
			ss.ackOrNak(p)
		}
		// No reply in the protocol; there is no subscription they could
		// refer to (an unknown subscription id gets no reply, spec §4.12).
	default:
		// Unknown, obsolete and internal commands (spec §2.3).
		ss.sendBadRequest(&p.CorrelationID, "Could not unwrap network package for command "+p.Command.String()+".")
	}
}

func (ss *Session) handleIdentify(p *codec.Package) {
	var m codec.IdentifyClient
	if err := codec.DecodeIdentifyClient(p.Payload, &m); err != nil {
		// The original only logs; a reply lets the client fail fast
		// (spec §4.1).
		ss.sendBadRequest(&p.CorrelationID, "Invalid IdentifyClient: "+err.Error())
		return
	}
	ss.clientVersion = m.Version
	ss.clientName = strings.Clone(m.ConnectionName)
	ss.identified = true
	ss.sendFrame(codec.ClientIdentifiedCommand, &p.CorrelationID, nil)
}

func (ss *Session) handleAuthenticate(p *codec.Package) {
	if p.Flags&codec.FlagAuthenticated == 0 {
		ss.sendFrame(codec.NotAuthenticated, &p.CorrelationID, []byte("No user credentials provided."))
		return
	}
	// Quirk of the original (spec §4.3): the defaults are stored before
	// they are checked, so after a failed Authenticate later unflagged
	// requests are checked with the bad credentials and fail too.
	ss.defaultLogin = append(ss.defaultLogin[:0], p.Login...)
	ss.defaultPassword = append(ss.defaultPassword[:0], p.Password...)
	ss.hasDefault = true
	if !ss.s.auth.Ready() {
		ss.sendFrame(codec.NotAuthenticated, &p.CorrelationID, []byte("Server not yet ready"))
		return
	}
	if _, ok := ss.s.auth.AuthenticateCached(p.Login, p.Password); ok {
		ss.sendFrame(codec.Authenticated, &p.CorrelationID, nil)
		return
	}
	if ss.s.auth.KnownBad(p.Login, p.Password) {
		ss.sendFrame(codec.NotAuthenticated, &p.CorrelationID, []byte("Unauthorized"))
		return
	}
	r := acquireRequest(ss.s, ss, p, p.Login, p.Password, true)
	r.needsAuth = true
	ss.s.enqueue(r)
}

// handleOperation decodes a read or write command and either executes it
// (writes, on this goroutine) or hands it to a worker.
func (ss *Session) handleOperation(p *codec.Package) {
	if p.CorrelationID.IsZero() {
		ss.sendBadRequest(&p.CorrelationID, "Empty correlation id.")
		return
	}
	if !ss.s.auth.Ready() {
		ss.sendNotHandled(&p.CorrelationID, codec.NotHandledNotReady)
		return
	}
	login, password, hasCreds := p.Login, p.Password, false
	if p.Flags&codec.FlagAuthenticated != 0 {
		hasCreds = true
	} else if ss.hasDefault {
		login, password, hasCreds = ss.defaultLogin, ss.defaultPassword, true
	}
	trusted := p.Flags&codec.FlagTrustedWrite != 0
	if trusted {
		// Forwarded by a replica as the system account (only the internal
		// listener lets the flag through): no credentials to check.
		login, password, hasCreds = nil, nil, false
	}
	r := acquireRequest(ss.s, ss, p, login, password, hasCreds)
	if err := r.decode(); err != nil {
		ss.sendBadRequest(&r.corr, "Invalid "+r.cmd.String()+": "+err.Error())
		r.release()
		return
	}
	if trusted {
		r.trusted, r.principal = true, systemPrincipal
	} else if hasCreds {
		pr, ok := ss.authenticateCached(r.login, r.password)
		if !ok && ss.s.auth.KnownBad(r.login, r.password) {
			// Wrong credentials repeated (typically bad connection
			// defaults): refuse on the loop, no worker, no PBKDF2.
			ss.sendFrame(codec.NotAuthenticated, &r.corr, []byte("Not Authenticated"))
			r.release()
			return
		}
		if !ok {
			r.needsAuth = true
			ss.s.enqueue(r)
			return
		}
		r.principal = pr
	}
	if r.isWrite() {
		ss.s.execWrite(r, true)
		return
	}
	ss.s.enqueue(r)
}

// systemPrincipal is the account of TrustedWrite packages (4.0.3's
// SystemAccount: a member of $admins).
var systemPrincipal = auth.NewPrincipal("system", []string{auth.RoleAdmins})

// replyAuthenticate answers the Authenticate command (spec §4.3 table).
func (ss *Session) replyAuthenticate(id *codec.GUID, err error) {
	switch {
	case err == nil:
		ss.sendFrame(codec.Authenticated, id, nil)
	case errors.Is(err, auth.ErrNotAuthenticated):
		ss.sendFrame(codec.NotAuthenticated, id, []byte("Unauthorized"))
	case errors.Is(err, auth.ErrNotReady):
		ss.sendFrame(codec.NotAuthenticated, id, []byte("Server not yet ready"))
	default:
		ss.s.log.Error("authentication failed", "err", err)
		ss.sendFrame(codec.NotAuthenticated, id, []byte("Internal Server Error"))
	}
}

// replyAuthError answers an operation whose credentials did not pass.
func (ss *Session) replyAuthError(id *codec.GUID, err error) {
	switch {
	case errors.Is(err, auth.ErrNotAuthenticated):
		ss.sendFrame(codec.NotAuthenticated, id, []byte("Not Authenticated"))
	case errors.Is(err, auth.ErrNotReady):
		ss.sendNotHandled(id, codec.NotHandledNotReady)
	default:
		ss.s.log.Error("authentication failed", "err", err)
		ss.sendFrame(codec.NotAuthenticated, id, []byte("Internal Server Error"))
	}
}

// authenticateCached answers from the connection's last accepted
// credentials while auth says that answer still holds (auth.Valid: not
// expired, no credential dropped since), else from auth's shared cache,
// remembering its answer. Event loop only; allocates only when the
// connection's credentials first arrive or grow.
func (ss *Session) authenticateCached(login, password []byte) (*auth.Principal, bool) {
	a := ss.s.auth
	if ss.cred.Principal != nil && string(login) == string(ss.credLogin) &&
		subtle.ConstantTimeCompare(password, ss.credPassword) == 1 && a.Valid(ss.cred) {
		return ss.cred.Principal, true
	}
	c, ok := a.AuthenticateCachedGen(login, password)
	if !ok {
		return nil, false
	}
	ss.cred = c
	ss.credLogin = append(ss.credLogin[:0], login...)
	ss.credPassword = append(ss.credPassword[:0], password...)
	return c.Principal, true
}

// directSender is the part of *reactor.Conn that writes a single reply
// from the calling goroutine (no hop to the event loop) when it can.
type directSender interface{ SendDirect(frame []byte) error }

// sendFromWorker sends a worker's reply (one per request): directly from
// the worker when the connection allows it, else as Send does.
func (ss *Session) sendFromWorker(frame []byte) {
	if d, ok := ss.conn.(directSender); ok {
		_ = d.SendDirect(frame)
		return
	}
	_ = ss.conn.Send(frame)
}

// Small replies are built in pooled buffers; Conn.Send is done with the
// frame when it returns.
var smallBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

func (ss *Session) sendFrame(cmd codec.Command, id *codec.GUID, payload []byte) {
	if ss.closed.Load() {
		return
	}
	b := smallBufPool.Get().(*[]byte)
	*b = codec.AppendFrame((*b)[:0], cmd, id, payload)
	_ = ss.conn.Send(*b)
	if cap(*b) <= replyBufferKeepBytesMax {
		smallBufPool.Put(b)
	}
}

func (ss *Session) sendBadRequest(id *codec.GUID, reason string) {
	if ss.closed.Load() {
		return
	}
	b := smallBufPool.Get().(*[]byte)
	*b = codec.AppendBadRequest((*b)[:0], id, reason)
	_ = ss.conn.Send(*b)
	smallBufPool.Put(b)
}

func (ss *Session) sendNotHandled(id *codec.GUID, reason codec.NotHandledReason) {
	if ss.closed.Load() {
		return
	}
	m := codec.NotHandled{Reason: reason}
	b := smallBufPool.Get().(*[]byte)
	buf, start := codec.AppendFrameStart((*b)[:0], codec.NotHandledCommand, codec.FlagNone, id)
	buf = codec.AppendNotHandled(buf, &m)
	_ = codec.FinishFrame(buf, start) // a few bytes: cannot exceed the limit
	*b = buf
	_ = ss.conn.Send(*b)
	smallBufPool.Put(b)
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return fmt.Sprintf("%s... (%d bytes)", b[:n], len(b))
	}
	return string(b)
}
