//go:build long

package reactor

import "testing"

// TestTenThousandConnections is the acceptance run: 10,000 identified
// connections kept alive through server heartbeats (default external
// 2000/1000 ms) for 30 s.
func TestTenThousandConnections(t *testing.T) {
	manyConnections(t, 10000, 30, ExtHeartbeatIntervalDefault, ExtHeartbeatTimeoutDefault)
}
