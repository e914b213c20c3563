//go:build linux

package tlog

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// BenchmarkFdatasyncAfterAppend compares what one group commit costs (a
// 4 KiB pwrite at the end of the data, then fdatasync) in a chunk-sized
// file prepared three ways:
//
//	keep_size   fallocate(FALLOC_FL_KEEP_SIZE): each write grows i_size,
//	            so fdatasync must also commit the inode (journal)
//	full_size   fallocate(0): size set, but extents are "unwritten" and
//	            the first write to each converts it (metadata again)
//	zero_filled the file written with zeros and fsynced at creation: a
//	            write inside it changes data only
//
// The result chose the chunk creation of createChunk (see Options and
// store/doc.go for the figures).
func BenchmarkFdatasyncAfterAppend(b *testing.B) {
	const size = 64 << 20
	const write = 4 << 10
	for _, mode := range []string{"keep_size", "full_size", "zero_filled"} {
		b.Run(mode, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "chunk"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			fd := int(f.Fd())
			switch mode {
			case "keep_size":
				err = syscall.Fallocate(fd, fallocKeepSize, 0, size)
			case "full_size":
				err = syscall.Fallocate(fd, 0, 0, size)
			case "zero_filled":
				zeros := make([]byte, 1<<20)
				for off := int64(0); off < size && err == nil; off += int64(len(zeros)) {
					_, err = f.WriteAt(zeros, off)
				}
			}
			if err == nil {
				err = syscall.Fsync(fd)
			}
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, write)
			b.SetBytes(write)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				off := int64(i) * write % size
				if _, err := f.WriteAt(buf, off); err != nil {
					b.Fatal(err)
				}
				if err := syscall.Fdatasync(fd); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

const fallocKeepSize = 0x1
