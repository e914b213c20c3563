package index

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"syscall"

	"github.com/eventstored/eventstored/store/vfs"
)

// fdFile is implemented by files backed by an OS file descriptor (vfs.Default
// embeds *os.File); the index maps such files instead of copying them into
// the heap.
type fdFile interface {
	Fd() uintptr
}

// mapping is a read-only view of a whole file: either an mmap of an OS file
// or a heap copy for files without a descriptor (the in-memory FS).
type mapping struct {
	data   []byte
	mapped bool
}

// mapFile returns a read-only view of the first size bytes of f.
// NB: mmap keeps lookups zero-copy and zero-alloc and leaves caching to the
// page cache, where Event Store's PTable reads through file streams.
func mapFile(f vfs.File, size int64) (mapping, error) {
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
		// Fall through to a heap copy: the filesystem may not support mmap.
	}
	data := make([]byte, size)
	if err := vfs.ReadFull(f, data, 0); err != nil {
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

func fileSize(f vfs.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func join(dir, name string) string { return filepath.Join(dir, name) }
