package httpfront

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// jw is an append-style JSON writer producing the layout of spec §1.4:
// 2-space indentation, `": "` after names, one member or element per line,
// `{}`/`[]` for empty containers (the shape of json.MarshalIndent and of
// Newtonsoft's indented output). It allocates nothing beyond growing b.
//
// Callers pair begin/end calls; nesting deeper than jwMaxDepth is a
// programmer error.
type jw struct {
	b      []byte
	depth  int
	first  [jwMaxDepth]bool
	isArr  [jwMaxDepth]bool
	keyed  bool // a member name was just written; the next value follows it
	indent int  // base indentation in levels (for embedding fragments)
}

const jwMaxDepth = 32

func (w *jw) reset(b []byte) {
	w.b = b
	w.depth = 0
	w.keyed = false
	w.indent = 0
}

func (w *jw) newline(level int) {
	w.b = append(w.b, '\n')
	for i := 0; i < level+w.indent; i++ {
		w.b = append(w.b, ' ', ' ')
	}
}

// pre places a value: after a name nothing is needed; in an array the
// element separator and line break come first.
func (w *jw) pre() {
	if w.keyed {
		w.keyed = false
		return
	}
	if w.depth > 0 && w.isArr[w.depth-1] {
		if !w.first[w.depth-1] {
			w.b = append(w.b, ',')
		}
		w.first[w.depth-1] = false
		w.newline(w.depth)
	}
}

func (w *jw) open(c byte, arr bool) {
	w.pre()
	if w.depth == jwMaxDepth {
		panic("BUG: jw nesting too deep")
	}
	w.b = append(w.b, c)
	w.first[w.depth] = true
	w.isArr[w.depth] = arr
	w.depth++
}

func (w *jw) close(c byte) {
	w.depth--
	if !w.first[w.depth] {
		w.newline(w.depth)
	}
	w.b = append(w.b, c)
}

func (w *jw) obj()    { w.open('{', false) }
func (w *jw) endObj() { w.close('}') }
func (w *jw) arr()    { w.open('[', true) }
func (w *jw) endArr() { w.close(']') }

// key writes a member name; the next call writes its value.
func (w *jw) key(k string) {
	if !w.first[w.depth-1] {
		w.b = append(w.b, ',')
	}
	w.first[w.depth-1] = false
	w.newline(w.depth)
	w.b = appendJSONString(w.b, k)
	w.b = append(w.b, ':', ' ')
	w.keyed = true
}

func (w *jw) str(s string)      { w.pre(); w.b = appendJSONString(w.b, s) }
func (w *jw) strB(s []byte)     { w.pre(); w.b = appendJSONBytes(w.b, s) }
func (w *jw) int(n int64)       { w.pre(); w.b = strconv.AppendInt(w.b, n, 10) }
func (w *jw) float(f float64)   { w.pre(); w.b = appendJSONFloat(w.b, f) }
func (w *jw) boolean(v bool)    { w.pre(); w.b = strconv.AppendBool(w.b, v) }
func (w *jw) time(unixNs int64) { w.pre(); w.b = append(appendTime(append(w.b, '"'), unixNs), '"') }
func (w *jw) guid(id *[16]byte) {
	w.pre()
	w.b = append(appendGUID(append(w.b, '"'), id), '"')
}

// raw writes an already valid JSON value re-indented at the current depth.
func (w *jw) raw(v []byte) {
	w.pre()
	w.b = appendIndentedJSON(w.b, v, w.depth+w.indent)
}

func (w *jw) kStr(k, v string)       { w.key(k); w.str(v) }
func (w *jw) kInt(k string, v int64) { w.key(k); w.int(v) }
func (w *jw) kBool(k string, v bool) { w.key(k); w.boolean(v) }

func appendJSONFloat(b []byte, f float64) []byte {
	if f != f || f > 1e308 || f < -1e308 {
		return append(b, '0')
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted. Unlike encoding/json it does not escape
// <, > and & (Newtonsoft does not either); invalid UTF-8 becomes U+FFFD so
// the output is always valid JSON.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\ufffd"...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendJSONBytes(b []byte, s []byte) []byte { return appendJSONString(b, b2s(s)) }

// appendTime writes an instant the way the original serialises DateTime
// (spec §1.4): UTC, ISO-8601, up to 7 fractional digits with trailing zeros
// dropped, "Z" suffix. It allocates nothing.
func appendTime(b []byte, unixNs int64) []byte {
	if unixNs == 0 {
		return append(b, "0001-01-01T00:00:00Z"...)
	}
	t := time.Unix(0, unixNs).UTC()
	y, mo, d := t.Date()
	hh, mm, ss := t.Clock()
	b = appendPad(b, y, 4)
	b = append(b, '-')
	b = appendPad(b, int(mo), 2)
	b = append(b, '-')
	b = appendPad(b, d, 2)
	b = append(b, 'T')
	b = appendPad(b, hh, 2)
	b = append(b, ':')
	b = appendPad(b, mm, 2)
	b = append(b, ':')
	b = appendPad(b, ss, 2)
	ticks := t.Nanosecond() / 100 // .NET ticks are 100 ns
	if ticks > 0 {
		digits := 7
		for ticks%10 == 0 {
			ticks /= 10
			digits--
		}
		b = append(b, '.')
		b = appendPad(b, ticks, digits)
	}
	return append(b, 'Z')
}

func appendPad(b []byte, v, width int) []byte {
	var tmp [20]byte
	i := len(tmp)
	for v > 0 || i == len(tmp) {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
	}
	for n := len(tmp) - i; n < width; n++ {
		b = append(b, '0')
	}
	return append(b, tmp[i:]...)
}

// appendGUID writes a GUID held in .NET byte order (as on the TCP wire) in
// the lowercase 8-4-4-4-12 text form: the first three groups are
// little-endian.
func appendGUID(b []byte, id *[16]byte) []byte {
	order := [16]int{3, 2, 1, 0, -1, 5, 4, -1, 7, 6, -1, 8, 9, -1, 10, 11}
	for _, i := range order {
		if i < 0 {
			b = append(b, '-')
			continue
		}
		b = append(b, hexDigits[id[i]>>4], hexDigits[id[i]&0xF])
	}
	for i := 12; i < 16; i++ {
		b = append(b, hexDigits[id[i]>>4], hexDigits[id[i]&0xF])
	}
	return b
}

// parseGUID accepts the forms .NET's Guid.Parse does for the headers we
// read: 32 hex digits, hyphenated, braced or parenthesised hyphenated. The
// result is in .NET byte order.
func parseGUID(s []byte) ([16]byte, bool) {
	var id [16]byte
	if len(s) == 38 && ((s[0] == '{' && s[37] == '}') || (s[0] == '(' && s[37] == ')')) {
		s = s[1:37]
	}
	var hex [32]byte
	n := 0
	switch len(s) {
	case 32:
		copy(hex[:], s)
		n = 32
	case 36:
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return id, false
		}
		for i := 0; i < 36; i++ {
			if i == 8 || i == 13 || i == 18 || i == 23 {
				continue
			}
			hex[n] = s[i]
			n++
		}
	default:
		return id, false
	}
	var raw [16]byte
	for i := 0; i < 16; i++ {
		h, ok1 := unhex(hex[2*i])
		l, ok2 := unhex(hex[2*i+1])
		if !ok1 || !ok2 {
			return id, false
		}
		raw[i] = h<<4 | l
	}
	// Text order → .NET byte order (first three groups little-endian).
	id[0], id[1], id[2], id[3] = raw[3], raw[2], raw[1], raw[0]
	id[4], id[5] = raw[5], raw[4]
	id[6], id[7] = raw[7], raw[6]
	copy(id[8:], raw[8:])
	return id, true
}

// appendIndentedJSON re-indents the valid JSON value v as if it were written
// at nesting level base (spec §2.3.2: stored data keeps member order and
// number literals). REQUIRES: json.Valid(v).
func appendIndentedJSON(b, v []byte, base int) []byte {
	b, _ = appendIndentedJSONMax(b, v, base, -1)
	return b
}

// appendIndentedJSONMax is appendIndentedJSON that gives up (ok=false) once
// it has appended more than max bytes (max < 0: no bound). Re-indenting
// deeply nested input grows quadratically, so posted bodies are converted
// with a bound.
func appendIndentedJSONMax(b, v []byte, base, max int) ([]byte, bool) {
	start := len(b)
	level := base
	nl := func() {
		b = append(b, '\n')
		for i := 0; i < level; i++ {
			b = append(b, ' ', ' ')
		}
	}
	inStr := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if inStr {
			b = append(b, c)
			if c == '\\' && i+1 < len(v) {
				i++
				b = append(b, v[i])
			} else if c == '"' {
				inStr = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
		case '"':
			inStr = true
			b = append(b, c)
		case '{', '[':
			b = append(b, c)
			// Empty container stays on one line.
			j := i + 1
			for j < len(v) && (v[j] == ' ' || v[j] == '\t' || v[j] == '\n' || v[j] == '\r') {
				j++
			}
			if j < len(v) && (v[j] == '}' || v[j] == ']') {
				b = append(b, v[j])
				i = j
				continue
			}
			level++
			nl()
			if max >= 0 && len(b)-start > max {
				return b, false
			}
		case '}', ']':
			level--
			nl()
			b = append(b, c)
		case ',':
			b = append(b, c)
			nl()
			if max >= 0 && len(b)-start > max {
				return b, false
			}
		case ':':
			b = append(b, ':', ' ')
		default:
			b = append(b, c)
		}
	}
	return b, max < 0 || len(b)-start <= max
}

// isJSONObject reports whether v is valid JSON whose top-level value is an
// object (the original re-indents only objects, spec §2.5.3).
func isJSONObject(v []byte) bool {
	i := 0
	for i < len(v) && (v[i] == ' ' || v[i] == '\t' || v[i] == '\n' || v[i] == '\r') {
		i++
	}
	return i < len(v) && v[i] == '{' && json.Valid(v)
}
