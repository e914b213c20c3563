//go:build !race

package store

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/eventstored/eventstored/store/tlog"
	"github.com/eventstored/eventstored/store/vfs"
)

// A follower applies every committed entry with ApplyTo; it reuses one log
// iterator (tlog.Iterator.Reset) instead of allocating an iterator read
// block (tlog.DefaultIteratorBlockBytes, 128 KiB) per call, which was about
// half of a follower's apply CPU in garbage collection at hundreds of
// entries a second.
func TestApplyToReusesItsReadBlock(t *testing.T) {
	lc, fc := newSeamCommitter(), newSeamCommitter()
	leader := openCluster(t, vfs.NewMem(), lc)
	defer leader.Close()
	follower := openCluster(t, vfs.NewMem(), fc)
	defer follower.Close()
	requireNoError(t, leader.Lead(leader.Applied()))

	// Single-event writes, one batch each; the follower gets the records in
	// its log but applies them only below, batch by batch.
	const n = 200
	ends := make([]int64, 0, n)
	errs := make(chan error, 1)
	go func() {
		for b := range lc.q {
			err := writeBatch(leader, b)
			if err == nil {
				err = writeBatch(follower, b)
			}
			if err == nil {
				ends = append(ends, b.End())
				err = leader.ApplyBatch(b)
			}
			if err != nil {
				errs <- err
				leader.FailBatches(err)
				return
			}
		}
	}()
	for i := 0; i < n; i++ {
		mustWrite(t, leader, fmt.Sprintf("s-%d", i%7), -2, evs(i)...)
	}
	close(lc.q)
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if len(ends) != n {
		t.Fatalf("%d batches for %d writes; the test wants one each", len(ends), n)
	}
	requireNoError(t, follower.ApplyTo(ends[0])) // the first call makes the iterator
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, end := range ends[1:] {
		requireNoError(t, follower.ApplyTo(end))
	}
	runtime.ReadMemStats(&after)
	perCall := (after.TotalAlloc - before.TotalAlloc) / uint64(n-1)
	if perCall >= tlog.DefaultIteratorBlockBytes/4 {
		t.Fatalf("ApplyTo allocated %d bytes a call; a read block is %d", perCall, tlog.DefaultIteratorBlockBytes)
	}
	t.Logf("ApplyTo: %d bytes allocated a call", perCall)
	if follower.Applied() != leader.Applied() {
		t.Fatalf("follower applied %d; leader %d", follower.Applied(), leader.Applied())
	}
}
