package auth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/eventstored/eventstored/store"
)

// fakeClock is the clock seam for cache-expiry tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newTestService(t testing.TB) (*Service, *memBackend, *fakeClock) {
	t.Helper()
	b := newMemBackend()
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	s := New(Options{Backend: b, HashIterations: 1000, Now: clk.Now, CacheTTL: time.Minute, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return s, b, clk
}

func TestAuthenticateBeforeStartIsNotReady(t *testing.T) {
	s := New(Options{Backend: newMemBackend(), HashIterations: 1000})
	if _, err := s.Authenticate("admin", "changeit"); !errors.Is(err, ErrNotReady) {
		t.Fatalf("unexpected error; got %v; want ErrNotReady", err)
	}
	if _, ok := s.AuthenticateCached([]byte("admin"), []byte("changeit")); ok {
		t.Fatal("cache answered before Start")
	}
}

func TestDefaultUsersCreatedOnFirstStart(t *testing.T) {
	s, b, _ := newTestService(t)
	admin, err := s.Authenticate("admin", "changeit")
	if err != nil || !admin.IsAdmin() || admin.IsOps() {
		t.Fatalf("admin: got %+v, %v", admin, err)
	}
	ops, err := s.Authenticate("ops", "changeit")
	if err != nil || ops.IsAdmin() || !ops.IsOps() || !ops.IsAdminOrOps() {
		t.Fatalf("ops: got %+v, %v", ops, err)
	}
	if n := len(b.streams[UsersStream]); n != 2 {
		t.Fatalf("unexpected $users length; got %d; want 2", n)
	}
	if ev := b.streams["$user-admin"][0]; ev.Type != EventTypeUserCreated || !ev.IsJSON {
		t.Fatalf("unexpected user event %q json=%v", ev.Type, ev.IsJSON)
	}
	// A second start finds the users and writes nothing.
	s2 := New(Options{Backend: b, HashIterations: 1000})
	if err := s2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(b.streams[UsersStream]); n != 2 {
		t.Fatalf("second start wrote users again; $users length %d", n)
	}
}

func TestWrongCredentialsAreNotAuthenticated(t *testing.T) {
	s, _, _ := newTestService(t)
	f := func(login, pw string) {
		t.Helper()
		if p, err := s.Authenticate(login, pw); !errors.Is(err, ErrNotAuthenticated) {
			t.Fatalf("Authenticate(%q,%q): got %v, %v; want ErrNotAuthenticated", login, pw, p, err)
		}
	}
	f("admin", "wrong")
	f("admin", "")
	f("nobody", "changeit")
	f("", "")
	// A correct login cached must not make a wrong password pass.
	if _, err := s.Authenticate("admin", "changeit"); err != nil {
		t.Fatal(err)
	}
	f("admin", "changeit2")
}

func TestCredentialCacheHitsAndExpires(t *testing.T) {
	s, b, clk := newTestService(t)
	if _, err := s.Authenticate("admin", "changeit"); err != nil {
		t.Fatal(err)
	}
	reads := b.reads.Load()
	for i := 0; i < 10; i++ {
		if _, err := s.Authenticate("admin", "changeit"); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.reads.Load(); got != reads {
		t.Fatalf("cache missed; store reads went from %d to %d", reads, got)
	}
	if _, ok := s.AuthenticateCached([]byte("admin"), []byte("changeit")); !ok {
		t.Fatal("cached lookup missed")
	}
	clk.Add(time.Minute + time.Second)
	if _, ok := s.AuthenticateCached([]byte("admin"), []byte("changeit")); ok {
		t.Fatal("expired entry still answered")
	}
	if _, err := s.Authenticate("admin", "changeit"); err != nil {
		t.Fatal(err)
	}
	if got := b.reads.Load(); got != reads+1 {
		t.Fatalf("expected exactly one store read after expiry; got %d", got-reads)
	}
}

func TestCredentialCacheIsBounded(t *testing.T) {
	b := newMemBackend()
	s := New(Options{Backend: b, HashIterations: 1000, CacheEntriesMax: 3})
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	admin, _ := s.Authenticate("admin", "changeit")
	for _, u := range []string{"u1", "u2", "u3", "u4", "u5"} {
		if err := s.CreateUser(ctx, admin, u, u, nil, "pw"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(u, "pw"); err != nil {
			t.Fatal(err)
		}
		if n := s.cacheLen(); n > 3 {
			t.Fatalf("cache grew to %d entries; limit 3", n)
		}
	}
}

func TestUserChangesInvalidateCache(t *testing.T) {
	s, _, _ := newTestService(t)
	ctx := context.Background()
	admin, _ := s.Authenticate("admin", "changeit")
	if err := s.CreateUser(ctx, admin, "alice", "Alice", []string{"readers"}, "pw1"); err != nil {
		t.Fatal(err)
	}
	p, err := s.Authenticate("alice", "pw1")
	if err != nil || !p.HasRole("readers") || !p.HasRole("alice") || p.HasRole("writers") {
		t.Fatalf("alice: %+v %v", p, err)
	}
	if err := s.UpdateUser(ctx, admin, "alice", "Alice A", []string{"writers"}); err != nil {
		t.Fatal(err)
	}
	p, _ = s.Authenticate("alice", "pw1")
	if !p.HasRole("writers") || p.HasRole("readers") {
		t.Fatalf("groups not refreshed after update: %v", p.Groups)
	}
	if err := s.DisableUser(ctx, admin, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate("alice", "pw1"); !errors.Is(err, ErrNotAuthenticated) {
		t.Fatalf("disabled user authenticated: %v", err)
	}
	if err := s.EnableUser(ctx, admin, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate("alice", "pw1"); err != nil {
		t.Fatalf("enabled user: %v", err)
	}
	if err := s.ResetPassword(ctx, admin, "alice", "pw2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate("alice", "pw1"); !errors.Is(err, ErrNotAuthenticated) {
		t.Fatalf("old password after reset: %v", err)
	}
	if err := s.ChangePassword(ctx, "alice", "wrong", "pw3"); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("change with wrong current password: %v", err)
	}
	if err := s.ChangePassword(ctx, "alice", "pw2", "pw3"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate("alice", "pw3"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, admin, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate("alice", "pw3"); !errors.Is(err, ErrNotAuthenticated) {
		t.Fatalf("deleted user authenticated: %v", err)
	}
	if _, err := s.GetUser(ctx, "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetUser of deleted user: %v", err)
	}
	// Deleted users can be created again.
	if err := s.CreateUser(ctx, admin, "alice", "Alice", nil, "pw4"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate("alice", "pw4"); err != nil {
		t.Fatal(err)
	}
}

func TestUserManagementPermissionsAndErrors(t *testing.T) {
	s, _, _ := newTestService(t)
	ctx := context.Background()
	admin, _ := s.Authenticate("admin", "changeit")
	ops, _ := s.Authenticate("ops", "changeit")
	if err := s.CreateUser(ctx, ops, "bob", "", nil, "x"); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("ops created a user: %v", err)
	}
	if err := s.CreateUser(ctx, nil, "bob", "", nil, "x"); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("anonymous created a user: %v", err)
	}
	if err := s.CreateUser(ctx, admin, "", "", nil, "x"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("empty login: %v", err)
	}
	if err := s.CreateUser(ctx, admin, "bob", "Bob", nil, "x"); err != nil {
		t.Fatal(err)
	}
	// Quirk of 4.0.3: same password again is a success, another is a conflict.
	if err := s.CreateUser(ctx, admin, "bob", "Bob", nil, "x"); err != nil {
		t.Fatalf("re-create with same password: %v", err)
	}
	if err := s.CreateUser(ctx, admin, "bob", "Bob", nil, "y"); !errors.Is(err, ErrConflict) {
		t.Fatalf("re-create with other password: %v", err)
	}
	if err := s.UpdateUser(ctx, admin, "nobody", "", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of missing user: %v", err)
	}
	if err := s.DeleteUser(ctx, ops, "bob"); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("ops deleted a user: %v", err)
	}
	users, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var logins []string
	for _, u := range users {
		logins = append(logins, u.Login)
	}
	if got, want := len(logins), 3; got != want || logins[0] != "admin" || logins[1] != "bob" || logins[2] != "ops" {
		t.Fatalf("unexpected user list; got %v; want [admin bob ops]", logins)
	}
	u, err := s.GetUser(ctx, "admin")
	if err != nil || u.FullName != "Event Store Administrator" || len(u.Groups) != 1 || u.Groups[0] != RoleAdmins || u.Updated.IsZero() {
		t.Fatalf("GetUser(admin): %+v %v", u, err)
	}
}

func TestEvaluateACL(t *testing.T) {
	alice := NewPrincipal("alice", []string{"readers"})
	admin := NewPrincipal("admin", []string{RoleAdmins})
	ops := NewPrincipal("ops", []string{RoleOps})
	custom := &store.StreamACL{Read: []string{"readers"}, Write: []string{"alice", "bob"}, Delete: []string{}}
	settings := &SystemSettings{
		UserStreamACL:   &store.StreamACL{Read: []string{RoleAll}, Write: []string{"writers"}},
		SystemStreamACL: &store.StreamACL{Read: []string{"readers"}},
	}
	f := func(p *Principal, stream string, a Action, acl *store.StreamACL, st *SystemSettings, want bool) {
		t.Helper()
		if got := EvaluateACL(p, stream, a, acl, st); got != want {
			t.Fatalf("unexpected access for %q %s on %q (acl %+v); got %v; want %v", p.Name(), a, stream, acl, got, want)
		}
	}
	// Built-in defaults: user streams open, system streams admins only.
	for _, a := range []Action{ActionRead, ActionWrite, ActionDelete, ActionMetaRead, ActionMetaWrite} {
		f(nil, "orders", a, nil, nil, true)
		f(nil, "$system", a, nil, nil, false)
		f(ops, "$system", a, nil, nil, false)
		f(admin, "$system", a, nil, nil, true)
	}
	f(nil, StreamAll, ActionRead, nil, nil, false)
	f(alice, StreamAll, ActionRead, nil, nil, false)
	f(admin, StreamAll, ActionRead, nil, nil, true)
	// Writing or deleting $all is always refused, even for admins.
	f(admin, StreamAll, ActionWrite, nil, nil, false)
	f(admin, StreamAll, ActionDelete, nil, nil, false)
	// A stream ACL: groups and user names, unset entries fall back.
	f(alice, "s", ActionRead, custom, nil, true)
	f(nil, "s", ActionRead, custom, nil, false)
	f(alice, "s", ActionWrite, custom, nil, true)
	f(NewPrincipal("bob", nil), "s", ActionWrite, custom, nil, true)
	f(NewPrincipal("carol", nil), "s", ActionWrite, custom, nil, false)
	f(admin, "s", ActionWrite, custom, nil, true) // $admins override
	f(alice, "s", ActionDelete, custom, nil, false)
	f(nil, "s", ActionMetaRead, custom, nil, true) // unset → built-in $all
	// $settings defaults apply where the stream ACL is silent.
	f(nil, "s", ActionRead, nil, settings, true)
	f(alice, "s", ActionWrite, nil, settings, false)
	f(NewPrincipal("w", []string{"writers"}), "s", ActionWrite, nil, settings, true)
	f(nil, "s", ActionDelete, nil, settings, true) // not in settings → built-in
	f(alice, "$sys", ActionRead, nil, settings, true)
	f(alice, "$sys", ActionWrite, nil, settings, false)
	f(alice, "s", ActionWrite, custom, settings, true) // stream ACL wins over settings
}

func TestCheckStreamAccessMetastreamsAndSettings(t *testing.T) {
	s, b, _ := newTestService(t)
	ctx := context.Background()
	alice := NewPrincipal("alice", nil)
	admin := NewPrincipal("admin", []string{RoleAdmins})
	b.setACL("secret", &store.StreamACL{Read: []string{"alice"}, MetaRead: []string{RoleAdmins}, MetaWrite: []string{"alice"}})
	f := func(p *Principal, stream string, a Action, want bool) {
		t.Helper()
		if got := s.CheckStreamAccess(p, stream, a); got != want {
			t.Fatalf("unexpected access for %q %s on %q; got %v; want %v", p.Name(), a, stream, got, want)
		}
	}
	f(alice, "secret", ActionRead, true)
	f(nil, "secret", ActionRead, false)
	f(alice, "$$secret", ActionRead, false) // → $mr: admins
	f(admin, "$$secret", ActionRead, true)
	f(alice, "$$secret", ActionWrite, true) // → $mw: alice
	f(nil, "$$secret", ActionWrite, false)
	f(admin, "$$secret", ActionDelete, false) // delete a metastream: never
	f(admin, "$$secret", ActionMetaRead, false)
	f(nil, "$$orders", ActionRead, true)
	f(nil, "$$$settings", ActionRead, false)

	// New $settings restrict user streams once noted.
	op := &store.Op{Kind: store.OpWrite, Stream: StreamSettings, ExpectedVersion: store.ExpectedVersionAny,
		Events: []store.NewEvent{{ID: newEventID(), Type: "$settings", IsJSON: true,
			Data: []byte(`{"$userStreamAcl":{"$r":"$admins","$w":["alice"]},"$systemStreamAcl":{"$r":"$all"}}`)}}}
	if err := b.Do(ctx, op); err != nil {
		t.Fatal(err)
	}
	if err := s.RefreshSettings(); err != nil {
		t.Fatal(err)
	}
	f(nil, "orders", ActionRead, false)
	f(alice, "orders", ActionWrite, true)
	f(NewPrincipal("bob", nil), "orders", ActionWrite, false)
	f(nil, "$stats", ActionRead, true)
	f(nil, StreamAll, ActionRead, true) // $all is a system stream: follows $systemStreamAcl

	// Invalid $settings fall back to the built-in defaults.
	op.Events[0].Data = []byte(`{"$userStreamAcl":{"$r":5}}`)
	op.Events[0].ID = newEventID()
	if err := b.Do(ctx, op); err != nil {
		t.Fatal(err)
	}
	if err := s.RefreshSettings(); err != nil {
		t.Fatal(err)
	}
	f(nil, "orders", ActionRead, true)
}

func TestNoteStreamWrittenInvalidatesUser(t *testing.T) {
	s, _, _ := newTestService(t)
	if _, err := s.Authenticate("admin", "changeit"); err != nil {
		t.Fatal(err)
	}
	s.NoteStreamWritten("$user-admin")
	if _, ok := s.AuthenticateCached([]byte("admin"), []byte("changeit")); ok {
		t.Fatal("cache kept an entry after its stream was written")
	}
}

func TestParseACL(t *testing.T) {
	f := func(in string, wantOK bool, want *store.StreamACL) {
		t.Helper()
		got, ok := ParseACL([]byte(in))
		if ok != wantOK {
			t.Fatalf("ParseACL(%s): ok=%v; want %v", in, ok, wantOK)
		}
		if !ok || want == nil {
			if want == nil && got != nil && ok {
				t.Fatalf("ParseACL(%s): got %+v; want nil", in, got)
			}
			return
		}
		eq := func(a, b []string) bool {
			if (a == nil) != (b == nil) || len(a) != len(b) {
				return false
			}
			for i := range a {
				if a[i] != b[i] {
					return false
				}
			}
			return true
		}
		if !eq(got.Read, want.Read) || !eq(got.Write, want.Write) || !eq(got.Delete, want.Delete) ||
			!eq(got.MetaRead, want.MetaRead) || !eq(got.MetaWrite, want.MetaWrite) {
			t.Fatalf("ParseACL(%s): got %+v; want %+v", in, got, want)
		}
	}
	f(`{"$r":"a","$w":["b","c"],"$d":[],"$mr":null,"x":1}`, true, &store.StreamACL{Read: []string{"a"}, Write: []string{"b", "c"}, Delete: []string{}})
	f(`null`, true, nil)
	f(`{"$r":1}`, false, nil)
	f(`[`, false, nil)
}

func TestFailedCredentialsAreRememberedBriefly(t *testing.T) {
	s, b, clk := newTestService(t)
	if _, err := s.Authenticate("admin", "wrong"); !errors.Is(err, ErrNotAuthenticated) {
		t.Fatal(err)
	}
	if !s.KnownBad([]byte("admin"), []byte("wrong")) {
		t.Fatal("failed credentials not remembered")
	}
	if s.KnownBad([]byte("admin"), []byte("changeit")) {
		t.Fatal("another password is not known bad")
	}
	reads := b.reads.Load()
	if _, err := s.Authenticate("admin", "wrong"); !errors.Is(err, ErrNotAuthenticated) {
		t.Fatal(err)
	}
	if b.reads.Load() != reads {
		t.Fatal("a remembered failure read the store again")
	}
	// The right password still works and clears the failure.
	if _, err := s.Authenticate("admin", "changeit"); err != nil {
		t.Fatal(err)
	}
	if s.KnownBad([]byte("admin"), []byte("wrong")) {
		t.Fatal("a success did not clear the failure")
	}
	// Failures expire.
	s.Authenticate("admin", "wrong")
	if !s.KnownBad([]byte("admin"), []byte("wrong")) {
		t.Fatal("failure not remembered")
	}
	clk.Add(6 * time.Second)
	if s.KnownBad([]byte("admin"), []byte("wrong")) {
		t.Fatal("failure outlived FailedCacheTTL")
	}
	// A user that does not exist is not remembered as a failure: on a
	// cluster node it may only not have been replicated yet.
	s.Authenticate("nobody", "x")
	if s.KnownBad([]byte("nobody"), []byte("x")) {
		t.Fatal("a refusal for a missing user was remembered")
	}
	// Creating the user clears its failures at once.
	s.Authenticate("carol", "pw")
	admin, _ := s.Authenticate("admin", "changeit")
	if err := s.CreateUser(context.Background(), admin, "carol", "", nil, "pw"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate("carol", "pw"); err != nil {
		t.Fatalf("new user refused after an earlier failure: %v", err)
	}
}

// TestCheckStreamAccessAgreesWithEvaluateACL checks the admin shortcut of
// CheckStreamAccess against the pure evaluation, over a grid of principals,
// streams, actions and ACLs.
func TestCheckStreamAccessAgreesWithEvaluateACL(t *testing.T) {
	s, b, _ := newTestService(t)
	acl := &store.StreamACL{Read: []string{"alice"}, Write: []string{}, Delete: []string{"$admins"}, MetaRead: []string{"bob"}, MetaWrite: []string{RoleAll}}
	b.setACL("guarded", acl)
	principals := []*Principal{nil, NewPrincipal("alice", nil), NewPrincipal("bob", []string{RoleOps}), NewPrincipal("admin", []string{RoleAdmins})}
	streams := []string{"guarded", "open", "$sys", StreamAll}
	for _, p := range principals {
		for _, st := range streams {
			var sacl *store.StreamACL
			if st == "guarded" {
				sacl = acl
			}
			for a := ActionRead; a <= ActionMetaWrite; a++ {
				if got, want := s.CheckStreamAccess(p, st, a), EvaluateACL(p, st, a, sacl, s.Settings()); got != want {
					t.Fatalf("%q %s on %q: CheckStreamAccess %v, EvaluateACL %v", p.Name(), a, st, got, want)
				}
			}
		}
	}
}

// A kept cache answer (AuthenticateCachedGen) stays Valid until it
// expires or any cached credential is dropped or replaced: a password
// reset, a disabled user, Invalidate, another login remembered.
func TestKeptCredentialGoesStale(t *testing.T) {
	s, _, clk := newTestService(t)
	ctx := context.Background()
	admin, _ := s.Authenticate("admin", "changeit")
	if err := s.CreateUser(ctx, admin, "alice", "Alice", nil, "pw1"); err != nil {
		t.Fatal(err)
	}
	keep := func() CachedCredential {
		t.Helper()
		if _, err := s.Authenticate("alice", "pw1"); err != nil {
			t.Fatal(err)
		}
		c, ok := s.AuthenticateCachedGen([]byte("alice"), []byte("pw1"))
		if !ok || c.Principal == nil || c.Principal.Login != "alice" || !s.Valid(c) {
			t.Fatalf("fresh answer: %+v %v valid %v", c, ok, s.Valid(c))
		}
		return c
	}
	if _, ok := s.AuthenticateCachedGen([]byte("alice"), []byte("wrong")); ok {
		t.Fatal("wrong password answered from the cache")
	}
	if s.Valid(CachedCredential{}) {
		t.Fatal("zero CachedCredential is valid")
	}
	c := keep()
	clk.Add(time.Minute + time.Second)
	if s.Valid(c) {
		t.Fatal("valid after expiry")
	}
	c = keep()
	s.Invalidate("alice")
	if s.Valid(c) {
		t.Fatal("valid after Invalidate")
	}
	c = keep()
	if err := s.ResetPassword(ctx, admin, "alice", "pw2"); err != nil {
		t.Fatal(err)
	}
	if s.Valid(c) {
		t.Fatal("valid after a password reset")
	}
	if err := s.ResetPassword(ctx, admin, "alice", "pw1"); err != nil {
		t.Fatal(err)
	}
	c = keep()
	if err := s.DisableUser(ctx, admin, "alice"); err != nil {
		t.Fatal(err)
	}
	if s.Valid(c) {
		t.Fatal("valid after the user was disabled")
	}
	if err := s.EnableUser(ctx, admin, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate("admin", "changeit"); err != nil { // remembered again (it expired above)
		t.Fatal(err)
	}
	c = keep()
	if _, err := s.Authenticate("admin", "changeit"); err != nil { // a hit: nothing changes
		t.Fatal(err)
	}
	if !s.Valid(c) {
		t.Fatal("a cache hit for another login made the answer stale")
	}
	if err := s.CreateUser(ctx, admin, "bob", "Bob", nil, "pw"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate("bob", "pw"); err != nil { // remembered: may evict
		t.Fatal(err)
	}
	if s.Valid(c) {
		t.Fatal("valid after another login was remembered")
	}
}
