package tcpsvc

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/eventstored/eventstored/store"
)

// failedWriteLogEvery is the least time between two "write failed"
// warnings; the failures in between are counted and reported with the
// next one.
const failedWriteLogEvery = time.Second

// failedWriteLog logs writes that failed in the store without flooding
// the log when a whole pipeline of them fails at once (leadership lost:
// every batch in flight fails together). Failures expected in normal
// operation — this node is not (or no longer) the leader, the store is
// closing, the queue is full; the client gets NotHandled and retries —
// go to debug. Any other failure is a warning, at most one per
// failedWriteLogEvery, carrying how many were held back since the last.
// Safe from any goroutine (Done callbacks run on the writer's and on the
// committer's goroutines).
type failedWriteLog struct {
	next       atomic.Int64 // UnixNano before which warnings are held back
	suppressed atomic.Uint64
}

func expectedWriteFailure(err error) bool {
	return errors.Is(err, store.ErrNotLeader) || errors.Is(err, store.ErrClosed) || errors.Is(err, store.ErrTooBusy)
}

func (f *failedWriteLog) log(l *slog.Logger, stream string, err error) {
	f.logAt(l, time.Now(), stream, err)
}

func (f *failedWriteLog) logAt(l *slog.Logger, now time.Time, stream string, err error) {
	if expectedWriteFailure(err) {
		l.Debug("write failed", "stream", stream, "err", err)
		return
	}
	t := now.UnixNano()
	next := f.next.Load()
	if t < next || !f.next.CompareAndSwap(next, t+int64(failedWriteLogEvery)) {
		f.suppressed.Add(1)
		return
	}
	l.Warn("write failed", "stream", stream, "err", err, "suppressed_since_last", f.suppressed.Swap(0))
}
