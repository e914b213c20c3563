package index

import (
	"strings"
	"sync"
	"testing"

	"github.com/eventstored/eventstored/store/vfs"
	"github.com/eventstored/eventstored/store/vfs/errorfs"
)

func newMemFS() *vfs.MemFS { return vfs.NewMem() }

// corruptByte flips one byte of a file in place.
func corruptByte(t testing.TB, fsys vfs.FS, name string, off int64) {
	t.Helper()
	f, err := fsys.OpenReadWrite(name)
	requireNoError(t, err)
	var b [1]byte
	requireNoError(t, vfs.ReadFull(f, b[:], off))
	b[0] ^= 0x5A
	_, err = f.WriteAt(b[:], off)
	requireNoError(t, err)
	requireNoError(t, f.Sync())
	requireNoError(t, f.Close())
}

func sizeOf(t testing.TB, fsys vfs.FS, name string) int64 {
	t.Helper()
	st, err := fsys.Stat(name)
	requireNoError(t, err)
	return st.Size()
}

func fileNames(fsys vfs.FS, dir, prefix string) []string {
	names, _ := fsys.List(dir)
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}

// stickyFault fails the Nth filesystem-changing operation (1-based) and
// every later one, like a disk that has gone bad.
type stickyFault struct {
	mu     sync.Mutex
	n      int
	seen   int
	failed bool
}

func (s *stickyFault) MaybeError(op errorfs.Op) error {
	if !op.Kind.IsWrite() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n <= 0 {
		return nil
	}
	s.seen++
	if s.failed || s.seen >= s.n {
		s.failed = true
		return errorfs.ErrInjected
	}
	return nil
}

func (s *stickyFault) arm(n int) {
	s.mu.Lock()
	s.n, s.seen, s.failed = n, 0, false
	s.mu.Unlock()
}

func (s *stickyFault) hasFailed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}
