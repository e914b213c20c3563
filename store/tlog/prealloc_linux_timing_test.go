//go:build linux

package tlog

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/eventstored/eventstored/store/vfs"
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

// cpuTime is the user+system CPU this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAppendFlushInPlace is group commit in a chunk created in place
// (the first chunk of a new log): 100-byte records, records_per_flush of
// them per Flush, in a file that grows with every flush (keep_size) or
// that the writer keeps zero-filled step bytes ahead of its data
// (zero_ahead, the default on the OS filesystem, which skips flushes of
// more than zeroAheadMaxFlushBytes; zero_ahead_always does not); prepared
// is the reference, a chunk the background preparation zero-filled whole. Besides
// time per Flush it reports this process's CPU per Flush (the journal
// commit itself runs in a kernel thread and is not counted). Run with a
// fixed -benchtime count so every mode writes the same bytes, e.g.
// -bench 'InPlace/records_per_flush=(1|100)$' -benchtime 3000x, then
// '=(500|1000)$' with 300x and '=10000$' (1.1 MB per Flush) with 50x.
func BenchmarkAppendFlushInPlace(b *testing.B) {
	const chunkSize = 64 << 20
	modes := []struct {
		name   string
		p      Prealloc
		always bool // zero ahead whatever the flush's size
		prep   bool // time the writes in chunk 1, prepared
	}{
		{"keep_size", PreallocKeepSize, false, false},
		{"zero_ahead", PreallocZeroFill, false, false},
		{"zero_ahead_always", PreallocZeroFill, true, false},
		{"prepared", PreallocZeroFill, false, true},
	}
	for _, perFlush := range []int{1, 100, 500, 1000, 10000} {
		for _, mode := range modes {
			b.Run(fmt.Sprintf("records_per_flush=%d/%s", perFlush, mode.name), func(b *testing.B) {
				l := mustOpen(b, Options{FS: vfs.Default, Dir: b.TempDir(), ChunkSizeBytes: chunkSize, Logger: quietLogger,
					SkipVerify: true, Prealloc: mode.p})
				defer l.Close()
				if mode.always {
					l.zaMaxFlush = chunkSize
				}
				if mode.prep {
					fillFirstChunk(b, l)
				}
				// NB: no background preparation while timing (it would
				// start half-way through the chunk and add its zeros' CPU and
				// disk writes to whichever mode gets that far).
				l.prepStop.Store(true)
				if int64(b.N)*int64(perFlush)*(100+RecordOverheadBytes) > chunkSize*9/10 {
					b.Fatalf("%d flushes of %d records do not fit in one chunk; use a smaller -benchtime count", b.N, perFlush)
				}
				p := make([]byte, 100)
				lat := make([]time.Duration, b.N)
				b.ReportAllocs()
				b.SetBytes(int64(len(p) * perFlush))
				cpu0 := cpuTime(b)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					t0 := time.Now()
					for j := 0; j < perFlush; j++ {
						if _, err := l.Append(p); err != nil {
							b.Fatal(err)
						}
					}
					if err := l.Flush(); err != nil {
						b.Fatal(err)
					}
					lat[i] = time.Since(t0)
				}
				b.StopTimer()
				slices.Sort(lat)
				b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-us/flush")
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "us/flush")
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-us")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
				b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-us")
			})
		}
	}
}
