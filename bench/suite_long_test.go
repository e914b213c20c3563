//go:build long

package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSuiteAgainstTheBinary builds bin/eventstored, then runs the whole
// suite against it with short windows, no peers and 200 idle connections,
// and checks the report files. It exercises StartNode (temp database,
// free ports, RSS of the child) the way 'make bench' does.
func TestSuiteAgainstTheBinary(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "eventstored")
	build := exec.Command("go", "build", "-o", bin, "../cmd/eventstored")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	o := DefaultSuiteOptions()
	o.Out, o.NodeBinary, o.Peers = filepath.Join(dir, "results"), bin, nil
	o.Duration, o.Warmup, o.SoakConnections, o.SoakDuration, o.AllPrefill = time.Second, 200*time.Millisecond, 200, time.Second, 5000
	o.Progress, o.Log = false, nil
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := RunSuite(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Scenarios) != 6 {
		t.Fatalf("unexpected scenarios: %d", len(rep.Scenarios))
	}
	for _, sc := range rep.Scenarios {
		if sc.Error != "" || len(sc.Results) == 0 {
			t.Fatalf("%s failed: %s", sc.Name, sc.Error)
		}
		if r := sc.Results[0]; r.ErrorTotal() > 0 {
			t.Fatalf("%s: errors %v %v", sc.Name, r.Errors, r.ErrorSamples)
		}
		// Same kind of tool as the peers': eventstored's writes go through its Go client.
		if r := sc.Results[0]; r.Config.Kind == KindWrite && r.Config.Driver != DriverClient {
			t.Fatalf("%s: eventstored driven by %q, want %q like the peers", sc.Name, r.Config.Driver, DriverClient)
		}
	}
	soak := rep.Scenarios[5].Results[0].Soak
	if soak.Alive != 200 || soak.RSSAfterBytes == 0 {
		t.Fatalf("unexpected soak %+v", soak)
	}
	md, err := os.ReadFile(filepath.Join(rep.Dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "| write 256 clients × 1 event |") || !strings.Contains(string(md), "no Redis result") {
		t.Fatalf("unexpected report:\n%s", md)
	}
	svgs, _ := filepath.Glob(filepath.Join(rep.Dir, "*.svg"))
	if len(svgs) != 10 {
		t.Fatalf("unexpected plots %v", svgs)
	}
	t.Logf("\n%s", md)
}
