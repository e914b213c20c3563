package clustertest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/eventstored/eventstored/cluster"
	"github.com/eventstored/eventstored/cluster/gossip"
)

// TestForeignClusterGossipRefused: a node of another cluster — a gossip
// peer on 127.0.0.4 with the same port numbers as node 0 but another
// cluster identity (ES-ClusterId) — posts its view to node 0's internal
// /gossip: it is refused (400), the refusal is logged, and the foreign
// member shows up in no node's gossip. The same message with this
// cluster's identity (as node 0 announces it in its reply header) is
// accepted, so the refusal is the identity's doing.
//
// The process cannot be started with another identity (there is no
// option for it; node.WithClusterID is in-process only, see
// node.TestClusterGossipOnLoopback), so the test speaks gossip itself.
func TestForeignClusterGossipRefused(t *testing.T) {
	c := startCluster(t, Config{})
	ctx := timeout(t, 60*time.Second)
	if _, err := c.WaitRoles(ctx); err != nil {
		t.Fatal(err)
	}
	n := c.Nodes[0]
	ap := func(port int) netip.AddrPort {
		return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.4"), uint16(port))
	}
	foreign := gossip.Member{InstanceID: gossip.GUID{1, 2, 3, 4}, TimeStamp: time.Now().UTC(), State: cluster.StateMaster,
		IsAlive: true, InternalTCP: ap(n.IntTCP), ExternalTCP: ap(n.ExtTCP), InternalHTTP: ap(n.IntHTTP),
		ExternalHTTP: ap(n.ExtHTTP), Position: gossip.NoPosition}
	body := gossip.ClusterInfo{Members: []gossip.Member{foreign}, Server: ap(n.IntHTTP)}.Encode()
	post := func(identity string) (int, string, string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, n.IntHTTPURL()+"/gossip", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(gossip.ClusterIDHeader, identity)
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get(gossip.ClusterIDHeader), string(b)
	}
	status, ours, text := post("another-cluster")
	if status != http.StatusBadRequest || !strings.Contains(text, "another-cluster") {
		t.Fatalf("gossip from another cluster: status %d %q; want 400 naming the foreign identity", status, text)
	}
	if ours == "" || ours == "another-cluster" {
		t.Fatalf("node 0 announces identity %q", ours)
	}
	if err := Poll(ctx, 50*time.Millisecond, func(context.Context) error {
		if !strings.Contains(n.Log(), "gossip from another cluster refused") {
			return errors.New("not logged")
		}
		return nil
	}); err != nil {
		t.Fatalf("the refusal was not logged")
	}
	time.Sleep(300 * time.Millisecond) // a gossip round or so
	for _, v := range c.Views(ctx, false) {
		for _, m := range v.Info.Members {
			if m.InternalHTTP == foreign.InternalHTTP {
				t.Fatalf("node%d's gossip lists the foreign member:\n%s", v.Node.Index, Describe(c.Views(ctx, false)))
			}
		}
	}
	// Control: the same message with this cluster's identity is taken.
	if status, _, text := post(ours); status != http.StatusOK {
		t.Fatalf("the same gossip with this cluster's identity %q: status %d %q; want 200", ours, status, text)
	}
}
