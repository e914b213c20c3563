package clustertest

// The frame the history tests share: settle a started cluster (one
// master, the default users on every node), run a client workload in the
// background recording a History, stop it, and verify the history
// (linearizable under StreamModel, every acknowledged append on every
// node).

import (
	"context"
	"testing"
	"time"
)

// settle waits for waitMaster (which blocks until the nodes agree on a
// master, e.g. Cluster.WaitRoles or waitRolesExt) and then for the
// master's first writes, the default users among them, to be on every
// node (WaitSettled): clients log in only after that. It returns the
// master.
func settle(t *testing.T, ctx context.Context, c *Cluster, waitMaster func(context.Context) (*Node, error)) *Node {
	t.Helper()
	master, err := waitMaster(ctx)
	if err != nil {
		t.Fatalf("no agreed master: %v", err)
	}
	if err := c.WaitSettled(ctx, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	return master
}

// waitRolesExt polls rolesExt over nodes until it holds (external gossip
// only: a cut node's internal HTTP is unreachable from the test).
func waitRolesExt(nodes []*Node) func(context.Context) (*Node, error) {
	return func(ctx context.Context) (*Node, error) {
		var master *Node
		err := Poll(ctx, 20*time.Millisecond, func(ctx context.Context) (err error) {
			master, err = rolesExt(ctx, nodes)
			return err
		})
		return master, err
	}
}

// others returns nodes without n (the survivors of n, or a majority
// without the cut node).
func others(nodes []*Node, n *Node) []*Node {
	var out []*Node
	for _, o := range nodes {
		if o != n {
			out = append(out, o)
		}
	}
	return out
}

// workloadRun is a Workload running in the background into H.
type workloadRun struct {
	C    *Cluster
	W    *Workload
	H    *History
	stop context.CancelFunc
	done chan struct{}
}

// runWorkload starts w against c (every node's external TCP endpoint
// unless w.Addrs is set), recording into a new History, until Stop or
// the end of ctx.
func runWorkload(ctx context.Context, c *Cluster, w *Workload) *workloadRun {
	if len(w.Addrs) == 0 {
		w.Addrs = c.ExtTCPAddrs()
	}
	r := &workloadRun{C: c, W: w, H: NewHistory(), done: make(chan struct{})}
	wctx, stop := context.WithCancel(ctx)
	r.stop = stop
	go func() { w.Run(wctx, r.H); close(r.done) }()
	return r
}

// Stop ends the workload and waits for its clients; idempotent.
func (r *workloadRun) Stop() {
	r.stop()
	<-r.done
}

// Verify stops the workload and checks its history: some appends were
// acknowledged, the history is linearizable (porcupine, StreamModel,
// within checkTimeout; a visualisation is written to the test's temp
// dir), and every acknowledged append is on every node at its number.
func (r *workloadRun) Verify(t *testing.T, ctx context.Context, checkTimeout time.Duration) {
	t.Helper()
	r.Stop()
	counts := r.H.Counts()
	t.Logf("history: %v, client errors %d", counts, r.W.Errors())
	if counts["append ok"] == 0 {
		t.Fatalf("no append was acknowledged: %v; errors %q", counts, r.W.ErrorSamples())
	}
	if err := Check(r.H, checkTimeout, t.TempDir()+"/history.html"); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, ctx, r.C, r.H)
}
