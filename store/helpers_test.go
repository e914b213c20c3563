package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// manualClock is the Clock seam for tests.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func newManualClock() *manualClock {
	return &manualClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func requireNoError(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// openTestDB opens an in-memory DB with a manual clock.
func openTestDB(t testing.TB) (*DB, *manualClock) {
	t.Helper()
	clk := newManualClock()
	opts := Options{MemDB: true, Clock: clk}
	if testOnDisk {
		opts = Options{Dir: t.TempDir(), Clock: clk}
	}
	db, err := Open(testOptions(opts))
	requireNoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db, clk
}

// id makes a distinct, non-zero event id from n.
func id(n int) [16]byte {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], uint64(n)+1)
	b[15] = 0xEE
	return b
}

func evs(ids ...int) []NewEvent {
	out := make([]NewEvent, len(ids))
	for i, n := range ids {
		out[i] = NewEvent{ID: id(n), Type: "type", IsJSON: true, Data: []byte(fmt.Sprintf(`{"n":%d}`, n))}
	}
	return out
}

func do(t testing.TB, db *DB, op *Op) OpResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.Do(ctx, op); err != nil {
		t.Fatalf("op %+v failed: %v", op.Kind, err)
	}
	return op.Result
}

func write(t testing.TB, db *DB, stream string, expected int64, events ...NewEvent) OpResult {
	t.Helper()
	return do(t, db, &Op{Kind: OpWrite, Stream: stream, ExpectedVersion: expected, Events: events})
}

func mustWrite(t testing.TB, db *DB, stream string, expected int64, events ...NewEvent) OpResult {
	t.Helper()
	r := write(t, db, stream, expected, events...)
	if r.Status != OpSuccess {
		t.Fatalf("write to %q (expected %d): status %d, current %d", stream, expected, r.Status, r.CurrentVersion)
	}
	return r
}

func deleteStream(t testing.TB, db *DB, stream string, expected int64, hard bool) OpResult {
	t.Helper()
	return do(t, db, &Op{Kind: OpDelete, Stream: stream, ExpectedVersion: expected, HardDelete: hard})
}

// numbers returns the event numbers of a slice's events (Event, or Link
// when unresolved).
func numbers(evs []ResolvedEvent) []int64 {
	out := []int64{}
	for _, e := range evs {
		if e.HasEvent {
			out = append(out, e.Event.Number)
		} else {
			out = append(out, e.Link.Number)
		}
	}
	return out
}

func eqInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var testLogger = slog.New(slog.DiscardHandler)

// testOptions fills small limits so each test DB is cheap: 1 MiB chunks
// (which also makes tests cross chunk boundaries) and small caches.
func testOptions(o Options) Options {
	if o.Logger == nil {
		o.Logger = testLogger
	}
	if o.ChunkSizeBytes == 0 {
		o.ChunkSizeBytes = 1 << 20
	}
	if o.PipelineDepth == 0 {
		o.PipelineDepth = testPipelineDepth
	}
	if o.IdempotencyCacheMax == 0 {
		o.IdempotencyCacheMax = 1000
	}
	return o
}

// testPipelineDepth is the PipelineDepth testOptions sets when the test
// sets none (see TestSemanticsPipelined).
var testPipelineDepth int

// testOnDisk makes openTestDB use a real directory instead of --mem-db (see
// TestSemanticsOnDisk).
var testOnDisk bool
