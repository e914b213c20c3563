package tlog

import (
	"math/rand/v2"
	"testing"

	"github.com/eventstored/eventstored/store/vfs"
)

// TestPlanAppendMatchesAppend appends records of random sizes (many of
// them near a chunk's remaining space, to hit every roll case: exact fit,
// one byte over, a chunk filled to its last byte) and checks that
// PlanAppend predicted each position and end, also across a reopen.
func TestPlanAppendMatchesAppend(t *testing.T) {
	const chunk = 4096
	fsys := vfs.NewMem()
	opts := testOpts(fsys, chunk)
	l, err := Open(opts)
	requireNoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	end := l.Durable()
	check := func(size int) {
		t.Helper()
		wantPos, wantNext := l.PlanAppend(end, size)
		pos, err := l.Append(make([]byte, size))
		requireNoError(t, err)
		if pos != wantPos {
			t.Fatalf("record of %d bytes at end %d: appended at %d, planned %d", size, end, pos, wantPos)
		}
		end = wantNext
	}
	rolls := 0
	for i := 0; i < 3000; i++ {
		left := int(chunk - end%chunk)
		var size int
		switch rng.IntN(5) {
		case 0: // exactly fills the chunk
			size = left - RecordOverheadBytes
		case 1: // one byte too many
			size = left - RecordOverheadBytes + 1
		case 2: // one byte less than the rest
			size = left - RecordOverheadBytes - 1
		default:
			size = rng.IntN(600)
		}
		if size < 0 || size > l.MaxPayloadBytes() {
			size = rng.IntN(100)
		}
		before := end
		check(size)
		if end/chunk != before/chunk {
			rolls++
		}
		if i%500 == 0 {
			requireNoError(t, l.Flush())
			if l.Durable() != end {
				t.Fatalf("durable %d after flush; planned end %d", l.Durable(), end)
			}
		}
	}
	requireNoError(t, l.Flush())
	if l.Durable() != end {
		t.Fatalf("durable %d; planned end %d", l.Durable(), end)
	}
	requireNoError(t, l.Close())
	if rolls < 50 {
		t.Fatalf("only %d chunk rolls: the test does not cover the roll rule", rolls)
	}
	// After a reopen the plan continues from Durable.
	l, err = Open(opts)
	requireNoError(t, err)
	defer l.Close()
	if l.Durable() != end {
		t.Fatalf("reopened at %d; planned end %d", l.Durable(), end)
	}
	for i := 0; i < 200; i++ {
		check(rng.IntN(1500))
	}
}

// A chunk filled to its last byte ends at the next chunk's start: the plan
// puts the next record there, without an empty chunk in between.
func TestPlanAppendAtFullChunk(t *testing.T) {
	if pos, next := planAppend(1000, 1000, 10); pos != 1000 || next != 1022 {
		t.Fatalf("at a full chunk: %d, %d", pos, next)
	}
	if pos, _ := planAppend(1000, 990, 0); pos != 1000 {
		t.Fatalf("a 12-byte frame does not fit in 10 bytes: planned at %d", pos)
	}
	if pos, _ := planAppend(1000, 988, 0); pos != 988 {
		t.Fatalf("a 12-byte frame fits in 12 bytes: planned at %d", pos)
	}
}
