package store

import (
	"math"
	"testing"
	"time"
)

// Soft and hard delete, spec §4.8 table, row by row.
func TestSoftDelete(t *testing.T) {
	db, _ := openTestDB(t)
	mustWrite(t, db, "s", -1, evs(0, 1, 2)...)
	mustWrite(t, db, "$$s", -1, NewEvent{ID: id(50), Type: "$metadata", IsJSON: true, Data: []byte(`{"$maxCount":10,"custom":"x"}`)})
	r := deleteStream(t, db, "s", 2, false)
	if r.Status != OpSuccess || r.Pos.Commit < 0 {
		t.Fatalf("soft delete: %+v", r)
	}
	rd := db.NewReader()
	t.Run("writes $tb = MaxInt64 metadata, replacing the rest", func(t *testing.T) {
		st, ev := rd.ReadEvent("$$s", -1, false)
		if st != ReadSuccess || string(ev.Event.Data) != softDeletedMetadataJSON || ev.Event.Type != "$metadata" {
			t.Fatalf("unexpected metadata event: %d %q", st, ev.Event.Data)
		}
		if ev.Event.Pos != r.Pos {
			t.Fatalf("delete position %+v is not the metadata event's %+v", r.Pos, ev.Event.Pos)
		}
	})
	t.Run("reads report NoStream with the real last number", func(t *testing.T) {
		s := rd.ReadStreamForward("s", 0, 10, false)
		if s.Status != ReadNoStream || s.LastEventNumber != 2 || len(s.Events) != 0 || s.NextEventNumber != -1 || !s.IsEndOfStream {
			t.Fatalf("unexpected slice %+v", s)
		}
		if st, _ := rd.ReadEvent("s", 0, false); st != ReadNoStream {
			t.Fatalf("ReadEvent: %d", st)
		}
	})
	t.Run("StreamExists is refused with StreamDeleted", func(t *testing.T) {
		if r := write(t, db, "s", -4, evs(9)...); r.Status != OpStreamDeleted {
			t.Fatalf("unexpected status %d", r.Status)
		}
	})
	t.Run("deleting again is allowed", func(t *testing.T) {
		if r := deleteStream(t, db, "s", -2, false); r.Status != OpSuccess {
			t.Fatalf("unexpected status %d", r.Status)
		}
	})
	t.Run("a later write recreates the stream from old last + 1", func(t *testing.T) {
		r := write(t, db, "s", -1, evs(3)...)
		if r.Status != OpSuccess || r.FirstEventNumber != 3 {
			t.Fatalf("unexpected result %+v", r)
		}
		s := rd.ReadStreamForward("s", 0, 10, false)
		if s.Status != ReadSuccess || !eqInts(numbers(s.Events), []int64{3}) || s.LastEventNumber != 3 {
			t.Fatalf("unexpected slice: status %d numbers %v", s.Status, numbers(s.Events))
		}
		m, _, ok := db.StreamMetadata("s")
		if !ok || m.TruncateBefore != 3 {
			t.Fatalf("metadata not rewritten with $tb = 3: %+v", m)
		}
	})
}

func TestSoftDeleteEdgeCases(t *testing.T) {
	t.Run("a stream with neither events nor metadata → WrongExpectedVersion", func(t *testing.T) {
		db, _ := openTestDB(t)
		if r := deleteStream(t, db, "s", -2, false); r.Status != OpWrongExpectedVersion {
			t.Fatalf("unexpected status %d", r.Status)
		}
	})
	t.Run("expected version is checked", func(t *testing.T) {
		db, _ := openTestDB(t)
		mustWrite(t, db, "s", -1, evs(0)...)
		if r := deleteStream(t, db, "s", 5, false); r.Status != OpWrongExpectedVersion {
			t.Fatalf("unexpected status %d", r.Status)
		}
	})
	t.Run("recreate keeps other metadata keys", func(t *testing.T) {
		db, _ := openTestDB(t)
		mustWrite(t, db, "s", -1, evs(0, 1)...)
		deleteStream(t, db, "s", -2, false)
		// Metadata written after the delete undeletes with $tb = last + 1.
		mustWrite(t, db, "$$s", -2, NewEvent{ID: id(60), Type: "$metadata", IsJSON: true, Data: []byte(`{"$maxCount":7,"k":1}`)})
		m, _, ok := db.StreamMetadata("s")
		if !ok || m.TruncateBefore != 2 || m.MaxCount != 7 {
			t.Fatalf("unexpected metadata %+v", m)
		}
		s := db.NewReader().ReadStreamForward("s", 0, 10, false)
		if s.Status != ReadSuccess || len(s.Events) != 0 || s.LastEventNumber != 1 {
			t.Fatalf("unexpected slice %+v", s)
		}
		r := mustWrite(t, db, "s", 1, evs(2)...)
		if r.FirstEventNumber != 2 {
			t.Fatalf("unexpected numbering %+v", r)
		}
	})
}

func TestHardDelete(t *testing.T) {
	db, _ := openTestDB(t)
	mustWrite(t, db, "s", -1, evs(0, 1)...)
	r := deleteStream(t, db, "s", 1, true)
	if r.Status != OpSuccess || r.Pos.Commit < 0 {
		t.Fatalf("hard delete: %+v", r)
	}
	rd := db.NewReader()
	for _, c := range []struct {
		name string
		exp  int64
	}{{"NoStream", -1}, {"Any", -2}, {"StreamExists", -4}, {"exact", 1}, {"MaxInt64", math.MaxInt64}} {
		if r := write(t, db, "s", c.exp, evs(5)...); r.Status != OpStreamDeleted {
			t.Fatalf("write with %s: status %d", c.name, r.Status)
		}
	}
	if r := deleteStream(t, db, "s", -2, true); r.Status != OpStreamDeleted {
		t.Fatalf("hard delete again: %d", r.Status)
	}
	if r := deleteStream(t, db, "s", -2, false); r.Status != OpStreamDeleted {
		t.Fatalf("soft delete after hard: %d", r.Status)
	}
	s := rd.ReadStreamForward("s", 0, 10, false)
	if s.Status != ReadStreamDeleted || s.LastEventNumber != math.MaxInt64 || s.NextEventNumber != -1 || !s.IsEndOfStream {
		t.Fatalf("forward read: %+v", s)
	}
	s = rd.ReadStreamBackward("s", -1, 10, false)
	if s.Status != ReadStreamDeleted || s.LastEventNumber != math.MaxInt64 {
		t.Fatalf("backward read: %+v", s)
	}
	if st, _ := rd.ReadEvent("s", 0, false); st != ReadStreamDeleted {
		t.Fatalf("ReadEvent: %d", st)
	}
	if st, _ := rd.ReadEvent("$$s", -1, false); st != ReadStreamDeleted {
		t.Fatalf("metastream ReadEvent: %d", st)
	}
	if r := write(t, db, "$$s", -2, NewEvent{ID: id(9), Type: "$metadata", IsJSON: true, Data: []byte(`{}`)}); r.Status != OpStreamDeleted {
		t.Fatalf("metadata write to a hard-deleted stream: %d", r.Status)
	}
	// The tombstone appears in $all.
	a := rd.ReadAllBackward(PositionEnd, 1, false)
	if len(a.Events) != 1 || a.Events[0].Event.Type != "$streamDeleted" || a.Events[0].Event.Number != math.MaxInt64 || a.Events[0].Pos != r.Pos {
		t.Fatalf("tombstone not in $all: %+v", a.Events)
	}
}

// Metadata read table of spec §4.9 and parsing rules.
func TestMetadataRead(t *testing.T) {
	db, _ := openTestDB(t)
	rd := db.NewReader()
	if st, _ := rd.ReadEvent("$$x", -1, false); st != ReadNoStream {
		t.Fatalf("neither exists: %d", st)
	}
	mustWrite(t, db, "x", -1, evs(0)...)
	st, ev := rd.ReadEvent("$$x", -1, false)
	if st != ReadSuccess || ev == nil || ev.HasEvent || ev.HasLink {
		t.Fatalf("x exists, $$x empty: %d %+v", st, ev)
	}
	mustWrite(t, db, "$$x", -1, NewEvent{ID: id(5), Type: "$metadata", IsJSON: true, Data: []byte(`{"$maxCount":1}`)})
	if st, ev := rd.ReadEvent("$$x", -1, false); st != ReadSuccess || !ev.HasEvent || string(ev.Event.Data) != `{"$maxCount":1}` {
		t.Fatalf("$$x has an event: %d", st)
	}
	deleteStream(t, db, "x", -2, true)
	if st, _ := rd.ReadEvent("$$x", -1, false); st != ReadStreamDeleted {
		t.Fatalf("x hard-deleted: %d", st)
	}
}

func TestParseMetadata(t *testing.T) {
	f := func(doc string, isJSON bool, wantOK bool, want StreamMetadata) {
		t.Helper()
		got, ok := ParseMetadata([]byte(doc), isJSON)
		if ok != wantOK {
			t.Fatalf("%s: unexpected ok; got %v; want %v", doc, ok, wantOK)
		}
		if !ok {
			return
		}
		if got.MaxCount != want.MaxCount || got.MaxAgeSeconds != want.MaxAgeSeconds || got.TruncateBefore != want.TruncateBefore ||
			got.CacheControlSec != want.CacheControlSec || got.Temp != want.Temp {
			t.Fatalf("%s: unexpected metadata; got %+v; want %+v", doc, got, want)
		}
	}
	f(`{"$maxCount":100,"$maxAge":60,"$tb":3,"$cacheControl":5,"$tmp":true,"owner":"x"}`, true, true,
		StreamMetadata{MaxCount: 100, MaxAgeSeconds: 60, TruncateBefore: 3, CacheControlSec: 5, Temp: true})
	f(`{"$maxCount":0,"$maxAge":-1,"$tb":-5,"$cacheControl":0}`, true, true, StreamMetadata{TruncateBefore: -1})
	f(`{"$maxCount":"100"}`, true, false, StreamMetadata{})
	f(`{"$tb":1.5}`, true, false, StreamMetadata{})
	f(`not json`, true, false, StreamMetadata{})
	f(`[1,2]`, true, false, StreamMetadata{})
	f(`{"$maxCount":1}`, false, false, StreamMetadata{})
	f(`{"$tb":9223372036854775807}`, true, true, StreamMetadata{TruncateBefore: math.MaxInt64})
	m, ok := ParseMetadata([]byte(`{"$acl":{"$r":["$all"],"$w":"writer","$mw":"$admins","$other":1}}`), true)
	if !ok || m.ACL == nil || len(m.ACL.Read) != 1 || m.ACL.Read[0] != "$all" || m.ACL.Write[0] != "writer" ||
		m.ACL.MetaWrite[0] != "$admins" || m.ACL.Delete != nil || m.ACL.MetaRead != nil {
		t.Fatalf("unexpected acl %+v", m.ACL)
	}
	if _, ok := ParseMetadata([]byte(`{"$acl":{"$r":5}}`), true); ok {
		t.Fatal("an $acl role of the wrong type was accepted")
	}
}

func TestMetadataAppliesToReads(t *testing.T) {
	db, clk := openTestDB(t)
	rd := db.NewReader()
	for i := 0; i < 10; i++ {
		mustWrite(t, db, "s", int64(i)-1, evs(i)...)
	}
	meta := func(doc string) {
		mustWrite(t, db, "$$s", -2, NewEvent{ID: randomID(), Type: "$metadata", IsJSON: true, Data: []byte(doc)})
	}
	meta(`{"$maxCount":3}`)
	if s := rd.ReadStreamForward("s", 0, 100, false); !eqInts(numbers(s.Events), []int64{7, 8, 9}) {
		t.Fatalf("$maxCount: %v", numbers(s.Events))
	}
	meta(`{"$tb":5}`)
	if s := rd.ReadStreamForward("s", 0, 100, false); !eqInts(numbers(s.Events), []int64{5, 6, 7, 8, 9}) {
		t.Fatalf("$tb: %v", numbers(s.Events))
	}
	if st, _ := rd.ReadEvent("s", 4, false); st != ReadNotFound {
		t.Fatalf("ReadEvent below $tb: %d", st)
	}
	meta(`{"$maxAge":60}`)
	clk.Advance(2 * time.Minute)
	mustWrite(t, db, "s", 9, evs(10)...)
	if s := rd.ReadStreamForward("s", 0, 100, false); !eqInts(numbers(s.Events), []int64{10}) {
		t.Fatalf("$maxAge: %v", numbers(s.Events))
	}
	if st, _ := rd.ReadEvent("s", 9, false); st != ReadNotFound {
		t.Fatalf("ReadEvent older than $maxAge: %d", st)
	}
	meta(`{"$maxAge":9223372036854775807}`)
	if s := rd.ReadStreamForward("s", 0, 100, false); len(s.Events) != 11 {
		t.Fatalf("a huge $maxAge must hide nothing: %v", numbers(s.Events))
	}
	meta(`{"$maxCount":"bad"}`)
	if _, _, ok := db.StreamMetadata("s"); ok {
		t.Fatal("invalid metadata reported as valid")
	}
	if s := rd.ReadStreamForward("s", 0, 100, false); len(s.Events) != 11 {
		t.Fatalf("invalid metadata must mean no metadata: %v", numbers(s.Events))
	}
	// The metastream itself behaves as if $maxCount were 1.
	if s := rd.ReadStreamForward("$$s", 0, 100, false); len(s.Events) != 1 || s.Events[0].Event.Number != 4 {
		t.Fatalf("metastream read: %v", numbers(s.Events))
	}
}

func TestTransactions(t *testing.T) {
	db, _ := openTestDB(t)
	rd := db.NewReader()
	mustWrite(t, db, "s", -1, evs(0)...)
	start := do(t, db, &Op{Kind: OpTransactionStart, Stream: "s", ExpectedVersion: 0})
	if start.Status != OpSuccess || start.TransactionID < 0 {
		t.Fatalf("start: %+v", start)
	}
	txid := start.TransactionID
	for _, batch := range [][]NewEvent{evs(1, 2), evs(3)} {
		r := do(t, db, &Op{Kind: OpTransactionWrite, TransactionID: txid, Events: batch})
		if r.Status != OpSuccess || r.TransactionID != txid {
			t.Fatalf("write: %+v", r)
		}
	}
	// Not visible before commit.
	if s := rd.ReadStreamForward("s", 0, 10, false); len(s.Events) != 1 || s.LastEventNumber != 0 {
		t.Fatalf("transaction events visible before commit: %v", numbers(s.Events))
	}
	// Interleaved plain write to another stream.
	other := mustWrite(t, db, "o", -1, evs(9)...)
	c := do(t, db, &Op{Kind: OpTransactionCommit, TransactionID: txid})
	if c.Status != OpSuccess || c.FirstEventNumber != 1 || c.LastEventNumber != 3 || c.Pos.Commit <= other.Pos.Commit {
		t.Fatalf("commit: %+v", c)
	}
	s := rd.ReadStreamForward("s", 0, 10, false)
	if !eqInts(numbers(s.Events), []int64{0, 1, 2, 3}) {
		t.Fatalf("after commit: %v", numbers(s.Events))
	}
	// $all: the transaction's events share the commit position and follow
	// the interleaved write.
	a := rd.ReadAllForward(PositionStart, 100, false)
	var got []Position
	for _, e := range a.Events {
		if e.Event.Stream == "s" && e.Event.Number >= 1 {
			got = append(got, e.Pos)
		}
	}
	// Stream reads and ReadEvent report the same positions as $all.
	s = db.NewReader().ReadStreamForward("s", 0, 10, false)
	for i, e := range s.Events[1:] {
		if i < len(got) && e.Pos != got[i] {
			t.Fatalf("stream read position %+v differs from $all's %+v", e.Pos, got[i])
		}
	}
	if st, ev := rd.ReadEvent("s", 2, false); st != ReadSuccess || len(got) < 2 || ev.Event.Pos != got[1] || ev.Event.ID != id(2) {
		t.Fatalf("ReadEvent of a transaction event: %d %+v", st, ev)
	}
	if len(got) != 3 || got[0].Commit != c.Pos.Commit || got[2].Commit != c.Pos.Commit || !got[0].Less(got[1]) || !got[1].Less(got[2]) || got[2].Prepare >= c.Pos.Commit {
		t.Fatalf("transaction positions in $all: %+v (commit %d)", got, c.Pos.Commit)
	}
	t.Run("unknown id → InvalidTransaction", func(t *testing.T) {
		if r := do(t, db, &Op{Kind: OpTransactionCommit, TransactionID: 123456}); r.Status != OpInvalidTransaction {
			t.Fatalf("commit: %d", r.Status)
		}
		if r := do(t, db, &Op{Kind: OpTransactionWrite, TransactionID: 123456, Events: evs(1)}); r.Status != OpInvalidTransaction {
			t.Fatalf("write: %d", r.Status)
		}
	})
	t.Run("expected version is checked at commit", func(t *testing.T) {
		tx := do(t, db, &Op{Kind: OpTransactionStart, Stream: "s", ExpectedVersion: 0}).TransactionID
		do(t, db, &Op{Kind: OpTransactionWrite, TransactionID: tx, Events: evs(20)})
		if r := do(t, db, &Op{Kind: OpTransactionCommit, TransactionID: tx}); r.Status != OpWrongExpectedVersion || r.CurrentVersion != 3 {
			t.Fatalf("commit: %+v", r)
		}
	})
	t.Run("idempotent commit of already written events", func(t *testing.T) {
		tx := do(t, db, &Op{Kind: OpTransactionStart, Stream: "s", ExpectedVersion: 0}).TransactionID
		do(t, db, &Op{Kind: OpTransactionWrite, TransactionID: tx, Events: evs(1, 2, 3)})
		r := do(t, db, &Op{Kind: OpTransactionCommit, TransactionID: tx})
		if r.Status != OpSuccess || r.FirstEventNumber != 1 || r.LastEventNumber != 3 || r.Pos != (Position{-1, -1}) {
			t.Fatalf("commit: %+v", r)
		}
	})
	t.Run("an abandoned transaction has no visible effect", func(t *testing.T) {
		tx := do(t, db, &Op{Kind: OpTransactionStart, Stream: "z", ExpectedVersion: -1}).TransactionID
		do(t, db, &Op{Kind: OpTransactionWrite, TransactionID: tx, Events: evs(30)})
		if s := rd.ReadStreamForward("z", 0, 10, false); s.Status != ReadNoStream {
			t.Fatalf("uncommitted transaction visible: %d", s.Status)
		}
	})
}

func TestTransactionLimits(t *testing.T) {
	db, err := Open(testOptions(Options{MemDB: true, Logger: testLogger, TransactionsMax: 2, TransactionEventsMax: 3}))
	requireNoError(t, err)
	defer db.Close()
	a := do(t, db, &Op{Kind: OpTransactionStart, Stream: "a", ExpectedVersion: -2}).TransactionID
	do(t, db, &Op{Kind: OpTransactionStart, Stream: "b", ExpectedVersion: -2})
	do(t, db, &Op{Kind: OpTransactionStart, Stream: "c", ExpectedVersion: -2})
	if r := do(t, db, &Op{Kind: OpTransactionCommit, TransactionID: a}); r.Status != OpInvalidTransaction {
		t.Fatalf("the oldest transaction was not evicted: %d", r.Status)
	}
	tx := do(t, db, &Op{Kind: OpTransactionStart, Stream: "d", ExpectedVersion: -2}).TransactionID
	do(t, db, &Op{Kind: OpTransactionWrite, TransactionID: tx, Events: evs(1, 2)})
	op := &Op{Kind: OpTransactionWrite, TransactionID: tx, Events: evs(3, 4)}
	if err := db.Do(t.Context(), op); err == nil {
		t.Fatal("a transaction grew beyond TransactionEventsMax")
	}
}

// Metadata written by a transaction on a metastream takes effect at commit,
// and a transaction on a soft-deleted stream recreates it.
func TestTransactionsOnMetastreamsAndSoftDeletedStreams(t *testing.T) {
	db, _ := openTestDB(t)
	for i := 0; i < 5; i++ {
		mustWrite(t, db, "m", int64(i)-1, evs(i)...)
	}
	tx := do(t, db, &Op{Kind: OpTransactionStart, Stream: "$$m", ExpectedVersion: -1}).TransactionID
	do(t, db, &Op{Kind: OpTransactionWrite, TransactionID: tx, Events: []NewEvent{{ID: id(50), Type: "$metadata", IsJSON: true, Data: []byte(`{"$maxCount":2}`)}}})
	if r := do(t, db, &Op{Kind: OpTransactionCommit, TransactionID: tx}); r.Status != OpSuccess || r.FirstEventNumber != 0 {
		t.Fatalf("commit: %+v", r)
	}
	if m, v, ok := db.StreamMetadata("m"); !ok || m.MaxCount != 2 || v != 0 {
		t.Fatalf("metadata after commit: %+v %d %v", m, v, ok)
	}
	if s := db.NewReader().ReadStreamForward("m", 0, 10, false); !eqInts(numbers(s.Events), []int64{3, 4}) {
		t.Fatalf("read: %v", numbers(s.Events))
	}
	deleteStream(t, db, "m", -2, false)
	tx = do(t, db, &Op{Kind: OpTransactionStart, Stream: "m", ExpectedVersion: -2}).TransactionID
	do(t, db, &Op{Kind: OpTransactionWrite, TransactionID: tx, Events: evs(60, 61)})
	if r := do(t, db, &Op{Kind: OpTransactionCommit, TransactionID: tx}); r.Status != OpSuccess || r.FirstEventNumber != 5 {
		t.Fatalf("commit on a soft-deleted stream: %+v", r)
	}
	if s := db.NewReader().ReadStreamForward("m", 0, 10, false); s.Status != ReadSuccess || !eqInts(numbers(s.Events), []int64{5, 6}) {
		t.Fatalf("recreated by a transaction: %d %v", s.Status, numbers(s.Events))
	}
	// An empty write to the metastream of a soft-deleted stream undeletes
	// it too (SoftUndeleteMetastream in 4.0.3).
	mustWrite(t, db, "k", -1, evs(70)...)
	deleteStream(t, db, "k", -2, false)
	write(t, db, "$$k", -2)
	if s := db.NewReader().ReadStreamForward("k", 0, 10, false); s.Status != ReadSuccess || len(s.Events) != 0 || s.LastEventNumber != 0 {
		t.Fatalf("after an empty metadata write: %d %v", s.Status, numbers(s.Events))
	}
}
