package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/eventstored/eventstored/store/vfs"
)

// opsDoneRecorder counts Done calls and OnOpsDone callbacks; each callback
// notes how many Done calls had run before it.
type opsDoneRecorder struct {
	mu        sync.Mutex
	done      int
	callbacks int
	seen      []int // done at each callback
}

func (r *opsDoneRecorder) opDone(*Op) {
	r.mu.Lock()
	r.done++
	r.mu.Unlock()
}

func (r *opsDoneRecorder) groupDone() {
	r.mu.Lock()
	r.callbacks++
	r.seen = append(r.seen, r.done)
	r.mu.Unlock()
}

// flushedAll reports whether a callback ran after the n-th Done.
func (r *opsDoneRecorder) flushedAll(n int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen) > 0 && r.seen[len(r.seen)-1] >= n
}

// OnOpsDone runs after every group of Done calls of applied batches: once
// all ops are done, a callback has seen every Done, and there are fewer
// callbacks than ops (one per group commit, not per op).
func TestOnOpsDoneFollowsEveryAppliedGroup(t *testing.T) {
	db, _ := openTestDB(t)
	var rec opsDoneRecorder
	db.OnOpsDone(rec.groupDone)
	const writers, perWriter = 16, 25
	var wg sync.WaitGroup
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				done := make(chan struct{})
				op := writeOp(fmt.Sprintf("s-%d", g), int64(i)-1, evs(g*1000+i+1)...)
				op.Done = func(o *Op) { rec.opDone(o); close(done) }
				if err := db.Submit(op); err != nil {
					t.Error(err)
					return
				}
				<-done
				if op.Result.Err != nil {
					t.Error(op.Result.Err)
				}
			}
		}(g)
	}
	wg.Wait()
	waitFor(t, "a callback after the last Done", func() bool { return rec.flushedAll(writers * perWriter) })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.callbacks > writers*perWriter {
		t.Fatalf("%d callbacks for %d ops", rec.callbacks, writers*perWriter)
	}
}

type refusingCommitter struct{ err error }

func (c refusingCommitter) HeaderBytes() int    { return seamHeader }
func (c refusingCommitter) Commit(*Batch) error { return c.err }

// A batch the committer refuses, and batches failed by FailBatches, are
// followed by a callback too (on the goroutine that failed them).
func TestOnOpsDoneFollowsRefusedAndFailedBatches(t *testing.T) {
	errRefused := errors.New("test: refused")
	db := openCluster(t, vfs.NewMem(), refusingCommitter{errRefused})
	defer db.Close()
	var rec opsDoneRecorder
	db.OnOpsDone(rec.groupDone)
	requireNoError(t, db.Lead(db.Applied()))
	op := writeOp("s", -2, evs(1)...)
	done := make(chan struct{})
	op.Done = func(o *Op) { rec.opDone(o); close(done) }
	requireNoError(t, db.Submit(op))
	wait(t, done)
	if !errors.Is(op.Result.Err, errRefused) {
		t.Fatalf("refused op: %v", op.Result.Err)
	}
	waitFor(t, "a callback after the refused batch", func() bool { return rec.flushedAll(1) })

	c := newSeamCommitter()
	db2 := openCluster(t, vfs.NewMem(), c)
	defer db2.Close()
	var rec2 opsDoneRecorder
	db2.OnOpsDone(rec2.groupDone)
	requireNoError(t, db2.Lead(db2.Applied()))
	for i := 0; i < 2; i++ {
		op := writeOp("s", -2, evs(i+1)...)
		op.Done = rec2.opDone
		requireNoError(t, db2.Submit(op))
		<-c.q // in flight, never committed
	}
	db2.FailBatches(errors.New("test: leadership lost"))
	// FailBatches completes the ops and runs the callback before it returns.
	rec2.mu.Lock()
	defer rec2.mu.Unlock()
	if rec2.done != 2 || len(rec2.seen) != 1 || rec2.seen[0] != 2 {
		t.Fatalf("after FailBatches: %d done, callbacks saw %v; want 2 done, one callback after both", rec2.done, rec2.seen)
	}
}
