package httpfront

import (
	"bytes"
	"encoding/json"
	"sync"
	"unicode/utf8"

	"github.com/eventstored/eventstored/store"
)

// parseJSONEventsInto is the allocation-light parser of the events+json
// array form. It produces exactly what parseJSONEvents (encoding/json based,
// kept as the reference and checked against it in tests) produces, but
// scans the already validated body by hand and writes converted data and
// metadata into arena, so the NewEvents alias arena and body. Event types
// are interned through names.
//
// REQUIRES: body and arena stay alive and unmodified until the store's
// Done callback for the op has run.
func parseJSONEventsInto(body []byte, out []store.NewEvent, arena []byte, names *internTable) ([]store.NewEvent, []byte, error) {
	if !json.Valid(body) {
		return out, arena, errBodyInvalid
	}
	// Size the arena for the common case (re-indented JSON of moderate
	// nesting) so that one request needs one arena.
	need := 4*len(body) + 64
	if cap(arena) < need {
		arena = make([]byte, 0, need)
	}
	arena = arena[:0]
	i := skipWS(body, 0)
	if i >= len(body) || body[i] != '[' {
		return out, arena, errBodyInvalid
	}
	i = skipWS(body, i+1)
	if i < len(body) && body[i] == ']' {
		return out, arena, errBodyInvalid
	}
	// Pass 1: find each element's members and check their JSON types, as
	// decoding into typed fields does for the whole array before any
	// event is looked at.
	raws := rawsPool.Get().(*[]rawEvent)
	defer rawsPool.Put(raws)
	*raws = (*raws)[:0]
	for {
		if len(*raws) == maxEventsPerWrite {
			return out, arena, errTooMany
		}
		var re rawEvent
		switch {
		case bytes.HasPrefix(body[i:], []byte("null")):
			i += 4
		case body[i] == '{':
			i = skipWS(body, i+1)
			for body[i] != '}' {
				ks, ke := i+1, skipString(body, i)
				key := body[ks : ke-1]
				i = skipWS(body, ke)
				i = skipWS(body, i+1) // ':'
				ve := skipValue(body, i)
				v := body[i:ve]
				switch {
				case equalFoldString(key, "eventId"):
					re.id = v
				case equalFoldString(key, "eventType"):
					re.typ = v
				case equalFoldString(key, "data"):
					re.data = v
				case equalFoldString(key, "metadata"):
					re.meta = v
				}
				i = skipWS(body, ve)
				if body[i] == ',' {
					i = skipWS(body, i+1)
				}
			}
			i++
		default:
			return out, arena, errBodyInvalid
		}
		for _, v := range [2][]byte{re.id, re.typ} {
			if v != nil && !isNull(v) && v[0] != '"' {
				return out, arena, errBodyInvalid
			}
		}
		*raws = append(*raws, re)
		i = skipWS(body, i)
		if body[i] == ']' {
			break
		}
		i = skipWS(body, i+1) // ','
	}
	// Pass 2: build the events in order; the first failing one decides.
	for k := range *raws {
		re := &(*raws)[k]
		var ne store.NewEvent
		// eventId: a GUID string; null or "" means absent.
		if re.id != nil && !isNull(re.id) {
			s, ok := plainString(re.id)
			if !ok {
				var str string
				if json.Unmarshal(re.id, &str) != nil {
					return out, arena, errBodyInvalid
				}
				s = []byte(str)
			}
			if len(s) > 0 {
				id, ok := parseGUID(s)
				if !ok {
					return out, arena, errBodyInvalid
				}
				ne.ID = id
			}
		}
		if ne.ID == ([16]byte{}) {
			return out, arena, errEmptyID
		}
		if re.typ != nil && !isNull(re.typ) {
			s, ok := plainString(re.typ)
			if ok {
				ne.Type = names.get(s)
			} else {
				var str string
				if json.Unmarshal(re.typ, &str) != nil {
					return out, arena, errBodyInvalid
				}
				ne.Type = str
			}
		}
		if ne.Type == "" {
			return out, arena, errEmptyType
		}
		var dj, mj bool
		var err error
		if ne.Data, arena, dj, err = convertInto(re.data, arena); err != nil {
			return out, arena, err
		}
		if ne.Metadata, arena, mj, err = convertInto(re.meta, arena); err != nil {
			return out, arena, err
		}
		ne.IsJSON = dj || mj
		out = append(out, ne)
	}
	// NB: if re-indenting outgrew the arena, append moved it; slices handed
	// out earlier still point into the old array, which nothing modifies.
	return out, arena, nil
}

// rawEvent holds the member values of one array element (views of body).
type rawEvent struct{ id, typ, data, meta []byte }

var rawsPool = sync.Pool{New: func() any { s := make([]rawEvent, 0, 16); return &s }}

// convertInto applies convertJSONMember's rules, writing into arena.
func convertInto(v []byte, arena []byte) ([]byte, []byte, bool, error) {
	if len(v) == 0 {
		return nil, arena, false, nil
	}
	switch v[0] {
	case '{', '[':
		start := len(arena)
		arena, ok := appendIndentedJSONMax(arena, v, 0, maxEventDataBytes)
		if !ok {
			return nil, arena[:start], false, errTooLarge
		}
		return arena[start:len(arena):len(arena)], arena, true, nil
	case '"':
		s, ok := plainString(v)
		if !ok {
			// Escapes: decode with encoding/json (rare path).
			var str string
			if json.Unmarshal(v, &str) != nil {
				return nil, arena, false, nil
			}
			s = []byte(str)
		}
		t := bytes.TrimSpace(s)
		start := len(arena)
		if len(t) > 0 && (t[0] == '{' || t[0] == '[') && json.Valid(t) {
			arena, ok = appendIndentedJSONMax(arena, t, 0, maxEventDataBytes)
			if !ok {
				return nil, arena[:start], false, errTooLarge
			}
			return arena[start:len(arena):len(arena)], arena, true, nil
		}
		arena = append(arena, s...)
		return arena[start:len(arena):len(arena)], arena, false, nil
	}
	return nil, arena, false, nil
}

func isNull(v []byte) bool { return len(v) == 4 && string(v) == "null" }

// plainString returns the content of a JSON string literal without
// escapes; ok=false for escapes or a non-string.
func plainString(v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' {
		return nil, false
	}
	s := v[1 : len(v)-1]
	if bytes.IndexByte(s, '\\') >= 0 || !utf8.Valid(s) {
		return nil, false // escapes or invalid UTF-8: decode the slow way
	}
	return s, true
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string literal starting at i.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index after the JSON value starting at i.
// REQUIRES: b is valid JSON.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	return i
}
