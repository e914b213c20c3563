//go:build long

package tlog

import "testing"

// TestCrashClonesSoak runs many more seeds and steps of the crash-clone
// property than the default test run can afford.
func TestCrashClonesSoak(t *testing.T) {
	for seed := uint64(100); seed < 160; seed++ {
		crashClonesSeed(t, seed, 3000, 400)
	}
}
