package pebblebench

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/cockroachdb/pebble/v2"

	"github.com/eventstored/eventstored/store/index"
	"github.com/eventstored/eventstored/store/vfs"
)

var (
	entriesFlag = flag.Int("entries", 10_000_000, "entries to add")
	lookupsFlag = flag.Int("lookups", 200_000, "lookups per measurement")
)

const streams = 100_000

var sink int64

// workload yields the chaser's entries: events of random streams in log
// order, each stream numbering its events from 0.
type workload struct {
	r      *rand.Rand
	hashes []uint64
	next   []int64
	pos    int64
}

func newWorkload(seed uint64) *workload {
	w := &workload{r: rand.New(rand.NewPCG(seed, 11)), hashes: make([]uint64, streams), next: make([]int64, streams)}
	for i := range w.hashes {
		w.hashes[i] = xxhash.Sum64String(fmt.Sprintf("stream-%d", i))
	}
	return w
}

func (w *workload) fill(dst []index.Entry) {
	for i := range dst {
		s := w.r.IntN(streams)
		dst[i] = index.Entry{Hash: w.hashes[s], Number: w.next[s], Pos: w.pos}
		w.next[s]++
		w.pos += 120
	}
}

// store is what both candidates offer the benchmark.
type store interface {
	add(es []index.Entry, upTo int64) error
	get(h uint64, n int64, fn func(pos int64) bool)
	rangeFwd(h uint64, from, to int64, fn func(e index.Entry) bool)
	last(h uint64, fn func(e index.Entry) bool)
	close() error
}

type ours struct{ ix *index.Index }

func openOurs(dir string) (store, error) {
	ix, err := index.Open(index.Options{FS: vfs.Default, Dir: dir})
	return ours{ix}, err
}
func (o ours) add(es []index.Entry, upTo int64) error { return o.ix.Add(es, upTo) }
func (o ours) get(h uint64, n int64, fn func(int64) bool) {
	o.ix.Get(h, n, fn)
}
func (o ours) rangeFwd(h uint64, from, to int64, fn func(index.Entry) bool) {
	o.ix.Range(h, from, to, true, fn)
}
func (o ours) last(h uint64, fn func(index.Entry) bool) { o.ix.Last(h, fn) }
func (o ours) close() error                             { return o.ix.Close() }

// peb stores an entry as a 24-byte key (hash, number, pos big-endian with
// the sign bit flipped so that byte order is numeric order) and no value.
type peb struct {
	db  *pebble.DB
	buf [24]byte
}

func openPebble(dir string) (store, error) {
	db, err := pebble.Open(dir, &pebble.Options{DisableWAL: true})
	return &peb{db: db}, err
}

func pkey(dst []byte, h uint64, n, p int64) []byte {
	dst = binary.BigEndian.AppendUint64(dst, h)
	dst = binary.BigEndian.AppendUint64(dst, uint64(n)^(1<<63))
	return binary.BigEndian.AppendUint64(dst, uint64(p)^(1<<63))
}

func pdecode(k []byte) index.Entry {
	return index.Entry{
		Hash:   binary.BigEndian.Uint64(k),
		Number: int64(binary.BigEndian.Uint64(k[8:]) ^ (1 << 63)),
		Pos:    int64(binary.BigEndian.Uint64(k[16:]) ^ (1 << 63)),
	}
}

func (p *peb) add(es []index.Entry, _ int64) error {
	b := p.db.NewBatch()
	for _, e := range es {
		if err := b.Set(pkey(p.buf[:0], e.Hash, e.Number, e.Pos), nil, nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.NoSync)
}

func (p *peb) iter(lo, hi []byte) *pebble.Iterator {
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		panic(err)
	}
	return it
}

func (p *peb) get(h uint64, n int64, fn func(int64) bool) {
	var lo, hi [24]byte
	it := p.iter(pkey(lo[:0], h, n, math.MinInt64), pkey(hi[:0], h, n, math.MaxInt64))
	for ok := it.Last(); ok && fn(pdecode(it.Key()).Pos); ok = it.Prev() {
	}
	it.Close()
}

func (p *peb) rangeFwd(h uint64, from, to int64, fn func(index.Entry) bool) {
	var lo, hi [24]byte
	it := p.iter(pkey(lo[:0], h, from, math.MinInt64), pkey(hi[:0], h, to, math.MaxInt64))
	for ok := it.First(); ok && fn(pdecode(it.Key())); ok = it.Next() {
	}
	it.Close()
}

func (p *peb) last(h uint64, fn func(index.Entry) bool) {
	var lo, hi [24]byte
	it := p.iter(pkey(lo[:0], h, math.MinInt64, math.MinInt64), pkey(hi[:0], h, math.MaxInt64, math.MaxInt64))
	for ok := it.Last(); ok && fn(pdecode(it.Key())); ok = it.Prev() {
	}
	it.Close()
}

func (p *peb) close() error {
	// NB: with the WAL disabled only flushed memtables survive a close.
	if err := p.db.Flush(); err != nil {
		return err
	}
	return p.db.Close()
}

// BenchmarkCompare runs the same sequence on both candidates and reports
// each phase as a metric: add (entries/s), reopen (ms), and ns per Get,
// Range(100) and Last on the reopened store.
func BenchmarkCompare(b *testing.B) {
	for _, c := range []struct {
		name string
		open func(string) (store, error)
	}{{"ours", openOurs}, {"pebble", openPebble}} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				runCompare(b, c.open)
			}
		})
	}
}

func runCompare(b *testing.B, open func(string) (store, error)) {
	dir, err := os.MkdirTemp("", "indexcmp-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := open(dir)
	if err != nil {
		b.Fatal(err)
	}
	w := newWorkload(1)
	batch := make([]index.Entry, 64)
	start := time.Now()
	for done := 0; done < *entriesFlag; done += len(batch) {
		w.fill(batch)
		if err := s.add(batch, w.pos); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(*entriesFlag)/time.Since(start).Seconds(), "add-entries/s")

	start = time.Now()
	if s, err = open(dir); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "reopen-ms")
	defer s.close()

	r := rand.New(rand.NewPCG(2, 2))
	n := *lookupsFlag
	getFn := func(p int64) bool { sink += p; return true }
	start = time.Now()
	for i := 0; i < n; i++ {
		st := r.IntN(streams)
		s.get(w.hashes[st], r.Int64N(w.next[st]+1), getFn)
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(n), "get-ns")

	found := 0
	rangeFn := func(e index.Entry) bool { sink += e.Pos; found++; return true }
	start = time.Now()
	for i := 0; i < n; i++ {
		st := r.IntN(streams)
		from := r.Int64N(max(1, w.next[st]-100))
		s.rangeFwd(w.hashes[st], from, from+99, rangeFn)
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(n), "range100-ns")
	if found == 0 {
		b.Fatalf("ranges found nothing")
	}
	b.ReportMetric(float64(found)/float64(n), "range-entries")

	lastFn := func(e index.Entry) bool { sink += e.Number; return false }
	start = time.Now()
	for i := 0; i < n; i++ {
		s.last(w.hashes[r.IntN(streams)], lastFn)
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(n), "last-ns")
}
