package store

import (
	"io"
	"sort"
	"sync"
	"sync/atomic"
)

// memLog is a logEngine fake for tests that must isolate the store's own
// behaviour from the log's (allocation proofs). Appends go to one growing
// buffer; it allocates nothing per record once the buffer has grown.
type memLog struct {
	mu      sync.RWMutex
	buf     []byte
	starts  []int64 // record start offsets in buf
	durable atomic.Int64
}

func newMemLog() *memLog {
	return &memLog{buf: make([]byte, 0, 64<<20), starts: make([]int64, 0, 1<<20)}
}

func (l *memLog) Append(payload []byte) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	pos := int64(len(l.buf))
	l.starts = append(l.starts, pos)
	l.buf = append(l.buf, payload...)
	return pos, nil
}

func (l *memLog) Flush() error {
	l.mu.Lock()
	l.durable.Store(int64(len(l.buf)))
	l.mu.Unlock()
	return nil
}

func (l *memLog) Durable() int64 { return l.durable.Load() }

// Truncate flushes what was appended, then cuts (tlog's contract).
func (l *memLog) Truncate(pos int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.durable.Store(int64(len(l.buf)))
	i := sort.Search(len(l.starts), func(i int) bool { return l.starts[i] >= pos })
	l.starts = l.starts[:i]
	l.buf = l.buf[:pos]
	if l.durable.Load() > pos {
		l.durable.Store(pos)
	}
	return nil
}

func (l *memLog) ReadAt(pos int64, scratch []byte) ([]byte, int64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if pos >= l.durable.Load() {
		return nil, pos, io.EOF
	}
	i := sort.Search(len(l.starts), func(i int) bool { return l.starts[i] >= pos })
	if i == len(l.starts) || l.starts[i] != pos {
		return nil, 0, io.ErrUnexpectedEOF
	}
	end := int64(len(l.buf))
	if i+1 < len(l.starts) {
		end = l.starts[i+1]
	}
	return append(scratch[:0], l.buf[pos:end]...), end, nil
}

type memLogIter struct {
	l       *memLog
	pos     int64
	forward bool
	buf     []byte
}

func (l *memLog) NewIterator(from int64) logIterator {
	return &memLogIter{l: l, pos: from, forward: true}
}

func (l *memLog) NewBackwardIterator(from int64) logIterator {
	return &memLogIter{l: l, pos: from}
}

func (it *memLogIter) Next() (int64, []byte, error) {
	if it.forward {
		p, next, err := it.l.ReadAt(it.pos, it.buf)
		if err != nil {
			return 0, nil, err
		}
		it.buf = p
		pos := it.pos
		it.pos = next
		return pos, p, nil
	}
	it.l.mu.RLock()
	i := sort.Search(len(it.l.starts), func(i int) bool { return it.l.starts[i] >= it.pos }) - 1
	it.l.mu.RUnlock()
	if i < 0 {
		return 0, nil, io.EOF
	}
	it.l.mu.RLock()
	start := it.l.starts[i]
	it.l.mu.RUnlock()
	p, _, err := it.l.ReadAt(start, it.buf)
	if err != nil {
		return 0, nil, err
	}
	it.buf = p
	it.pos = start
	return start, p, nil
}

func (it *memLogIter) Pos() int64 { return it.pos }
func (it *memLogIter) Close()     {}
func (l *memLog) Chunks() int     { return 1 }
func (l *memLog) Close() error    { return nil }

func (l *memLog) PlanAppend(end int64, n int) (int64, int64) { return end, end + int64(n) }
func (l *memLog) MaxPayloadBytes() int                       { return 64 << 20 }
