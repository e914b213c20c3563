package clustertest

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestGossipConvergesOnEveryInterface starts three processes on
// 127.0.0.1-3 seeded with one another: every node's internal and
// external /gossip lists all three alive, each with its advertised
// endpoints (node 1 advertises another external IP and ports, which must
// appear in every view instead of the bound ones); node 2 runs with
// --gossip-on-ext=false and --admin-on-ext=false: those routes answer 404
// on its external HTTP and are served on its internal HTTP.
func TestGossipConvergesOnEveryInterface(t *testing.T) {
	c := startCluster(t, Config{Args: func(i int) []string {
		switch i {
		case 1:
			return []string{"--ext-ip-advertise-as", "10.9.9.2",
				"--ext-tcp-port-advertise-as", "11113", "--ext-http-port-advertise-as", "12113"}
		case 2:
			return []string{"--gossip-on-ext=false", "--admin-on-ext=false"}
		}
		return nil
	}})
	ctx := timeout(t, 30*time.Second)
	start := time.Now()
	err := Poll(ctx, 25*time.Millisecond, func(ctx context.Context) error {
		if err := c.AllAlive(ctx, false); err != nil {
			return err
		}
		// Node 2 has no external /gossip; the others must converge there too.
		for _, n := range c.Nodes[:2] {
			info, err := n.Gossip(ctx, true)
			if err != nil {
				return err
			}
			v := View{Node: n, Info: info}
			for _, o := range c.Nodes {
				if m, ok := v.Member(o); !ok || !m.IsAlive {
					return &convergeError{"external /gossip of node" + strconv.Itoa(n.Index) + " lacks node" + strconv.Itoa(o.Index)}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("gossip converged on every interface in %v", time.Since(start).Round(time.Millisecond))

	t.Run("advertise-as", func(t *testing.T) {
		adv := c.Nodes[1]
		for _, v := range c.Views(ctx, false) {
			m, _ := v.Member(adv)
			if got := m.ExternalTCP.String(); got != "10.9.9.2:11113" {
				t.Errorf("node%d's gossip shows node1's external TCP as %s; want the advertised 10.9.9.2:11113", v.Node.Index, got)
			}
			if got := m.ExternalHTTP.String(); got != "10.9.9.2:12113" {
				t.Errorf("node%d's gossip shows node1's external HTTP as %s; want the advertised 10.9.9.2:12113", v.Node.Index, got)
			}
			if got, want := m.InternalTCP.String(), adv.IP+":"+strconv.Itoa(adv.IntTCP); got != want {
				t.Errorf("node%d's gossip shows node1's internal TCP as %s; want %s (not advertised otherwise)", v.Node.Index, got, want)
			}
			o, _ := v.Member(c.Nodes[0])
			if got, want := o.ExternalTCP.String(), c.Nodes[0].ExtTCPAddr(); got != want {
				t.Errorf("node%d's gossip shows node0's external TCP as %s; want %s", v.Node.Index, got, want)
			}
		}
	})

	t.Run("ext toggles", func(t *testing.T) {
		n := c.Nodes[2]
		check := func(method, url string, want func(int) bool, what string) {
			req, _ := http.NewRequestWithContext(ctx, method, url, strings.NewReader(""))
			resp, err := httpClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if !want(resp.StatusCode) {
				t.Errorf("%s %s: status %d; want %s", method, url, resp.StatusCode, what)
			}
		}
		is404 := func(s int) bool { return s == http.StatusNotFound }
		served := func(s int) bool { return s != http.StatusNotFound }
		check(http.MethodGet, n.ExtHTTPURL()+"/gossip", is404, "404 (--gossip-on-ext=false)")
		check(http.MethodGet, n.IntHTTPURL()+"/gossip", func(s int) bool { return s == 200 }, "200 on internal HTTP")
		// Unauthenticated: the route answers 401 where it exists.
		check(http.MethodPost, n.ExtHTTPURL()+"/admin/scavenge", is404, "404 (--admin-on-ext=false)")
		check(http.MethodPost, n.IntHTTPURL()+"/admin/scavenge", served, "the route served on internal HTTP")
		// The defaults on node 0: both on ext.
		check(http.MethodGet, c.Nodes[0].ExtHTTPURL()+"/gossip", func(s int) bool { return s == 200 }, "200 (gossip on ext by default)")
		check(http.MethodPost, c.Nodes[0].ExtHTTPURL()+"/admin/scavenge", served, "served (admin on ext by default)")
	})
}

type convergeError struct{ s string }

func (e *convergeError) Error() string { return e.s }

// TestKilledNodeIsDeadThenRejoins kills one process with SIGKILL: the
// other two mark it dead in their gossip; restarted on the same database
// directory and ports it is alive again in every view.
func TestKilledNodeIsDeadThenRejoins(t *testing.T) {
	c := startCluster(t, Config{})
	ctx := timeout(t, 60*time.Second)
	if err := Poll(ctx, 25*time.Millisecond, func(ctx context.Context) error { return c.AllAlive(ctx, false) }); err != nil {
		t.Fatal(err)
	}
	victim := c.Nodes[0]
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if err := Poll(ctx, 25*time.Millisecond, func(ctx context.Context) error { return c.AllAlive(ctx, false) }); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed node marked dead in %v", time.Since(killed).Round(time.Millisecond))
	if err := victim.Start(c.Bin()); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	if err := Poll(ctx, 25*time.Millisecond, func(ctx context.Context) error { return c.AllAlive(ctx, false) }); err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted node alive everywhere in %v", time.Since(restarted).Round(time.Millisecond))
	if !strings.Contains(victim.Log(), "start #2") {
		t.Errorf("the node's log does not keep both runs")
	}
}
