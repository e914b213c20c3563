//go:build linux

package vfs

import (
	"errors"
	"os"
	"syscall"
)

// falloc_fl_keep_size is FALLOC_FL_KEEP_SIZE from linux/falloc.h.
const fallocFlKeepSize = 0x1

func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}

func preallocate(f *os.File, off, length int64) error {
	if length <= 0 {
		return nil
	}
	for {
		err := syscall.Fallocate(int(f.Fd()), fallocFlKeepSize, off, length)
		switch {
		case err == nil:
			return nil
		case err == syscall.EINTR:
			continue
		case errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.ENOSYS):
			// NB: a filesystem without fallocate cannot reserve space;
			// running out of disk then shows up as a failed write, which
			// the log latches. Nothing better is possible there.
			return nil
		default:
			return &os.PathError{Op: "fallocate", Path: f.Name(), Err: err}
		}
	}
}

func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

func (f osFile) MapReadOnly(size int64) ([]byte, error) {
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, &os.PathError{Op: "mmap", Path: f.Name(), Err: err}
	}
	return data, nil
}

func unmap(data []byte) error { return syscall.Munmap(data) }
