//go:build !race

package consensus

import "testing"

// TestEntryTableCommitAllocs: the entry table's part of a commit (every
// Save that moves the commit index) allocates nothing below a frame, nor
// does encoding a frame.
func TestEntryTableCommitAllocs(t *testing.T) {
	e := newTableEnv(t)
	defer e.close()
	e.add(3*tableFrameEntries, uint64(3*tableFrameEntries)) // nothing committed yet
	e.commit = 1000
	commit := uint64(0)
	below := testing.AllocsPerRun(1000, func() {
		commit++
		e.d.persistCommitted(commit, false)
	})
	if below != 0 || e.d.et.frames != 0 {
		t.Fatalf("%.1f allocations a commit below a frame (%d frames written)", below, e.d.et.frames)
	}
	// A frame's encoding reuses the table's buffer (its write is the
	// filesystem's business: one write call).
	buf := make([]byte, 0, maxTableFrameBody+12)
	frame := testing.AllocsPerRun(100, func() {
		buf = e.d.appendTableFrame(buf[:0], 1, tableFrameEntries)
	})
	if frame != 0 {
		t.Fatalf("%.1f allocations encoding a frame", frame)
	}
	e.d.persistCommitted(e.commit, true)
	e.check()
}
