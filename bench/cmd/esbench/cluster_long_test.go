//go:build long

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventstored/eventstored/cmd/eventstored/clustertest"
)

// TestClusterWritesEachNodesProfile: a short write run against three real
// processes with --cpuprofile-dir leaves one complete CPU profile per node
// (gzip-compressed pprof), which needs the clean shutdown, and a result.
func TestClusterWritesEachNodesProfile(t *testing.T) {
	bin, err := clustertest.Build(t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	prof := filepath.Join(t.TempDir(), "prof")
	code, stdout, stderr := runArgs("cluster", "--node", bin, "--clients", "4", "--inflight", "2",
		"--duration", "1s", "--warmup", "200ms", "--no-progress", "--cpuprofile-dir", prof)
	if code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "4 clients×2 in flight") || !strings.Contains(stdout, "events/s") {
		t.Fatalf("no write result in stdout:\n%s", stdout)
	}
	for i := range 3 {
		b, err := os.ReadFile(filepath.Join(prof, "node"+string(rune('0'+i))+".pprof"))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 64 || b[0] != 0x1f || b[1] != 0x8b {
			t.Fatalf("node%d.pprof: %d bytes, not a flushed pprof profile (stderr %s)", i, len(b), stderr)
		}
	}
}
