package store

import (
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// memLog is a minimal in-memory logEngine used until store/tlog is wired in,
// and by unit tests of the semantic layer. Positions advance by the payload
// length plus 8 bytes of notional framing so they look like log offsets.
type memLog struct {
	mu      sync.RWMutex
	pos     []int64
	recs    [][]byte
	end     int64
	durable atomic.Int64
	failErr error // injected by tests: next Flush fails
}

func newMemLog() *memLog { return &memLog{} }

func (l *memLog) Append(payload []byte) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.end
	l.pos = append(l.pos, p)
	l.recs = append(l.recs, slices.Clone(payload))
	l.end += int64(len(payload)) + 8
	return p, nil
}

func (l *memLog) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failErr != nil {
		return l.failErr
	}
	l.durable.Store(l.end)
	return nil
}

func (l *memLog) Durable() int64 { return l.durable.Load() }

func (l *memLog) Truncate(pos int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := sort.Search(len(l.pos), func(i int) bool { return l.pos[i] >= pos })
	l.pos, l.recs = l.pos[:i], l.recs[:i]
	l.end = pos
	if l.durable.Load() > pos {
		l.durable.Store(pos)
	}
	return nil
}

func (l *memLog) ReadAt(pos int64, scratch []byte) ([]byte, int64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	i := sort.Search(len(l.pos), func(i int) bool { return l.pos[i] >= pos })
	if i == len(l.pos) || l.pos[i] != pos || pos >= l.durable.Load() {
		return nil, 0, errLogEnd
	}
	return l.recs[i], pos + int64(len(l.recs[i])) + 8, nil
}

func (l *memLog) ReadBefore(end int64, scratch []byte) ([]byte, int64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if end > l.durable.Load() {
		return nil, 0, errLogEnd
	}
	i := sort.Search(len(l.pos), func(i int) bool { return l.pos[i] >= end }) - 1
	if i < 0 {
		return nil, 0, errLogEnd
	}
	return l.recs[i], l.pos[i], nil
}

func (l *memLog) Close() error { return nil }

// memIndex is a minimal in-memory streamIndex used until store/index is
// wired in, and by unit tests.
type memIndex struct {
	mu      sync.RWMutex
	streams map[uint64][]indexEntry // sorted by (Number, Pos)
	upTo    int64
}

func newMemIndex() *memIndex { return &memIndex{streams: make(map[uint64][]indexEntry)} }

func (ix *memIndex) Add(entries []indexEntry, upTo int64) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, e := range entries {
		s := ix.streams[e.Hash]
		i := sort.Search(len(s), func(i int) bool {
			return s[i].Number > e.Number || (s[i].Number == e.Number && s[i].Pos > e.Pos)
		})
		s = slices.Insert(s, i, e)
		ix.streams[e.Hash] = s
	}
	ix.upTo = upTo
	return nil
}

func (ix *memIndex) Get(hash uint64, number int64, fn func(pos int64) bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	s := ix.streams[hash]
	for i := len(s) - 1; i >= 0; i-- {
		if s[i].Number == number && !fn(s[i].Pos) {
			return
		}
	}
}

func (ix *memIndex) Range(hash uint64, from, to int64, forward bool, fn func(e indexEntry) bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	s := ix.streams[hash]
	if forward {
		for _, e := range s {
			if e.Number >= from && e.Number <= to && !fn(e) {
				return
			}
		}
		return
	}
	for i := len(s) - 1; i >= 0; i-- {
		if e := s[i]; e.Number >= from && e.Number <= to && !fn(e) {
			return
		}
	}
}

func (ix *memIndex) Last(hash uint64, fn func(e indexEntry) bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	s := ix.streams[hash]
	for i := len(s) - 1; i >= 0; i-- {
		if !fn(s[i]) {
			return
		}
	}
}

func (ix *memIndex) CheckpointPos() int64 { return 0 }
func (ix *memIndex) Close() error         { return nil }
