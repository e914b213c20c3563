package tcpsvc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/eventstored/eventstored/store"
)

// recordingHandler keeps the level and attributes of every record.
type recordingHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.recs = append(h.recs, r.Clone())
	h.mu.Unlock()
	return nil
}
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

func (h *recordingHandler) count(level slog.Level) int {
	n := 0
	for _, r := range h.recs {
		if r.Level == level {
			n++
		}
	}
	return n
}

// A pipeline of failed writes (leadership lost fails every batch in
// flight at once) logs one warning per second, not one per write, and
// the next warning says how many were held back; failures expected
// around a leadership change or a shutdown are debug only.
func TestFailedWriteLogIsRateLimited(t *testing.T) {
	h := &recordingHandler{}
	l := slog.New(h)
	var f failedWriteLog
	t0 := time.Unix(1000, 0)
	lost := errors.New("consensus: leadership lost before the write was committed")
	for range 1000 {
		f.logAt(l, t0, "s", lost)
	}
	if n := h.count(slog.LevelWarn); n != 1 {
		t.Fatalf("%d warnings for 1000 failures within a second, want 1", n)
	}
	f.logAt(l, t0.Add(failedWriteLogEvery/2), "s", lost)
	if n := h.count(slog.LevelWarn); n != 1 {
		t.Fatalf("%d warnings before the interval passed, want 1", n)
	}
	f.logAt(l, t0.Add(failedWriteLogEvery), "s", lost)
	if n := h.count(slog.LevelWarn); n != 2 {
		t.Fatalf("%d warnings after the interval, want 2", n)
	}
	var held uint64
	h.recs[len(h.recs)-1].Attrs(func(a slog.Attr) bool {
		if a.Key == "suppressed_since_last" {
			held = a.Value.Uint64()
		}
		return true
	})
	if held != 1000 {
		t.Fatalf("the second warning reports %d held back, want 1000", held)
	}

	for _, err := range []error{store.ErrNotLeader, store.ErrClosed, fmt.Errorf("wrapped: %w", store.ErrTooBusy)} {
		before := len(h.recs)
		f.logAt(l, t0.Add(10*failedWriteLogEvery), "s", err)
		if len(h.recs) != before+1 || h.recs[before].Level != slog.LevelDebug {
			t.Fatalf("%v: not logged once at debug: %+v", err, h.recs[before:])
		}
	}
}
