package tlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/eventstored/eventstored/store/vfs"
)

// indexedPayload returns a payload that names its own index, so a reader
// can check any record it meets without sharing state with the writer.
func indexedPayload(i int) []byte {
	p := make([]byte, 8+i%90)
	binary.LittleEndian.PutUint64(p, uint64(i))
	for j := 8; j < len(p); j++ {
		p[j] = byte(i + j)
	}
	return p
}

func checkIndexedPayload(p []byte) (int, error) {
	if len(p) < 8 {
		return 0, fmt.Errorf("short payload %d", len(p))
	}
	i := int(binary.LittleEndian.Uint64(p))
	if !bytes.Equal(p, indexedPayload(i)) {
		return i, fmt.Errorf("payload of record %d damaged", i)
	}
	return i, nil
}

// TestConcurrentReadersAndWriter runs the writer (appending, flushing,
// rolling over small chunks) while forward iterators tail the log,
// backward iterators walk back from the durable end and ReadAt hits known
// positions. Under -race this checks the lock-free reader paths; every
// reader checks every record it sees and the order it sees them in.
func TestConcurrentReadersAndWriter(t *testing.T) {
	forEachBackend(t, testConcurrentReadersAndWriter)
}

func testConcurrentReadersAndWriter(t *testing.T, mk func(int64) Options) {
	const total = 20000
	o := mk(4096)
	flushEvery := 7
	if o.FS == vfs.Default {
		// A real fsync costs milliseconds: fewer flushes, fewer chunks.
		flushEvery = 250
		o.ChunkSizeBytes = 64 << 10
	}
	l := mustOpen(t, o)
	defer l.Close()
	var wg sync.WaitGroup
	done := make(chan struct{})
	var posMu sync.Mutex
	var positions []int64
	errs := make(chan error, 16)

	wg.Add(1)
	go func() { // the writer
		defer wg.Done()
		defer close(done)
		for i := 0; i < total; i++ {
			pos, err := l.Append(indexedPayload(i))
			if err != nil {
				errs <- err
				return
			}
			posMu.Lock()
			positions = append(positions, pos)
			posMu.Unlock()
			if i%flushEvery == 0 {
				if err := l.Flush(); err != nil {
					errs <- err
					return
				}
			}
		}
		if err := l.Flush(); err != nil {
			errs <- err
		}
	}()
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() { // forward tailers
			defer wg.Done()
			it := l.NewIterator(0)
			defer it.Close()
			next := 0
			for next < total {
				_, p, err := it.Next()
				if err == io.EOF {
					runtime.Gosched()
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				i, err := checkIndexedPayload(p)
				if err != nil || i != next {
					errs <- fmt.Errorf("forward reader: got record %d (%v); want %d", i, err, next)
					return
				}
				next++
			}
		}()
	}
	wg.Add(1)
	go func() { // backward walkers and point reads
		defer wg.Done()
		scratch := make([]byte, 0, 256)
		for {
			select {
			case <-done:
				return
			default:
			}
			it := l.NewBackwardIterator(l.Durable())
			prev := -1
			for k := 0; k < 500; k++ {
				_, p, err := it.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					errs <- err
					return
				}
				i, err := checkIndexedPayload(p)
				if err != nil || (prev >= 0 && i != prev-1) {
					errs <- fmt.Errorf("backward reader: got record %d (%v) after %d", i, err, prev)
					return
				}
				prev = i
			}
			it.Close()
			posMu.Lock()
			n := len(positions)
			var pos int64
			if n > 0 {
				pos = positions[n/2]
			}
			posMu.Unlock()
			if pos < l.Durable() {
				p, _, err := l.ReadAt(pos, scratch)
				if err != nil {
					errs <- err
					return
				}
				if i, err := checkIndexedPayload(p); err != nil || i != n/2 {
					errs <- fmt.Errorf("ReadAt: got record %d (%v); want %d", i, err, n/2)
					return
				}
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestTruncateUnderReaders: readers running while the writer truncates see
// whole records or ErrTruncated, never ErrCorrupt.
func TestTruncateUnderReaders(t *testing.T) {
	forEachBackend(t, testTruncateUnderReaders)
}

func testTruncateUnderReaders(t *testing.T, mk func(int64) Options) {
	o := mk(1024)
	rounds := 30
	if o.FS == vfs.Default {
		rounds = 8 // each round fsyncs several times
		o.ChunkSizeBytes = 16 << 10
	}
	l := mustOpen(t, o)
	defer l.Close()
	for i := 0; i < 3000; i++ {
		if _, err := l.Append(indexedPayload(i)); err != nil {
			t.Fatal(err)
		}
	}
	requireNoError(t, l.Flush())
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 8)
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				it := l.NewIterator(0)
				for {
					_, p, err := it.Next()
					if err == io.EOF || errors.Is(err, ErrTruncated) {
						break
					}
					if err != nil {
						errs <- err
						it.Close()
						return
					}
					if _, err := checkIndexedPayload(p); err != nil {
						errs <- err
						it.Close()
						return
					}
				}
				it.Close()
			}
		}()
	}
	// The writer: cut back and regrow, many times.
	n := 3000
	for round := 0; round < rounds; round++ {
		it := l.NewBackwardIterator(l.Durable())
		var pos int64
		for k := 0; k < 200; k++ {
			var err error
			if pos, _, err = it.Next(); err != nil {
				t.Fatal(err)
			}
		}
		it.Close()
		requireNoError(t, l.Truncate(pos))
		n -= 200
		for i := 0; i < 200; i++ {
			if _, err := l.Append(indexedPayload(n)); err != nil {
				t.Fatal(err)
			}
			n++
		}
		requireNoError(t, l.Flush())
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestOptionLimits(t *testing.T) {
	f := func(name string, mod func(*Options)) {
		t.Helper()
		o := testOpts(vfs.NewMem(), 1024)
		mod(&o)
		if l, err := Open(o); err == nil {
			l.Close()
			t.Fatalf("%s: Open accepted invalid options", name)
		}
	}
	f("chunk too small", func(o *Options) { o.ChunkSizeBytes = MinChunkSizeBytes - 1 })
	f("chunk too large", func(o *Options) { o.ChunkSizeBytes = MaxChunkSizeBytes + 1 })
	f("write buffer too small", func(o *Options) { o.WriteBufferBytes = minBufferBytes - 1 })
	f("write buffer too large", func(o *Options) { o.WriteBufferBytes = maxBufferBytes + 1 })
	f("block too small", func(o *Options) { o.IteratorBlockBytes = minBufferBytes - 1 })
	f("block too large", func(o *Options) { o.IteratorBlockBytes = maxBufferBytes + 1 })
	f("no directory", func(o *Options) { o.Dir = "" })
}

// TestWriteBufferBound: the write buffer never grows past its limit; a
// full buffer is written out (not fsynced) and the records stay invisible
// until Flush.
func TestWriteBufferBound(t *testing.T) {
	l := mustOpen(t, testOpts(vfs.NewMem(), 1<<20))
	defer l.Close()
	for i := 0; i < 1000; i++ {
		if _, err := l.Append(make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
		if cap(l.buf) != minBufferBytes || len(l.buf) > minBufferBytes {
			t.Fatalf("write buffer grew: len %d cap %d", len(l.buf), cap(l.buf))
		}
	}
	if l.fileOff == 0 {
		t.Fatalf("a full buffer was not written out")
	}
	if l.Durable() != 0 {
		t.Fatalf("records visible before Flush")
	}
}

// TestNoGoroutineLeft: Close waits for the background verifier, even when
// it is still verifying.
func TestNoGoroutineLeft(t *testing.T) {
	mem := vfs.NewMem()
	l := mustOpen(t, testOpts(mem, 256))
	appendN(t, l, 0, 300, func(int) int { return 30 })
	requireNoError(t, l.Close())
	for i := 0; i < 10; i++ {
		l = mustOpen(t, testOpts(mem, 256))
		requireNoError(t, l.Close())
		// NB: Close waits for the verifier's done signal; the goroutine
		// itself may take a moment more to be gone.
		checkFor(t, 5*time.Second, time.Millisecond, func() error {
			buf := make([]byte, 1<<20)
			if st := buf[:runtime.Stack(buf, true)]; bytes.Contains(st, []byte("runVerify")) {
				return fmt.Errorf("the verifier outlived Close:\n%s", st)
			}
			return nil
		})
	}
}

// TestIteratorReleasesLargeFrameBuffers: after a frame above bigKeepBytes
// the iterator lets its buffer go on the next call.
func TestIteratorReleasesLargeFrameBuffers(t *testing.T) {
	l := mustOpen(t, testOpts(vfs.NewMem(), 8<<20))
	defer l.Close()
	want := appendN(t, l, 0, 3, func(i int) int { return []int{10, 3 << 20, 10}[i] })
	requireNoError(t, l.Flush())
	it := l.NewIterator(0)
	defer it.Close()
	bit := l.NewBackwardIterator(l.Durable())
	defer bit.Close()
	for i := range want {
		_, p, err := it.Next()
		requireNoError(t, err)
		if !bytes.Equal(p, want[i].payload) {
			t.Fatalf("record %d differs", i)
		}
		_, p, err = bit.Next()
		requireNoError(t, err)
		if !bytes.Equal(p, want[len(want)-1-i].payload) {
			t.Fatalf("backward record %d differs", i)
		}
		if i == 2 && (cap(it.big) > bigKeepBytes || cap(bit.big) > bigKeepBytes) {
			t.Fatalf("iterators kept %d/%d bytes after a large frame", cap(it.big), cap(bit.big))
		}
	}
}
