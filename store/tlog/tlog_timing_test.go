package tlog

import (
	"fmt"
	"io"
	"testing"

	"github.com/eventstored/eventstored/store/vfs"
)

var sinkBytes int

// BenchmarkAppendFlush measures group commit on the real disk: N records
// of 100 bytes per Flush (one chunk fdatasync and one writer.chk write
// per Flush; writer.chk's fdatasync once a second). perFlush=1 is the fsync-per-write baseline.
func BenchmarkAppendFlush(b *testing.B) {
	for _, perFlush := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("records_per_flush=%d", perFlush), func(b *testing.B) {
			l := mustOpen(b, Options{FS: vfs.Default, Dir: b.TempDir(), ChunkSizeBytes: 64 << 20, Logger: quietLogger, SkipVerify: true})
			defer l.Close()
			p := make([]byte, 100)
			b.ReportAllocs()
			b.SetBytes(int64(len(p)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := l.Append(p); err != nil {
					b.Fatal(err)
				}
				if (i+1)%perFlush == 0 {
					if err := l.Flush(); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := l.Flush(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkAppendMem is Append without the disk: the framing and buffering
// cost alone.
func BenchmarkAppendMem(b *testing.B) {
	l := mustOpen(b, Options{FS: vfs.NewMemUntracked(), Dir: "/db", ChunkSizeBytes: 256 << 20, Logger: quietLogger, SkipVerify: true})
	defer l.Close()
	p := make([]byte, 100)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Append(p); err != nil {
			b.Fatal(err)
		}
		if (i+1)%4096 == 0 {
			if err := l.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

const benchRecords = 1 << 20

// benchLog returns a log on the real disk holding benchRecords records of
// 100 bytes in 64 MiB chunks (warm in the page cache after writing).
func benchLog(b *testing.B, noMmap bool) (*Log, []int64) {
	b.Helper()
	l := mustOpen(b, Options{FS: vfs.Default, Dir: b.TempDir(), ChunkSizeBytes: 64 << 20, Logger: quietLogger, SkipVerify: true, NoMmap: noMmap})
	p := make([]byte, 100)
	pos := make([]int64, 0, benchRecords)
	for i := 0; i < benchRecords; i++ {
		x, err := l.Append(p)
		if err != nil {
			b.Fatal(err)
		}
		pos = append(pos, x)
	}
	if err := l.Flush(); err != nil {
		b.Fatal(err)
	}
	return l, pos
}

// BenchmarkIterator reads 100-byte records forward from a warm file.
// Reported per record; see records/s and MB/s.
func BenchmarkIterator(b *testing.B) {
	l, _ := benchLog(b, false)
	defer l.Close()
	b.ReportAllocs()
	b.SetBytes(100)
	b.ResetTimer()
	it := l.NewIterator(0)
	for i := 0; i < b.N; i++ {
		_, p, err := it.Next()
		if err == io.EOF {
			it.Close()
			it = l.NewIterator(0)
			_, p, err = it.Next()
		}
		if err != nil {
			b.Fatal(err)
		}
		sinkBytes += len(p)
	}
	it.Close()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkBackIterator reads the same records newest first.
func BenchmarkBackIterator(b *testing.B) {
	l, _ := benchLog(b, false)
	defer l.Close()
	b.ReportAllocs()
	b.SetBytes(100)
	b.ResetTimer()
	it := l.NewBackwardIterator(l.Durable())
	for i := 0; i < b.N; i++ {
		_, p, err := it.Next()
		if err == io.EOF {
			it.Close()
			it = l.NewBackwardIterator(l.Durable())
			_, p, err = it.Next()
		}
		if err != nil {
			b.Fatal(err)
		}
		sinkBytes += len(p)
	}
	it.Close()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkReadAt reads single records at scattered positions: mapped
// chunks (the default) against pread (NoMmap), the cost of a random event
// read before any cache above the log.
func BenchmarkReadAt(b *testing.B) {
	for _, mode := range []struct {
		name   string
		noMmap bool
	}{{"mmap", false}, {"pread", true}} {
		b.Run(mode.name, func(b *testing.B) {
			l, pos := benchLog(b, mode.noMmap)
			defer l.Close()
			scratch := make([]byte, 0, 4096)
			b.ReportAllocs()
			b.SetBytes(100)
			b.ResetTimer()
			j := 0
			for i := 0; i < b.N; i++ {
				j = (j + 7919) % len(pos)
				p, _, err := l.ReadAt(pos[j], scratch)
				if err != nil {
					b.Fatal(err)
				}
				sinkBytes += len(p)
			}
		})
	}
}

// fillFirstChunk writes 1 MiB records until chunk 0 is full, so that
// the writes that follow go to chunk 1 (prepared in the background when
// zero-fill is on).
func fillFirstChunk(b *testing.B, l *Log) {
	b.Helper()
	big := make([]byte, 1<<20)
	for l.Durable() < l.ChunkSizeBytes() {
		if _, err := l.Append(big); err != nil {
			b.Fatal(err)
		}
		if err := l.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendFlushPrealloc is one 100-byte record per Flush in a chunk
// that grows with its data (keep_size) or was prepared zero-filled in the
// background (zero_fill): the price of fdatasync with and without inode
// updates, through the log. Chunk 0 is always created in place, so the
// timed writes start in chunk 1.
func BenchmarkAppendFlushPrealloc(b *testing.B) {
	for _, mode := range []struct {
		name string
		p    Prealloc
	}{{"keep_size", PreallocKeepSize}, {"zero_fill", PreallocZeroFill}} {
		b.Run(mode.name, func(b *testing.B) {
			l := mustOpen(b, Options{FS: vfs.Default, Dir: b.TempDir(), ChunkSizeBytes: 16 << 20, Logger: quietLogger,
				SkipVerify: true, Prealloc: mode.p})
			defer l.Close()
			fillFirstChunk(b, l)
			p := make([]byte, 100)
			b.ReportAllocs()
			b.SetBytes(int64(len(p)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := l.Append(p); err != nil {
					b.Fatal(err)
				}
				if err := l.Flush(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
