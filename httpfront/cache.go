package httpfront

import (
	"strconv"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
)

// eventCache is a small bounded cache of rendered single-event responses
// (GET /streams/{s}/{n}). Those responses are immutable ("forever" in spec
// §2.7) for as long as the stream's metadata does not change, which is why
// the key holds the metastream version: a soft delete, $tb or ACL change
// writes new metadata and so misses every old entry. Streams with
// $maxCount/$maxAge/$tb are never cached (events age out without metadata
// changes). A hard delete (or a truncation we cannot see, e.g. done over
// TCP) is bounded by the entry TTL; HTTP deletes purge the cache at once.
//
// Entries are immutable once stored: readers copy the body into the
// response without holding the lock. Lookups allocate nothing.
type eventCache struct {
	shards   [cacheShards]cacheShard
	ttlNanos int64
}

const (
	cacheShards = 16
	// eventCacheEntriesMax and eventCacheBytesMax bound the cache: 4096
	// entries and 32 MiB of bodies in total (chosen: a few thousand hot
	// events covers the read-your-writes and fan-out patterns we see in
	// benchmarks; bodies above cacheBodyBytesMax are never cached).
	eventCacheEntriesMax = 4096
	eventCacheBytesMax   = 32 << 20
	cacheBodyBytesMax    = 64 << 10
	// eventCacheTTL bounds how long a response for an event removed
	// behind our back (hard delete over TCP) can still be served.
	eventCacheTTL = time.Second
)

type cacheEntry struct {
	key       string
	media     mediaType
	cc        []byte
	body      []byte
	expiresNs int64
}

type cacheShard struct {
	mu       sync.RWMutex
	m        map[string]*cacheEntry
	ring     []*cacheEntry // insertion order for eviction (FIFO)
	head     int
	bytes    int
	maxN     int
	maxBytes int
}

func newEventCache(entries, bytes int) *eventCache {
	c := &eventCache{ttlNanos: int64(eventCacheTTL)}
	for i := range c.shards {
		s := &c.shards[i]
		s.maxN = entries / cacheShards
		if s.maxN < 1 {
			s.maxN = 1
		}
		s.maxBytes = bytes / cacheShards
		s.m = make(map[string]*cacheEntry, s.maxN)
		s.ring = make([]*cacheEntry, s.maxN)
	}
	return c
}

func (c *eventCache) shard(key []byte) *cacheShard {
	return &c.shards[xxhash.Sum64(key)%cacheShards]
}

// get returns a live entry or nil. It allocates nothing.
func (c *eventCache) get(key []byte) *cacheEntry {
	s := c.shard(key)
	s.mu.RLock()
	e := s.m[b2s(key)]
	s.mu.RUnlock()
	if e == nil {
		return nil
	}
	now := time.Now().UnixNano()
	if now > e.expiresNs {
		return nil
	}
	return e
}

// put stores a copy of body under key, evicting the oldest entries of the
// shard to stay within its bounds.
func (c *eventCache) put(key []byte, m mediaType, cc, body []byte) {
	if len(body) > cacheBodyBytesMax {
		return
	}
	e := &cacheEntry{key: string(key), media: m, cc: cc, body: append([]byte(nil), body...),
		expiresNs: time.Now().UnixNano() + c.ttlNanos}
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[e.key]; ok {
		// NB: old is immutable (readers may be copying it); it stays in
		// the ring until evicted but no longer counts.
		s.bytes -= len(old.body)
	}
	for i := 0; i <= len(s.ring) && (s.ring[s.head] != nil || s.bytes+len(e.body) > s.maxBytes); i++ {
		if victim := s.ring[s.head]; victim != nil {
			if cur := s.m[victim.key]; cur == victim {
				delete(s.m, victim.key)
				s.bytes -= len(victim.body)
			}
			s.ring[s.head] = nil
		}
		if s.bytes+len(e.body) > s.maxBytes {
			s.head = (s.head + 1) % len(s.ring)
		}
	}
	if s.ring[s.head] != nil {
		return // could not make room (cannot happen with body <= maxBytes)
	}
	s.m[e.key] = e
	s.bytes += len(e.body)
	s.ring[s.head] = e
	s.head = (s.head + 1) % len(s.ring)
}

// purge drops every entry (after a delete through this node). A nil
// cache (switched off) has nothing to purge.
func (c *eventCache) purge() {
	if c == nil {
		return
	}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		clear(s.m)
		clear(s.ring)
		s.head, s.bytes = 0, 0
		s.mu.Unlock()
	}
}

func (c *eventCache) len() int {
	if c == nil {
		return 0
	}
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// appendCacheKey builds the key of a single-event response: everything the
// body depends on (base URL, stream, number, metadata version, media type,
// embed level, link resolution).
func appendCacheKey(b []byte, r *request, stream string, n, metaVer int64, level embedLevel, resolve bool) []byte {
	b = append(b, r.base...)
	b = append(b, 0)
	b = append(b, stream...)
	b = append(b, 0)
	b = strconv.AppendInt(b, n, 10)
	b = append(b, 0)
	b = strconv.AppendInt(b, metaVer, 10)
	b = append(b, byte(r.media), byte(level))
	if resolve {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	return b
}

// internTable maps stream names seen in request paths to one shared string,
// so the read hot path does not allocate a string per request. It is
// bounded (internEntriesMax): once full, names are allocated as usual.
type internTable struct {
	mu sync.RWMutex
	m  map[string]string
}

// internEntriesMax bounds the table (chosen: hot streams number in the
// thousands; each entry costs its name plus ~50 bytes).
const internEntriesMax = 16384

func (t *internTable) get(b []byte) string {
	t.mu.RLock()
	s, ok := t.m[b2s(b)]
	t.mu.RUnlock()
	if ok {
		return s
	}
	s = string(b)
	t.mu.Lock()
	if t.m == nil {
		t.m = make(map[string]string)
	}
	if len(t.m) < internEntriesMax {
		t.m[s] = s
	}
	t.mu.Unlock()
	return s
}
