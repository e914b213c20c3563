package store

import (
	"errors"
	"testing"
)

// Expected-version rules of spec §4.4, case by case.
func TestExpectedVersionRules(t *testing.T) {
	type tc struct {
		name     string
		setup    func(t *testing.T, db *DB, s string)
		expected int64
		status   OpStatus
		current  int64 // checked for WrongExpectedVersion
		first    int64 // checked for Success
	}
	none := func(t *testing.T, db *DB, s string) {}
	two := func(t *testing.T, db *DB, s string) { mustWrite(t, db, s, -1, evs(1, 2)...) }
	metaOnly := func(t *testing.T, db *DB, s string) {
		mustWrite(t, db, "$$"+s, -2, NewEvent{ID: id(77), Type: "$metadata", IsJSON: true, Data: []byte(`{"$maxCount":5}`)})
	}
	soft := func(t *testing.T, db *DB, s string) {
		two(t, db, s)
		if r := deleteStream(t, db, s, -2, false); r.Status != OpSuccess {
			t.Fatalf("soft delete: %d", r.Status)
		}
	}
	hard := func(t *testing.T, db *DB, s string) {
		two(t, db, s)
		if r := deleteStream(t, db, s, -2, true); r.Status != OpSuccess {
			t.Fatalf("hard delete: %d", r.Status)
		}
	}
	cases := []tc{
		{"NoStream on a new stream", none, -1, OpSuccess, 0, 0},
		{"NoStream on an existing stream", two, -1, OpWrongExpectedVersion, 1, 0},
		{"NoStream on a soft-deleted stream recreates it", soft, -1, OpSuccess, 0, 2},
		{"NoStream on a hard-deleted stream", hard, -1, OpStreamDeleted, 0, 0},
		{"Any on a new stream", none, -2, OpSuccess, 0, 0},
		{"Any on an existing stream", two, -2, OpSuccess, 0, 2},
		{"Any on a soft-deleted stream recreates it", soft, -2, OpSuccess, 0, 2},
		{"Any on a hard-deleted stream", hard, -2, OpStreamDeleted, 0, 0},
		{"StreamExists on a new stream", none, -4, OpWrongExpectedVersion, -1, 0},
		{"StreamExists on an existing stream", two, -4, OpSuccess, 0, 2},
		{"StreamExists on a stream with only metadata", metaOnly, -4, OpSuccess, 0, 0},
		{"StreamExists on a soft-deleted stream", soft, -4, OpStreamDeleted, 0, 0},
		{"StreamExists on a hard-deleted stream", hard, -4, OpStreamDeleted, 0, 0},
		{"exact version equal to current", two, 1, OpSuccess, 0, 2},
		{"exact version above current", two, 5, OpWrongExpectedVersion, 1, 0},
		{"exact version 0 on a new stream", none, 0, OpWrongExpectedVersion, -1, 0},
		{"exact old last number on a soft-deleted stream recreates it", soft, 1, OpSuccess, 0, 2},
		{"exact version on a hard-deleted stream", hard, 1, OpStreamDeleted, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, _ := openTestDB(t)
			c.setup(t, db, "s")
			r := write(t, db, "s", c.expected, evs(100)...)
			if r.Status != c.status {
				t.Fatalf("unexpected status; got %d; want %d (current %d)", r.Status, c.status, r.CurrentVersion)
			}
			switch c.status {
			case OpWrongExpectedVersion:
				if r.CurrentVersion != c.current {
					t.Fatalf("unexpected current version; got %d; want %d", r.CurrentVersion, c.current)
				}
			case OpSuccess:
				if r.FirstEventNumber != c.first || r.LastEventNumber != c.first {
					t.Fatalf("unexpected numbers; got %d..%d; want %d", r.FirstEventNumber, r.LastEventNumber, c.first)
				}
				if r.Pos.Commit < 0 || r.Pos.Commit != r.Pos.Prepare {
					t.Fatalf("unexpected position %+v", r.Pos)
				}
				s := db.NewReader().ReadStreamForward("s", 0, 100, false)
				if s.Status != ReadSuccess || len(s.Events) == 0 || s.Events[len(s.Events)-1].Event.ID != id(100) {
					t.Fatalf("the written event is not readable: status %d, %d events", s.Status, len(s.Events))
				}
			}
		})
	}
}

// The idempotency table of spec §4.5, row by row.
func TestIdempotencyTable(t *testing.T) {
	t.Run("A: Any, n = 0 is a normal empty write", func(t *testing.T) {
		db, _ := openTestDB(t)
		mustWrite(t, db, "s", -1, evs(1, 2)...)
		r := write(t, db, "s", -2)
		if r.Status != OpSuccess || r.FirstEventNumber != 2 || r.LastEventNumber != 1 || r.Pos.Commit < 0 {
			t.Fatalf("unexpected result %+v", r)
		}
	})
	for _, ev := range []int64{-2, -4} {
		t.Run("A: all ids committed to the stream → idempotent success", func(t *testing.T) {
			db, _ := openTestDB(t)
			mustWrite(t, db, "s", -1, evs(0)...)
			mustWrite(t, db, "s", 0, evs(1, 2, 3)...)
			r := write(t, db, "s", ev, evs(1, 2, 3)...)
			if r.Status != OpSuccess || r.FirstEventNumber != 1 || r.LastEventNumber != 3 || r.Pos != (Position{-1, -1}) {
				t.Fatalf("unexpected result %+v", r)
			}
			if last := db.NewReader().ReadStreamBackward("s", -1, 10, false).LastEventNumber; last != 3 {
				t.Fatalf("an idempotent retry wrote events: last %d", last)
			}
		})
		t.Run("A: first id not committed → normal write", func(t *testing.T) {
			db, _ := openTestDB(t)
			mustWrite(t, db, "s", -1, evs(1)...)
			r := write(t, db, "s", ev, evs(5, 1)...)
			if r.Status != OpSuccess || r.FirstEventNumber != 1 || r.LastEventNumber != 2 {
				t.Fatalf("unexpected result %+v", r)
			}
		})
		t.Run("A: first id committed, a later one not → WrongExpectedVersion", func(t *testing.T) {
			db, _ := openTestDB(t)
			mustWrite(t, db, "s", -1, evs(1, 2)...)
			r := write(t, db, "s", ev, evs(1, 9)...)
			if r.Status != OpWrongExpectedVersion || r.CurrentVersion != 1 {
				t.Fatalf("unexpected result %+v", r)
			}
		})
		t.Run("A: first id committed, a later one went to another stream → WrongExpectedVersion", func(t *testing.T) {
			db, _ := openTestDB(t)
			mustWrite(t, db, "s", -1, evs(1)...)
			mustWrite(t, db, "other", -1, evs(2)...)
			r := write(t, db, "s", ev, evs(1, 2)...)
			if r.Status != OpWrongExpectedVersion {
				t.Fatalf("unexpected result %+v", r)
			}
		})
	}
	t.Run("A: id committed to another stream only → normal write", func(t *testing.T) {
		db, _ := openTestDB(t)
		mustWrite(t, db, "other", -1, evs(1)...)
		r := write(t, db, "s", -2, evs(1)...)
		if r.Status != OpSuccess || r.FirstEventNumber != 0 || r.Pos.Commit < 0 {
			t.Fatalf("unexpected result %+v", r)
		}
	})
	t.Run("B: E < cur, n = 0 → WrongExpectedVersion", func(t *testing.T) {
		db, _ := openTestDB(t)
		mustWrite(t, db, "s", -1, evs(1, 2)...)
		if r := write(t, db, "s", 0); r.Status != OpWrongExpectedVersion || r.CurrentVersion != 1 {
			t.Fatalf("unexpected result %+v", r)
		}
	})
	for _, e := range []int64{-1, 0} {
		t.Run("B: stored events match → idempotent success", func(t *testing.T) {
			db, _ := openTestDB(t)
			mustWrite(t, db, "s", -1, evs(0, 1, 2, 3)...)
			ids := []int{1, 2}
			if e == -1 {
				ids = []int{0, 1}
			}
			r := write(t, db, "s", e, evs(ids...)...)
			if r.Status != OpSuccess || r.FirstEventNumber != e+1 || r.LastEventNumber != e+2 || r.Pos != (Position{-1, -1}) {
				t.Fatalf("unexpected result %+v", r)
			}
		})
	}
	t.Run("B: stored events match even when the id cache forgot them", func(t *testing.T) {
		clk := newManualClock()
		db, err := Open(testOptions(Options{MemDB: true, Logger: testLogger, Clock: clk, IdempotencyCacheMax: 2}))
		requireNoError(t, err)
		defer db.Close()
		mustWrite(t, db, "s", -1, evs(0, 1)...)
		mustWrite(t, db, "t", -1, evs(10, 11, 12)...)
		r := write(t, db, "s", -1, evs(0, 1)...)
		if r.Status != OpSuccess || r.FirstEventNumber != 0 || r.LastEventNumber != 1 || r.Pos != (Position{-1, -1}) {
			t.Fatalf("unexpected result %+v", r)
		}
	})
	t.Run("B: event at E+1 differs → WrongExpectedVersion", func(t *testing.T) {
		db, _ := openTestDB(t)
		mustWrite(t, db, "s", -1, evs(0, 1, 2)...)
		if r := write(t, db, "s", 0, evs(9)...); r.Status != OpWrongExpectedVersion || r.CurrentVersion != 2 {
			t.Fatalf("unexpected result %+v", r)
		}
	})
	t.Run("B: NoStream on a soft-deleted stream whose first id differs → recreate", func(t *testing.T) {
		db, _ := openTestDB(t)
		mustWrite(t, db, "s", -1, evs(0, 1)...)
		deleteStream(t, db, "s", 1, false)
		if r := write(t, db, "s", -1, evs(9)...); r.Status != OpSuccess || r.FirstEventNumber != 2 {
			t.Fatalf("unexpected result %+v", r)
		}
	})
	t.Run("B: partial overlap → WrongExpectedVersion", func(t *testing.T) {
		db, _ := openTestDB(t)
		mustWrite(t, db, "s", -1, evs(0, 1, 2)...)
		if r := write(t, db, "s", 0, evs(1, 7)...); r.Status != OpWrongExpectedVersion {
			t.Fatalf("unexpected result %+v", r)
		}
	})
	t.Run("B: retry with more events than were written → WrongExpectedVersion", func(t *testing.T) {
		db, _ := openTestDB(t)
		mustWrite(t, db, "s", -1, evs(0, 1, 2)...)
		if r := write(t, db, "s", 0, evs(1, 2, 3)...); r.Status != OpWrongExpectedVersion {
			t.Fatalf("unexpected result %+v", r)
		}
	})
	t.Run("C: E == cur → normal write", func(t *testing.T) {
		db, _ := openTestDB(t)
		mustWrite(t, db, "s", -1, evs(0)...)
		if r := write(t, db, "s", 0, evs(0)...); r.Status != OpSuccess || r.FirstEventNumber != 1 {
			t.Fatalf("unexpected result %+v", r)
		}
	})
	t.Run("D: E > cur → WrongExpectedVersion", func(t *testing.T) {
		db, _ := openTestDB(t)
		mustWrite(t, db, "s", -1, evs(0)...)
		if r := write(t, db, "s", 3, evs(1)...); r.Status != OpWrongExpectedVersion || r.CurrentVersion != 0 {
			t.Fatalf("unexpected result %+v", r)
		}
	})
	t.Run("empty write on a new stream", func(t *testing.T) {
		db, _ := openTestDB(t)
		r := write(t, db, "s", -1)
		if r.Status != OpSuccess || r.FirstEventNumber != 0 || r.LastEventNumber != -1 || r.Pos.Commit < 0 {
			t.Fatalf("unexpected result %+v", r)
		}
		if s := db.NewReader().ReadStreamForward("s", 0, 10, false); s.Status != ReadNoStream {
			t.Fatalf("an empty write created the stream: %d", s.Status)
		}
	})
}

func TestValidateOpRejectsBadRequests(t *testing.T) {
	good := NewEvent{ID: id(1), Type: "t"}
	cases := []struct {
		name string
		op   Op
	}{
		{"empty stream", Op{Kind: OpWrite, Stream: "", ExpectedVersion: -2}},
		{"expected version -3", Op{Kind: OpWrite, Stream: "s", ExpectedVersion: -3}},
		{"expected version -5", Op{Kind: OpWrite, Stream: "s", ExpectedVersion: -5}},
		{"zero event id", Op{Kind: OpWrite, Stream: "s", ExpectedVersion: -2, Events: []NewEvent{{Type: "t"}}}},
		{"empty event type", Op{Kind: OpWrite, Stream: "s", ExpectedVersion: -2, Events: []NewEvent{{ID: id(1)}}}},
		{"event too big", Op{Kind: OpWrite, Stream: "s", ExpectedVersion: -2, Events: []NewEvent{{ID: id(1), Type: "tt", Data: make([]byte, MaxEventSizeBytes-3)}}}},
		{"StreamExists on delete", Op{Kind: OpDelete, Stream: "s", ExpectedVersion: -4}},
		{"StreamExists on transaction start", Op{Kind: OpTransactionStart, Stream: "s", ExpectedVersion: -4}},
		{"negative transaction id", Op{Kind: OpTransactionWrite, TransactionID: -1, Events: []NewEvent{good}}},
		{"unknown kind", Op{Kind: 99, Stream: "s"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := ValidateOp(&c.op); !errors.Is(err, ErrBadRequest) {
				t.Fatalf("unexpected error; got %v; want ErrBadRequest", err)
			}
		})
	}
	ok := Op{Kind: OpWrite, Stream: "s", ExpectedVersion: -2, Events: []NewEvent{{ID: id(1), Type: "tt", Data: make([]byte, MaxEventSizeBytes-4)}}}
	if err := ValidateOp(&ok); err != nil {
		t.Fatalf("an event of exactly the maximum size was refused: %v", err)
	}
	db, _ := openTestDB(t)
	if err := db.Submit(&Op{Kind: OpWrite, Stream: "", ExpectedVersion: -2}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("Submit accepted a bad request: %v", err)
	}
}

// The recent-id cache is bounded: its table never grows, the newest ids of
// a set survive, and the oldest are evicted.
func TestIdCacheIsBounded(t *testing.T) {
	var c idCache
	c.init(1000)
	size := c.capacity()
	if size < 1000 || size > 2*1000+idCacheWays {
		t.Fatalf("unexpected table size %d for a limit of 1000", size)
	}
	for i := 0; i < 100_000; i++ {
		x := id(i)
		c.put(&x, uint64(i), 1, int64(i))
	}
	if c.capacity() != size {
		t.Fatalf("the table grew from %d to %d", size, c.capacity())
	}
	// The last id put is always present; the first is long gone.
	last, first := id(99_999), id(0)
	if e, ok := c.get(&last); !ok || e.number != 99_999 || e.hash != 99_999 {
		t.Fatalf("the newest id is missing: %+v %v", e, ok)
	}
	if _, ok := c.get(&first); ok {
		t.Fatal("the oldest id survived 100 times the capacity of puts")
	}
	// Re-putting an id updates it in place.
	c.put(&last, 7, 1, 8)
	if e, _ := c.get(&last); e.number != 8 || e.hash != 7 {
		t.Fatalf("update in place failed: %+v", e)
	}
	hits := 0
	for i := 99_000; i < 100_000; i++ {
		x := id(i)
		if _, ok := c.get(&x); ok {
			hits++
		}
	}
	if hits < 600 {
		t.Fatalf("only %d of the 1000 newest ids are cached", hits)
	}
}
