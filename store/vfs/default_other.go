//go:build !linux

package vfs

import (
	"os"
	"syscall"
)

func datasync(f *os.File) error { return f.Sync() }

// preallocate is a no-op where fallocate is missing; see default_linux.go.
func preallocate(f *os.File, off, length int64) error { return nil }

func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

func (f osFile) MapReadOnly(size int64) ([]byte, error) {
	return nil, &os.PathError{Op: "mmap", Path: f.Name(), Err: syscall.ENOTSUP}
}

func unmap(data []byte) error { return nil }
