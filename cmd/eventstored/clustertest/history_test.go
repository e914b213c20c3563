package clustertest

import (
	"context"
	"testing"
	"time"
)

// TestWorkloadOnSingleNodeIsLinearizable runs the partition test's
// workload against one real node (no faults): the recorded history must
// check out as linearizable, every acknowledged append must be readable
// at its numbers, and the workload must have done each kind of operation
// (a recorder that records nothing would pass any check).
func TestWorkloadOnSingleNodeIsLinearizable(t *testing.T) {
	c := startCluster(t, Config{Size: 1})
	n := c.Nodes[0]
	ctx := timeout(t, 60*time.Second)
	if err := Poll(ctx, 20*time.Millisecond, func(ctx context.Context) error {
		_, _, err := Get(ctx, n.ExtHTTPURL()+"/ping")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	h := NewHistory()
	w := &Workload{Addrs: []string{n.ExtTCPAddr()}, Clients: 4, Streams: 3, Seed: 1}
	rctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	w.Run(rctx, h)
	cancel()
	counts := h.Counts()
	t.Logf("history: %v, client errors %d", counts, w.Errors())
	if counts["append ok"] < 10 || counts["read"] < 5 || counts["append wrong-version"]+counts["append ok"] < 10 {
		t.Fatalf("the workload did too little to check anything: %v", counts)
	}
	if counts["append unknown"] > 0 || w.Errors() > 0 {
		t.Errorf("operations failed on a healthy node: %v, errors %d: %q", counts, w.Errors(), w.ErrorSamples())
	}
	if err := Check(h, 30*time.Second, ""); err != nil {
		t.Fatal(err)
	}
	missing, err := MissingAcknowledged(ctx, h, n.ExtTCPAddr())
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		t.Fatalf("acknowledged events missing: %v", missing)
	}
}
