package errorfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/eventstored/eventstored/store/vfs"
)

// ErrInjected is the error injectors return; errors.Is(err, ErrInjected)
// tells an injected failure from a real one.
var ErrInjected = errors.New("errorfs: injected error")

// OpKind names an operation of the filesystem or of an open file.
type OpKind uint8

const (
	OpCreate OpKind = iota + 1
	OpOpen
	OpOpenReadWrite
	OpRemove
	OpRename
	OpMkdirAll
	OpList
	OpStat
	OpLock
	OpSyncDir
	OpFileRead
	OpFileWrite
	OpFileSync
	OpFilePreallocate
	OpFileTruncate
	OpFileStat
	OpFileClose
)

var opNames = [...]string{
	OpCreate: "create", OpOpen: "open", OpOpenReadWrite: "open-rw", OpRemove: "remove",
	OpRename: "rename", OpMkdirAll: "mkdirall", OpList: "list", OpStat: "stat", OpLock: "lock",
	OpSyncDir: "syncdir", OpFileRead: "read", OpFileWrite: "write", OpFileSync: "sync",
	OpFilePreallocate: "preallocate", OpFileTruncate: "truncate", OpFileStat: "fstat",
	OpFileClose: "close",
}

func (k OpKind) String() string {
	if int(k) < len(opNames) && opNames[k] != "" {
		return opNames[k]
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// IsWrite reports whether the operation changes the filesystem.
func (k OpKind) IsWrite() bool {
	switch k {
	case OpCreate, OpRemove, OpRename, OpMkdirAll, OpSyncDir, OpFileWrite, OpFileSync,
		OpFilePreallocate, OpFileTruncate:
		return true
	}
	return false
}

// Op is one operation about to run.
type Op struct {
	Kind OpKind
	Path string
	// Off and Len describe the byte range of reads, writes, preallocations
	// and truncations (Len is the new size for a truncation).
	Off, Len int64
}

// Injector decides whether an operation fails. It is called before the
// operation runs; a non-nil error is returned in its place.
type Injector interface {
	MaybeError(op Op) error
}

// InjectorFunc adapts a function to Injector.
type InjectorFunc func(Op) error

// MaybeError implements Injector.
func (f InjectorFunc) MaybeError(op Op) error { return f(op) }

// InjectIndex fails exactly one operation: the one with 0-based index N in
// the order operations reach the injector.
type InjectIndex struct {
	n     int64
	count atomic.Int64
}

// NewInjectIndex returns an injector that fails operation n (0-based).
func NewInjectIndex(n int64) *InjectIndex { return &InjectIndex{n: n} }

// MaybeError implements Injector.
func (ii *InjectIndex) MaybeError(op Op) error {
	if ii.count.Add(1)-1 == ii.n {
		return fmt.Errorf("%w: %s %s (op #%d)", ErrInjected, op.Kind, op.Path, ii.n)
	}
	return nil
}

// Count returns how many operations the injector has seen.
func (ii *InjectIndex) Count() int64 { return ii.count.Load() }

// Fired reports whether the injector has failed its operation.
func (ii *InjectIndex) Fired() bool { return ii.count.Load() > ii.n }

// InjectIf fails every operation for which pred returns true while the
// injector is armed (it starts armed).
type InjectIf struct {
	pred  func(Op) bool
	armed atomic.Bool
	hits  atomic.Int64
}

// NewInjectIf returns an armed injector failing every operation pred
// accepts.
func NewInjectIf(pred func(Op) bool) *InjectIf {
	ii := &InjectIf{pred: pred}
	ii.armed.Store(true)
	return ii
}

// SetArmed turns injection on or off (a test "repairs the disk" with it).
func (ii *InjectIf) SetArmed(on bool) { ii.armed.Store(on) }

// Hits returns how many operations the injector failed.
func (ii *InjectIf) Hits() int64 { return ii.hits.Load() }

// MaybeError implements Injector.
func (ii *InjectIf) MaybeError(op Op) error {
	if ii.armed.Load() && ii.pred(op) {
		ii.hits.Add(1)
		return fmt.Errorf("%w: %s %s", ErrInjected, op.Kind, op.Path)
	}
	return nil
}

// FS wraps a vfs.FS, consulting the injector before each operation and
// enforcing an optional capacity.
type FS struct {
	inner vfs.FS
	inj   atomic.Pointer[Injector]

	mu       sync.Mutex
	capacity int64            // bytes; <0 means unlimited
	used     int64            // sum of alloc
	alloc    map[string]int64 // path → bytes the file occupies (max of size, preallocation)
}

// Wrap returns an FS that injects errors from inj (nil for none) into inner.
func Wrap(inner vfs.FS, inj Injector) *FS {
	f := &FS{inner: inner, capacity: -1, alloc: map[string]int64{}}
	f.SetInjector(inj)
	return f
}

// SetInjector replaces the injector; nil disables injection.
func (f *FS) SetInjector(inj Injector) {
	if inj == nil {
		f.inj.Store(nil)
		return
	}
	f.inj.Store(&inj)
}

// SetCapacityBytes sets the disk size: a write or preallocation that would
// make the files created or opened through this FS occupy more than c bytes
// fails with an error wrapping syscall.ENOSPC, writing nothing. c < 0 means
// unlimited. Raising it is how a test "frees space".
func (f *FS) SetCapacityBytes(c int64) {
	f.mu.Lock()
	f.capacity = c
	f.mu.Unlock()
}

// UsedBytes returns the bytes the tracked files occupy.
func (f *FS) UsedBytes() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.used
}

func (f *FS) maybe(op Op) error {
	p := f.inj.Load()
	if p == nil {
		return nil
	}
	return (*p).MaybeError(op)
}

// reserve grows path's allocation to at least end bytes, failing with
// ENOSPC when the capacity does not allow it.
func (f *FS) reserve(op, path string, end int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := f.alloc[path]
	if end <= cur {
		return nil
	}
	if f.capacity >= 0 && f.used+end-cur > f.capacity {
		return &os.PathError{Op: op, Path: path, Err: syscall.ENOSPC}
	}
	f.used += end - cur
	f.alloc[path] = end
	return nil
}

func (f *FS) setAlloc(path string, n int64) {
	f.mu.Lock()
	f.used += n - f.alloc[path]
	if n == 0 {
		delete(f.alloc, path)
	} else {
		f.alloc[path] = n
	}
	f.mu.Unlock()
}

func (f *FS) track(path string, file vfs.File) {
	f.mu.Lock()
	_, known := f.alloc[path]
	f.mu.Unlock()
	if known {
		return
	}
	if st, err := file.Stat(); err == nil && st.Size() > 0 {
		f.setAlloc(path, st.Size())
	}
}

// The methods below implement vfs.FS: each asks the injector first, then
// runs the operation on the wrapped FS.

// Create implements vfs.FS.
func (f *FS) Create(name string) (vfs.File, error) {
	name = filepath.Clean(name)
	if err := f.maybe(Op{Kind: OpCreate, Path: name}); err != nil {
		return nil, err
	}
	file, err := f.inner.Create(name)
	if err != nil {
		return nil, err
	}
	f.setAlloc(name, 0)
	return &errFile{fs: f, inner: file, path: name}, nil
}

func (f *FS) Open(name string) (vfs.File, error) {
	name = filepath.Clean(name)
	if err := f.maybe(Op{Kind: OpOpen, Path: name}); err != nil {
		return nil, err
	}
	file, err := f.inner.Open(name)
	if err != nil {
		return nil, err
	}
	f.track(name, file)
	return &errFile{fs: f, inner: file, path: name}, nil
}

func (f *FS) OpenReadWrite(name string) (vfs.File, error) {
	name = filepath.Clean(name)
	if err := f.maybe(Op{Kind: OpOpenReadWrite, Path: name}); err != nil {
		return nil, err
	}
	file, err := f.inner.OpenReadWrite(name)
	if err != nil {
		return nil, err
	}
	f.track(name, file)
	return &errFile{fs: f, inner: file, path: name}, nil
}

func (f *FS) Remove(name string) error {
	name = filepath.Clean(name)
	if err := f.maybe(Op{Kind: OpRemove, Path: name}); err != nil {
		return err
	}
	if err := f.inner.Remove(name); err != nil {
		return err
	}
	f.setAlloc(name, 0)
	return nil
}

func (f *FS) Rename(oldname, newname string) error {
	oldname, newname = filepath.Clean(oldname), filepath.Clean(newname)
	if err := f.maybe(Op{Kind: OpRename, Path: oldname}); err != nil {
		return err
	}
	if err := f.inner.Rename(oldname, newname); err != nil {
		return err
	}
	f.mu.Lock()
	n := f.alloc[oldname]
	delete(f.alloc, oldname)
	f.used -= f.alloc[newname]
	if n > 0 {
		f.alloc[newname] = n
	} else {
		delete(f.alloc, newname)
	}
	f.mu.Unlock()
	return nil
}

func (f *FS) MkdirAll(dir string, perm os.FileMode) error {
	if err := f.maybe(Op{Kind: OpMkdirAll, Path: dir}); err != nil {
		return err
	}
	return f.inner.MkdirAll(dir, perm)
}

func (f *FS) List(dir string) ([]string, error) {
	if err := f.maybe(Op{Kind: OpList, Path: dir}); err != nil {
		return nil, err
	}
	return f.inner.List(dir)
}

func (f *FS) Stat(name string) (fs.FileInfo, error) {
	if err := f.maybe(Op{Kind: OpStat, Path: name}); err != nil {
		return nil, err
	}
	return f.inner.Stat(name)
}

func (f *FS) Lock(name string) (io.Closer, error) {
	if err := f.maybe(Op{Kind: OpLock, Path: name}); err != nil {
		return nil, err
	}
	return f.inner.Lock(name)
}

func (f *FS) SyncDir(dir string) error {
	if err := f.maybe(Op{Kind: OpSyncDir, Path: dir}); err != nil {
		return err
	}
	return f.inner.SyncDir(dir)
}

type errFile struct {
	fs    *FS
	inner vfs.File
	path  string
	offMu sync.Mutex
	off   int64
}

func (e *errFile) ReadAt(p []byte, off int64) (int, error) {
	if err := e.fs.maybe(Op{Kind: OpFileRead, Path: e.path, Off: off, Len: int64(len(p))}); err != nil {
		return 0, err
	}
	return e.inner.ReadAt(p, off)
}

func (e *errFile) WriteAt(p []byte, off int64) (int, error) {
	if err := e.fs.maybe(Op{Kind: OpFileWrite, Path: e.path, Off: off, Len: int64(len(p))}); err != nil {
		return 0, err
	}
	if err := e.fs.reserve("write", e.path, off+int64(len(p))); err != nil {
		return 0, err
	}
	return e.inner.WriteAt(p, off)
}

func (e *errFile) Write(p []byte) (int, error) {
	e.offMu.Lock()
	defer e.offMu.Unlock()
	n, err := e.WriteAt(p, e.off)
	e.off += int64(n)
	return n, err
}

func (e *errFile) Sync() error {
	if err := e.fs.maybe(Op{Kind: OpFileSync, Path: e.path}); err != nil {
		return err
	}
	return e.inner.Sync()
}

func (e *errFile) Preallocate(off, length int64) error {
	if err := e.fs.maybe(Op{Kind: OpFilePreallocate, Path: e.path, Off: off, Len: length}); err != nil {
		return err
	}
	if err := e.fs.reserve("fallocate", e.path, off+length); err != nil {
		return err
	}
	return e.inner.Preallocate(off, length)
}

func (e *errFile) Truncate(size int64) error {
	if err := e.fs.maybe(Op{Kind: OpFileTruncate, Path: e.path, Len: size}); err != nil {
		return err
	}
	if err := e.fs.reserve("truncate", e.path, size); err != nil {
		return err
	}
	if err := e.inner.Truncate(size); err != nil {
		return err
	}
	// NB: like ftruncate on Linux, shrinking a file releases both its data
	// and any preallocation beyond the new size.
	e.fs.mu.Lock()
	if cur := e.fs.alloc[e.path]; size < cur {
		e.fs.used -= cur - size
		e.fs.alloc[e.path] = size
	}
	e.fs.mu.Unlock()
	return nil
}

func (e *errFile) Stat() (fs.FileInfo, error) {
	if err := e.fs.maybe(Op{Kind: OpFileStat, Path: e.path}); err != nil {
		return nil, err
	}
	return e.inner.Stat()
}

func (e *errFile) Close() error {
	if err := e.fs.maybe(Op{Kind: OpFileClose, Path: e.path}); err != nil {
		// The handle is released anyway, as close(2) does on error.
		e.inner.Close()
		return err
	}
	return e.inner.Close()
}
