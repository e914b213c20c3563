package gossip

import (
	"testing"

	"github.com/eventstored/eventstored/cluster"
	"github.com/eventstored/eventstored/codec"
)

func TestMasterAndNotMasterInfo(t *testing.T) {
	a, b, c := node(1), node(2), node(3)
	if _, ok := (ClusterInfo{Members: []Member{a, b, c}}).Master(); ok {
		t.Fatal("master found where there is none")
	}
	b.State, b.EpochNumber = cluster.StateMaster, 3
	c.State, c.EpochNumber, c.IsAlive = cluster.StateMaster, 5, false // dead: ignored
	a.State, a.EpochNumber = cluster.StateMaster, 2                   // older epoch
	m, ok := (ClusterInfo{Members: []Member{a, b, c}}).Master()
	if !ok || m.InternalHTTP != b.InternalHTTP {
		t.Fatalf("master %v %v", m.InternalHTTP, ok)
	}
	m.ExternalTCP, m.ExternalHTTP = ep("203.0.113.10:11113"), ep("203.0.113.10:12113")
	mi := NotMasterInfo(m)
	want := codec.MasterInfo{ExternalTCPAddress: "203.0.113.10", ExternalTCPPort: 11113, ExternalHTTPAddress: "203.0.113.10", ExternalHTTPPort: 12113}
	if mi != want {
		t.Fatalf("%+v", mi)
	}
	m.ExternalSecureTCP = 1115
	if mi := NotMasterInfo(m); !mi.HasExternalSecureTCPPort || mi.ExternalSecureTCPPort != 1115 || mi.ExternalSecureTCPAddress != "203.0.113.10" {
		t.Fatalf("secure %+v", mi)
	}
	if u := RedirectURL(m, "", "/streams/a?embed=body"); u != "http://203.0.113.10:12113/streams/a?embed=body" {
		t.Fatal(u)
	}
	if u := RedirectURL(m, "https", "/x"); u != "https://203.0.113.10:12113/x" {
		t.Fatal(u)
	}
}
