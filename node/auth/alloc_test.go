//go:build !race

package auth

import "testing"

// TestAuthenticateCachedAllocatesNothing proves the per-request fast path
// the TCP service runs on its event loops allocates nothing.
func TestAuthenticateCachedAllocatesNothing(t *testing.T) {
	s, _, _ := newTestService(t)
	if _, err := s.Authenticate("admin", "changeit"); err != nil {
		t.Fatal(err)
	}
	login, pw := []byte("admin"), []byte("changeit")
	allocs := testing.AllocsPerRun(1000, func() {
		if _, ok := s.AuthenticateCached(login, pw); !ok {
			t.Fatal("cache miss")
		}
	})
	if allocs != 0 {
		t.Fatalf("unexpected allocations; got %v; want 0", allocs)
	}
}

func TestKnownBadAllocatesNothing(t *testing.T) {
	s, _, _ := newTestService(t)
	s.Authenticate("admin", "wrong")
	login, pw := []byte("admin"), []byte("wrong")
	allocs := testing.AllocsPerRun(1000, func() {
		if !s.KnownBad(login, pw) {
			t.Fatal("not known bad")
		}
	})
	if allocs != 0 {
		t.Fatalf("unexpected allocations; got %v; want 0", allocs)
	}
}
