package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
)

// Names of system streams and event types the store writes (spec §4.8-§4.11).
const (
	metastreamPrefix        = "$$"
	eventTypeMetadata       = "$metadata"
	eventTypeStreamDeleted  = "$streamDeleted"
	eventTypeLink           = "$>"
	settingsStream          = "$settings"
	softDeletedMetadataJSON = `{"$tb":9223372036854775807}`
)

// IsMetastream reports whether stream is a metastream ($$x).
func IsMetastream(stream string) bool { return strings.HasPrefix(stream, metastreamPrefix) }

// IsSystemStream reports whether stream is a system stream ($…).
func IsSystemStream(stream string) bool { return strings.HasPrefix(stream, "$") }

// MetastreamOf returns $$stream.
func MetastreamOf(stream string) string { return metastreamPrefix + stream }

// ParseMetadata parses a metadata event's data per spec §4.9. ok is false when
// the event is not JSON or the document is invalid: the stream then behaves
// as if it had no metadata. Non-positive $maxCount/$maxAge/$cacheControl and
// negative $tb are ignored; a value of the wrong JSON type invalidates the
// whole document; unknown top-level keys and unknown $acl keys are ignored.
// NB: the original rejects unknown keys inside $acl; the spec allows
// ignoring them, which keeps more user documents usable.
func ParseMetadata(data []byte, isJSON bool) (m StreamMetadata, ok bool) {
	m.TruncateBefore = -1
	if !isJSON {
		return m, false
	}
	var doc map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return StreamMetadata{TruncateBefore: -1}, false
	}
	intKey := func(key string, dst *int64, minValid int64) bool {
		raw, present := doc[key]
		if !present || string(raw) == "null" {
			return true
		}
		// Event Store reads these keys as JSON integer tokens
		// (StreamMetadata.FromJsonReader); a quoted number is the wrong type.
		if c := raw[0]; c != '-' && (c < '0' || c > '9') {
			return false
		}
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return false
		}
		v, err := n.Int64()
		if err != nil {
			// Out-of-range or fractional values: Event Store's reader uses
			// long; treat as the wrong type.
			return false
		}
		if v >= minValid {
			*dst = v
		}
		return true
	}
	if !intKey("$maxCount", &m.MaxCount, 1) || !intKey("$maxAge", &m.MaxAgeSeconds, 1) ||
		!intKey("$tb", &m.TruncateBefore, 0) || !intKey("$cacheControl", &m.CacheControlSec, 1) {
		return StreamMetadata{TruncateBefore: -1}, false
	}
	if raw, present := doc["$tmp"]; present && string(raw) != "null" {
		if err := json.Unmarshal(raw, &m.Temp); err != nil {
			return StreamMetadata{TruncateBefore: -1}, false
		}
	}
	if raw, present := doc["$acl"]; present && string(raw) != "null" {
		acl, ok := parseACL(raw)
		if !ok {
			return StreamMetadata{TruncateBefore: -1}, false
		}
		m.ACL = acl
	}
	m.Raw = data
	return m, true
}

func parseACL(raw json.RawMessage) (*StreamACL, bool) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, false
	}
	acl := &StreamACL{}
	for key, dst := range map[string]*[]string{"$r": &acl.Read, "$w": &acl.Write, "$d": &acl.Delete, "$mr": &acl.MetaRead, "$mw": &acl.MetaWrite} {
		v, present := obj[key]
		if !present || string(v) == "null" {
			continue
		}
		var one string
		if err := json.Unmarshal(v, &one); err == nil {
			*dst = []string{one}
			continue
		}
		var many []string
		if err := json.Unmarshal(v, &many); err != nil {
			return nil, false
		}
		if many == nil {
			many = []string{}
		}
		*dst = many
	}
	return acl, true
}

// withTruncateBefore returns the metadata document raw with $tb set to tb,
// other keys kept (soft undelete, spec §4.8; SoftUndeleteRawMeta in
// StorageWriterService.cs). ok is false when raw is not a JSON object.
func withTruncateBefore(raw []byte, tb int64) ([]byte, bool) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil || doc == nil {
		return nil, false
	}
	doc["$tb"] = json.RawMessage(fmt.Sprint(tb))
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, false
	}
	return out, true
}

// isSoftDeleted reports whether parsed metadata marks the stream deleted.
func (m *StreamMetadata) isSoftDeleted() bool { return m.TruncateBefore == math.MaxInt64 }

// metaEntry is one cached metadata lookup.
type metaEntry struct {
	meta    StreamMetadata
	version int64 // last event number of the metastream, -1 if none
	has     bool
}

// metaCache caches parsed stream metadata for readers. The writer stores the
// new value after each metadata change becomes visible; readers fill misses
// with LoadOrStore semantics guarded by gen, so a reader that computed a
// value from an older state never overwrites (or re-inserts over) a newer
// one. Bounded: when full it is cleared (every entry can be recomputed).
type metaCache struct {
	mu  sync.RWMutex
	m   map[string]metaEntry
	max int
	gen atomic.Uint64
}

func (c *metaCache) init(max int) {
	c.m = make(map[string]metaEntry)
	c.max = max
}

func (c *metaCache) get(stream string) (metaEntry, bool) {
	c.mu.RLock()
	e, ok := c.m[stream]
	c.mu.RUnlock()
	return e, ok
}

// fill inserts a value computed by a reader that saw generation gen.
func (c *metaCache) fill(stream string, e metaEntry, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if _, ok := c.m[stream]; ok {
		return
	}
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[strings.Clone(stream)] = e
}

// set is the writer's update after a metadata change became visible.
func (c *metaCache) set(stream string, e metaEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[strings.Clone(stream)] = e
}

// drop forgets stream's entry after records another node's writer made
// changed its metadata; the next lookup reads it.
func (c *metaCache) drop(stream string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	delete(c.m, stream)
}

// StreamMetadataCached is StreamMetadata without the read: cached reports
// whether the answer came from the cache (always for a metastream); on a
// miss it returns zero values and cached = false at once. Callers that must
// not block (an event loop) use it and take a miss to a goroutine that may.
func (db *DB) StreamMetadataCached(stream string) (md StreamMetadata, version int64, has, cached bool) {
	if IsMetastream(stream) {
		return StreamMetadata{MaxCount: 1, TruncateBefore: -1}, -1, false, true
	}
	if e, ok := db.meta.get(stream); ok {
		return e.meta, e.version, e.has, true
	}
	return StreamMetadata{TruncateBefore: -1}, -1, false, false
}

// StreamMetadata returns the parsed metadata of stream (the latest event of
// its metastream), that metastream's last event number (-1 if none) and
// whether valid metadata exists. Cached; a miss reads the log. For a
// metastream it returns the implicit {$maxCount: 1} and has = false.
func (db *DB) StreamMetadata(stream string) (StreamMetadata, int64, bool) {
	if IsMetastream(stream) {
		return StreamMetadata{MaxCount: 1, TruncateBefore: -1}, -1, false
	}
	if e, ok := db.meta.get(stream); ok {
		return e.meta, e.version, e.has
	}
	gen := db.meta.gen.Load()
	r := db.acquireReader()
	e := r.loadMetadata(stream)
	db.releaseReader(r)
	db.meta.fill(stream, e, gen)
	return e.meta, e.version, e.has
}
