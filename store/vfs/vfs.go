package vfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// File is an open file. See the package comment for the concurrency rules.
type File interface {
	io.ReaderAt
	io.WriterAt
	// Write appends at the file's sequential write offset (as os.File.Write).
	Write(p []byte) (int, error)
	// Sync makes the file's data and size durable (fdatasync where the OS
	// has it). It does not make the file's directory entry durable.
	Sync() error
	// Preallocate reserves disk space for [off, off+length) without
	// changing the file size. It returns an error wrapping syscall.ENOSPC
	// when the space is not there.
	Preallocate(off, length int64) error
	// Truncate changes the file size; bytes beyond size are dropped.
	Truncate(size int64) error
	Stat() (fs.FileInfo, error)
	Close() error
}

// FS is a filesystem. Paths are OS-style paths; implementations other than
// Default treat them as plain strings cleaned with filepath.Clean.
type FS interface {
	// Create creates or truncates name for reading and writing.
	Create(name string) (File, error)
	// Open opens an existing file read-only.
	Open(name string) (File, error)
	// OpenReadWrite opens an existing file for reading and writing.
	OpenReadWrite(name string) (File, error)
	Remove(name string) error
	// Rename atomically replaces newname with oldname. Durable only after
	// SyncDir of both directories.
	Rename(oldname, newname string) error
	MkdirAll(dir string, perm os.FileMode) error
	// List returns the names (not paths) of the entries of dir, sorted.
	List(dir string) ([]string, error)
	Stat(name string) (fs.FileInfo, error)
	// Lock takes an exclusive lock on name (created if missing) so a second
	// process, or a second Lock in this process, fails at once with
	// ErrLocked. Close the returned Closer to release the lock.
	Lock(name string) (io.Closer, error)
	// SyncDir makes the entries of dir durable.
	SyncDir(dir string) error
}

// ErrLocked is returned by Lock when another holder has the lock.
var ErrLocked = errors.New("vfs: already locked by another holder")

// ReadFull reads exactly len(p) bytes at off, treating a short read as
// io.ErrUnexpectedEOF (io.EOF when nothing was read).
func ReadFull(f io.ReaderAt, p []byte, off int64) error {
	n, err := f.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || (errors.Is(err, io.EOF) && n > 0) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// WriteFileSync creates name with data, syncs the file, and syncs its
// directory so the new entry survives a crash.
func WriteFileSync(fsys FS, name string, data []byte) error {
	f, err := fsys.Create(name)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return fsys.SyncDir(filepath.Dir(name))
}

// Mappable is implemented by files that can be memory-mapped read-only
// (the files of Default on Linux). Readers of a mapping must not touch
// bytes past the file's end (the kernel raises SIGBUS there), and the
// mapping stays valid after the file is closed, until Unmap.
type Mappable interface {
	// MapReadOnly maps the first size bytes of the file, which may extend
	// past its current end (to cover later growth).
	MapReadOnly(size int64) ([]byte, error)
}

// Unmap releases a mapping made by Mappable.MapReadOnly.
func Unmap(data []byte) error { return unmap(data) }
