package errorfs_test

import (
	"errors"
	"syscall"
	"testing"

	"github.com/eventstored/eventstored/store/vfs"
	"github.com/eventstored/eventstored/store/vfs/errorfs"
)

func requireNoError(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// script runs a fixed sequence of 7 operations and returns the first error.
func script(fsys vfs.FS) error {
	if err := fsys.MkdirAll("/d", 0o755); err != nil { // 0
		return err
	}
	f, err := fsys.Create("/d/a") // 1
	if err != nil {
		return err
	}
	defer f.Close()                                        // 6
	if _, err := f.WriteAt([]byte("abc"), 0); err != nil { // 2
		return err
	}
	if err := f.Sync(); err != nil { // 3
		return err
	}
	if err := fsys.SyncDir("/d"); err != nil { // 4
		return err
	}
	_, err = f.ReadAt(make([]byte, 3), 0) // 5
	return err
}

func TestInjectIndex(t *testing.T) {
	for n := int64(0); ; n++ {
		inj := errorfs.NewInjectIndex(n)
		err := script(errorfs.Wrap(vfs.NewMem(), inj))
		if !inj.Fired() {
			requireNoError(t, err)
			if n != 7 {
				t.Fatalf("unexpected operation count; got %d; want 7", n)
			}
			return
		}
		if n < 6 && !errors.Is(err, errorfs.ErrInjected) {
			t.Fatalf("op %d: unexpected error; got %v; want ErrInjected", n, err)
		}
	}
}

func TestInjectIf(t *testing.T) {
	inj := errorfs.NewInjectIf(func(op errorfs.Op) bool { return op.Kind == errorfs.OpFileSync })
	fsys := errorfs.Wrap(vfs.NewMem(), inj)
	if err := script(fsys); !errors.Is(err, errorfs.ErrInjected) {
		t.Fatalf("unexpected error; got %v; want ErrInjected", err)
	}
	if inj.Hits() != 1 {
		t.Fatalf("unexpected hits; got %d; want 1", inj.Hits())
	}
	inj.SetArmed(false)
	requireNoError(t, script(errorfs.Wrap(vfs.NewMem(), inj)))
}

func TestCapacity(t *testing.T) {
	mem := vfs.NewMem()
	fsys := errorfs.Wrap(mem, nil)
	requireNoError(t, fsys.MkdirAll("/d", 0o755))
	fsys.SetCapacityBytes(100)
	f, err := fsys.Create("/d/a")
	requireNoError(t, err)
	defer f.Close()
	requireNoError(t, f.Preallocate(0, 60))
	if err := f.Preallocate(0, 101); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("unexpected preallocate past capacity; got %v; want ENOSPC", err)
	}
	// Writing inside the preallocation needs no more space.
	_, err = f.WriteAt(make([]byte, 60), 0)
	requireNoError(t, err)
	g, err := fsys.Create("/d/b")
	requireNoError(t, err)
	defer g.Close()
	if _, err := g.WriteAt(make([]byte, 41), 0); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("unexpected write past capacity; got %v; want ENOSPC", err)
	}
	if st, _ := g.Stat(); st.Size() != 0 {
		t.Fatalf("a refused write wrote %d bytes", st.Size())
	}
	_, err = g.WriteAt(make([]byte, 40), 0)
	requireNoError(t, err)
	if fsys.UsedBytes() != 100 {
		t.Fatalf("unexpected used bytes; got %d; want 100", fsys.UsedBytes())
	}
	// Shrinking and removing free space; raising the capacity too.
	requireNoError(t, f.Truncate(10))
	requireNoError(t, fsys.Remove("/d/b"))
	if fsys.UsedBytes() != 10 {
		t.Fatalf("unexpected used bytes after freeing; got %d; want 10", fsys.UsedBytes())
	}
	requireNoError(t, f.Preallocate(0, 100))
	if err := f.Preallocate(0, 200); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("unexpected preallocate past capacity; got %v; want ENOSPC", err)
	}
	fsys.SetCapacityBytes(-1)
	requireNoError(t, f.Preallocate(0, 1<<20))
}
