package reactor

import "sync"

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
	return c.endSend(append(buf, frame...), 1, b)
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
	for i, c := range conns {
		c.flushBatched()
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

// flushBatched sends c's pending frames after a SendBatch queued some:
// directly when possible, else by queueing a flush on the loop. Nothing
// to do when the loop is inside a callback for c (it flushes on return)
// or already has a flush queued.
func (c *Conn) flushBatched() {
	c.mu.Lock()
	c.inBatch = false
	schedule := len(c.pending) > 0 && !c.flushQueued && !c.inCallback && !c.closing
	if schedule && c.writeDirectLocked() {
		schedule = false
	}
	c.flushQueued = c.flushQueued || schedule
	c.mu.Unlock()
	if schedule {
		c.queueFlush()
	}
}
