package store

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/eventstored/eventstored/store/tlog"
	"github.com/eventstored/eventstored/store/vfs"
	"github.com/eventstored/eventstored/store/vfs/errorfs"
)

// A follower's log holds committed records not yet applied and, above
// them, a diverged uncommitted tail. Consensus cuts the tail (on its own
// goroutine) while ApplyTo reads the committed records: here the cut runs
// deterministically from inside ApplyTo's first chunk read. A cut at or
// above end removes nothing ApplyTo reads, so ApplyTo must apply
// everything; a cut below end removes committed records and must fail
// ApplyTo and latch the store. (Before the fix, the first case failed
// with "tlog: log truncated under the iterator" and latched the store.)
func TestApplyToSurvivesTruncationAboveEnd(t *testing.T) {
	for _, tc := range []struct {
		name  string
		below bool // cut below end (a consensus bug): ApplyTo must fail
		// last: ApplyTo has one record left to read, so the cut is seen
		// with the iterator at end.
		last bool
	}{{"cut at end", false, false}, {"cut at end, one record left", false, true}, {"cut below end", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			lc := newSeamCommitter()
			leader := openCluster(t, vfs.NewMem(), lc)
			defer leader.Close()
			var (
				armed    atomic.Bool
				cutAt    atomic.Int64
				cutErr   atomic.Value
				follower *DB
			)
			efs := errorfs.Wrap(vfs.NewMem(), errorfs.InjectorFunc(func(op errorfs.Op) error {
				if op.Kind == errorfs.OpFileRead && strings.Contains(op.Path, "chunk-") && armed.CompareAndSwap(true, false) {
					if err := follower.Log().Truncate(cutAt.Load()); err != nil {
						cutErr.Store(err)
					}
				}
				return nil
			}))
			follower = openCluster(t, efs, newSeamCommitter())
			defer follower.Close()

			// The leader writes; every batch goes into both logs; only the
			// leader applies.
			requireNoError(t, leader.Lead(leader.Applied()))
			stop, done := make(chan struct{}), make(chan error, 1)
			go func() {
				for {
					select {
					case <-stop:
						done <- nil
						return
					case b := <-lc.q:
						err := writeBatch(leader, b)
						if err == nil {
							err = writeBatch(follower, b)
						}
						if err == nil {
							err = leader.ApplyBatch(b)
						}
						if err != nil {
							leader.FailBatches(err)
							done <- err
							return
						}
					}
				}
			}()
			for i := range 20 {
				mustWrite(t, leader, "s", int64(i)-1, evs(i)...)
			}
			close(stop)
			requireNoError(t, <-done)

			end := leader.Applied()
			fl := follower.Log()
			if fl.Durable() != end {
				t.Fatalf("follower log end %d, leader applied %d", fl.Durable(), end)
			}
			// The diverged tail: records of a term that never committed.
			for range 5 {
				_, err := fl.Append(AppendSystem(nil, RecordSystem, make([]byte, 100)))
				requireNoError(t, err)
			}
			requireNoError(t, fl.Flush())

			if tc.last {
				// Apply all but the last record (the last write's event).
				requireNoError(t, follower.ApplyTo(leader.LastCommitPosition()))
			}
			cut := end
			if tc.below {
				// The start of the last committed batch's header record.
				cut = leader.LastCommitPosition()
			}
			cutAt.Store(cut)
			armed.Store(true)
			err := follower.ApplyTo(end)
			if armed.Load() {
				t.Fatal("ApplyTo read no chunk: the truncation never ran")
			}
			if e := cutErr.Load(); e != nil {
				t.Fatalf("truncation: %v", e)
			}
			if fl.Durable() != cut {
				t.Fatalf("log end after the cut %d, want %d", fl.Durable(), cut)
			}
			if tc.below {
				if !errors.Is(err, tlog.ErrTruncated) {
					t.Fatalf("ApplyTo over a cut below end: %v, want ErrTruncated", err)
				}
				if follower.Err() == nil {
					t.Fatal("ApplyTo failed but the store is not latched")
				}
				return
			}
			requireNoError(t, err)
			if follower.Applied() != end {
				t.Fatalf("applied %d, want %d", follower.Applied(), end)
			}
			streams := []string{"s"}
			if want, got := snapshotAll(t, leader, streams), snapshotAll(t, follower, streams); got != want {
				t.Fatalf("follower reads differ from the leader's:\nleader:\n%s\nfollower:\n%s", want, got)
			}
		})
	}
}
