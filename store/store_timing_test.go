package store

import (
	"flag"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// Benchmarks of the durable write path (real disk under b.TempDir(), real
// fsync) and of $all reads. Each reports events/s and, for writes, events
// per fsync: the group-commit factor.

// benchDepth overrides Options.PipelineDepth (go test -bench ... -args
// -bench.depth N), to compare depths.
var benchDepth = flag.Int("bench.depth", 0, "pipeline depth for the store benchmarks (0: the default)")

// benchNoIndexer turns the inline committer's indexer off
// (-bench.noindexer), to measure what it brings.
var benchNoIndexer = flag.Bool("bench.noindexer", false, "inline mode: add index entries after the fsync")

func openBenchDB(b *testing.B) *DB {
	b.Helper()
	db, err := Open(Options{Dir: b.TempDir(), Logger: testLogger, PipelineDepth: *benchDepth, noIndexer: *benchNoIndexer})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// benchWriters runs writers goroutines, each submitting single ops of
// batch events until b.N events are written in total.
func benchWriters(b *testing.B, writers, batch int) {
	db := openBenchDB(b)
	data := make([]byte, 100)
	var next atomic.Int64
	total := int64(b.N)
	fsync0 := db.Stats().Fsyncs
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			events := make([]NewEvent, batch)
			for i := range events {
				events[i] = NewEvent{Type: "bench", Data: data}
			}
			done := make(chan struct{}, 1)
			op := &Op{Kind: OpWrite, Stream: fmt.Sprintf("bench-%d", w), ExpectedVersion: ExpectedVersionAny, Events: events}
			op.Done = func(*Op) { done <- struct{}{} }
			for {
				n := next.Add(int64(batch))
				if n-int64(batch) >= total {
					return
				}
				for i := range events {
					events[i].ID = id(int(n) + i)
				}
				if err := db.Submit(op); err != nil {
					b.Error(err)
					return
				}
				<-done
				if op.Result.Err != nil || op.Result.Status != OpSuccess {
					b.Errorf("write: %v %d", op.Result.Err, op.Result.Status)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	secs := b.Elapsed().Seconds()
	written := float64(db.Stats().EventsWritten)
	b.ReportMetric(written/secs, "events/s")
	if f := db.Stats().Fsyncs - fsync0; f > 0 {
		b.ReportMetric(written/float64(f), "events/fsync")
	}
}

func BenchmarkWrite1Writer(b *testing.B)           { benchWriters(b, 1, 1) }
func BenchmarkWrite16Writers(b *testing.B)         { benchWriters(b, 16, 1) }
func BenchmarkWrite256Writers(b *testing.B)        { benchWriters(b, 256, 1) }
func BenchmarkWrite16WritersBatch100(b *testing.B) { benchWriters(b, 16, 100) }

// BenchmarkReadAllForward reads $all sequentially in pages of 4096 over
// 1,000,000 events of 100 bytes (the log is written once, warm in the page
// cache).
func BenchmarkReadAllForward(b *testing.B) {
	db := openBenchDB(b)
	const n = 1_000_000
	data := make([]byte, 100)
	events := make([]NewEvent, 1000)
	for i := 0; i < n; i += len(events) {
		for k := range events {
			events[k] = NewEvent{ID: id(i + k), Type: "bench", Data: data}
		}
		op := &Op{Kind: OpWrite, Stream: fmt.Sprintf("s-%d", i%100), ExpectedVersion: ExpectedVersionAny, Events: events}
		if err := db.Do(b.Context(), op); err != nil {
			b.Fatal(err)
		}
	}
	rd := db.NewReader()
	defer rd.Close()
	b.ReportAllocs()
	b.ResetTimer()
	read := 0
	from := PositionStart
	for read < b.N {
		a := rd.ReadAllForward(from, 4096, false)
		if len(a.Events) == 0 {
			from = PositionStart
			continue
		}
		read += len(a.Events)
		from = a.Next
	}
	b.StopTimer()
	b.ReportMetric(float64(read)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkReadStreamForward reads pages of 100 events of one stream among
// 100 (1,000 events each), round robin.
func BenchmarkReadStreamForward(b *testing.B) {
	db := openBenchDB(b)
	data := make([]byte, 100)
	events := make([]NewEvent, 100)
	for i := 0; i < 100_000; i += len(events) {
		for k := range events {
			events[k] = NewEvent{ID: id(i + k), Type: "bench", Data: data}
		}
		op := &Op{Kind: OpWrite, Stream: fmt.Sprintf("s-%d", (i/100)%100), ExpectedVersion: ExpectedVersionAny, Events: events}
		if err := db.Do(b.Context(), op); err != nil {
			b.Fatal(err)
		}
	}
	streams := make([]string, 100)
	for i := range streams {
		streams[i] = fmt.Sprintf("s-%d", i)
	}
	rd := db.NewReader()
	b.ReportAllocs()
	b.ResetTimer()
	read := 0
	for i := 0; read < b.N; i++ {
		s := rd.ReadStreamForward(streams[i%100], int64((i/100)%10)*100, 100, false)
		read += len(s.Events)
	}
	b.StopTimer()
	b.ReportMetric(float64(read)/b.Elapsed().Seconds(), "events/s")
}
