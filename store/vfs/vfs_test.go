package vfs_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
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

// impls returns every FS implementation with a directory to work in; the
// contract tests below run against each.
func impls(t *testing.T) map[string]func(t *testing.T) (vfs.FS, string) {
	return map[string]func(t *testing.T) (vfs.FS, string){
		"os":  func(t *testing.T) (vfs.FS, string) { return vfs.Default, t.TempDir() },
		"mem": func(t *testing.T) (vfs.FS, string) { return vfs.NewMem(), "/d" },
		"mem-untracked": func(t *testing.T) (vfs.FS, string) {
			return vfs.NewMemUntracked(), "/d"
		},
		"errorfs-mem": func(t *testing.T) (vfs.FS, string) { return errorfs.Wrap(vfs.NewMem(), nil), "/d" },
		"errorfs-os":  func(t *testing.T) (vfs.FS, string) { return errorfs.Wrap(vfs.Default, nil), t.TempDir() },
	}
}

func TestFSContract(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, fsys vfs.FS, dir string)
	}{
		{"write, read back, size", func(t *testing.T, fsys vfs.FS, dir string) {
			f, err := fsys.Create(filepath.Join(dir, "a"))
			requireNoError(t, err)
			defer f.Close()
			_, err = f.WriteAt([]byte("hello"), 0)
			requireNoError(t, err)
			_, err = f.WriteAt([]byte("world"), 10)
			requireNoError(t, err)
			got := make([]byte, 15)
			n, err := f.ReadAt(got, 0)
			requireNoError(t, err)
			if want := []byte("hello\x00\x00\x00\x00\x00world"); n != 15 || !bytes.Equal(got, want) {
				t.Fatalf("unexpected content; got %q; want %q", got[:n], want)
			}
			st, err := f.Stat()
			requireNoError(t, err)
			if st.Size() != 15 {
				t.Fatalf("unexpected size; got %d; want 15", st.Size())
			}
			n, err = f.ReadAt(got, 10)
			if n != 5 || err != io.EOF {
				t.Fatalf("unexpected short read; got %d, %v; want 5, io.EOF", n, err)
			}
			if n, err = f.ReadAt(got, 100); n != 0 || err != io.EOF {
				t.Fatalf("unexpected read past the end; got %d, %v; want 0, io.EOF", n, err)
			}
		}},
		{"sequential writes", func(t *testing.T, fsys vfs.FS, dir string) {
			f, err := fsys.Create(filepath.Join(dir, "a"))
			requireNoError(t, err)
			defer f.Close()
			for _, s := range []string{"ab", "cd", "ef"} {
				_, err := f.Write([]byte(s))
				requireNoError(t, err)
			}
			got := make([]byte, 6)
			requireNoError(t, vfs.ReadFull(f, got, 0))
			if string(got) != "abcdef" {
				t.Fatalf("unexpected content %q", got)
			}
		}},
		{"create truncates", func(t *testing.T, fsys vfs.FS, dir string) {
			p := filepath.Join(dir, "a")
			requireNoError(t, vfs.WriteFileSync(fsys, p, []byte("long content")))
			f, err := fsys.Create(p)
			requireNoError(t, err)
			defer f.Close()
			st, err := f.Stat()
			requireNoError(t, err)
			if st.Size() != 0 {
				t.Fatalf("unexpected size after Create; got %d; want 0", st.Size())
			}
		}},
		{"open missing file", func(t *testing.T, fsys vfs.FS, dir string) {
			for _, open := range []func(string) (vfs.File, error){fsys.Open, fsys.OpenReadWrite} {
				if _, err := open(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("unexpected error; got %v; want fs.ErrNotExist", err)
				}
			}
			if _, err := fsys.Stat(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("unexpected stat error; got %v; want fs.ErrNotExist", err)
			}
			if err := fsys.Remove(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("unexpected remove error; got %v; want fs.ErrNotExist", err)
			}
		}},
		{"read-only open refuses writes", func(t *testing.T, fsys vfs.FS, dir string) {
			p := filepath.Join(dir, "a")
			requireNoError(t, vfs.WriteFileSync(fsys, p, []byte("x")))
			f, err := fsys.Open(p)
			requireNoError(t, err)
			defer f.Close()
			if _, err := f.WriteAt([]byte("y"), 0); err == nil {
				t.Fatalf("write through a read-only handle succeeded")
			}
		}},
		{"truncate and preallocate", func(t *testing.T, fsys vfs.FS, dir string) {
			f, err := fsys.Create(filepath.Join(dir, "a"))
			requireNoError(t, err)
			defer f.Close()
			_, err = f.WriteAt([]byte("0123456789"), 0)
			requireNoError(t, err)
			requireNoError(t, f.Preallocate(0, 1<<16))
			requireNoError(t, f.Truncate(4))
			st, err := f.Stat()
			requireNoError(t, err)
			if st.Size() != 4 {
				t.Fatalf("unexpected size after preallocate+truncate; got %d; want 4", st.Size())
			}
			requireNoError(t, f.Truncate(8))
			got := make([]byte, 8)
			requireNoError(t, vfs.ReadFull(f, got, 0))
			if string(got) != "0123\x00\x00\x00\x00" {
				t.Fatalf("unexpected content after growing; got %q", got)
			}
			requireNoError(t, f.Sync())
		}},
		{"rename replaces, list is sorted, remove", func(t *testing.T, fsys vfs.FS, dir string) {
			requireNoError(t, vfs.WriteFileSync(fsys, filepath.Join(dir, "b"), []byte("B")))
			requireNoError(t, vfs.WriteFileSync(fsys, filepath.Join(dir, "a"), []byte("A")))
			requireNoError(t, vfs.WriteFileSync(fsys, filepath.Join(dir, "c"), []byte("C")))
			requireNoError(t, fsys.Rename(filepath.Join(dir, "c"), filepath.Join(dir, "a")))
			requireNoError(t, fsys.SyncDir(dir))
			names, err := fsys.List(dir)
			requireNoError(t, err)
			if len(names) != 2 || names[0] != "a" || names[1] != "b" {
				t.Fatalf("unexpected list %q", names)
			}
			f, err := fsys.Open(filepath.Join(dir, "a"))
			requireNoError(t, err)
			got := make([]byte, 1)
			requireNoError(t, vfs.ReadFull(f, got, 0))
			f.Close()
			if string(got) != "C" {
				t.Fatalf("unexpected content after rename; got %q; want C", got)
			}
			requireNoError(t, fsys.Remove(filepath.Join(dir, "b")))
			names, _ = fsys.List(dir)
			if len(names) != 1 {
				t.Fatalf("unexpected list after remove %q", names)
			}
		}},
		{"mkdirall nests", func(t *testing.T, fsys vfs.FS, dir string) {
			sub := filepath.Join(dir, "x", "y", "z")
			requireNoError(t, fsys.MkdirAll(sub, 0o755))
			requireNoError(t, fsys.MkdirAll(sub, 0o755))
			st, err := fsys.Stat(filepath.Join(dir, "x", "y"))
			requireNoError(t, err)
			if !st.IsDir() {
				t.Fatalf("x/y is not a directory")
			}
			requireNoError(t, vfs.WriteFileSync(fsys, filepath.Join(sub, "f"), []byte("f")))
			names, err := fsys.List(filepath.Join(dir, "x"))
			requireNoError(t, err)
			if len(names) != 1 || names[0] != "y" {
				t.Fatalf("unexpected list %q", names)
			}
			if _, err := fsys.Create(filepath.Join(dir, "nope", "f")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("create in a missing directory; got %v; want fs.ErrNotExist", err)
			}
		}},
		{"lock excludes a second holder", func(t *testing.T, fsys vfs.FS, dir string) {
			p := filepath.Join(dir, "LOCK")
			l1, err := fsys.Lock(p)
			requireNoError(t, err)
			if _, err := fsys.Lock(p); !errors.Is(err, vfs.ErrLocked) {
				t.Fatalf("second lock; got %v; want ErrLocked", err)
			}
			requireNoError(t, l1.Close())
			l2, err := fsys.Lock(p)
			requireNoError(t, err)
			requireNoError(t, l2.Close())
		}},
		{"closed file refuses operations", func(t *testing.T, fsys vfs.FS, dir string) {
			f, err := fsys.Create(filepath.Join(dir, "a"))
			requireNoError(t, err)
			requireNoError(t, f.Close())
			if _, err := f.WriteAt([]byte("x"), 0); err == nil {
				t.Fatalf("write after close succeeded")
			}
			if _, err := f.ReadAt(make([]byte, 1), 0); err == nil {
				t.Fatalf("read after close succeeded")
			}
			if err := f.Sync(); err == nil {
				t.Fatalf("sync after close succeeded")
			}
		}},
	}
	for implName, mk := range impls(t) {
		t.Run(implName, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					fsys, dir := mk(t)
					requireNoError(t, fsys.MkdirAll(dir, 0o755))
					tc.run(t, fsys, dir)
				})
			}
		})
	}
}

// TestDefaultMapReadOnly: a mapping of an OS file sees later writes made
// through the file (one page cache), and survives closing the file.
func TestDefaultMapReadOnly(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m")
	f, err := vfs.Default.Create(p)
	requireNoError(t, err)
	m, ok := f.(vfs.Mappable)
	if !ok {
		t.Fatalf("vfs.Default files are not Mappable")
	}
	requireNoError(t, f.Preallocate(0, 8192))
	_, err = f.WriteAt([]byte("before"), 0)
	requireNoError(t, err)
	data, err := m.MapReadOnly(8192)
	requireNoError(t, err)
	_, err = f.WriteAt([]byte("after!"), 100)
	requireNoError(t, err)
	requireNoError(t, f.Close())
	if string(data[0:6]) != "before" || string(data[100:106]) != "after!" {
		t.Fatalf("unexpected mapped bytes %q %q", data[0:6], data[100:106])
	}
	requireNoError(t, vfs.Unmap(data))
	// errorfs files read through the injector, so they must not offer a
	// mapping that would bypass it.
	ef, err := errorfs.Wrap(vfs.Default, nil).Open(p)
	requireNoError(t, err)
	defer ef.Close()
	if _, ok := ef.(vfs.Mappable); ok {
		t.Fatalf("errorfs files must not be Mappable")
	}
}

// TestMemCrashClone checks what survives a simulated crash: only data
// synced with File.Sync, only entries synced with SyncDir.
func TestMemCrashClone(t *testing.T) {
	read := func(t *testing.T, fsys vfs.FS, p string) (string, bool) {
		t.Helper()
		f, err := fsys.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			return "", false
		}
		requireNoError(t, err)
		defer f.Close()
		st, err := f.Stat()
		requireNoError(t, err)
		b := make([]byte, st.Size())
		requireNoError(t, vfs.ReadFull(f, b, 0))
		return string(b), true
	}
	cases := []struct {
		name      string
		do        func(t *testing.T, m *vfs.MemFS)
		path      string
		want      string
		wantExist bool
	}{
		{"created and synced, directory not synced: gone", func(t *testing.T, m *vfs.MemFS) {
			f, _ := m.Create("/d/a")
			f.WriteAt([]byte("data"), 0)
			requireNoError(t, f.Sync())
		}, "/d/a", "", false},
		{"directory synced, data never synced: empty", func(t *testing.T, m *vfs.MemFS) {
			f, _ := m.Create("/d/a")
			f.WriteAt([]byte("data"), 0)
			requireNoError(t, m.SyncDir("/d"))
		}, "/d/a", "", true},
		{"writes after the last sync are lost", func(t *testing.T, m *vfs.MemFS) {
			f, _ := m.Create("/d/a")
			requireNoError(t, m.SyncDir("/d"))
			f.WriteAt([]byte("one"), 0)
			requireNoError(t, f.Sync())
			f.WriteAt([]byte("TWO"), 0)
			f.WriteAt([]byte("more"), 3)
		}, "/d/a", "one", true},
		{"overwrite in the middle then sync", func(t *testing.T, m *vfs.MemFS) {
			f, _ := m.Create("/d/a")
			requireNoError(t, m.SyncDir("/d"))
			f.WriteAt([]byte("0123456789"), 0)
			requireNoError(t, f.Sync())
			f.WriteAt([]byte("xy"), 4)
			requireNoError(t, f.Sync())
			f.WriteAt([]byte("zz"), 0)
		}, "/d/a", "0123xy6789", true},
		{"truncate synced", func(t *testing.T, m *vfs.MemFS) {
			f, _ := m.Create("/d/a")
			requireNoError(t, m.SyncDir("/d"))
			f.WriteAt([]byte("0123456789"), 0)
			requireNoError(t, f.Sync())
			f.Truncate(3)
			requireNoError(t, f.Sync())
			f.WriteAt([]byte("abc"), 3)
		}, "/d/a", "012", true},
		{"truncate then regrow synced", func(t *testing.T, m *vfs.MemFS) {
			f, _ := m.Create("/d/a")
			requireNoError(t, m.SyncDir("/d"))
			f.WriteAt([]byte("0123456789"), 0)
			requireNoError(t, f.Sync())
			f.Truncate(3)
			f.WriteAt([]byte("ab"), 5)
			requireNoError(t, f.Sync())
		}, "/d/a", "012\x00\x00ab", true},
		{"rename without directory sync keeps the old name", func(t *testing.T, m *vfs.MemFS) {
			requireNoError(t, vfs.WriteFileSync(m, "/d/old", []byte("x")))
			requireNoError(t, m.Rename("/d/old", "/d/new"))
		}, "/d/old", "x", true},
		{"rename without directory sync: new name gone", func(t *testing.T, m *vfs.MemFS) {
			requireNoError(t, vfs.WriteFileSync(m, "/d/old", []byte("x")))
			requireNoError(t, m.Rename("/d/old", "/d/new"))
		}, "/d/new", "", false},
		{"rename with directory sync", func(t *testing.T, m *vfs.MemFS) {
			requireNoError(t, vfs.WriteFileSync(m, "/d/old", []byte("x")))
			requireNoError(t, m.Rename("/d/old", "/d/new"))
			requireNoError(t, m.SyncDir("/d"))
		}, "/d/new", "x", true},
		{"remove without directory sync comes back", func(t *testing.T, m *vfs.MemFS) {
			requireNoError(t, vfs.WriteFileSync(m, "/d/a", []byte("x")))
			requireNoError(t, m.Remove("/d/a"))
		}, "/d/a", "x", true},
		{"remove with directory sync is gone", func(t *testing.T, m *vfs.MemFS) {
			requireNoError(t, vfs.WriteFileSync(m, "/d/a", []byte("x")))
			requireNoError(t, m.Remove("/d/a"))
			requireNoError(t, m.SyncDir("/d"))
		}, "/d/a", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := vfs.NewMem()
			requireNoError(t, m.MkdirAll("/d", 0o755))
			tc.do(t, m)
			c := m.CrashClone()
			got, ok := read(t, c, tc.path)
			if ok != tc.wantExist || got != tc.want {
				t.Fatalf("unexpected %s after crash; got %q (exists %v); want %q (exists %v)", tc.path, got, ok, tc.want, tc.wantExist)
			}
			// The clone is independent of the original.
			if ok {
				f, err := c.OpenReadWrite(tc.path)
				requireNoError(t, err)
				f.WriteAt([]byte("CLONE"), 0)
				f.Close()
				orig, _ := read(t, m, tc.path)
				if bytes.Contains([]byte(orig), []byte("CLONE")) {
					t.Fatalf("writing the clone changed the original")
				}
			}
		})
	}
}

func TestMemUntrackedCrashClonePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatalf("CrashClone on an untracked MemFS did not panic")
		}
	}()
	vfs.NewMemUntracked().CrashClone()
}

// TestMemCrashCloneReleasesLocks: a crash ends the process holding the lock.
func TestMemCrashCloneReleasesLocks(t *testing.T) {
	m := vfs.NewMem()
	requireNoError(t, m.MkdirAll("/d", 0o755))
	_, err := m.Lock("/d/LOCK")
	requireNoError(t, err)
	l, err := m.CrashClone().Lock("/d/LOCK")
	requireNoError(t, err)
	l.Close()
}
