package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/eventstored/eventstored/store"
)

// Replica tests: two services share one backend, as two cluster nodes
// share the replicated log. "master" changes users through this package;
// "replica" (StartReplica) only sees the writes appear in its backend,
// followed by a commit notification, as replication applies them. Its
// watcher runs on its own goroutine, so each test waits (bounded by a
// deadline, never asserting a duration) for the effect.

func newReplicaPair(t *testing.T) (replica, master *Service, b *memBackend) {
	t.Helper()
	b = newMemBackend()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	replica = New(Options{Backend: b, HashIterations: 1000, Logger: quiet})
	if err := replica.StartReplica(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(replica.Stop)
	master = New(Options{Backend: b, HashIterations: 1000, Logger: quiet})
	return replica, master, b
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestReplicaLoginSucceedsOnceUserReplicated: a replica started before
// the master created the default users answers not ready (it has no user
// at all to judge credentials by), and takes admin/changeit as soon as
// the user is in its log: the refusal was not remembered. Afterwards an
// unknown login is refused as such.
func TestReplicaLoginSucceedsOnceUserReplicated(t *testing.T) {
	replica, master, _ := newReplicaPair(t)
	for i := 0; i < 3; i++ {
		if _, err := replica.Authenticate("admin", "changeit"); !errors.Is(err, ErrNotReady) {
			t.Fatalf("login before any user exists: %v; want ErrNotReady", err)
		}
	}
	if replica.KnownBad([]byte("admin"), []byte("changeit")) {
		t.Fatal("the refusal for a user not replicated yet is remembered")
	}
	if err := master.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p, err := replica.Authenticate("admin", "changeit"); err != nil || !p.IsAdmin() {
		t.Fatalf("login right after the user was applied: %v, %v", p, err)
	}
	if _, err := replica.Authenticate("nobody", "x"); !errors.Is(err, ErrNotAuthenticated) {
		t.Fatalf("unknown login once users exist: %v; want ErrNotAuthenticated", err)
	}
	if _, err := master.Authenticate("nobody", "x"); !errors.Is(err, ErrNotAuthenticated) {
		t.Fatalf("unknown login on a service started with Start: %v; want ErrNotAuthenticated", err)
	}
}

// TestReplicaDropsCredentialsChangedElsewhere: credentials cached on the
// replica stop working when a password reset, a disable or a delete made
// on the master is applied, and a new password refused before the change
// is taken after it (the $users-password-notifications watcher).
func TestReplicaDropsCredentialsChangedElsewhere(t *testing.T) {
	replica, master, _ := newReplicaPair(t)
	ctx := context.Background()
	if err := master.Start(ctx); err != nil {
		t.Fatal(err)
	}
	admin, err := master.Authenticate("admin", "changeit")
	if err != nil {
		t.Fatal(err)
	}
	if err := master.CreateUser(ctx, admin, "carol", "Carol", nil, "old"); err != nil {
		t.Fatal(err)
	}
	// Both answers end up cached once the replica's watcher has handled
	// carol's creation (an invalidation meanwhile keeps an answer out of
	// the caches, so this is retried).
	eventually(t, "the replica caches carol's answers", func() error {
		if _, err := replica.Authenticate("carol", "old"); err != nil {
			return err
		}
		if _, err := replica.Authenticate("carol", "new"); !errors.Is(err, ErrNotAuthenticated) {
			return fmt.Errorf("wrong password: %v", err)
		}
		if _, ok := replica.AuthenticateCached([]byte("carol"), []byte("old")); !ok {
			return errors.New("the password is not cached")
		}
		if !replica.KnownBad([]byte("carol"), []byte("new")) {
			return errors.New("the wrong password is not remembered")
		}
		return nil
	})
	if err := master.ResetPassword(ctx, admin, "carol", "new"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the replica still trusts the old password", func() error {
		if _, ok := replica.AuthenticateCached([]byte("carol"), []byte("old")); ok {
			return errors.New("cached")
		}
		if replica.KnownBad([]byte("carol"), []byte("new")) {
			return errors.New("the new password is still known bad")
		}
		return nil
	})
	if _, err := replica.Authenticate("carol", "old"); !errors.Is(err, ErrNotAuthenticated) {
		t.Fatalf("old password after the reset: %v", err)
	}
	if _, err := replica.Authenticate("carol", "new"); err != nil {
		t.Fatalf("new password after the reset: %v", err)
	}
	if err := master.DisableUser(ctx, admin, "carol"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the replica still trusts a disabled user", func() error {
		if _, ok := replica.AuthenticateCached([]byte("carol"), []byte("new")); ok {
			return errors.New("cached")
		}
		return nil
	})
	if _, err := replica.Authenticate("carol", "new"); !errors.Is(err, ErrNotAuthenticated) {
		t.Fatalf("disabled user: %v", err)
	}
}

// TestReplicaReloadsReplicatedSettings: a $settings event written
// elsewhere changes the replica's default ACLs once applied.
func TestReplicaReloadsReplicatedSettings(t *testing.T) {
	replica, _, b := newReplicaPair(t)
	body := []byte(`{"$userStreamAcl":{"$r":"$admins"}}`)
	op := &store.Op{Kind: store.OpWrite, Stream: StreamSettings, ExpectedVersion: store.ExpectedVersionAny,
		Events: []store.NewEvent{{Type: "$settings", IsJSON: true, Data: body}}}
	if err := b.Do(context.Background(), op); err != nil {
		t.Fatal(err)
	}
	eventually(t, "anonymous reads of user streams still allowed", func() error {
		if replica.CheckStreamAccess(nil, "orders", ActionRead) {
			return errors.New("allowed")
		}
		return nil
	})
}

// TestCachingSkippedAfterConcurrentInvalidation: an invalidation between
// Authenticate's read of the user and the caching of its answer (a
// replicated change applied meanwhile) keeps that answer out of both
// caches.
func TestCachingSkippedAfterConcurrentInvalidation(t *testing.T) {
	s, b, _ := newTestService(t)
	b.readHook = func(stream string) {
		if stream == UserStreamPrefix+"admin" {
			s.Invalidate("admin")
		}
	}
	defer func() { b.readHook = nil }()
	if _, err := s.Authenticate("admin", "changeit"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.AuthenticateCached([]byte("admin"), []byte("changeit")); ok {
		t.Fatal("credentials checked against a record invalidated meanwhile were cached")
	}
	if _, err := s.Authenticate("admin", "wrong"); !errors.Is(err, ErrNotAuthenticated) {
		t.Fatal(err)
	}
	if s.KnownBad([]byte("admin"), []byte("wrong")) {
		t.Fatal("a failure checked against a record invalidated meanwhile was remembered")
	}
	b.readHook = nil
	if _, err := s.Authenticate("admin", "changeit"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.AuthenticateCached([]byte("admin"), []byte("changeit")); !ok {
		t.Fatal("without an invalidation the credentials are cached")
	}
}

// TestReplicaStopEndsWatcher: Stop returns once the watcher goroutine has
// ended, twice is fine, and commits afterwards do not block the
// committer.
func TestReplicaStopEndsWatcher(t *testing.T) {
	replica, master, _ := newReplicaPair(t)
	replica.Stop()
	replica.Stop()
	select {
	case <-replica.watch.done:
	default:
		t.Fatal("Stop returned before the watcher ended")
	}
	for i := 0; i < 3; i++ { // each Do pokes the stopped watcher
		if err := master.Start(context.Background()); err != nil {
			t.Fatal(fmt.Errorf("commit after Stop: %w", err))
		}
	}
}
