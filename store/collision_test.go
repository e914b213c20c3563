package store

import (
	"fmt"
	"testing"
)

// With every stream name hashing to the same index key, every lookup gets
// candidates of all streams: the store must confirm each by name. The
// scenario covers numbering, expected versions, idempotency, reads both
// ways, ReadEvent, metadata, deletes and a restart (replay).
func TestHashCollisionsAreConfirmedByName(t *testing.T) {
	old := streamHash
	streamHash = func(string) uint64 { return 42 }
	defer func() { streamHash = old }()

	dir := t.TempDir()
	db, err := Open(testOptions(Options{Dir: dir}))
	requireNoError(t, err)
	for i := 0; i < 12; i++ {
		for s := 0; s < 3; s++ {
			mustWrite(t, db, fmt.Sprintf("c%d", s), int64(i)-1, evs(s*1000+i)...)
		}
	}
	check := func(t *testing.T, db *DB) {
		t.Helper()
		rd := db.NewReader()
		for s := 0; s < 3; s++ {
			name := fmt.Sprintf("c%d", s)
			f := rd.ReadStreamForward(name, 0, 100, false)
			if f.Status != ReadSuccess || len(f.Events) != 12 || f.LastEventNumber != 11 {
				t.Fatalf("%s forward: %d, %d events, last %d", name, f.Status, len(f.Events), f.LastEventNumber)
			}
			for i, e := range f.Events {
				if e.Event.Stream != name || e.Event.Number != int64(i) || e.Event.ID != id(s*1000+i) {
					t.Fatalf("%s forward event %d: %s %d", name, i, e.Event.Stream, e.Event.Number)
				}
			}
			b := rd.ReadStreamBackward(name, -1, 5, false)
			if !eqInts(numbers(b.Events), []int64{11, 10, 9, 8, 7}) || b.Events[0].Event.ID != id(s*1000+11) {
				t.Fatalf("%s backward: %v", name, numbers(b.Events))
			}
			if st, ev := rd.ReadEvent(name, 4, false); st != ReadSuccess || ev.Event.ID != id(s*1000+4) {
				t.Fatalf("%s ReadEvent: %d", name, st)
			}
		}
	}
	check(t, db)
	// Expected versions and idempotency per stream.
	if r := write(t, db, "c1", 5, evs(1000+6)...); r.Status != OpSuccess || r.Pos.Commit != -1 || r.FirstEventNumber != 6 {
		t.Fatalf("idempotent retry: %+v", r)
	}
	if r := write(t, db, "c1", 3, evs(0+4)...); r.Status != OpWrongExpectedVersion {
		t.Fatalf("another stream's id at the same number must not count: %+v", r)
	}
	if r := write(t, db, "new", -1, evs(5000)...); r.Status != OpSuccess || r.FirstEventNumber != 0 {
		t.Fatalf("a new stream sharing the hash: %+v", r)
	}
	deleteStream(t, db, "new", 0, true)
	mustWrite(t, db, "$$c2", -1, NewEvent{ID: id(9000), Type: "$metadata", IsJSON: true, Data: []byte(`{"$maxCount":2}`)})
	requireNoError(t, db.Close())

	db, err = Open(testOptions(Options{Dir: dir}))
	requireNoError(t, err)
	defer db.Close()
	rd := db.NewReader()
	if st, _ := rd.ReadEvent("new", 0, false); st != ReadStreamDeleted {
		t.Fatalf("hard-deleted stream: %d", st)
	}
	if s := rd.ReadStreamForward("c2", 0, 100, false); !eqInts(numbers(s.Events), []int64{10, 11}) {
		t.Fatalf("metadata of c2: %v", numbers(s.Events))
	}
	if _, _, ok := db.StreamMetadata("c1"); ok {
		t.Fatal("c1 picked up c2's metadata")
	}
	if s := rd.ReadStreamForward("c0", 0, 100, false); len(s.Events) != 12 {
		t.Fatalf("c0 after restart: %d events", len(s.Events))
	}
}
