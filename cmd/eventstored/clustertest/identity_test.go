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
// The test speaks gossip itself, to send the same message with either
// identity; TestClustersWithDifferentIdsRefuseEachOther runs a node of
// another cluster (--cluster-id).
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

// TestClustersWithDifferentIdsRefuseEachOther: three nodes run with
// --cluster-id alpha; a fourth, with --cluster-id beta (as
// EVENTSTORE_CLUSTER_ID), is seeded with their internal HTTP endpoints,
// as a mistyped seed list would do. Alpha elects its master without it;
// each side logs the refusal; no alpha node lists the beta node, and the
// beta node merges no alpha member (it holds only its seeds'
// placeholders, marked dead) and joins nothing: its state stays Unknown.
func TestClustersWithDifferentIdsRefuseEachOther(t *testing.T) {
	c := startCluster(t, Config{Nodes: 4,
		Args: func(i int) []string {
			if i < 3 {
				return []string{"--cluster-id", "alpha"}
			}
			return nil
		},
		EnvOf: func(i int) []string {
			if i == 3 {
				return []string{"EVENTSTORE_CLUSTER_ID=beta"}
			}
			return nil
		}})
	alpha, beta := c.Nodes[:3], c.Nodes[3]
	ctx := timeout(t, 60*time.Second)
	if _, err := waitRolesExt(alpha)(ctx); err != nil {
		t.Fatalf("alpha elected no master: %v", err)
	}
	if err := Poll(ctx, 50*time.Millisecond, func(context.Context) error {
		if !strings.Contains(beta.Log(), "gossip refused by a node of another cluster") || !strings.Contains(beta.Log(), `cluster \"alpha/`) {
			return errors.New("the beta node did not log alpha's refusal")
		}
		for _, n := range alpha {
			if strings.Contains(n.Log(), "gossip from another cluster refused") && strings.Contains(n.Log(), `cluster \"beta/`) {
				return nil
			}
		}
		return errors.New("no alpha node logged the refusal of beta's gossip")
	}); err != nil {
		t.Fatal(err)
	}
	for _, n := range alpha {
		info, err := n.Gossip(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if m, ok := (View{Node: n, Info: info}).Member(beta); ok {
			t.Errorf("alpha node%d lists the beta node: %+v", n.Index, m)
		}
	}
	info, err := beta.Gossip(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range info.Members {
		switch {
		case m.InternalHTTP == netip.MustParseAddrPort(beta.IntHTTPEndpoint()):
			if m.State != cluster.StateUnknown {
				t.Errorf("the beta node is %s; want Unknown (it has no cluster)", m.State)
			}
		case !m.InstanceID.IsZero():
			t.Errorf("the beta node merged a member of alpha: %+v", m)
		case m.IsAlive:
			t.Errorf("the beta node's placeholder for seed %s is alive though every reply was refused", m.InternalHTTP)
		}
	}
}
