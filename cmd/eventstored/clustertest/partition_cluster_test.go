package clustertest

// The partition test proper (root and ip needed; skipped with the reason
// otherwise). About 12 s for TestPartitionIsolatedMaster and 14 s for
// TestMaxTruncationRefusal on 2 cores.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eventstored/eventstored/client"
	"github.com/eventstored/eventstored/cluster"
)

// rolesExt is Roles over external gossip among the given nodes only (the
// cut node's internal HTTP is unreachable from the test).
func rolesExt(ctx context.Context, nodes []*Node) (*Node, error) {
	var master *Node
	for _, v := range nodes {
		info, err := v.Gossip(ctx, true)
		if err != nil {
			return nil, err
		}
		view := View{Node: v, Info: info}
		var vm *Node
		for _, o := range nodes {
			m, ok := view.Member(o)
			if !ok || !m.IsAlive {
				return nil, fmt.Errorf("node%d does not see node%d alive", v.Index, o.Index)
			}
			switch m.State {
			case cluster.StateMaster:
				if vm != nil {
					return nil, fmt.Errorf("node%d sees two masters", v.Index)
				}
				vm = o
			case cluster.StateSlave:
			default:
				return nil, fmt.Errorf("node%d sees node%d %s", v.Index, o.Index, m.State)
			}
		}
		if vm == nil || (master != nil && vm != master) {
			return nil, fmt.Errorf("no agreed master in node%d's view", v.Index)
		}
		master = vm
	}
	return master, nil
}

// TestPartitionIsolatedMaster: three nodes in their own namespaces;
// clients write and read (require-master) on every node while the
// master's internal link is cut: the old master stops acknowledging
// writes, the majority elects a new master, nothing acknowledged is lost,
// and the whole client history is linearizable (porcupine, StreamModel).
// After healing, the old master rejoins as a Slave and holds every
// acknowledged write.
func TestPartitionIsolatedMaster(t *testing.T) {
	x, c := startNetnsCluster(t, "estpp", nil)
	ctx := timeout(t, 3*time.Minute)
	master := settle(t, ctx, c, waitRolesExt(c.Nodes))
	run := runWorkload(ctx, c, &Workload{Clients: 6, Streams: 4, Seed: 11, RequireMaster: true, OpTimeout: 2 * time.Second})
	time.Sleep(2 * time.Second)

	// A client logged in on the master before the cut writes right after
	// it, before the master can know it is cut off: the write must not be
	// acknowledged (it cannot reach a majority).
	early, err := client.Dial(ctx, master.ExtTCPAddr(), client.Options{
		Credentials: &client.Credentials{Login: "admin", Password: "changeit"}, RequireMaster: true, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer early.Close()
	if err := x.CutInt(master.Index); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	earlyErr := make(chan error, 1)
	go func() {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := early.AppendToStream(pctx, "minority-probe", client.ExpectedAny,
			client.EventData{ID: client.NewGUID(), Type: "probe", IsJSON: true, Data: []byte(`{}`)})
		earlyErr <- err
	}()
	next, err := waitRolesExt(others(c.Nodes, master))(ctx)
	if err != nil {
		t.Fatalf("the majority elected no master: %v", err)
	}
	t.Logf("node%d cut off; node%d master of the majority after %v", master.Index, next.Index, time.Since(cut).Round(time.Millisecond))

	// The minority stops acknowledging: a write sent straight to the old
	// master (require-master) must not succeed while it is cut off.
	probe, err := client.Dial(ctx, master.ExtTCPAddr(), client.Options{
		Credentials: &client.Credentials{Login: "admin", Password: "changeit"}, RequireMaster: true, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err := probe.AppendToStream(pctx, "minority-probe", client.ExpectedAny,
			client.EventData{ID: client.NewGUID(), Type: "probe", IsJSON: true, Data: []byte(`{}`)})
		cancel()
		if err == nil {
			t.Fatalf("the cut-off old master acknowledged a write %v after the cut", time.Since(cut))
		}
		t.Logf("write on the cut-off old master: %v", err)
	}
	probe.Close()

	if err := <-earlyErr; err == nil {
		t.Fatalf("the old master acknowledged a write sent right after the cut")
	} else {
		t.Logf("write on the old master right after the cut: %v", err)
	}

	time.Sleep(2 * time.Second)
	if err := x.HealInt(master.Index); err != nil {
		t.Fatal(err)
	}
	if _, err := waitRolesExt(c.Nodes)(ctx); err != nil {
		t.Fatalf("after healing: %v", err)
	}
	time.Sleep(time.Second)
	run.Stop()
	if counts := run.H.Counts(); counts["read"] == 0 {
		t.Fatalf("the workload did no read: %v", counts)
	}
	run.Verify(t, ctx, 2*time.Minute)
}

// TestMaxTruncationRefusal: the isolated old master keeps appending
// client writes to its own log that can never commit; with
// --max-truncation 1 it must refuse, once healed, to cut them off, stop,
// and say which option stops it, instead of throwing data away; restarted
// on the same directory it refuses again.
func TestMaxTruncationRefusal(t *testing.T) {
	x, c := startNetnsCluster(t, "estpt", func(int) []string { return []string{"--max-truncation", "1"} })
	ctx := timeout(t, 2*time.Minute)
	master := settle(t, ctx, c, waitRolesExt(c.Nodes))
	// Log in before the cut (the cut-off node cannot check credentials
	// against the users any better later, but it is simpler).
	cl, err := client.Dial(ctx, master.ExtTCPAddr(), client.Options{
		Credentials: &client.Credentials{Login: "admin", Password: "changeit"}, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.CutInt(master.Index); err != nil {
		t.Fatal(err)
	}
	// Writes to the cut-off master land in its log and never commit.
	for i := 0; i < 20; i++ {
		pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		_, _ = cl.AppendToStream(pctx, "doomed", client.ExpectedAny,
			client.EventData{ID: client.NewGUID(), Type: "x", IsJSON: true, Data: []byte(`{}`)})
		cancel()
	}
	cl.Close()
	newMaster, err := waitRolesExt(others(c.Nodes, master))(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The majority moves on (its own writes overwrite the old master's
	// tail); the new master may still be settling, so a write is retried.
	mc, err := client.Dial(ctx, newMaster.ExtTCPAddr(), client.Options{
		Credentials: &client.Credentials{Login: "admin", Password: "changeit"}})
	if err != nil {
		t.Fatal(err)
	}
	acked := 0
	for i := 0; i < 50 && acked < 5; i++ {
		_, err := mc.AppendToStream(ctx, "moved-on", client.ExpectedAny,
			client.EventData{ID: client.NewGUID(), Type: "x", IsJSON: true, Data: []byte(`{}`)})
		if err == nil {
			acked++
		} else {
			time.Sleep(100 * time.Millisecond)
		}
	}
	mc.Close()
	if acked < 5 {
		t.Fatalf("the majority's master node%d acknowledged %d of 5 writes", newMaster.Index, acked)
	}
	if err := x.HealInt(master.Index); err != nil {
		t.Fatal(err)
	}
	// Stopped on its own, or refusing on restart: either way it names the option.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := master.Wait(wctx); err != nil {
		_ = master.Kill()
		if err := master.Start(c.Bin()); err != nil {
			t.Fatal(err)
		}
		wctx2, cancel2 := context.WithTimeout(ctx, 30*time.Second)
		defer cancel2()
		if _, err := master.Wait(wctx2); err != nil {
			t.Fatalf("the old master neither stopped nor refused to restart: %v", err)
		}
	}
	var refusal string
	for _, l := range strings.Split(master.Log(), "\n") {
		if strings.Contains(l, "max-truncation") && !strings.Contains(l, "option accepted") {
			refusal = l
			break
		}
	}
	if refusal == "" {
		t.Fatalf("the old master stopped without naming --max-truncation:\n%s", master.Log())
	}
	code, _ := master.Wait(ctx)
	t.Logf("old master exited with %d: %s", code, refusal)
	// A node stopping on a failure exits non-zero and says why, never
	// that a client asked it to stop.
	if code == 0 {
		t.Fatalf("the old master stopped on a refused truncation with exit code 0:\n%s", master.Log())
	}
	if strings.Contains(master.Log(), "shutdown requested over HTTP") {
		t.Fatalf("the old master logged a client's shutdown request for a refused truncation:\n%s", master.Log())
	}
	if l := master.Log(); !strings.Contains(l, "the node stops on a failure") && !strings.Contains(l, "start-up failed") {
		t.Fatalf("the old master's exit does not give the failure as its reason:\n%s", l)
	}
	for _, l := range strings.Split(master.Log(), "\n") {
		if strings.Contains(l, "stops on a failure") || strings.Contains(l, "start-up failed") || strings.Contains(l, "not clean") {
			t.Logf("old master: %s", l)
		}
	}

	// Restarted, it refuses again rather than cut its log.
	if err := master.Start(c.Bin()); err != nil {
		t.Fatal(err)
	}
	wctx3, cancel3 := context.WithTimeout(ctx, 30*time.Second)
	defer cancel3()
	code, err = master.Wait(wctx3)
	if err != nil {
		t.Fatalf("restarted, the node did not refuse again within 30 s: %v", err)
	}
	runs := strings.Split(master.Log(), "start #2")
	if !strings.Contains(runs[len(runs)-1], "max-truncation") {
		t.Fatalf("the second refusal does not name --max-truncation:\n%s", runs[len(runs)-1])
	}
	t.Logf("restarted, it stopped again with %d", code)
	if code == 0 {
		t.Fatalf("restarted, the node refused the truncation but exited with 0:\n%s", runs[len(runs)-1])
	}
}
