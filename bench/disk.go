package bench

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

// DiskSync is the latency of an append + fdatasync in a temp dir: the floor
// under any durable write on this machine (one such sync per commit at
// best), reported with the suite so the figures can be read against it.
type DiskSync struct {
	Samples int     `json:"samples"`
	P50Ms   float64 `json:"p50_ms"`
	P99Ms   float64 `json:"p99_ms"`
}

// MeasureDiskSync appends 4 KiB and fdatasyncs, n times, in a file under
// dir (removed afterwards).
func MeasureDiskSync(dir string, n int) (DiskSync, error) {
	f, err := os.CreateTemp(dir, "esbench-fsync-")
	if err != nil {
		return DiskSync{}, fmt.Errorf("cannot measure fdatasync: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	block := make([]byte, 4096)
	rec := NewRecorder()
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if _, err := f.Write(block); err != nil {
			return DiskSync{}, fmt.Errorf("cannot measure fdatasync: %w", err)
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return DiskSync{}, fmt.Errorf("cannot measure fdatasync: %w", err)
		}
		rec.Record(0, time.Since(t0))
	}
	l := Summarize(rec.Snapshot())
	return DiskSync{Samples: n, P50Ms: l.P50Ms, P99Ms: l.P99Ms}, nil
}
