//go:build !race

package store

import (
	"testing"
)

// The steady-state append path allocates nothing per event: Submit, the
// writer's checks, record encoding, the log append, flush, index add and the
// Done callback. Measured across all goroutines by testing.AllocsPerRun.
// The log is the allocation-free fake of memlog_test.go, so the proof
// covers this package; TestAppendPathAllocationsWithTlog measures the whole
// path.
func TestAppendPathAllocatesNothing(t *testing.T) {
	perEvent := appendAllocsPerEvent(t, testOptions(Options{MemDB: true, testLog: newMemLog()}))
	// Amortised: rare growth of the index memtable or a map may allocate.
	if perEvent > 0.05 {
		t.Fatalf("the append path allocates %.3f times per event", perEvent)
	}
}

// TestAppendPathAllocationsWithTlog measures the same path over store/tlog
// and the in-memory filesystem: the whole append path.
func TestAppendPathAllocationsWithTlog(t *testing.T) {
	perEvent := appendAllocsPerEvent(t, testOptions(Options{MemDB: true, ChunkSizeBytes: 32 << 20}))
	if perEvent > 0.05 {
		t.Fatalf("the append path allocates %.3f times per event", perEvent)
	}
}

func appendAllocsPerEvent(t *testing.T, opts Options) float64 {
	db, err := Open(opts)
	requireNoError(t, err)
	defer db.Close()
	events := make([]NewEvent, 16)
	data := make([]byte, 100)
	for i := range events {
		events[i] = NewEvent{Type: "alloc", Data: data}
	}
	done := make(chan struct{}, 1)
	op := &Op{Kind: OpWrite, Stream: "alloc-stream", ExpectedVersion: ExpectedVersionAny, Events: events, Done: func(*Op) { done <- struct{}{} }}
	n := 0
	run := func() {
		for i := range events {
			n++
			events[i].ID = id(n)
		}
		if err := db.Submit(op); err != nil {
			t.Fatal(err)
		}
		<-done
		if op.Result.Status != OpSuccess || op.Result.Err != nil {
			t.Fatalf("write: %d %v", op.Result.Status, op.Result.Err)
		}
	}
	for i := 0; i < 200; i++ { // warm up buffers, maps and the index
		run()
	}
	allocs := testing.AllocsPerRun(200, run)
	perEvent := allocs / float64(len(events))
	t.Logf("%.3f allocations per write of %d events (%.4f per event)", allocs, len(events), perEvent)
	return perEvent
}

// Reading a stream page and an $all page allocates nothing in steady state.
func TestReadPathAllocatesNothing(t *testing.T) {
	db, err := Open(testOptions(Options{MemDB: true, ChunkSizeBytes: 32 << 20}))
	requireNoError(t, err)
	defer db.Close()
	for i := 0; i < 50; i++ {
		mustWrite(t, db, "r", -2, evs(i*2, i*2+1)...)
	}
	for i := 0; i < 600; i++ {
		mustWrite(t, db, "bulk", -2, evs(1000+i*100, 1000+i*100+1, 1000+i*100+2, 1000+i*100+3)...)
	}
	rd := db.NewReader()
	defer rd.Close()
	readStream := func() {
		if s := rd.ReadStreamForward("r", 0, 100, false); len(s.Events) != 100 {
			t.Fatalf("read %d events", len(s.Events))
		}
	}
	// Sequential paging, the steady state of catch-up subscriptions: each
	// page continues where the previous one stopped.
	from := PositionStart
	readAll := func() {
		a := rd.ReadAllForward(from, 40, false)
		if len(a.Events) != 40 {
			t.Fatalf("read %d events", len(a.Events))
		}
		from = a.Next
	}
	readEvent := func() {
		if st, _ := rd.ReadEvent("r", 7, false); st != ReadSuccess {
			t.Fatalf("status %d", st)
		}
	}
	for name, fn := range map[string]func(){"stream forward": readStream, "$all forward": readAll, "event": readEvent} {
		fn()
		if a := testing.AllocsPerRun(50, fn); a > 0 {
			t.Errorf("%s read: %.1f allocations per read", name, a)
		}
	}
}
