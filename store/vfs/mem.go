package vfs

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// MemFS is an in-memory FS. With crash tracking (NewMem) it remembers, per
// file, the bytes as of the last Sync and, per directory, the entries as of
// the last SyncDir, so CrashClone can produce the filesystem a machine would
// find after losing power at this instant. NewMemUntracked skips that
// bookkeeping (half the memory) for --mem-db.
type MemFS struct {
	mu        sync.Mutex
	trackSync bool
	dirs      map[string]*memDir
	locks     map[string]bool
}

type memDir struct {
	entries map[string]*memNode // current directory entries
	synced  map[string]*memNode // entries as of the last SyncDir
}

type memNode struct {
	mu     sync.RWMutex
	data   []byte
	synced []byte // nil until the first Sync; only with trackSync
	// dirtyLo/dirtyHi bound the bytes written since the last Sync, so Sync
	// copies only what changed (a 256 MiB chunk is not copied per flush).
	dirtyLo, dirtyHi int64
	modTime          time.Time
}

// NewMem returns an empty in-memory filesystem with crash tracking.
func NewMem() *MemFS { return newMem(true) }

// NewMemUntracked returns an empty in-memory filesystem without crash
// tracking; CrashClone panics on it.
func NewMemUntracked() *MemFS { return newMem(false) }

func newMem(track bool) *MemFS {
	m := &MemFS{trackSync: track, dirs: map[string]*memDir{}, locks: map[string]bool{}}
	m.dirs["/"] = newMemDir()
	m.dirs["."] = newMemDir()
	return m
}

func newMemDir() *memDir {
	return &memDir{entries: map[string]*memNode{}, synced: map[string]*memNode{}}
}

// CrashClone returns a new filesystem holding only what a crash at this
// instant would leave behind: for every directory, the entries present at
// its last SyncDir; for every such file, the bytes present at its last Sync
// (an empty file if it was never synced). Open handles do not carry over and
// locks are released. The receiver is unchanged.
func (m *MemFS) CrashClone() *MemFS {
	if !m.trackSync {
		panic("BUG: vfs: CrashClone on a MemFS made by NewMemUntracked")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c := newMem(true)
	clones := map[*memNode]*memNode{}
	for path, d := range m.dirs {
		nd := newMemDir()
		for name, n := range d.synced {
			cn, ok := clones[n]
			if !ok {
				n.mu.RLock()
				cn = &memNode{data: append([]byte(nil), n.synced...), modTime: n.modTime}
				cn.synced = append([]byte(nil), n.synced...)
				n.mu.RUnlock()
				clones[n] = cn
			}
			nd.entries[name] = cn
			nd.synced[name] = cn
		}
		c.dirs[path] = nd
	}
	return c
}

func (m *MemFS) split(name string) (dir, base string) {
	name = filepath.Clean(name)
	return filepath.Dir(name), filepath.Base(name)
}

func pathErr(op, name string, err error) error { return &fs.PathError{Op: op, Path: name, Err: err} }

// The methods below implement FS; see FS for their contracts. Paths are
// cleaned with filepath.Clean; only files can be renamed.

// Create implements FS.
func (m *MemFS) Create(name string) (File, error) {
	dir, base := m.split(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.dirs[dir]
	if !ok {
		return nil, pathErr("create", name, fs.ErrNotExist)
	}
	if _, isDir := m.dirs[filepath.Clean(name)]; isDir {
		return nil, pathErr("create", name, fs.ErrExist)
	}
	n := d.entries[base]
	if n == nil {
		n = &memNode{modTime: time.Now()}
		d.entries[base] = n
	} else {
		// O_TRUNC on an existing file.
		n.mu.Lock()
		n.data = n.data[:0]
		n.markDirty(0, 0, m.trackSync)
		n.mu.Unlock()
	}
	return &memFile{fs: m, node: n, name: name, write: true}, nil
}

func (m *MemFS) open(name string, write bool) (File, error) {
	dir, base := m.split(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.dirs[dir]
	if !ok {
		return nil, pathErr("open", name, fs.ErrNotExist)
	}
	n := d.entries[base]
	if n == nil {
		return nil, pathErr("open", name, fs.ErrNotExist)
	}
	return &memFile{fs: m, node: n, name: name, write: write}, nil
}

func (m *MemFS) Open(name string) (File, error)          { return m.open(name, false) }
func (m *MemFS) OpenReadWrite(name string) (File, error) { return m.open(name, true) }

func (m *MemFS) Remove(name string) error {
	dir, base := m.split(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	clean := filepath.Clean(name)
	if sub, isDir := m.dirs[clean]; isDir {
		if len(sub.entries) > 0 || m.hasSubdirLocked(clean) {
			return pathErr("remove", name, fmt.Errorf("directory not empty"))
		}
		delete(m.dirs, clean)
		return nil
	}
	d, ok := m.dirs[dir]
	if !ok || d.entries[base] == nil {
		return pathErr("remove", name, fs.ErrNotExist)
	}
	delete(d.entries, base)
	return nil
}

func (m *MemFS) hasSubdirLocked(dir string) bool {
	for p := range m.dirs {
		if p != dir && filepath.Dir(p) == dir {
			return true
		}
	}
	return false
}

func (m *MemFS) Rename(oldname, newname string) error {
	od, ob := m.split(oldname)
	nd, nb := m.split(newname)
	m.mu.Lock()
	defer m.mu.Unlock()
	src, ok := m.dirs[od]
	if !ok || src.entries[ob] == nil {
		return pathErr("rename", oldname, fs.ErrNotExist)
	}
	dst, ok := m.dirs[nd]
	if !ok {
		return pathErr("rename", newname, fs.ErrNotExist)
	}
	n := src.entries[ob]
	delete(src.entries, ob)
	dst.entries[nb] = n
	return nil
}

func (m *MemFS) MkdirAll(dir string, perm os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir = filepath.Clean(dir)
	for p := dir; ; p = filepath.Dir(p) {
		if _, ok := m.dirs[p]; ok {
			break
		}
		parent, base := filepath.Dir(p), filepath.Base(p)
		if pd, ok := m.dirs[parent]; ok && pd.entries[base] != nil {
			return pathErr("mkdir", p, fmt.Errorf("not a directory"))
		}
		m.dirs[p] = newMemDir()
		if parent == p {
			break
		}
	}
	return nil
}

func (m *MemFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir = filepath.Clean(dir)
	d, ok := m.dirs[dir]
	if !ok {
		return nil, pathErr("list", dir, fs.ErrNotExist)
	}
	names := make([]string, 0, len(d.entries))
	for name := range d.entries {
		names = append(names, name)
	}
	for p := range m.dirs {
		if p != dir && filepath.Dir(p) == dir {
			names = append(names, filepath.Base(p))
		}
	}
	sort.Strings(names)
	return names, nil
}

func (m *MemFS) Stat(name string) (fs.FileInfo, error) {
	dir, base := m.split(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.dirs[filepath.Clean(name)]; ok {
		return memInfo{name: base, dir: true}, nil
	}
	d, ok := m.dirs[dir]
	if !ok || d.entries[base] == nil {
		return nil, pathErr("stat", name, fs.ErrNotExist)
	}
	return d.entries[base].info(base), nil
}

func (m *MemFS) Lock(name string) (io.Closer, error) {
	clean := filepath.Clean(name)
	m.mu.Lock()
	if m.locks[clean] {
		m.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrLocked, name)
	}
	m.locks[clean] = true
	m.mu.Unlock()
	// Like flock on a real file, the lock file itself is created.
	if _, err := m.Stat(name); err != nil {
		f, err := m.Create(name)
		if err != nil {
			m.unlock(clean)
			return nil, err
		}
		f.Close()
	}
	return &memLock{fs: m, name: clean}, nil
}

func (m *MemFS) unlock(name string) {
	m.mu.Lock()
	delete(m.locks, name)
	m.mu.Unlock()
}

type memLock struct {
	fs   *MemFS
	name string
	once sync.Once
}

func (l *memLock) Close() error {
	l.once.Do(func() { l.fs.unlock(l.name) })
	return nil
}

func (m *MemFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.dirs[filepath.Clean(dir)]
	if !ok {
		return pathErr("syncdir", dir, fs.ErrNotExist)
	}
	if m.trackSync {
		d.synced = make(map[string]*memNode, len(d.entries))
		for k, v := range d.entries {
			d.synced[k] = v
		}
	}
	return nil
}

// markDirty records that [lo, hi) changed. REQUIRES: n.mu held for writing.
func (n *memNode) markDirty(lo, hi int64, track bool) {
	n.modTime = time.Now()
	if !track {
		return
	}
	if n.dirtyLo == n.dirtyHi {
		n.dirtyLo, n.dirtyHi = lo, hi
		return
	}
	n.dirtyLo = min(n.dirtyLo, lo)
	n.dirtyHi = max(n.dirtyHi, hi)
}

func (n *memNode) info(name string) memInfo {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return memInfo{name: name, size: int64(len(n.data)), mod: n.modTime}
}

type memInfo struct {
	name string
	size int64
	dir  bool
	mod  time.Time
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64  { return i.size }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i memInfo) ModTime() time.Time { return i.mod }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }

type memFile struct {
	fs     *MemFS
	node   *memNode
	name   string
	write  bool
	closed atomic.Bool
	offMu  sync.Mutex
	off    int64
}

func (f *memFile) check(op string, write bool) error {
	if f.closed.Load() {
		return pathErr(op, f.name, fs.ErrClosed)
	}
	if write && !f.write {
		return pathErr(op, f.name, fs.ErrPermission)
	}
	return nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, pathErr("read", f.name, fs.ErrInvalid)
	}
	n := f.node
	n.mu.RLock()
	defer n.mu.RUnlock()
	if off >= int64(len(n.data)) {
		return 0, io.EOF
	}
	c := copy(p, n.data[off:])
	if c < len(p) {
		return c, io.EOF
	}
	return c, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, pathErr("write", f.name, fs.ErrInvalid)
	}
	n := f.node
	n.mu.Lock()
	defer n.mu.Unlock()
	end := off + int64(len(p))
	dirtyLo := off
	if end > int64(len(n.data)) {
		// The gap between the old end and off is new (zero) data too.
		dirtyLo = min(off, int64(len(n.data)))
		if end > int64(cap(n.data)) {
			grown := make([]byte, end, max(end, int64(cap(n.data))*2))
			copy(grown, n.data)
			n.data = grown
		} else {
			old := len(n.data)
			n.data = n.data[:end]
			clear(n.data[old:])
		}
	}
	copy(n.data[off:], p)
	n.markDirty(dirtyLo, end, f.fs.trackSync)
	return len(p), nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.offMu.Lock()
	defer f.offMu.Unlock()
	n, err := f.WriteAt(p, f.off)
	f.off += int64(n)
	return n, err
}

func (f *memFile) Sync() error {
	if err := f.check("sync", false); err != nil {
		return err
	}
	n := f.node
	n.mu.Lock()
	defer n.mu.Unlock()
	if !f.fs.trackSync {
		return nil
	}
	size := int64(len(n.data))
	switch old := int64(len(n.synced)); {
	case n.synced == nil || size > int64(cap(n.synced)):
		// Grow geometrically so a file growing by small synced appends
		// does not reallocate on every Sync.
		s := make([]byte, size, max(size, 2*int64(cap(n.synced))))
		copy(s, n.synced)
		n.synced = s
	case size > old:
		n.synced = n.synced[:size]
		clear(n.synced[old:])
	default:
		n.synced = n.synced[:size]
	}
	// Bytes past the old synced size were written since the last Sync; the
	// dirty range covers them (growth always marks dirty).
	lo, hi := min(n.dirtyLo, size), min(n.dirtyHi, size)
	if lo < hi {
		copy(n.synced[lo:hi], n.data[lo:hi])
	}
	n.dirtyLo, n.dirtyHi = 0, 0
	return nil
}

// Preallocate reserves capacity in memory; the size does not change.
func (f *memFile) Preallocate(off, length int64) error {
	if err := f.check("preallocate", true); err != nil {
		return err
	}
	n := f.node
	n.mu.Lock()
	defer n.mu.Unlock()
	if want := off + length; want > int64(cap(n.data)) {
		grown := make([]byte, len(n.data), want)
		copy(grown, n.data)
		n.data = grown
	}
	return nil
}

func (f *memFile) Truncate(size int64) error {
	if err := f.check("truncate", true); err != nil {
		return err
	}
	if size < 0 {
		return pathErr("truncate", f.name, fs.ErrInvalid)
	}
	n := f.node
	n.mu.Lock()
	defer n.mu.Unlock()
	old := int64(len(n.data))
	switch {
	case size < old:
		n.data = n.data[:size]
		n.markDirty(size, size, f.fs.trackSync)
	case size > old:
		if size > int64(cap(n.data)) {
			grown := make([]byte, size)
			copy(grown, n.data)
			n.data = grown
		} else {
			n.data = n.data[:size]
			clear(n.data[old:])
		}
		n.markDirty(old, size, f.fs.trackSync)
	}
	return nil
}

func (f *memFile) Stat() (fs.FileInfo, error) {
	if err := f.check("stat", false); err != nil {
		return nil, err
	}
	return f.node.info(filepath.Base(f.name)), nil
}

func (f *memFile) Close() error {
	if f.closed.Swap(true) {
		return pathErr("close", f.name, fs.ErrClosed)
	}
	return nil
}
