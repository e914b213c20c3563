package tlog

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/eventstored/eventstored/store/vfs"
)

// VerifyFailure names a sealed chunk whose footer hash did not match.
type VerifyFailure struct {
	Chunk string
	Err   error
}

// Stats is a snapshot of the log's state for /stats and the node's health
// checks. Any goroutine.
type Stats struct {
	Durable int64
	Chunks  int
	// ChunksVerified counts sealed chunks the background verification
	// checked; VerifyFailures lists those that failed. VerifyDone is true
	// once every chunk sealed at Open was checked (or verification was
	// skipped).
	ChunksVerified int
	VerifyFailures []VerifyFailure
	VerifyDone     bool
	// Failed is the latched write failure, nil while the log works.
	Failed error
	// Flushes counts Flush calls that did I/O; FlushNanosTotal and
	// FlushNanosMax time them (fsyncs included), for /stats.
	Flushes         uint64
	FlushNanosTotal uint64
	FlushNanosMax   uint64
	// BytesFlushed counts logical bytes made durable (frames and the
	// unused ends of sealed chunks).
	BytesFlushed uint64
}

// metrics are written by the writer goroutine and read by Stats.
type metrics struct {
	flushes         atomic.Uint64
	flushNanosTotal atomic.Uint64
	flushNanosMax   atomic.Uint64
	bytesFlushed    atomic.Uint64
}

func (m *metrics) observeFlush(d time.Duration) {
	ns := uint64(d.Nanoseconds())
	m.flushes.Add(1)
	m.flushNanosTotal.Add(ns)
	if ns > m.flushNanosMax.Load() {
		m.flushNanosMax.Store(ns) // single writer: no lost update
	}
}

// Stats returns a snapshot. Any goroutine.
func (l *Log) Stats() Stats {
	s := Stats{
		Durable:         l.Durable(),
		Chunks:          len(l.chunkList()),
		Failed:          l.Failed(),
		Flushes:         l.metrics.flushes.Load(),
		FlushNanosTotal: l.metrics.flushNanosTotal.Load(),
		FlushNanosMax:   l.metrics.flushNanosMax.Load(),
		BytesFlushed:    l.metrics.bytesFlushed.Load(),
	}
	l.verify.mu.Lock()
	s.ChunksVerified = l.verify.verified
	s.VerifyFailures = append([]VerifyFailure(nil), l.verify.failures...)
	s.VerifyDone = l.verify.finished
	l.verify.mu.Unlock()
	return s
}

// verifier checks the footer hash of every chunk that was sealed when the
// log opened, newest first (recent data is what a crash is most likely to
// have damaged, and what readers want first). It runs in its own goroutine
// and never delays Open: Event Store 4.0.3 verified every chunk before the
// node served (TFChunkDb.Open), which made start-up time grow with the
// database.
type verifier struct {
	rate int64 // Options.VerifyBytesPerSecond
	stop chan struct{}
	done chan struct{}

	mu       sync.Mutex
	verified int
	failures []VerifyFailure
	finished bool
}

var errVerifyStopped = errors.New("tlog: verification stopped")

func (l *Log) startVerify() {
	l.verify.stop = make(chan struct{})
	l.verify.done = make(chan struct{})
	cs := append([]*chunk(nil), l.chunkList()...)
	go l.runVerify(cs)
}

func (l *Log) stopVerify() {
	if l.verify.stop == nil {
		l.verify.mu.Lock()
		l.verify.finished = true
		l.verify.mu.Unlock()
		return
	}
	close(l.verify.stop)
	<-l.verify.done
}

func (l *Log) runVerify(cs []*chunk) {
	defer close(l.verify.done)
	buf := make([]byte, 1<<20)
	d := xxhash.New()
	pace := &pacer{rate: l.verify.rate, stop: l.verify.stop, start: time.Now()}
	for i := len(cs) - 1; i >= 0; i-- {
		c := cs[i]
		de := c.dataEnd.Load()
		if de < 0 || !c.acquire() {
			continue
		}
		d.Reset()
		gen := l.truncGen.Load()
		err := hashChunkInto(d, c, de, buf, pace)
		c.release()
		if errors.Is(err, errVerifyStopped) {
			return
		}
		if l.raced(gen) || c.dataEnd.Load() != de {
			// A truncation rewrote the chunk under the hash: the result
			// means nothing, and the chunk is no longer sealed.
			continue
		}
		if want := c.hash.Load(); err == nil && d.Sum64() != want {
			err = fmt.Errorf("%w: chunk %s hash %016x, footer says %016x", ErrCorrupt, c.name, d.Sum64(), want)
		}
		l.verify.mu.Lock()
		l.verify.verified++
		if err != nil {
			l.verify.failures = append(l.verify.failures, VerifyFailure{Chunk: c.name, Err: err})
		}
		l.verify.mu.Unlock()
		if err != nil {
			l.logger.Error("chunk verification failed", "chunk", c.name, "err", err)
		}
	}
	l.verify.mu.Lock()
	l.verify.finished = true
	l.verify.mu.Unlock()
	l.logger.Info("chunk verification finished", "chunks", l.verify.verified, "failures", len(l.verify.failures))
}

// hashChunkInto feeds c's header and its first end data bytes to d, reading
// len(buf) bytes at a time. A non-nil pace is called before each read and
// aborts the hash by returning an error.
func hashChunkInto(d *xxhash.Digest, c *chunk, end int64, buf []byte, pace *pacer) error {
	total := HeaderSizeBytes + end
	for off := int64(0); off < total; {
		n := min(int64(len(buf)), total-off)
		if pace != nil {
			if err := pace.wait(n); err != nil {
				return err
			}
		}
		if err := vfs.ReadFull(c.f, buf[:n], off); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return fmt.Errorf("%w: chunk %s is shorter than its footer says", ErrCorrupt, c.name)
			}
			return fmt.Errorf("cannot read chunk %s: %w", c.name, err)
		}
		d.Write(buf[:n])
		off += n
	}
	return nil
}

// pacer keeps the verifier under Options.VerifyBytesPerSecond and makes it
// stop promptly on Close. NB: it reads the wall clock; it only paces a
// background goroutine and no result depends on it.
type pacer struct {
	rate  int64 // bytes per second; <= 0 means unpaced
	stop  <-chan struct{}
	start time.Time
	bytes int64
}

func (p *pacer) wait(n int64) error {
	select {
	case <-p.stop:
		return errVerifyStopped
	default:
	}
	if p.rate <= 0 {
		return nil
	}
	due := p.start.Add(time.Duration(float64(p.bytes) / float64(p.rate) * float64(time.Second)))
	p.bytes += n
	if d := time.Until(due); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-p.stop:
			return errVerifyStopped
		case <-t.C:
		}
	}
	return nil
}
