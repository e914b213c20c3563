package clustertest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// startNetnsCluster builds the partition test's network (skipping, with
// the reason, where that needs root or ip and they are missing) and
// starts one node per namespace on the default ports, with args's extra
// options (may be nil).
func startNetnsCluster(t *testing.T, prefix string, args func(i int) []string) (*Netns, *Cluster) {
	t.Helper()
	if err := NetnsAvailable(); err != nil {
		t.Skipf("partition test needs network namespaces: %v (CI runs as root)", err)
	}
	x, err := SetupNetns(prefix, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(x.Close)
	c := startCluster(t, Config{IPs: x.IntIPs(), ExtIPs: x.ExtIPs(), FixedPorts: true, Wrap: x.Wrap, Args: args})
	return x, c
}

// extAlive checks node o's entry in node v's external gossip.
func extAlive(ctx context.Context, v, o *Node) (bool, error) {
	info, err := v.Gossip(ctx, true)
	if err != nil {
		return false, err
	}
	m, ok := View{Node: v, Info: info}.Member(o)
	return ok && m.IsAlive, nil
}

// TestNetnsPartitionCutsInternalNetworkOnly checks the partition test's
// own machinery: three nodes in their own namespaces gossip over the
// internal network until all are alive; cutting node 0's internal link
// makes the other two see it dead while it still answers clients on the
// external network; healing brings it back in every view.
func TestNetnsPartitionCutsInternalNetworkOnly(t *testing.T) {
	x, c := startNetnsCluster(t, "estpm", nil)
	ctx := timeout(t, 60*time.Second)
	all := func(want bool) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			for _, v := range c.Nodes {
				for _, o := range c.Nodes {
					alive, err := extAlive(ctx, v, o)
					if err != nil {
						return err
					}
					if v != o && (o.Index == 0 || v.Index == 0) && alive != want {
						return fmt.Errorf("node%d sees node%d alive=%v; want %v", v.Index, o.Index, alive, want)
					}
					if v != o && o.Index != 0 && v.Index != 0 && !alive {
						return fmt.Errorf("node%d sees node%d dead", v.Index, o.Index)
					}
				}
			}
			return nil
		}
	}
	if err := Poll(ctx, 50*time.Millisecond, all(true)); err != nil {
		t.Fatal(err)
	}
	if err := x.CutInt(0); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	if err := Poll(ctx, 50*time.Millisecond, func(ctx context.Context) error {
		for _, v := range c.Nodes[1:] {
			alive, err := extAlive(ctx, v, c.Nodes[0])
			if err != nil {
				return err
			}
			if alive {
				return errors.New("node0 still alive in the majority's view")
			}
		}
		// Clients still reach the cut node.
		_, err := c.Nodes[0].Gossip(ctx, true)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("majority saw the cut node dead after %v", time.Since(cut).Round(time.Millisecond))
	if err := x.HealInt(0); err != nil {
		t.Fatal(err)
	}
	if err := Poll(ctx, 50*time.Millisecond, all(true)); err != nil {
		t.Fatal(err)
	}
}
