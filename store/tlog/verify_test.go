package tlog

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventstored/eventstored/store/vfs"
	"github.com/eventstored/eventstored/store/vfs/errorfs"
)

// checkFor polls fn until it returns nil or total passes (no fixed sleeps:
// the background verifier finishes when it finishes).
func checkFor(t *testing.T, total, every time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	var err error
	for time.Now().Before(deadline) {
		if err = fn(); err == nil {
			return
		}
		time.Sleep(every)
	}
	t.Fatalf("condition not met after %v: %v", total, err)
}

type errString string

func (e errString) Error() string { return string(e) }

// TestBackgroundVerification damages a sealed chunk behind the writer
// checkpoint: Open must not notice (it does not hash sealed chunks), the
// background verifier must report exactly that chunk via Stats, and it
// must visit sealed chunks newest first.
func TestBackgroundVerification(t *testing.T) {
	mem := vfs.NewMem()
	l := mustOpen(t, testOpts(mem, 256))
	want := appendN(t, l, 0, 60, func(int) int { return 30 })
	requireNoError(t, l.Close())
	f := openRaw(t, mem, "/db/"+chunkFileName(2, 0))
	_, err := f.WriteAt([]byte{0xEE}, HeaderSizeBytes+100)
	requireNoError(t, err)
	f.Close()

	var mu sync.Mutex
	var order []string
	rec := errorfs.InjectorFunc(func(op errorfs.Op) error {
		// The verifier reads header and data in one read from offset 0.
		if op.Kind == errorfs.OpFileRead && op.Off == 0 && op.Len > HeaderSizeBytes {
			mu.Lock()
			order = append(order, op.Path[len("/db/"):])
			mu.Unlock()
		}
		return nil
	})
	opts := testOpts(errorfs.Wrap(mem, rec), 256)
	opts.SkipVerify = false
	l = mustOpen(t, opts)
	defer l.Close()
	checkFor(t, 10*time.Second, time.Millisecond, func() error {
		if !l.Stats().VerifyDone {
			return errString("verification not done")
		}
		return nil
	})
	st := l.Stats()
	sealed := int(want[len(want)-1].pos / 256) // every chunk before the last
	if st.ChunksVerified != sealed {
		t.Fatalf("unexpected chunks verified; got %d; want %d", st.ChunksVerified, sealed)
	}
	if len(st.VerifyFailures) != 1 || st.VerifyFailures[0].Chunk != chunkFileName(2, 0) {
		t.Fatalf("unexpected failures %+v", st.VerifyFailures)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(order) != sealed || order[0] != chunkFileName(int64(sealed-1), 0) || order[len(order)-1] != chunkFileName(0, 0) {
		t.Fatalf("unexpected verification order %s", strings.Join(order, " "))
	}
	for i := 1; i < len(order); i++ {
		if order[i] >= order[i-1] {
			t.Fatalf("verification not newest first: %s", strings.Join(order, " "))
		}
	}
}

// TestCloseStopsVerification: Close returns while the verifier runs and
// leaves no goroutine behind (it waits for it).
func TestCloseStopsVerification(t *testing.T) {
	mem := vfs.NewMem()
	l := mustOpen(t, testOpts(mem, 256))
	appendN(t, l, 0, 500, func(int) int { return 30 })
	requireNoError(t, l.Close())
	opts := testOpts(mem, 256)
	for i := 0; i < 20; i++ {
		l = mustOpen(t, opts)
		requireNoError(t, l.Close())
	}
}

// TestPendingTruncationIsCompletedOnOpen: a process that died after
// recording a truncation in truncate.chk has it completed by the next
// Open, even though the writer checkpoint still names the old end.
func TestPendingTruncationIsCompletedOnOpen(t *testing.T) {
	mem := vfs.NewMem()
	l := mustOpen(t, testOpts(mem, 256))
	want := appendN(t, l, 0, 40, func(int) int { return 30 })
	requireNoError(t, l.Close())
	c, err := openCheckpoint(mem, "/db/truncate.chk", "truncate", -1)
	requireNoError(t, err)
	c.Write(want[13].pos)
	requireNoError(t, c.Flush())
	c.close()
	l = mustOpen(t, testOpts(mem, 256))
	checkRecords(t, readAll(t, l), want[:13])
	if r := l.Recovery(); r.TruncatedTo != want[13].pos {
		t.Fatalf("unexpected recovery %+v", r)
	}
	requireNoError(t, l.Close())
	l = mustOpen(t, testOpts(mem, 256))
	defer l.Close()
	checkRecords(t, readAll(t, l), want[:13])
	if r := l.Recovery(); r.TruncatedTo != -1 {
		t.Fatalf("truncation redone on the second open: %+v", r)
	}
}

// TestPacedVerification: a verifier held back by VerifyBytesPerSecond
// verifies no more than its budget allows, and Close still stops it at
// once (a verifier ignoring Close would hang this test).
func TestPacedVerification(t *testing.T) {
	mem := vfs.NewMem()
	l := mustOpen(t, testOpts(mem, 4096))
	appendN(t, l, 0, 400, func(int) int { return 100 }) // ~11 sealed chunks
	requireNoError(t, l.Close())

	opts := testOpts(mem, 4096)
	opts.VerifyBytesPerSecond = 1 // the second chunk would wait for hours
	l = mustOpen(t, opts)
	checkFor(t, 10*time.Second, time.Millisecond, func() error {
		if l.Stats().ChunksVerified < 1 {
			return errString("the first chunk was not verified")
		}
		return nil
	})
	if st := l.Stats(); st.ChunksVerified != 1 || st.VerifyDone {
		t.Fatalf("the pace was not kept: %+v", st)
	}
	requireNoError(t, l.Close())

	opts.VerifyBytesPerSecond = 1 << 30
	l = mustOpen(t, opts)
	defer l.Close()
	checkFor(t, 10*time.Second, time.Millisecond, func() error {
		if !l.Stats().VerifyDone {
			return errString("verification not done")
		}
		return nil
	})
	if st := l.Stats(); st.ChunksVerified < 10 || len(st.VerifyFailures) != 0 {
		t.Fatalf("unexpected verification %+v", st)
	}
}
