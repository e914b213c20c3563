package index

import (
	"math"
	"sync/atomic"
)

// The memtable is a skiplist ordered by (Hash, Number, Pos) with one writer
// (the feeder) and any number of concurrent lock-free readers.
//
// NB: nodes are never removed and their keys never change, so a reader that
// loads a link with an atomic load sees a fully built node: the writer fills
// a node in before it publishes the node with an atomic store. Level-0 also
// keeps a prev link for backward iteration; since the writer updates it after
// the forward link, a reader validates it (p.next[0] == n) and falls back to a
// search from the top when it is stale.
const (
	mtMaxHeight  = 12 // 4^12 = 16M entries before the top level gets crowded
	mtChunkShift = 14
	mtChunkNodes = 1 << mtChunkShift
	mtChunkMask  = mtChunkNodes - 1
	// mtMaxChunks bounds one memtable at 64M nodes (80 bytes each); the
	// Options limits keep a memtable far below that.
	mtMaxChunks = 4096
	mtMaxNodes  = mtMaxChunks*mtChunkNodes - 1
)

// mtNode is 48 bytes: the first mtInline levels of its tower are inline;
// the few nodes taller than that (1 in 256 with p = 1/4) keep the rest in
// their chunk's tall array. A full inline tower would make it 80 bytes.
const mtInline = 4

type mtNode struct {
	e    Entry
	prev atomic.Uint32
	tall uint32 // slot in the chunk's tall array, for levels >= mtInline
	next [mtInline]atomic.Uint32
}

// mtChunkTall is 4 times the expected number of tall nodes of a chunk; a
// node that finds no slot left gets a tower of mtInline levels (see
// TestMemTableTallExhaustion).
const mtChunkTall = mtChunkNodes / 64

type mtChunk struct {
	nodes [mtChunkNodes]mtNode
	tall  [mtChunkTall][mtMaxHeight - mtInline]atomic.Uint32
}

type memTable struct {
	chunks [mtMaxChunks]atomic.Pointer[mtChunk]
	height atomic.Uint32
	count  atomic.Int64 // entries (nodes minus the head)
	tail   atomic.Uint32

	// Writer-only state.
	nodes    uint32 // nodes allocated, head included
	tallUsed uint32 // tall slots used in the newest chunk
	rnd      uint64
	// fingers holds the finger of every hash in the memtable.
	fingers fingerTable
	// upTo is the exclusive log position the memtable covers: every entry
	// of a record before upTo that belongs in the index is here or older.
	// Written by the feeder; read by others only after the memtable is
	// frozen (the freeze publishes it).
	upTo int64
	// seq orders memtables; a ptable flushed from it inherits it.
	seq uint64
}

func newMemTable(seq uint64, upTo int64) *memTable {
	m := &memTable{rnd: 0x9E3779B97F4A7C15 ^ seq, upTo: upTo, seq: seq}
	m.chunks[0].Store(new(mtChunk))
	m.nodes = 1    // node 0 is the head sentinel; index 0 also means nil
	m.tallUsed = 1 // the head's full tower uses tall slot 0
	m.height.Store(1)
	return m
}

func (m *memTable) node(i uint32) *mtNode {
	return &m.chunks[i>>mtChunkShift].Load().nodes[i&mtChunkMask]
}

// lnk returns node i's link at level lvl.
// REQUIRES: lvl < the node's height.
func (m *memTable) lnk(i uint32, lvl int) *atomic.Uint32 {
	c := m.chunks[i>>mtChunkShift].Load()
	n := &c.nodes[i&mtChunkMask]
	if lvl < mtInline {
		return &n.next[lvl]
	}
	return &c.tall[n.tall][lvl-mtInline]
}

func (m *memTable) len() int { return int(m.count.Load()) }

func (m *memTable) randomHeight() uint32 {
	// xorshift64; p = 1/4 per level.
	m.rnd ^= m.rnd << 13
	m.rnd ^= m.rnd >> 7
	m.rnd ^= m.rnd << 17
	h := uint32(1)
	for r := m.rnd; h < mtMaxHeight && r&3 == 0; r >>= 2 {
		h++
	}
	return h
}

// mtFinger is the writer's memory of one hash: the node last inserted for
// it and, for levels 1..mtInline-1, the last node of the hash's run whose
// tower reaches that level (0: not known). The tower is only kept while it
// is exact for the END of the run: an insert at the end updates it, an
// insert inside the run clears it. With it an append (a stream's next
// event, the usual case) of a node up to mtInline levels high links in
// without a search from the top: the predecessor at level l of a node
// appended to the run is the run's last node reaching level l, since
// nothing of another hash sorts between them.
//
// atEnd records that last ends the run (its successor, if any, is of a
// greater hash): then an entry of the hash above last's sorts right after
// it without a look at the successor, whose node is another cache miss. A
// node inserted later after last is of another hash (which keeps atEnd
// true) or of this one (which moves the finger).
type mtFinger struct {
	last  uint32
	tower [mtInline - 1]uint32 // tower[l-1]: level l
	atEnd bool
}

// fingerTable maps a hash to its finger: open addressing with linear
// probing on the hash's low bits (the keys are xxhash values already), the
// finger stored in the slot, so a lookup costs one cache miss where a Go
// map and a side array cost two or three. A slot whose finger has node 0
// (the head, never a finger) is empty. At most 3/4 full; it doubles.
type fingerTable struct {
	slots []mtFingerSlot
	used  int
}

type mtFingerSlot struct {
	hash uint64
	f    mtFinger
}

const fingerTableInitial = 1024

// find returns the finger of hash h, or nil.
func (t *fingerTable) find(h uint64) *mtFinger {
	if len(t.slots) == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.f.last == 0 {
			return nil
		}
		if s.hash == h {
			return &s.f
		}
	}
}

// insert adds an empty finger for h, which must be absent, and returns it.
// Pointers from earlier finds are invalid afterwards (the table may grow).
func (t *fingerTable) insert(h uint64) *mtFinger {
	if 4*(t.used+1) > 3*len(t.slots) {
		t.grow()
	}
	t.used++
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for t.slots[i].f.last != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = mtFingerSlot{hash: h}
	// NB: the caller sets f.last (non-zero) at once, which marks the
	// slot used; until then the slot reads as empty, and nothing probes
	// in between (the feeder is the only user).
	return &t.slots[i].f
}

func (t *fingerTable) grow() {
	old := t.slots
	t.slots = make([]mtFingerSlot, max(fingerTableInitial, 2*len(old)))
	mask := uint64(len(t.slots) - 1)
	for k := range old {
		if o := &old[k]; o.f.last != 0 {
			i := o.hash & mask
			for t.slots[i].f.last != 0 {
				i = (i + 1) & mask
			}
			t.slots[i] = *o
		}
	}
}

// mtFingerMode selects the insert's fast paths: mtFingersFull in
// production; tests build the same skiplist with mtFingersNone (a search
// from the top for every insert) to compare, and benchmarks measure
// mtFingersLevel0 (the finger for one-level nodes only, checking the
// successor: the insert's algorithm before the towers) against
// mtFingersFull.
var mtFingerMode = mtFingersFull

const (
	mtFingersFull = iota
	mtFingersLevel0
	mtFingersNone
)

// add inserts e; a duplicate of an existing entry is ignored. It reports
// whether e was inserted.
// REQUIRES: called only by the feeder goroutine.
func (m *memTable) add(e Entry) bool {
	nh := m.randomHeight()
	// Fast path: a stream's next event usually sorts right after the
	// stream's previous entry, so it goes in after the finger, its upper
	// levels after the finger's tower, without a search from the top
	// (measured in BenchmarkMemTableAdd: see the package doc).
	fg := m.fingers.find(e.Hash)
	if fg != nil && mtFingerMode != mtFingersNone {
		if fn := m.node(fg.last); less(fn.e, e) {
			nx := fn.next[0].Load()
			if nx == 0 || (fg.atEnd && mtFingerMode == mtFingersFull) || less(e, m.node(nx).e) {
				var prevs [mtMaxHeight]uint32
				prevs[0] = fg.last
				known := nh <= mtInline && (nh == 1 || mtFingerMode == mtFingersFull)
				for lvl := 1; known && lvl < int(nh); lvl++ {
					prevs[lvl] = fg.tower[lvl-1]
					known = prevs[lvl] != 0
				}
				if known {
					i, h := m.link(e, nh, &prevs)
					m.noteInsert(fg, i, h, fg.atEnd)
					return true
				}
			}
		}
	}
	var prevs [mtMaxHeight]uint32
	x := uint32(0)
	h := m.height.Load()
	for lvl := int(h) - 1; lvl >= 0; lvl-- {
		for {
			nx := m.lnk(x, lvl).Load()
			if nx == 0 || !less(m.node(nx).e, e) {
				break
			}
			x = nx
		}
		prevs[lvl] = x
	}
	if nx := m.node(x).next[0].Load(); nx != 0 && m.node(nx).e == e {
		return false
	}
	if nh > h {
		for lvl := h; lvl < nh; lvl++ {
			prevs[lvl] = 0
		}
		m.height.Store(nh)
	}
	i, nh := m.link(e, nh, &prevs)
	if fg == nil {
		fg = m.fingers.insert(e.Hash)
	}
	m.noteInsert(fg, i, nh, false)
	return true
}

// noteInsert updates finger fg after node i of height h was linked;
// atEnd: i is known to end its hash's run (it went right after the run's
// end).
func (m *memTable) noteInsert(fg *mtFinger, i, h uint32, atEnd bool) {
	fg.last = i
	if !atEnd {
		nx := m.node(i).next[0].Load()
		atEnd = nx == 0 || m.node(nx).e.Hash != m.node(i).e.Hash
	}
	fg.atEnd = atEnd
	if !atEnd {
		fg.tower = [mtInline - 1]uint32{} // inside the run: the tower is no longer known
		return
	}
	for lvl := 1; lvl < int(h) && lvl < mtInline; lvl++ {
		fg.tower[lvl-1] = i
	}
}

// link inserts a new node of height nh holding e after prevs[0..nh) and
// returns it with its height (lower than nh when its chunk has no tall
// slot left).
func (m *memTable) link(e Entry, nh uint32, prevs *[mtMaxHeight]uint32) (uint32, uint32) {
	if m.nodes >= mtMaxNodes {
		panic("BUG: index memtable exceeds its node limit; the Options limits should prevent this")
	}
	i := m.nodes
	if i&mtChunkMask == 0 {
		m.chunks[i>>mtChunkShift].Store(new(mtChunk))
		m.tallUsed = 0
	}
	n := m.node(i)
	if nh > mtInline {
		if m.tallUsed < mtChunkTall {
			n.tall = m.tallUsed
			m.tallUsed++
		} else {
			nh = mtInline
		}
	}
	n.e = e
	for lvl := 0; lvl < int(nh); lvl++ {
		m.lnk(i, lvl).Store(m.lnk(prevs[lvl], lvl).Load())
	}
	n.prev.Store(prevs[0])
	m.nodes++
	// Publish bottom-up: once level 0 links it, the node is visible.
	for lvl := 0; lvl < int(nh); lvl++ {
		m.lnk(prevs[lvl], lvl).Store(i)
	}
	if succ := n.next[0].Load(); succ != 0 {
		m.node(succ).prev.Store(i)
	} else {
		m.tail.Store(i)
	}
	m.count.Add(1)
	return i, nh
}

// findLE returns the last node whose entry is <= k, or 0 if none.
func (m *memTable) findLE(k Entry) uint32 {
	x := uint32(0)
	for lvl := int(m.height.Load()) - 1; lvl >= 0; lvl-- {
		for {
			nx := m.lnk(x, lvl).Load()
			if nx == 0 || less(k, m.node(nx).e) {
				break
			}
			x = nx
		}
	}
	return x
}

// findLT returns the last node whose entry is < k, or 0 if none.
func (m *memTable) findLT(k Entry) uint32 {
	x := uint32(0)
	for lvl := int(m.height.Load()) - 1; lvl >= 0; lvl-- {
		for {
			nx := m.lnk(x, lvl).Load()
			if nx == 0 || !less(m.node(nx).e, k) {
				break
			}
			x = nx
		}
	}
	return x
}

// findGE returns the first node whose entry is >= k, or 0 if none.
// NB: it returns the successor seen by the search itself. Loading the
// predecessor's next link again would race with the writer inserting an
// entry < k right after the predecessor, and return that entry.
func (m *memTable) findGE(k Entry) uint32 {
	x := uint32(0)
	nx := uint32(0)
	for lvl := int(m.height.Load()) - 1; lvl >= 0; lvl-- {
		for {
			nx = m.lnk(x, lvl).Load()
			if nx == 0 || !less(m.node(nx).e, k) {
				break
			}
			x = nx
		}
	}
	return nx
}

func (m *memTable) nextOf(i uint32) uint32 { return m.node(i).next[0].Load() }

// prevOf returns the node before i, or 0 if i is the first.
func (m *memTable) prevOf(i uint32) uint32 {
	p := m.node(i).prev.Load()
	if m.node(p).next[0].Load() == i {
		return p
	}
	// A node was inserted between p and i after i's prev link was read:
	// search for it.
	return m.findLT(m.node(i).e)
}

// keyMin and keyMax bound all entries of hash h with numbers in [from, to].
func keyMin(h uint64, from int64) Entry { return Entry{Hash: h, Number: from, Pos: math.MinInt64} }
func keyMax(h uint64, to int64) Entry   { return Entry{Hash: h, Number: to, Pos: math.MaxInt64} }

// each calls fn for every entry in ascending order until fn returns false.
// Used by the flush on a frozen memtable.
func (m *memTable) each(fn func(e Entry) bool) {
	for i := m.nextOf(0); i != 0; i = m.nextOf(i) {
		if !fn(m.node(i).e) {
			return
		}
	}
}
