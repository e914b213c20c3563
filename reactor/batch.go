package reactor

import (
	"context"
	"sync"
)

// SendBatch lets a goroutine that answers many requests in one burst (the
// acknowledgements of one group commit) send each connection its replies
// in one write: Send queues frames on the connection without writing,
// Flush writes every connection queued since the previous Flush, directly
// from the caller's goroutine when nothing of that connection is on its
// way through the loop, else through the loop. A connection with 32
// replies in a burst then costs one write instead of 32, and none of them
// wakes the loop.
//
// Safe for concurrent use: whoever calls Flush sends everything queued by
// anyone until then. A frame queued with Send leaves at the latest on the
// next Flush (or earlier, with anything else sent on its connection), so
// every Send must be followed by a Flush.
type SendBatch struct {
	mu    sync.Mutex
	conns []*Conn
	spare []*Conn
}

// sendBatchKeepMax bounds the connection list a batch keeps between
// flushes; a bigger one (a burst to more connections) is dropped after use.
const sendBatchKeepMax = 4096

// Send queues whole frames for c, as Conn.Send does, without writing.
func (b *SendBatch) Send(c *Conn, frame []byte) error {
	buf, err := c.BeginSend()
	if err != nil {
		return err
	}
	return c.endSend(append(buf, frame...), 1, b, false)
}

// add puts c on the list. REQUIRES: c.mu held (lock order c.mu → b.mu).
func (b *SendBatch) add(c *Conn) {
	b.mu.Lock()
	b.conns = append(b.conns, c)
	b.mu.Unlock()
}

// Flush sends what was queued on every connection of the batch.
func (b *SendBatch) Flush() {
	b.mu.Lock()
	conns := b.conns
	b.conns = b.spare[:0]
	b.spare = nil
	b.mu.Unlock()
	if len(conns) == 0 {
		b.putSpare(conns)
		return
	}
	direct := len(conns) <= DirectFlushMax
	for i, c := range conns {
		c.flushBatched(direct)
		conns[i] = nil
	}
	b.putSpare(conns)
}

func (b *SendBatch) putSpare(conns []*Conn) {
	if cap(conns) > sendBatchKeepMax {
		return
	}
	b.mu.Lock()
	if b.spare == nil {
		b.spare = conns[:0]
	}
	b.mu.Unlock()
}

// DirectFlushMax is the largest SendBatch flush written from the flushing
// goroutine itself. A bigger one (the acks of a group commit to hundreds
// of connections) is handed to the connections' loops, one hand-off per
// loop, which write in parallel: the single store writer that flushes
// the acks then spends ~0.1 µs per connection instead of a socket write
// (~4 µs on loopback), and its next group commit does not wait for them.
const DirectFlushMax = 4

// flushBatched sends c's pending frames after a SendBatch queued some:
// directly when allowed and possible, else by queueing c on its loop's
// flush list. Nothing to do when the loop is inside a callback for c (it
// flushes on return) or already has a flush queued.
func (c *Conn) flushBatched(direct bool) {
	c.mu.Lock()
	c.inBatch = false
	schedule := len(c.pending) > 0 && !c.flushQueued && !c.inCallback && !c.closing
	if schedule && direct && c.writeDirectLocked() {
		schedule = false
	}
	c.flushQueued = c.flushQueued || schedule
	c.mu.Unlock()
	if schedule {
		c.loop.queueFlush(c)
	}
}

// queueFlush puts c on the loop's flush list; the first connection on an
// empty list queues one runnable (Run) that flushes them all on the loop.
// REQUIRES: c.flushQueued was set by the caller (so c is listed once).
func (ls *loopState) queueFlush(c *Conn) {
	ls.flushMu.Lock()
	ls.flushList = append(ls.flushList, c)
	schedule := !ls.flushRunQueued
	ls.flushRunQueued = true
	ls.flushMu.Unlock()
	if !schedule {
		return
	}
	if err := ls.el.Execute(context.Background(), loopFlush{ls}); err != nil {
		// The engine is shutting down; OnClose will follow for every
		// connection.
		ls.srv.cfg.Logger.Debug("cannot queue flush", "interface", ls.srv.cfg.Name, "err", err)
	}
}

// loopFlush is the runnable that flushes a loop's flush list.
type loopFlush struct{ ls *loopState }

// Run implements gnet.Runnable on the loop.
func (f loopFlush) Run(context.Context) error {
	ls := f.ls
	ls.flushMu.Lock()
	list := ls.flushList
	ls.flushList = ls.flushSpare[:0]
	ls.flushSpare = nil
	ls.flushRunQueued = false
	ls.flushMu.Unlock()
	for i, c := range list {
		c.flush(true) // a connection closed meanwhile is skipped (loopClosed)
		list[i] = nil
	}
	if cap(list) <= sendBatchKeepMax {
		ls.flushMu.Lock()
		if ls.flushSpare == nil {
			ls.flushSpare = list[:0]
		}
		ls.flushMu.Unlock()
	}
	return nil
}
