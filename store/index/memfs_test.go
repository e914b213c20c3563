package index

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// memFS is an in-memory FS for tests with crash semantics: file data is
// durable up to its last Sync, directory entries up to the last SyncDir of
// their directory. crashClone returns what a machine crash would leave.
// TODO(index): switch to store/vfs's mem FS when the tlog branch lands.
type memFS struct {
	mu      sync.Mutex
	names   map[string]*memInode // current namespace
	durable map[string]*memInode // namespace as of the last SyncDir
	dirs    map[string]bool
	// failAfter, when > 0, counts down mutating operations (Create, Write,
	// Sync, Rename, Remove, SyncDir); the one that reaches zero and all
	// later ones fail with errInjected.
	failAfter int
	failed    bool
}

var errInjected = errors.New("injected fault")

type memInode struct {
	mu     sync.Mutex
	data   []byte
	synced []byte
}

func newMemFS() *memFS {
	return &memFS{names: map[string]*memInode{}, durable: map[string]*memInode{}, dirs: map[string]bool{}}
}

func (m *memFS) faultLocked() error {
	if m.failed {
		return errInjected
	}
	if m.failAfter > 0 {
		m.failAfter--
		if m.failAfter == 0 {
			m.failed = true
			return errInjected
		}
	}
	return nil
}

func (m *memFS) fault() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.faultLocked()
}

func (m *memFS) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.faultLocked(); err != nil {
		return nil, err
	}
	ino := &memInode{}
	m.names[filepath.Clean(name)] = ino
	return &memFile{fs: m, ino: ino, writable: true}, nil
}

func (m *memFS) Open(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ino, ok := m.names[filepath.Clean(name)]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &memFile{fs: m, ino: ino}, nil
}

func (m *memFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.faultLocked(); err != nil {
		return err
	}
	name = filepath.Clean(name)
	if _, ok := m.names[name]; !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(m.names, name)
	return nil
}

func (m *memFS) Rename(o, n string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.faultLocked(); err != nil {
		return err
	}
	o, n = filepath.Clean(o), filepath.Clean(n)
	ino, ok := m.names[o]
	if !ok {
		return &fs.PathError{Op: "rename", Path: o, Err: fs.ErrNotExist}
	}
	delete(m.names, o)
	m.names[n] = ino
	return nil
}

func (m *memFS) MkdirAll(dir string, _ os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dirs[filepath.Clean(dir)] = true
	return nil
}

func (m *memFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir = filepath.Clean(dir)
	var out []string
	for n := range m.names {
		if filepath.Dir(n) == dir {
			out = append(out, filepath.Base(n))
		}
	}
	sort.Strings(out)
	return out, nil
}

func (m *memFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.faultLocked(); err != nil {
		return err
	}
	dir = filepath.Clean(dir)
	for n := range m.durable {
		if filepath.Dir(n) == dir {
			delete(m.durable, n)
		}
	}
	for n, ino := range m.names {
		if filepath.Dir(n) == dir {
			m.durable[n] = ino
		}
	}
	return nil
}

// crashClone returns the FS a crash at this instant would leave behind.
func (m *memFS) crashClone() *memFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := newMemFS()
	for d := range m.dirs {
		c.dirs[d] = true
	}
	for n, ino := range m.durable {
		ino.mu.Lock()
		ni := &memInode{data: append([]byte(nil), ino.synced...), synced: append([]byte(nil), ino.synced...)}
		ino.mu.Unlock()
		c.names[n] = ni
		c.durable[n] = ni
	}
	return c
}

// corrupt flips one byte of the named file (data and durable copy).
func (m *memFS) corrupt(name string, off int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ino := m.names[filepath.Clean(name)]
	ino.mu.Lock()
	defer ino.mu.Unlock()
	ino.data[off] ^= 0x5A
	if off < len(ino.synced) {
		ino.synced[off] ^= 0x5A
	}
}

func (m *memFS) fileNames(dir, prefix string) []string {
	names, _ := m.List(dir)
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}

type memFile struct {
	fs       *memFS
	ino      *memInode
	writable bool
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.ino.mu.Lock()
	defer f.ino.mu.Unlock()
	if off >= int64(len(f.ino.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.ino.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	if !f.writable {
		return 0, errors.New("memfs: file not open for writing")
	}
	if err := f.fs.fault(); err != nil {
		return 0, err
	}
	f.ino.mu.Lock()
	defer f.ino.mu.Unlock()
	f.ino.data = append(f.ino.data, p...)
	return len(p), nil
}

func (f *memFile) Sync() error {
	if err := f.fs.fault(); err != nil {
		return err
	}
	f.ino.mu.Lock()
	defer f.ino.mu.Unlock()
	f.ino.synced = append(f.ino.synced[:0], f.ino.data...)
	return nil
}

func (f *memFile) Close() error { return nil }

func (f *memFile) Size() (int64, error) {
	f.ino.mu.Lock()
	defer f.ino.mu.Unlock()
	return int64(len(f.ino.data)), nil
}
