package reactor

import (
	"log/slog"
	"time"
)

// Defaults from the original server (spec tcp-client-protocol §4.2,
// Appendix B; cluster-and-options §8.2).
const (
	ExtHeartbeatIntervalDefault = 2000 * time.Millisecond
	ExtHeartbeatTimeoutDefault  = 1000 * time.Millisecond
	IntHeartbeatIntervalDefault = 700 * time.Millisecond
	IntHeartbeatTimeoutDefault  = 700 * time.Millisecond
	// HeartbeatTickDefault is the timer-wheel resolution: heartbeat checks
	// fire up to one tick late. 100 ms is small against the 700 ms internal
	// interval and costs one wheel step per loop per tick.
	HeartbeatTickDefault = 100 * time.Millisecond
	// PendingSendBytesMaxDefault is --connection-pending-send-bytes-threshold
	// (10 MiB, ESConsts in 4.0.2+).
	PendingSendBytesMaxDefault = 10 << 20
	// PendingSendPackagesMaxDefault is the original's
	// MaxConnectionQueueSize (50,000 packages).
	PendingSendPackagesMaxDefault = 50_000
)

// Config describes one TCP listener (ext TCP or int TCP).
type Config struct {
	// Name of the interface for logs and errors, e.g. "external TCP".
	Name string
	// Addr is host:port to bind.
	Addr   string
	Logger *slog.Logger
	// NumEventLoops is the number of gnet loops; 0 means one per CPU.
	NumEventLoops int

	// Internal marks the cluster listener: TrustedWrite packages are
	// allowed and the pending-send limits default to unlimited (spec
	// cluster §8.4: internal connections are unlimited). On an external
	// listener a TrustedWrite package gets BadRequest and a close (§1.4).
	Internal bool

	// HeartbeatInterval and HeartbeatTimeout: after Interval with nothing
	// received the server sends a HeartbeatRequest and closes the
	// connection if nothing arrives within Timeout. Zero selects the
	// original's defaults (ext 2000/1000 ms, int 700/700 ms).
	HeartbeatInterval time.Duration
	HeartbeatTimeout  time.Duration
	// HeartbeatTick is the timer-wheel resolution (default 100 ms).
	HeartbeatTick time.Duration

	// PendingSendBytesMax closes a connection whose unsent bytes exceed it
	// (0: default 10 MiB external, unlimited internal; negative:
	// unlimited). PendingSendPackagesMax does the same for packages queued
	// in the reactor and not yet handed to the socket layer (0: default
	// 50,000 external, unlimited internal; negative: unlimited).
	PendingSendBytesMax    int
	PendingSendPackagesMax int

	// Now is the clock seam for heartbeats; nil means time.Now.
	Now func() time.Time
}

const unlimited = int(^uint(0) >> 1)

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Name == "" {
		c.Name = "TCP"
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = ExtHeartbeatIntervalDefault
		if c.Internal {
			c.HeartbeatInterval = IntHeartbeatIntervalDefault
		}
	}
	if c.HeartbeatTimeout <= 0 {
		c.HeartbeatTimeout = ExtHeartbeatTimeoutDefault
		if c.Internal {
			c.HeartbeatTimeout = IntHeartbeatTimeoutDefault
		}
	}
	if c.HeartbeatTick <= 0 {
		c.HeartbeatTick = HeartbeatTickDefault
	}
	c.PendingSendBytesMax = limitOrDefault(c.PendingSendBytesMax, PendingSendBytesMaxDefault, c.Internal)
	c.PendingSendPackagesMax = limitOrDefault(c.PendingSendPackagesMax, PendingSendPackagesMaxDefault, c.Internal)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func limitOrDefault(v, def int, internal bool) int {
	switch {
	case v < 0:
		return unlimited
	case v > 0:
		return v
	case internal:
		return unlimited
	default:
		return def
	}
}
