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

// TestDriverStepAllocs: handing a received message to the driver
// allocates nothing (the inbox carries the message, no closure).
func TestDriverStepAllocs(t *testing.T) {
	disk := NewMemDisk()
	if err := Bootstrap(disk.MemoryStorage, []uint64{1, 2, 3}, nil); err != nil {
		t.Fatal(err)
	}
	d, err := NewDriver(DriverConfig{Core: Config{ID: 1, Log: quiet}, Disk: disk, Transport: &recorder{}, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	m := indexedApp(1, 1, nil)
	n := testing.AllocsPerRun(1000, func() { d.Step(m) })
	if n != 0 {
		t.Fatalf("%.1f allocations a Step", n)
	}
	if len(d.inbox) != 1001 {
		t.Fatalf("%d messages in the inbox, want 1001", len(d.inbox))
	}
}
