package store

import (
	"fmt"
	"testing"
)

// The read tables of spec §4.10, case by case, over a stream with events
// 0..9 and optional metadata.
func TestReadStreamTables(t *testing.T) {
	setup := func(t *testing.T, meta string) (*DB, *Reader) {
		db, _ := openTestDB(t)
		for i := 0; i < 10; i++ {
			mustWrite(t, db, "s", int64(i)-1, evs(i)...)
		}
		if meta != "" {
			mustWrite(t, db, "$$s", -2, NewEvent{ID: id(99), Type: "$metadata", IsJSON: true, Data: []byte(meta)})
		}
		return db, db.NewReader()
	}
	type want struct {
		status ReadStatus
		nums   []int64
		next   int64
		last   int64
		eos    bool
	}
	check := func(t *testing.T, s *StreamSlice, w want) {
		t.Helper()
		if s.Status != w.status || !eqInts(numbers(s.Events), w.nums) || s.NextEventNumber != w.next || s.LastEventNumber != w.last || s.IsEndOfStream != w.eos {
			t.Fatalf("unexpected slice; got status %d events %v next %d last %d eos %v; want %+v",
				s.Status, numbers(s.Events), s.NextEventNumber, s.LastEventNumber, s.IsEndOfStream, w)
		}
	}
	forward := []struct {
		meta     string
		from     int64
		count    int
		expected want
	}{
		{"", 0, 5, want{ReadSuccess, []int64{0, 1, 2, 3, 4}, 5, 9, false}},
		{"", 5, 5, want{ReadSuccess, []int64{5, 6, 7, 8, 9}, 10, 9, true}},
		{"", 8, 5, want{ReadSuccess, []int64{8, 9}, 10, 9, true}},
		{"", 20, 5, want{ReadSuccess, []int64{}, 10, 9, true}},
		{"", 0, 4096, want{ReadSuccess, []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 10, 9, true}},
		{`{"$tb":5}`, 0, 3, want{ReadSuccess, []int64{}, 5, 9, false}},
		{`{"$tb":5}`, 3, 4, want{ReadSuccess, []int64{5, 6}, 7, 9, false}},
		{`{"$maxCount":2}`, 0, 100, want{ReadSuccess, []int64{8, 9}, 10, 9, true}},
	}
	for _, c := range forward {
		t.Run(fmt.Sprintf("forward meta %s from %d count %d", c.meta, c.from, c.count), func(t *testing.T) {
			_, rd := setup(t, c.meta)
			check(t, rd.ReadStreamForward("s", c.from, c.count, false), c.expected)
		})
	}
	backward := []struct {
		meta     string
		from     int64
		count    int
		expected want
	}{
		{"", -1, 3, want{ReadSuccess, []int64{9, 8, 7}, 6, 9, false}},
		{"", 9, 10, want{ReadSuccess, []int64{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, -1, 9, true}},
		{"", 2, 5, want{ReadSuccess, []int64{2, 1, 0}, -1, 9, true}},
		{"", 20, 5, want{ReadSuccess, []int64{}, 9, 9, false}},
		{`{"$tb":5}`, 4, 3, want{ReadSuccess, []int64{}, -1, 9, true}},
		{`{"$tb":5}`, 7, 5, want{ReadSuccess, []int64{7, 6, 5}, -1, 9, true}},
		{`{"$tb":5}`, -1, 2, want{ReadSuccess, []int64{9, 8}, 7, 9, false}},
	}
	for _, c := range backward {
		t.Run(fmt.Sprintf("backward meta %s from %d count %d", c.meta, c.from, c.count), func(t *testing.T) {
			_, rd := setup(t, c.meta)
			check(t, rd.ReadStreamBackward("s", c.from, c.count, false), c.expected)
		})
	}
	t.Run("no stream", func(t *testing.T) {
		_, rd := setup(t, "")
		check(t, rd.ReadStreamForward("none", 0, 10, false), want{ReadNoStream, []int64{}, -1, -1, true})
		check(t, rd.ReadStreamBackward("none", -1, 10, false), want{ReadNoStream, []int64{}, -1, -1, true})
	})
	t.Run("count limits", func(t *testing.T) {
		_, rd := setup(t, "")
		for _, n := range []int{4097, 1 << 30} {
			if s := rd.ReadStreamForward("s", 0, n, false); s.Status != ReadError || s.Error != "Read size too big, should be less than 4096 items" {
				t.Fatalf("forward count %d: %+v", n, s)
			}
			if s := rd.ReadStreamBackward("s", -1, n, false); s.Status != ReadError || s.Error != errTextReadTooBig {
				t.Fatalf("backward count %d: %+v", n, s)
			}
			if a := rd.ReadAllForward(PositionStart, n, false); a.Status != ReadError || a.Error != errTextReadTooBig {
				t.Fatalf("$all count %d: %+v", n, a)
			}
		}
		for _, n := range []int{0, -1} {
			if s := rd.ReadStreamForward("s", 0, n, false); s.Status != ReadError {
				t.Fatalf("forward count %d: %+v", n, s)
			}
		}
		if s := rd.ReadStreamForward("s", -1, 10, false); s.Status != ReadError {
			t.Fatalf("forward from -1: %+v", s)
		}
	})
	t.Run("ReadEvent", func(t *testing.T) {
		_, rd := setup(t, "")
		if st, ev := rd.ReadEvent("s", -1, false); st != ReadSuccess || ev.Event.Number != 9 || ev.Event.ID != id(9) || ev.Event.Stream != "s" || !ev.Event.IsJSON {
			t.Fatalf("last event: %d %+v", st, ev)
		}
		if st, ev := rd.ReadEvent("s", 3, false); st != ReadSuccess || ev.Event.Number != 3 || string(ev.Event.Data) != `{"n":3}` {
			t.Fatalf("event 3: %d %+v", st, ev)
		}
		if st, _ := rd.ReadEvent("s", 10, false); st != ReadNotFound {
			t.Fatalf("beyond last: %d", st)
		}
		if st, _ := rd.ReadEvent("none", 0, false); st != ReadNoStream {
			t.Fatalf("no stream: %d", st)
		}
	})
}

// $all reads: paging both ways covers every event exactly once, in position
// order, ending with an empty page (spec §4.6, §4.10).
func TestReadAll(t *testing.T) {
	db, _ := openTestDB(t)
	var want []Position
	for i := 0; i < 25; i++ {
		r := mustWrite(t, db, fmt.Sprintf("s-%d", i%4), -2, evs(i, 1000+i)...)
		_ = r
	}
	// One empty write and one transaction in the middle.
	write(t, db, "s-0", -2)
	tx := do(t, db, &Op{Kind: OpTransactionStart, Stream: "tx", ExpectedVersion: -1}).TransactionID
	do(t, db, &Op{Kind: OpTransactionWrite, TransactionID: tx, Events: evs(5000, 5001, 5002)})
	do(t, db, &Op{Kind: OpTransactionCommit, TransactionID: tx})
	mustWrite(t, db, "last", -1, evs(9999)...)
	rd := db.NewReader()
	full := rd.ReadAllForward(PositionStart, 4096, false)
	for _, e := range full.Events {
		want = append(want, e.Pos)
	}
	if len(want) != 50+3+1 {
		t.Fatalf("unexpected event count %d", len(want))
	}
	for i := 1; i < len(want); i++ {
		if !want[i-1].Less(want[i]) {
			t.Fatalf("positions not strictly increasing at %d: %+v then %+v", i, want[i-1], want[i])
		}
	}
	if last := db.LastCommitPosition(); full.Next.Less(Position{last, last}) {
		t.Fatalf("next %+v after the newest event is below (L, L) with L = %d", full.Next, last)
	}
	for _, page := range []int{1, 2, 3, 7} {
		var got []Position
		from := PositionStart
		for {
			a := rd.ReadAllForward(from, page, false)
			if a.Status != ReadSuccess {
				t.Fatalf("status %d", a.Status)
			}
			if len(a.Events) == 0 {
				if a.Next != from {
					t.Fatalf("empty page moved next: %+v", a.Next)
				}
				break
			}
			for _, e := range a.Events {
				got = append(got, e.Pos)
			}
			from = a.Next
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("forward pages of %d: got %v; want %v", page, got, want)
		}
		got = got[:0]
		from = PositionEnd
		for {
			a := rd.ReadAllBackward(from, page, false)
			if len(a.Events) == 0 {
				break
			}
			for _, e := range a.Events {
				got = append(got, e.Pos)
			}
			from = a.Next
		}
		for i, j := 0, len(got)-1; i < j; i, j = i+1, j-1 {
			got[i], got[j] = got[j], got[i]
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("backward pages of %d: got %v; want %v", page, got, want)
		}
	}
	t.Run("end position", func(t *testing.T) {
		a := rd.ReadAllForward(PositionEnd, 10, false)
		if a.Status != ReadSuccess || len(a.Events) != 0 || a.Pos.Commit < 0 {
			t.Fatalf("forward from end: %+v", a)
		}
		a = rd.ReadAllBackward(PositionEnd, 1, false)
		if len(a.Events) != 1 || a.Events[0].Event.Stream != "last" || a.Pos.Commit <= 0 {
			t.Fatalf("backward from end: %+v", a)
		}
	})
	t.Run("invalid positions", func(t *testing.T) {
		for _, p := range []Position{{-1, 0}, {0, -1}, {-5, -5}} {
			if a := rd.ReadAllForward(p, 10, false); a.Status != ReadError || a.Error != "Invalid position." {
				t.Fatalf("forward from %+v: %+v", p, a)
			}
			if a := rd.ReadAllBackward(p, 10, false); a.Status != ReadError {
				t.Fatalf("backward from %+v: %+v", p, a)
			}
		}
	})
	t.Run("count 0 returns nothing", func(t *testing.T) {
		if a := rd.ReadAllForward(PositionStart, 0, false); a.Status != ReadSuccess || len(a.Events) != 0 {
			t.Fatalf("%+v", a)
		}
	})
}

// Link resolution, spec §4.11.
func TestLinkResolution(t *testing.T) {
	db, _ := openTestDB(t)
	mustWrite(t, db, "target", -1, evs(0, 1)...)
	link := func(n int, data string) NewEvent {
		return NewEvent{ID: id(n), Type: "$>", Data: []byte(data)}
	}
	mustWrite(t, db, "links", -1, link(100, "1@target"), link(101, "nope"), link(102, "7@target"), link(103, "0@gone"))
	mustWrite(t, db, "gone", -1, evs(200)...)
	deleteStream(t, db, "gone", -2, true)
	rd := db.NewReader()
	s := rd.ReadStreamForward("links", 0, 10, true)
	if len(s.Events) != 4 {
		t.Fatalf("unexpected events %d", len(s.Events))
	}
	e := s.Events[0]
	if !e.HasEvent || !e.HasLink || e.Event.Stream != "target" || e.Event.Number != 1 || e.Event.ID != id(1) || e.Link.Number != 0 || e.Link.Stream != "links" {
		t.Fatalf("resolved link: %+v", e)
	}
	for i := 1; i < 4; i++ {
		if e := s.Events[i]; e.HasEvent || !e.HasLink || e.Link.Number != int64(i) {
			t.Fatalf("unresolvable link %d: %+v", i, e)
		}
	}
	s = rd.ReadStreamForward("links", 0, 10, false)
	if e := s.Events[0]; !e.HasEvent || e.HasLink || e.Event.Type != "$>" || e.Event.Stream != "links" {
		t.Fatalf("unresolved read: %+v", e)
	}
	st, ev := rd.ReadEvent("links", 0, true)
	if st != ReadSuccess || !ev.HasLink || ev.Event.Stream != "target" {
		t.Fatalf("ReadEvent: %d %+v", st, ev)
	}
	a := rd.ReadAllBackward(PositionEnd, 10, true)
	for _, e := range a.Events {
		if e.HasLink && e.Link.Number == 0 && e.Link.Stream == "links" {
			if !e.HasEvent || e.Pos != e.Link.Pos {
				t.Fatalf("$all link position must be the link's: %+v", e)
			}
			return
		}
	}
	t.Fatal("link not found in $all")
}

// Spec §4.6 rule 4: after reading the newest event, next ≥ (L, L) with L the
// last commit position, even when the last write was an empty one (whose
// marker record is not an event): the node client's catch-up subscription
// loops until this holds.
func TestReadAllNextPassesLastCommitAfterEmptyWrite(t *testing.T) {
	db, _ := openTestDB(t)
	mustWrite(t, db, "a", -1, evs(1, 2)...)
	r := write(t, db, "a", 1) // empty write
	if r.Status != OpSuccess || r.Pos.Commit < 0 {
		t.Fatalf("empty write: %+v", r)
	}
	L := db.LastCommitPosition()
	if L != r.Pos.Commit {
		t.Fatalf("last commit %d; want the empty write's %d", L, r.Pos.Commit)
	}
	rd := db.NewReader()
	for _, page := range []int{1, 2, 10} {
		from := PositionStart
		for i := 0; i < 10; i++ {
			a := rd.ReadAllForward(from, page, false)
			if len(a.Events) == 0 && a.Next == from && from.Less(Position{L, L}) {
				t.Fatalf("page %d: stuck at %+v below (L, L) = (%d, %d)", page, from, L, L)
			}
			from = a.Next
			if !from.Less(Position{L, L}) {
				break
			}
		}
		if from.Less(Position{L, L}) {
			t.Fatalf("page %d: next %+v never reached (L, L)", page, from)
		}
	}
}

// Arbitrary positions and numbers from clients never crash a read: they
// get a result or a clear error.
func TestReadsWithArbitraryArgumentsDoNotPanic(t *testing.T) {
	db, _ := openTestDB(t)
	for i := 0; i < 30; i++ {
		mustWrite(t, db, fmt.Sprintf("s%d", i%3), -2, evs(i)...)
	}
	end := db.Stats().DurablePosition
	rd := db.NewReader()
	vals := []int64{-3, -2, -1, 0, 1, 7, 59, 60, 61, end - 1, end, end + 1, 1 << 40, 1<<63 - 1}
	for _, c := range vals {
		for _, p := range vals {
			a := rd.ReadAllForward(Position{c, p}, 10, true)
			if a.Status != ReadSuccess && a.Status != ReadError {
				t.Fatalf("forward from (%d,%d): status %d", c, p, a.Status)
			}
			a = rd.ReadAllBackward(Position{c, p}, 10, true)
			if a.Status != ReadSuccess && a.Status != ReadError {
				t.Fatalf("backward from (%d,%d): status %d", c, p, a.Status)
			}
		}
		for _, n := range []int{-1, 0, 1, 4096} {
			rd.ReadStreamForward("s1", c, n, true)
			rd.ReadStreamBackward("s1", c, n, true)
		}
		rd.ReadEvent("s1", c, true)
		rd.ReadEvent("", c, true)
		rd.ReadEvent("$$s1", c, true)
	}
}
