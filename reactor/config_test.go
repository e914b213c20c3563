package reactor

import (
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	ext := Config{}.withDefaults()
	if ext.HeartbeatInterval != 2*time.Second || ext.HeartbeatTimeout != time.Second ||
		ext.PendingSendBytesMax != 10<<20 || ext.PendingSendPackagesMax != 50000 || ext.HeartbeatTick != 100*time.Millisecond {
		t.Fatalf("external defaults %+v", ext)
	}
	in := Config{Internal: true}.withDefaults()
	if in.HeartbeatInterval != 700*time.Millisecond || in.HeartbeatTimeout != 700*time.Millisecond ||
		in.PendingSendBytesMax != unlimited || in.PendingSendPackagesMax != unlimited {
		t.Fatalf("internal defaults %+v", in)
	}
	set := Config{PendingSendBytesMax: 123, PendingSendPackagesMax: -1, HeartbeatInterval: 5 * time.Second}.withDefaults()
	if set.PendingSendBytesMax != 123 || set.PendingSendPackagesMax != unlimited || set.HeartbeatInterval != 5*time.Second {
		t.Fatalf("explicit values %+v", set)
	}
}

func TestWheelSizeCoversLongestDelay(t *testing.T) {
	for _, c := range []struct{ interval, timeout uint64 }{{1, 1}, {20, 10}, {7, 7}, {50, 10}, {64, 1}, {63, 63}} {
		h := newHeartbeats(c.interval, c.timeout, nil, nil)
		if uint64(len(h.slots)) <= max(c.interval, c.timeout) || len(h.slots)&(len(h.slots)-1) != 0 {
			t.Fatalf("interval %d timeout %d: %d slots", c.interval, c.timeout, len(h.slots))
		}
	}
}
