//go:build !race

package consensus

import "testing"

// TestAppendMessageAllocs: framing a raft message into a reused buffer
// marshals it in place (no intermediate body).
func TestAppendMessageAllocs(t *testing.T) {
	m := indexedApp(2, 7, make([]byte, 300))
	buf := make([]byte, 0, 4096)
	n := testing.AllocsPerRun(1000, func() {
		var err error
		if buf, err = AppendMessage(buf[:0], m); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("%.1f allocations framing a message", n)
	}
}
