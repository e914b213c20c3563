package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventstored/eventstored/store"
)

// Sentinel errors. The TCP service maps ErrNotAuthenticated to
// NotAuthenticated and ErrNotReady to NotHandled NotReady; the HTTP front
// maps them to 401 / 503 and the user-management errors to 404, 409, 401,
// 408 and 400 (http-api §4.8).
var (
	ErrNotAuthenticated = errors.New("auth: not authenticated")
	ErrNotReady         = errors.New("auth: not yet ready")
	ErrInternal         = errors.New("auth: internal error")
	ErrNotFound         = errors.New("auth: user not found")
	ErrConflict         = errors.New("auth: conflict")
	ErrUnauthorized     = errors.New("auth: unauthorized")
	ErrTryAgain         = errors.New("auth: try again")
	ErrInvalidArgument  = errors.New("auth: invalid argument")
)

// Stream names and event types of user management (UserManagementService
// in 4.0.3).
const (
	UserStreamPrefix               = "$user-"
	UsersStream                    = "$users"
	PasswordNotificationsStream    = "$users-password-notifications"
	EventTypeUserCreated           = "$UserCreated"
	EventTypeUserUpdated           = "$UserUpdated"
	EventTypeUser                  = "$User"
	EventTypePasswordChanged       = "$PasswordChanged"
	loginBytesMax                  = 255 // one length byte in the TCP auth block (spec §1.6)
	groupsMax                      = 256
	fullNameBytesMax               = 1024
	usersListMax                   = 100_000
	settingsRefreshIntervalDefault = time.Second
)

// Backend is the storage seam of auth: the few store operations it needs,
// run as the system (no ACL checks). Implementations must be safe for
// concurrent use. NewDBBackend adapts *store.DB.
type Backend interface {
	// Do runs a write-side op to completion.
	Do(ctx context.Context, op *store.Op) error
	// ReadLast returns the latest event of stream, owned by the caller.
	// Status is ReadSuccess, ReadNoStream, ReadStreamDeleted or ReadError.
	ReadLast(stream string) (store.ReadStatus, store.EventRecord, error)
	// ReadStreamForward reads up to max events of stream from number from;
	// the slice is owned by the caller.
	ReadStreamForward(stream string, from int64, max int) (*store.StreamSlice, error)
	// StreamMetadata returns the cached parsed metadata of stream, as
	// store.DB.StreamMetadata does. It must not block on I/O for long: the
	// TCP service calls it on event loops.
	StreamMetadata(stream string) (store.StreamMetadata, int64, bool)
}

// CachedMetadataBackend is implemented by a Backend whose StreamMetadata
// may read storage on a cache miss (NewDBBackend's). Its
// StreamMetadataCached answers from the cache only, reporting a miss with
// cached = false, so that CheckStreamAccessCached can refuse to block.
type CachedMetadataBackend interface {
	StreamMetadataCached(stream string) (md store.StreamMetadata, version int64, has, cached bool)
}

// Options configures a Service.
type Options struct {
	Backend Backend
	Logger  *slog.Logger
	// CacheTTL is how long a verified (login, password) pair is trusted
	// without a store read. Default 60 s.
	CacheTTL time.Duration
	// CacheEntriesMax bounds the credential cache, and separately the cache
	// of recently failed credentials. Default 10,000 logins each.
	CacheEntriesMax int
	// FailedCacheTTL is how long a (login, password) pair that failed is
	// refused without another PBKDF2: a client with wrong default
	// credentials repeats them on every request, and each check would
	// otherwise cost a worker tens of milliseconds. Any change to the user
	// through this package clears it. Default 5 s.
	FailedCacheTTL time.Duration
	// HashIterations for new password hashes. Default HashIterationsDefault.
	HashIterations int
	// SettingsRefreshInterval bounds how stale the cached $settings ACLs
	// may be when a write to $settings bypassed NoteStreamWritten (e.g. a
	// replicated write). Default 1 s.
	SettingsRefreshInterval time.Duration
	// Now is the clock seam; default time.Now.
	Now func() time.Time
}

type cacheEntry struct {
	principal   *Principal
	verifier    [sha256.Size]byte
	expiresNano int64
}

// Service is the node's authentication and authorization service.
type Service struct {
	opts     Options
	log      *slog.Logger
	cacheKey [32]byte

	ready atomic.Bool

	mu     sync.RWMutex
	cache  map[string]*cacheEntry
	failed map[string]*cacheEntry // principal nil: credentials that failed
	// gen counts invalidations (under mu). Authenticate notes it before
	// reading the user and caches its answer only if it has not moved:
	// an answer computed from a record that changed meanwhile (a
	// replicated user applied between the read and the caching) must not
	// outlive the invalidation that announced the change.
	gen uint64

	// watch follows replicated user changes on a cluster node
	// (cluster.go); nil elsewhere.
	watch *userWatch
	// replica: started by StartReplica (written before ready is set).
	replica bool
	// usersSeen: the $users stream exists here (sticky; replica only).
	usersSeen atomic.Bool

	// cacheGen moves whenever an entry leaves or is replaced in cache, so
	// that a copy of an answer kept elsewhere (AuthenticateCachedGen) is
	// known to be stale.
	cacheGen atomic.Uint64

	settings        atomic.Pointer[SystemSettings]
	settingsAtNano  atomic.Int64
	settingsLoading atomic.Bool

	// mgmt serialises user-management commands: they read then write
	// with an expected version, and one at a time keeps conflicts for
	// the truly concurrent case (two nodes, later).
	mgmt sync.Mutex
}

// New returns a service; call Start before serving.
func New(opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = 60 * time.Second
	}
	if opts.CacheEntriesMax <= 0 {
		opts.CacheEntriesMax = 10_000
	}
	if opts.FailedCacheTTL <= 0 {
		opts.FailedCacheTTL = 5 * time.Second
	}
	if opts.HashIterations <= 0 {
		opts.HashIterations = HashIterationsDefault
	}
	if opts.SettingsRefreshInterval <= 0 {
		opts.SettingsRefreshInterval = settingsRefreshIntervalDefault
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Service{opts: opts, log: opts.Logger.With("component", "auth"), cache: make(map[string]*cacheEntry),
		failed: make(map[string]*cacheEntry)}
	if _, err := rand.Read(s.cacheKey[:]); err != nil {
		panic("BUG: crypto/rand failed: " + err.Error())
	}
	s.settings.Store(&SystemSettings{})
	return s
}

// Start creates the default users admin and ops (password "changeit") if
// their streams do not exist, as Event Store does on becoming master, loads
// the $settings ACLs, and marks the service ready. Before Start returns
// successfully, Authenticate answers ErrNotReady.
func (s *Service) Start(ctx context.Context) error {
	defaults := []struct{ login, fullName, group string }{
		{"admin", "Event Store Administrator", RoleAdmins},
		{"ops", "Event Store Operations", RoleOps},
	}
	for _, d := range defaults {
		st, _, err := s.opts.Backend.ReadLast(UserStreamPrefix + d.login)
		if err != nil {
			return fmt.Errorf("cannot read user %q: %w", d.login, err)
		}
		if st != store.ReadNoStream {
			continue
		}
		if err := s.createUser(ctx, d.login, d.fullName, []string{d.group}, "changeit"); err != nil {
			return fmt.Errorf("cannot create default user %q: %w", d.login, err)
		}
		s.log.Info("created default user", "login", d.login)
	}
	if err := s.RefreshSettings(); err != nil {
		return err
	}
	s.ready.Store(true)
	return nil
}

// Ready reports whether Start has completed.
func (s *Service) Ready() bool { return s.ready.Load() }

func (s *Service) verifier(password []byte) [sha256.Size]byte {
	// A stack buffer keeps the hit path allocation-free; passwords are at
	// most 255 bytes on TCP, longer ones (HTTP) take the slow path below.
	var buf [32 + 256]byte
	if len(password) <= 256 {
		n := copy(buf[:], s.cacheKey[:])
		n += copy(buf[n:], password)
		return sha256.Sum256(buf[:n])
	}
	h := sha256.New()
	h.Write(s.cacheKey[:])
	h.Write(password)
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// AuthenticateCached answers from the credential cache only: ok=false
// means "not known to be valid" (call Authenticate off the event loop).
// It never blocks on I/O and allocates nothing.
func (s *Service) AuthenticateCached(login, password []byte) (p *Principal, ok bool) {
	if !s.ready.Load() {
		return nil, false
	}
	s.mu.RLock()
	e := s.cache[string(login)]
	s.mu.RUnlock()
	if e == nil || s.opts.Now().UnixNano() >= e.expiresNano {
		return nil, false
	}
	v := s.verifier(password)
	if subtle.ConstantTimeCompare(v[:], e.verifier[:]) != 1 {
		return nil, false
	}
	return e.principal, true
}

// CachedCredential is an answer of the credential cache that a caller
// keeps (per connection) to skip the cache's hashing when the same
// credentials come again: Valid says whether it still holds.
type CachedCredential struct {
	Principal   *Principal
	gen         uint64
	expiresNano int64
}

// AuthenticateCachedGen is AuthenticateCached returning the answer as a
// CachedCredential.
func (s *Service) AuthenticateCachedGen(login, password []byte) (CachedCredential, bool) {
	gen := s.cacheGen.Load() // before the lookup: a change after it makes the answer stale
	if !s.ready.Load() {
		return CachedCredential{}, false
	}
	s.mu.RLock()
	e := s.cache[string(login)]
	s.mu.RUnlock()
	if e == nil || s.opts.Now().UnixNano() >= e.expiresNano {
		return CachedCredential{}, false
	}
	v := s.verifier(password)
	if subtle.ConstantTimeCompare(v[:], e.verifier[:]) != 1 {
		return CachedCredential{}, false
	}
	return CachedCredential{Principal: e.principal, gen: gen, expiresNano: e.expiresNano}, true
}

// Valid reports whether c is still what AuthenticateCached would answer
// for the same credentials: the entry has not expired and no cached
// credential was dropped or replaced since (any user change, eviction or
// Invalidate makes every kept answer stale). No lock, no hashing.
func (s *Service) Valid(c CachedCredential) bool {
	return c.Principal != nil && s.cacheGen.Load() == c.gen && s.opts.Now().UnixNano() < c.expiresNano
}

// KnownBad reports whether these exact credentials failed within the last
// Options.FailedCacheTTL (and the user has not changed since). Like
// AuthenticateCached it never blocks and allocates nothing, so the TCP
// service answers NotAuthenticated on the event loop.
func (s *Service) KnownBad(login, password []byte) bool {
	s.mu.RLock()
	e := s.failed[string(login)]
	s.mu.RUnlock()
	if e == nil || s.opts.Now().UnixNano() >= e.expiresNano {
		return false
	}
	v := s.verifier(password)
	return subtle.ConstantTimeCompare(v[:], e.verifier[:]) == 1
}

// Authenticate verifies login and password against the user store (or the
// cache). Errors: ErrNotReady before Start (and, on a replica, while no
// user has been replicated to it yet), ErrNotAuthenticated for an
// unknown or disabled user or a wrong password, ErrInternal (wrapped) when
// the store failed. It may read the store and run PBKDF2: never call it on
// an event loop.
func (s *Service) Authenticate(login, password string) (*Principal, error) {
	if !s.ready.Load() {
		return nil, ErrNotReady
	}
	if p, ok := s.AuthenticateCached([]byte(login), []byte(password)); ok {
		return p, nil
	}
	if login == "" || len(login) > loginBytesMax {
		return nil, ErrNotAuthenticated
	}
	if s.KnownBad([]byte(login), []byte(password)) {
		return nil, ErrNotAuthenticated
	}
	gen := s.generation()
	rec, _, err := s.readUser(login)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			// NB: a refusal for a user that does not exist is not
			// remembered. It cost no PBKDF2, only an index lookup, so
			// remembering it saves little; and on a cluster node the user
			// may be missing only because replication has not brought it
			// yet (a slave just started, before the master's default
			// users reach it): remembering would refuse the right
			// password for FailedCacheTTL after the user arrived.
			if s.replica && !s.usersSeen.Load() && s.noUsersYet() {
				// No user at all has reached this node yet: it cannot
				// judge any credentials, so it says not ready (TCP
				// operations: NotHandled NotReady, which clients retry;
				// HTTP 503) rather than that they are wrong.
				return nil, ErrNotReady
			}
			return nil, ErrNotAuthenticated
		}
		return nil, err
	}
	if rec.Disabled || !verifyPassword(password, rec) {
		s.rememberFailed(login, password, gen)
		return nil, ErrNotAuthenticated
	}
	p := NewPrincipal(rec.LoginName, rec.Groups)
	s.remember(login, password, p, gen)
	return p, nil
}

// noUsersYet reports whether the $users stream is absent (no user was
// ever created in this node's log: the master's default users have not
// been replicated here yet). Once it exists, usersSeen spares the read.
func (s *Service) noUsersYet() bool {
	st, _, err := s.opts.Backend.ReadLast(UsersStream)
	if err != nil {
		return false
	}
	if st == store.ReadNoStream {
		return true
	}
	s.usersSeen.Store(true)
	return false
}

// generation returns the invalidation count (see Service.gen).
func (s *Service) generation() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.gen
}

// remember caches verified credentials, unless an invalidation happened
// since gen was read (the record they were checked against may be stale).
func (s *Service) remember(login, password string, p *Principal, gen uint64) {
	e := &cacheEntry{principal: p, verifier: s.verifier([]byte(password)),
		expiresNano: s.opts.Now().Add(s.opts.CacheTTL).UnixNano()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen {
		return
	}
	delete(s.failed, login)
	s.cacheGen.Add(1) // putLocked may evict or replace entries
	s.putLocked(s.cache, login, e)
}

// rememberFailed notes credentials that failed, so that repeating them
// costs no PBKDF2 for a while; not when an invalidation happened since
// gen was read.
func (s *Service) rememberFailed(login, password string, gen uint64) {
	e := &cacheEntry{verifier: s.verifier([]byte(password)),
		expiresNano: s.opts.Now().Add(s.opts.FailedCacheTTL).UnixNano()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen {
		return
	}
	s.putLocked(s.failed, login, e)
}

// putLocked inserts into a bounded cache map. REQUIRES: s.mu held.
func (s *Service) putLocked(m map[string]*cacheEntry, login string, e *cacheEntry) {
	now := s.opts.Now().UnixNano()
	if _, exists := m[login]; !exists && len(m) >= s.opts.CacheEntriesMax {
		for k, old := range m {
			if now >= old.expiresNano {
				delete(m, k)
			}
		}
		// Still full: drop arbitrary entries (map order is random), which
		// costs those users one more PBKDF2, never correctness.
		for k := range m {
			if len(m) < s.opts.CacheEntriesMax {
				break
			}
			delete(m, k)
		}
	}
	m[login] = e
}

// Invalidate drops the cached credentials of login (verified and
// failed), and keeps an Authenticate running concurrently from caching
// what it read before.
func (s *Service) Invalidate(login string) {
	s.mu.Lock()
	delete(s.cache, login)
	delete(s.failed, login)
	s.gen++
	s.cacheGen.Add(1)
	s.mu.Unlock()
}

// cacheLen is for tests.
func (s *Service) cacheLen() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.cache)
}

// NoteStreamWritten tells auth that stream was written or deleted by
// someone else (a client write through TCP or HTTP): a user stream drops
// that user's cached credentials, $settings reloads the default ACLs. It
// never blocks (reloads run on their own goroutine), so a store Done
// callback may call it.
func (s *Service) NoteStreamWritten(stream string) {
	switch {
	case stream == StreamSettings:
		s.refreshSettingsAsync()
	case strings.HasPrefix(stream, UserStreamPrefix):
		s.Invalidate(stream[len(UserStreamPrefix):])
	case strings.HasPrefix(stream, "$$"+UserStreamPrefix):
		// Metadata of a user stream may hide its events ($tb, $maxCount).
		s.Invalidate(stream[2+len(UserStreamPrefix):])
	}
}

// Settings returns the current $settings ACLs (never nil).
func (s *Service) Settings() *SystemSettings { return s.settings.Load() }

// RefreshSettings reloads the latest $settings event now.
func (s *Service) RefreshSettings() error {
	st, ev, err := s.opts.Backend.ReadLast(StreamSettings)
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", StreamSettings, err)
	}
	next := &SystemSettings{}
	if st == store.ReadSuccess {
		parsed, ok := ParseSystemSettings(ev.Data)
		if ok {
			next = &parsed
		} else {
			s.log.Warn("ignoring invalid $settings event", "number", ev.Number)
		}
	}
	s.settings.Store(next)
	s.settingsAtNano.Store(s.opts.Now().UnixNano())
	return nil
}

func (s *Service) refreshSettingsAsync() {
	if !s.settingsLoading.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer s.settingsLoading.Store(false)
		if err := s.RefreshSettings(); err != nil {
			s.log.Warn("cannot refresh $settings", "err", err)
		}
	}()
}

// CheckStreamAccess reports whether p (nil = anonymous) may perform a on
// stream, per spec §4.3. A metastream "$$x" maps read to $mr on x and write
// to $mw on x; delete and meta operations on a metastream are refused.
// On a miss of the store's metadata cache it reads the metastream: call it
// where a storage read may wait (workers), or use CheckStreamAccessCached.
func (s *Service) CheckStreamAccess(p *Principal, stream string, a Action) bool {
	ok, _ := s.checkAccess(p, stream, a, false)
	return ok
}

// CheckStreamAccessCached is CheckStreamAccess for goroutines that must
// not block (event loops): decided is false, and allowed meaningless, when
// the answer needs stream metadata that is not cached; the caller then
// runs CheckStreamAccess where a storage read may wait. A Backend that is
// not a CachedMetadataBackend is taken never to block.
func (s *Service) CheckStreamAccessCached(p *Principal, stream string, a Action) (allowed, decided bool) {
	return s.checkAccess(p, stream, a, true)
}

func (s *Service) checkAccess(p *Principal, stream string, a Action, cachedOnly bool) (allowed, decided bool) {
	if IsMetastream(stream) {
		switch a {
		case ActionRead:
			a = ActionMetaRead
		case ActionWrite:
			a = ActionMetaWrite
		default:
			return false, true
		}
		stream = stream[2:]
	}
	if p.IsAdmin() {
		// Admins pass every ACL (only $all writes and deletes stay
		// refused): skip the metadata lookup, which may read the log on a
		// cache miss.
		return !(stream == StreamAll && (a == ActionWrite || a == ActionDelete)), true
	}
	var acl *store.StreamACL
	if cm, ok := s.opts.Backend.(CachedMetadataBackend); ok && cachedOnly {
		// The ACL is taken from this one probe, so a cache entry evicted
		// right after it cannot turn the check into a read.
		md, _, has, cached := cm.StreamMetadataCached(stream)
		if !cached {
			return false, false
		}
		if has {
			acl = md.ACL
		}
	} else if md, _, ok := s.opts.Backend.StreamMetadata(stream); ok {
		acl = md.ACL
	}
	if s.opts.Now().UnixNano()-s.settingsAtNano.Load() > int64(s.opts.SettingsRefreshInterval) {
		s.refreshSettingsAsync()
	}
	return EvaluateACL(p, stream, a, acl, s.settings.Load()), true
}
