package index

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"
)

// FS is the filesystem seam the index uses: the subset of store/vfs it needs.
// TODO(index): replace with store/vfs.FS once the tlog branch lands; the
// method set is chosen so that a vfs.FS adapter is a thin wrapper.
type FS interface {
	// Create creates or truncates name for writing.
	Create(name string) (File, error)
	// Open opens name read-only.
	Open(name string) (File, error)
	Remove(name string) error
	// Rename atomically replaces newname with oldname (POSIX rename).
	Rename(oldname, newname string) error
	MkdirAll(dir string, perm os.FileMode) error
	// List returns the names (not paths) of the entries of dir.
	List(dir string) ([]string, error)
	// SyncDir makes directory entry changes (create, rename, remove) in dir
	// durable.
	SyncDir(dir string) error
}

// File is an open file of an FS.
type File interface {
	io.ReaderAt
	io.Writer
	io.Closer
	// Sync makes the file's written data durable.
	Sync() error
	// Size returns the current size of the file in bytes.
	Size() (int64, error)
}

// fdFile is implemented by files backed by an OS file descriptor; the index
// maps such files instead of copying them into the heap.
type fdFile interface {
	Fd() uintptr
}

// OSFS is the FS backed by the operating system.
type OSFS struct{}

type osFile struct{ *os.File }

func (f osFile) Size() (int64, error) {
	st, err := f.File.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (OSFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (OSFS) Open(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (OSFS) Remove(name string) error                    { return os.Remove(name) }
func (OSFS) Rename(o, n string) error                    { return os.Rename(o, n) }
func (OSFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }

func (OSFS) List(dir string) ([]string, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(des))
	for _, de := range des {
		names = append(names, de.Name())
	}
	sort.Strings(names)
	return names, nil
}

func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// mapping is a read-only view of a whole file: either an mmap of an OS file
// or a heap copy for files without a descriptor (the in-memory test FS).
type mapping struct {
	data   []byte
	mapped bool
}

// mapFile returns a read-only view of the first size bytes of f.
// NB: mmap keeps lookups zero-copy and zero-alloc and leaves caching to the
// page cache, as Event Store's PTable does with its file streams.
func mapFile(f File, size int64) (mapping, error) {
	if size == 0 {
		return mapping{}, nil
	}
	if size > maxFileBytes {
		return mapping{}, fmt.Errorf("file of %d bytes exceeds the %d-byte limit", size, int64(maxFileBytes))
	}
	if fd, ok := f.(fdFile); ok {
		data, err := syscall.Mmap(int(fd.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
		if err == nil {
			return mapping{data: data, mapped: true}, nil
		}
		// Fall through to a heap copy: mmap may be unsupported by the
		// underlying filesystem.
	}
	data := make([]byte, size)
	n, err := f.ReadAt(data, 0)
	if n == len(data) {
		err = nil
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return mapping{}, err
	}
	return mapping{data: data}, nil
}

func (m *mapping) release() error {
	if m.mapped && m.data != nil {
		err := syscall.Munmap(m.data)
		m.data = nil
		return err
	}
	m.data = nil
	return nil
}

func join(dir, name string) string { return filepath.Join(dir, name) }
