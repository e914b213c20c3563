package auth

import "testing"

var sinkBool bool

// BenchmarkHashPassword is the cost of one PBKDF2 at the default iteration
// count: what a credential-cache miss costs a worker.
func BenchmarkHashPassword(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, _, _, err := hashPassword("changeit", HashIterationsDefault); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticateCached is the per-request cost on an event loop.
func BenchmarkAuthenticateCached(b *testing.B) {
	s, _, _ := newTestService(b)
	if _, err := s.Authenticate("admin", "changeit"); err != nil {
		b.Fatal(err)
	}
	login, pw := []byte("admin"), []byte("changeit")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, ok := s.AuthenticateCached(login, pw)
			sinkBool = ok
		}
	})
}

// BenchmarkCheckStreamAccess is the ACL check of a non-admin on a user
// stream (metadata from the backend, settings cached).
func BenchmarkCheckStreamAccess(b *testing.B) {
	s, _, _ := newTestService(b)
	p := NewPrincipal("alice", []string{"readers"})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		sinkBool = s.CheckStreamAccess(p, "orders-1", ActionWrite)
	}
}
