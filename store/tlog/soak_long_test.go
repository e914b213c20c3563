//go:build long

package tlog

import "testing"

// TestCrashClonesSoak runs many more seeds and steps of the crash-clone
// property than the default test run can afford.
func TestCrashClonesSoak(t *testing.T) {
	for _, perm := range permutations {
		for seed := uint64(100); seed < 130; seed++ {
			crashClonesSeed(t, perm, seed, 3000, 400)
		}
	}
}

// TestKilledWriterProcessSoak kills the writer process many more times.
func TestKilledWriterProcessSoak(t *testing.T) {
	killWriterProcess(t, 25)
}
