//go:build long

package clustertest

import (
	"sort"
	"testing"
	"time"
)

// TestFailoverFigures kills the master 20 times (restarting it each time)
// and reports the failover times; run with -tags long (make test-long).
func TestFailoverFigures(t *testing.T) {
	if testing.Short() {
		t.Skip("20 failovers: not in -short")
	}
	c := startCluster(t, Config{Args: gossipArgs})
	ctx := timeout(t, 15*time.Minute)
	var times, el, lags []time.Duration
	for i := 0; i < 20; i++ {
		master, err := c.WaitRoles(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, took, elected := killMaster(t, ctx, c, master)
		times = append(times, took)
		el = append(el, elected)
		lags = append(lags, took-elected)
		if err := master.Start(c.Bin()); err != nil {
			t.Fatal(err)
		}
	}
	sortDur(times)
	sortDur(el)
	r := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	t.Logf("failover over %d kills: election median %v, max %v; agreed in every survivor's gossip median %v, max %v",
		len(times), r(el[len(el)/2]), r(el[len(el)-1]), r(times[len(times)/2]), r(times[len(times)-1]))
	if el[len(el)-1] > maxFailover {
		t.Errorf("slowest election %v exceeds %v", el[len(el)-1], maxFailover)
	}
	sortDur(lags)
	t.Logf("agreement after the election: median %v, max %v", r(lags[len(lags)/2]), r(lags[len(lags)-1]))
	if lags[len(lags)-1] > maxAgreementLag {
		t.Errorf("slowest agreement after an election %v exceeds %v (gossip interval + timeout)", lags[len(lags)-1], maxAgreementLag)
	}
}

func sortDur(d []time.Duration) { sort.Slice(d, func(i, j int) bool { return d[i] < d[j] }) }
