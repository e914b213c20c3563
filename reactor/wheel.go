package reactor

// heartbeats runs the heartbeat rules of spec §4.2 / cluster §8.1 for the
// connections of one event loop on a hashed timer wheel. Each connection
// sits in exactly one slot (its next check), linked through fields of
// Conn, so scheduling, cancelling and firing are O(1) and no connection
// owns a timer. It is not safe for concurrent use: only the loop's
// goroutine touches it (the reactor advances it from a runnable executed on
// that loop).
type heartbeats struct {
	slots         []*Conn // list heads; a slot holds checks due at ticks ≡ index (mod len)
	mask          uint64
	now           uint64 // last tick processed
	intervalTicks uint64
	timeoutTicks  uint64

	// sendRequest sends a HeartbeatRequest on c (fresh correlation id).
	sendRequest func(c *Conn)
	// expire closes c for a heartbeat timeout. c is already off the wheel.
	expire func(c *Conn)
}

// hbState is the per-connection part, embedded in Conn.
type hbState struct {
	next, prev *Conn
	due        uint64
	inWheel    bool
	awaiting   bool   // a request is out; the check at due is the timeout check
	recv       uint64 // bumped on every read event (any byte counts)
	snap       uint64 // recv when the pending check was scheduled
}

func newHeartbeats(intervalTicks, timeoutTicks uint64, sendRequest, expire func(*Conn)) *heartbeats {
	if intervalTicks == 0 {
		intervalTicks = 1
	}
	if timeoutTicks == 0 {
		timeoutTicks = 1
	}
	// A power of two above the longest delay, so that every entry of the
	// slot being processed is due now (no multi-round entries).
	size := uint64(1)
	for size <= max(intervalTicks, timeoutTicks)+1 {
		size <<= 1
	}
	return &heartbeats{
		slots: make([]*Conn, size), mask: size - 1,
		intervalTicks: intervalTicks, timeoutTicks: timeoutTicks,
		sendRequest: sendRequest, expire: expire,
	}
}

// add starts heartbeat checks for a new connection.
func (h *heartbeats) add(c *Conn) {
	c.hb.awaiting = false
	c.hb.snap = c.hb.recv
	h.schedule(c, h.intervalTicks)
}

// remove stops checks for c; it is a no-op if c is not on the wheel.
func (h *heartbeats) remove(c *Conn) {
	if !c.hb.inWheel {
		return
	}
	slot := &h.slots[c.hb.due&h.mask]
	if c.hb.prev != nil {
		c.hb.prev.hb.next = c.hb.next
	} else {
		*slot = c.hb.next
	}
	if c.hb.next != nil {
		c.hb.next.hb.prev = c.hb.prev
	}
	c.hb.next, c.hb.prev, c.hb.inWheel = nil, nil, false
}

func (h *heartbeats) schedule(c *Conn, after uint64) {
	h.remove(c)
	c.hb.due = h.now + after
	slot := &h.slots[c.hb.due&h.mask]
	c.hb.prev, c.hb.next = nil, *slot
	if *slot != nil {
		(*slot).hb.prev = c
	}
	*slot = c
	c.hb.inWheel = true
}

// advance processes every tick up to and including tick.
func (h *heartbeats) advance(tick uint64) {
	for h.now < tick {
		h.now++
		for c := h.slots[h.now&h.mask]; c != nil; {
			next := c.hb.next
			if c.hb.due <= h.now {
				h.remove(c)
				h.fire(c)
			}
			c = next
		}
	}
}

// fire runs one check; see TcpConnectionManager.Handle(Heartbeat) and
// Handle(HeartbeatTimeout) in 4.0.3 for the received-counter rule.
func (h *heartbeats) fire(c *Conn) {
	received := c.hb.recv != c.hb.snap
	c.hb.snap = c.hb.recv
	if c.hb.awaiting {
		if !received {
			h.expire(c)
			return
		}
		c.hb.awaiting = false
		h.schedule(c, h.intervalTicks)
		return
	}
	if received {
		// The peer is alive. If we sent nothing during the interval, send a
		// request anyway so the peer's own timer sees traffic (spec §4.2).
		if !c.sentSinceCheck.Swap(false) {
			h.sendRequest(c)
			c.sentSinceCheck.Store(false)
		}
		h.schedule(c, h.intervalTicks)
		return
	}
	h.sendRequest(c)
	c.sentSinceCheck.Store(false)
	c.hb.awaiting = true
	h.schedule(c, h.timeoutTicks)
}
