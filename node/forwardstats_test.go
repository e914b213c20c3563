package node

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eventstored/eventstored/client"
)

// TestForwardingFiguresOnReplicaStats: a write through a Slave's external
// TCP is forwarded to the master, and the Slave's /metrics and /stats
// count it (the node wires tcpsvc.Forwarder.Stats into the HTTP front).
func TestForwardingFiguresOnReplicaStats(t *testing.T) {
	_, _, slaves := formedCluster(t, quietLogger(), false)
	s := slaves[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sc := dialNode(t, s, false)
	ev := client.EventData{ID: client.NewGUID(), Type: "t", IsJSON: true, Data: []byte(`{"a":1}`)}
	if _, err := sc.AppendToStream(ctx, "fwd-stats", client.ExpectedNoStream, ev); err != nil {
		t.Fatalf("write through slave: %v", err)
	}
	get := func(path string) string {
		resp, err := http.Get(fmt.Sprintf("http://%s:%d%s", s.ip, s.extHTTP, path))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	if m := get("/metrics"); !strings.Contains(m, "\neventstored_tcp_forwarded_total 1\n") ||
		!strings.Contains(m, "\neventstored_tcp_forwards_in_flight 0\n") {
		t.Fatalf("slave /metrics lacks the forwarded write:\n%s", m)
	}
	if st := get("/stats?group=false"); !strings.Contains(st, `"es-forwarding-tcp-forwarded": 1`) {
		t.Fatalf("slave /stats lacks the forwarded write:\n%s", st)
	}
}
