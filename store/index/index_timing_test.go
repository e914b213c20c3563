package index

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
)

// Benchmarks of the index on the real disk, sized like the issue's
// acceptance figures: 10M entries over 100k streams. Run with
//
//	go test -run '^$' -bench . -benchtime 1x ./store/index/            (fixture built once)
//	go test -run '^$' -bench Add -benchtime 10000000x ./store/index/   (bulk add of 10M)
//
// -index.bench-entries makes the fixture smaller for a quick look.
var benchEntries = flag.Int("index.bench-entries", 10_000_000, "entries in the lookup benchmarks' fixture")

const benchStreams = 100_000

var benchSink int64

// benchWorkload yields entries the way the chaser would: events of random
// streams in log order, each stream numbering its events from 0.
type benchWorkload struct {
	r      *rand.Rand
	hashes []uint64
	next   []int64
	pos    int64
}

func newBenchWorkload(seed uint64) *benchWorkload { return newBenchWorkloadOf(seed, benchStreams) }

func newBenchWorkloadOf(seed uint64, streams int) *benchWorkload {
	w := &benchWorkload{r: rand.New(rand.NewPCG(seed, 11)), hashes: make([]uint64, streams), next: make([]int64, streams)}
	for i := range w.hashes {
		w.hashes[i] = xxhash.Sum64String(fmt.Sprintf("stream-%d", i))
	}
	return w
}

func (w *benchWorkload) fill(dst []Entry) {
	for i := range dst {
		s := w.r.IntN(len(w.hashes))
		dst[i] = Entry{Hash: w.hashes[s], Number: w.next[s], Pos: w.pos}
		w.next[s]++
		w.pos += 120
	}
}

// BenchmarkAdd measures the feeder's throughput, flushes and merges
// included (Close writes the last memtable), in batches of 64 entries.
func BenchmarkAdd(b *testing.B) {
	b.ReportAllocs()
	dir := b.TempDir()
	ix, err := Open(Options{Dir: dir})
	requireNoError(b, err)
	w := newBenchWorkload(1)
	batch := make([]Entry, 64)
	b.ResetTimer()
	start := time.Now()
	for done := 0; done < b.N; done += len(batch) {
		n := min(len(batch), b.N-done)
		w.fill(batch[:n])
		if err := ix.Add(batch[:n], w.pos); err != nil {
			b.Fatal(err)
		}
	}
	requireNoError(b, ix.Close())
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "entries/s")
}

type benchFixture struct {
	dir      string
	w        *benchWorkload
	openTime time.Duration
	ix       *Index
}

var (
	fixtureOnce sync.Once
	fixture     *benchFixture
	fixtureErr  error
)

func cleanupBenchFixture() {
	if fixture != nil {
		fixture.ix.Close()
		os.RemoveAll(fixture.dir)
	}
}

// getFixture builds the index of -index.bench-entries entries once, closes
// it and reopens it (verifying every checksum), timing the open.
func getFixture(b *testing.B) *benchFixture {
	fixtureOnce.Do(func() {
		f := &benchFixture{w: newBenchWorkload(2)}
		if f.dir, fixtureErr = os.MkdirTemp("", "index-bench-"); fixtureErr != nil {
			return
		}
		ix, err := Open(Options{Dir: f.dir})
		if err != nil {
			fixtureErr = err
			return
		}
		batch := make([]Entry, 1024)
		for done := 0; done < *benchEntries; done += len(batch) {
			f.w.fill(batch)
			if fixtureErr = ix.Add(batch, f.w.pos); fixtureErr != nil {
				return
			}
		}
		if fixtureErr = ix.Close(); fixtureErr != nil {
			return
		}
		start := time.Now()
		f.ix, fixtureErr = Open(Options{Dir: f.dir})
		f.openTime = time.Since(start)
		fixture = f
	})
	if fixtureErr != nil {
		b.Fatal(fixtureErr)
	}
	return fixture
}

// BenchmarkOpenVerify reports the time to open the fixture with every
// block checksum verified (the restart cost of the index).
func BenchmarkOpenVerify(b *testing.B) {
	f := getFixture(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		ix, err := Open(Options{Dir: f.dir})
		requireNoError(b, err)
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms/open")
		b.ReportMetric(float64(len(ix.tables)), "tables")
		requireNoError(b, ix.Close())
	}
	b.ReportMetric(float64(f.openTime.Milliseconds()), "ms/first-open")
}

func BenchmarkGet(b *testing.B) {
	f := getFixture(b)
	b.ReportAllocs()
	r := rand.New(rand.NewPCG(3, 3))
	fn := func(p int64) bool { benchSink += p; return true }
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := r.IntN(benchStreams)
		f.ix.Get(f.w.hashes[s], r.Int64N(f.w.next[s]+1), fn)
	}
}

func BenchmarkGetParallel(b *testing.B) {
	f := getFixture(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(rand.Uint64(), 3))
		var sink int64
		fn := func(p int64) bool { sink += p; return true }
		for pb.Next() {
			s := r.IntN(benchStreams)
			f.ix.Get(f.w.hashes[s], r.Int64N(f.w.next[s]+1), fn)
		}
	})
}

func BenchmarkGetAbsentStream(b *testing.B) {
	f := getFixture(b)
	b.ReportAllocs()
	fn := func(p int64) bool { benchSink += p; return true }
	for i := 0; i < b.N; i++ {
		f.ix.Get(uint64(i)*0x9E3779B97F4A7C15, 0, fn)
	}
}

func BenchmarkRange100(b *testing.B) {
	f := getFixture(b)
	for _, fwd := range []bool{true, false} {
		b.Run(fmt.Sprintf("forward=%v", fwd), func(b *testing.B) {
			b.ReportAllocs()
			r := rand.New(rand.NewPCG(4, 4))
			fn := func(e Entry) bool { benchSink += e.Pos; return true }
			for i := 0; i < b.N; i++ {
				s := r.IntN(benchStreams)
				from := r.Int64N(max(1, f.w.next[s]-100))
				f.ix.Range(f.w.hashes[s], from, from+99, fwd, fn)
			}
		})
	}
}

func BenchmarkLast(b *testing.B) {
	f := getFixture(b)
	b.ReportAllocs()
	r := rand.New(rand.NewPCG(5, 5))
	fn := func(e Entry) bool { benchSink += e.Number; return false }
	for i := 0; i < b.N; i++ {
		f.ix.Last(f.w.hashes[r.IntN(benchStreams)], fn)
	}
}

// BenchmarkMemTableGet measures a point lookup served by the active
// memtable (1M entries, the default size) while nothing else runs.
func BenchmarkMemTableGet(b *testing.B) {
	m := newMemTable(1, 0)
	w := newBenchWorkload(6)
	batch := make([]Entry, 1<<20)
	w.fill(batch)
	for _, e := range batch {
		m.add(e)
	}
	b.ReportAllocs()
	r := rand.New(rand.NewPCG(6, 6))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := batch[r.IntN(len(batch))]
		if n := m.findLE(keyMax(e.Hash, e.Number)); n == 0 || m.node(n).e != e {
			b.Fatalf("entry %v not found", e)
		}
	}
}

// BenchmarkMemTableAdd measures the feeder's insert into the active
// memtable (filled to 1M entries, then replaced outside the timer), for
// events of random streams among 1,000 (the write benchmark's default)
// and 100,000: "fingers" is the insert as it is (fingers with towers,
// mtFingersFull), "level0" the insert's algorithm before the towers (a
// finger for one-level nodes only, every taller node found by a search
// from the top; its fingers now sit in the same finger table), in the same
// run.
func BenchmarkMemTableAdd(b *testing.B) {
	for _, streams := range []int{1000, 100_000} {
		for _, mode := range []int{mtFingersFull, mtFingersLevel0} {
			name := fmt.Sprintf("streams=%d/fingers", streams)
			if mode == mtFingersLevel0 {
				name = fmt.Sprintf("streams=%d/level0", streams)
			}
			b.Run(name, func(b *testing.B) {
				mtFingerMode = mode
				defer func() { mtFingerMode = mtFingersFull }()
				w := newBenchWorkloadOf(9, streams)
				batch := make([]Entry, 1<<20)
				w.fill(batch)
				m := newMemTable(1, 0)
				b.ReportAllocs()
				b.ResetTimer()
				for i, k := 0, 0; i < b.N; i, k = i+1, k+1 {
					if k == len(batch) {
						b.StopTimer()
						w.fill(batch)
						m, k = newMemTable(1, 0), 0
						b.StartTimer()
					}
					m.add(batch[k])
				}
			})
		}
	}
}
