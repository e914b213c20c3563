package httpfront

import (
	"bytes"
	"strconv"
)

// mediaType indexes the media types the node speaks. Routes list them in
// preference order (spec http-api §6.4); the first is the default.
type mediaType uint8

const (
	mtNone mediaType = iota
	mtStreamDescJSON
	mtAtomXML
	mtAtomJSON
	mtTextXML
	mtAppXML
	mtJSON
	mtEventXML
	mtEventJSON
	mtEventsXML
	mtEventsJSON
	mtHTML
	mtOctet
	mtTextPlain
	mtCompetingXML
	mtCompetingJSON
	mtAtomSvcXML
	mtAtomSvcJSON
	mtCount
)

var mediaNames = [mtCount]string{
	mtNone:           "",
	mtStreamDescJSON: "application/vnd.eventstore.streamdesc+json",
	mtAtomXML:        "application/atom+xml",
	mtAtomJSON:       "application/vnd.eventstore.atom+json",
	mtTextXML:        "text/xml",
	mtAppXML:         "application/xml",
	mtJSON:           "application/json",
	mtEventXML:       "application/vnd.eventstore.event+xml",
	mtEventJSON:      "application/vnd.eventstore.event+json",
	mtEventsXML:      "application/vnd.eventstore.events+xml",
	mtEventsJSON:     "application/vnd.eventstore.events+json",
	mtHTML:           "text/html",
	mtOctet:          "application/octet-stream",
	mtTextPlain:      "text/plain",
	mtCompetingXML:   "application/vnd.eventstore.competingatom+xml",
	mtCompetingJSON:  "application/vnd.eventstore.competingatom+json",
	mtAtomSvcXML:     "application/atomsvc+xml",
	mtAtomSvcJSON:    "application/vnd.eventstore.atomsvc+json",
}

// contentTypes holds the Content-Type header value of each media type:
// "; charset=utf-8" everywhere except octet-stream (spec §1.4).
var contentTypes [mtCount][]byte

// etagHashes holds the media-type hash of spec §2.7 (Appendix B), computed
// once at start-up.
var etagHashes [mtCount]int32

func init() {
	for i := mtStreamDescJSON; i < mtCount; i++ {
		ct := mediaNames[i]
		if i != mtOctet {
			ct += "; charset=utf-8"
		}
		contentTypes[i] = []byte(ct)
		etagHashes[i] = mediaHash(mediaNames[i])
	}
}

// mediaHash is the 64-bit .NET Framework string hash that Event Store 4.1+
// servers put into ETags (spec §2.7): two interleaved djb2-xor lanes over the
// UTF-16 code units. Media type names are ASCII, so bytes are code units.
func mediaHash(s string) int32 {
	h1, h2 := int32(5381), int32(5381)
	for i := 0; i < len(s); i += 2 {
		h1 = (h1 * 33) ^ int32(s[i])
		if i+1 < len(s) {
			h2 = (h2 * 33) ^ int32(s[i+1])
		}
	}
	return h1 + h2*1566083941
}

func (m mediaType) String() string { return mediaNames[m] }

// Route media lists, in the order of spec §6.4.
var (
	feedCodecs = []mediaType{mtStreamDescJSON, mtAtomXML, mtAtomJSON, mtTextXML, mtAppXML, mtJSON,
		mtEventXML, mtEventJSON, mtEventsXML, mtEventsJSON, mtHTML}
	eventCodecs = []mediaType{mtAtomXML, mtAtomJSON, mtTextXML, mtAppXML, mtJSON, mtEventXML,
		mtEventJSON, mtOctet, mtHTML}
	writeCodecs = []mediaType{mtStreamDescJSON, mtAtomXML, mtAtomJSON, mtTextXML, mtAppXML, mtJSON,
		mtEventXML, mtEventJSON, mtEventsXML, mtEventsJSON, mtOctet}
	incomingCodecs = []mediaType{mtAtomXML, mtAtomJSON, mtTextXML, mtAppXML, mtJSON}
	jsonXMLCodecs  = []mediaType{mtJSON, mtTextXML}
	adminCodecs    = []mediaType{mtTextPlain, mtJSON, mtTextXML, mtAppXML}
	pingCodecs     = []mediaType{mtJSON, mtTextXML, mtAppXML, mtTextPlain}
	statsCodecs    = []mediaType{mtJSON, mtTextXML, mtAppXML}
	gossipCodecs   = []mediaType{mtJSON, mtAppXML, mtTextXML, mtTextPlain}
	jsonOnly       = []mediaType{mtJSON}
	anyCodecs      = []mediaType{} // no negotiation: anything goes, no 406
)

// errBadFormat marks an unknown ?format= value, which the original answers
// with 500 (spec §6.2 step 1, quirk).
const (
	negotiateOK = iota
	negotiateNotAcceptable
	negotiateBadFormat
)

// negotiate picks the response media type for a route offering offers, from
// ?format= (format, nil when absent) or the Accept header (accept, nil when
// absent); spec §6.2. It allocates nothing.
func negotiate(offers []mediaType, format, accept []byte, hasAccept bool) (mediaType, int) {
	if len(offers) == 0 {
		return mtNone, negotiateOK
	}
	if format != nil {
		var want mediaType
		switch {
		case bytes.Equal(format, []byte("json")):
			want = mtJSON
		case bytes.Equal(format, []byte("xml")):
			want = mtTextXML
		case bytes.Equal(format, []byte("text")):
			want = mtTextPlain
		case bytes.Equal(format, []byte("atom")):
			want = mtAtomXML
		case bytes.Equal(format, []byte("atomxj")):
			want = mtAtomJSON
		case bytes.Equal(format, []byte("atomsvc")):
			want = mtAtomSvcXML
		case bytes.Equal(format, []byte("atomsvcxj")):
			want = mtAtomSvcJSON
		default:
			return mtNone, negotiateBadFormat
		}
		for _, o := range offers {
			if o == want {
				return o, negotiateOK
			}
		}
		return mtNone, negotiateNotAcceptable
	}
	if !hasAccept {
		return offers[0], negotiateOK
	}
	// Elements are tried by descending q, stably. Instead of sorting (which
	// would need storage), walk the distinct q values from high to low; Accept
	// headers have a handful of elements, so the quadratic walk is cheap.
	const maxElems = 32 // NB: elements past this many are ignored (a bound on work per request).
	upper := 1 << 30    // q in thousandths; start above any legal q
	for pass := 0; pass < maxElems; pass++ {
		// Find the highest q strictly below upper.
		best := -1
		forEachAccept(accept, maxElems, func(el []byte, q int) bool {
			if q < upper && q > best {
				best = q
			}
			return true
		})
		if best < 0 {
			break
		}
		var found mediaType
		forEachAccept(accept, maxElems, func(el []byte, q int) bool {
			if q != best {
				return true
			}
			if m, ok := matchAccept(el, offers); ok {
				found = m
				return false
			}
			return true
		})
		if found != mtNone {
			return found, negotiateOK
		}
		upper = best
	}
	return mtNone, negotiateNotAcceptable
}

// forEachAccept calls fn for each parsable element of an Accept header with
// the bare "type/subtype" and its q value in thousandths (default 1000).
// It stops when fn returns false or after max elements.
func forEachAccept(h []byte, max int, fn func(el []byte, q int) bool) {
	n := 0
	for len(h) > 0 && n < max {
		var el []byte
		if i := bytes.IndexByte(h, ','); i >= 0 {
			el, h = h[:i], h[i+1:]
		} else {
			el, h = h, nil
		}
		n++
		mt := el
		params := []byte(nil)
		if i := bytes.IndexByte(el, ';'); i >= 0 {
			mt, params = el[:i], el[i+1:]
		}
		mt = bytes.TrimSpace(mt)
		slash := bytes.IndexByte(mt, '/')
		if slash <= 0 || slash == len(mt)-1 {
			continue // does not parse: skipped (spec §6.2 step 3)
		}
		q := 1000
		for len(params) > 0 {
			var p []byte
			if i := bytes.IndexByte(params, ';'); i >= 0 {
				p, params = params[:i], params[i+1:]
			} else {
				p, params = params, nil
			}
			p = bytes.TrimSpace(p)
			if len(p) > 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=' {
				q = parseQ(p[2:])
			}
		}
		if !fn(mt, q) {
			return
		}
	}
}

// parseQ parses a quality value ("0.5", "1", "1.000") into thousandths;
// unparsable values count as 1.
func parseQ(b []byte) int {
	if len(b) == 0 {
		return 1000
	}
	whole := 0
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		whole = whole*10 + int(b[i]-'0')
		if whole > 1 {
			return 1000
		}
	}
	frac, scale := 0, 100
	if i < len(b) && b[i] == '.' {
		for i++; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			frac += int(b[i]-'0') * scale
			scale /= 10
		}
	}
	if i != len(b) {
		return 1000
	}
	q := whole*1000 + frac
	if q > 1000 {
		q = 1000
	}
	return q
}

// matchAccept returns the first offer matched by one Accept element: "*/*"
// (or any "*" type) matches everything, "type/*" the types of that main
// type, otherwise main type and subtype compare case-insensitively.
func matchAccept(el []byte, offers []mediaType) (mediaType, bool) {
	slash := bytes.IndexByte(el, '/')
	main, sub := el[:slash], el[slash+1:]
	if len(main) == 1 && main[0] == '*' {
		return offers[0], true
	}
	for _, o := range offers {
		name := mediaNames[o]
		os := indexByteString(name, '/')
		if !equalFoldString(main, name[:os]) {
			continue
		}
		if len(sub) == 1 && sub[0] == '*' {
			return o, true
		}
		if equalFoldString(sub, name[os+1:]) {
			return o, true
		}
	}
	return mtNone, false
}

func indexByteString(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func equalFoldString(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// acceptHasStarStar reports whether the Accept list holds the exact element
// "*/*" (curl's default), which turns the description document's 406 reason
// into "Description Document" (spec §2.5.5).
func acceptHasStarStar(accept []byte) bool {
	found := false
	forEachAccept(accept, 32, func(el []byte, q int) bool {
		if len(el) == 3 && el[0] == '*' && el[1] == '/' && el[2] == '*' {
			found = true
			return false
		}
		return true
	})
	return found
}

// requestMedia checks a request's Content-Type against the route's accepted
// types (spec §6.3): the media type must be one of them (compared
// case-insensitively, a harmless relaxation) and a charset parameter must
// name UTF-8; octet-stream takes no charset at all.
func requestMedia(ct []byte, accepted []mediaType) (mediaType, bool) {
	if len(ct) == 0 {
		return mtNone, false
	}
	mt, params := ct, []byte(nil)
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		mt, params = ct[:i], ct[i+1:]
	}
	mt = bytes.TrimSpace(mt)
	var found mediaType
	for _, a := range accepted {
		if equalFoldString(mt, mediaNames[a]) {
			found = a
			break
		}
	}
	if found == mtNone {
		return mtNone, false
	}
	for len(params) > 0 {
		var p []byte
		if i := bytes.IndexByte(params, ';'); i >= 0 {
			p, params = params[:i], params[i+1:]
		} else {
			p, params = params, nil
		}
		p = bytes.TrimSpace(p)
		if len(p) >= 8 && equalFoldString(p[:8], "charset=") {
			if found == mtOctet {
				return mtNone, false
			}
			v := bytes.Trim(p[8:], `"`)
			if !equalFoldString(v, "utf-8") && !equalFoldString(v, "utf8") {
				return mtNone, false
			}
		}
	}
	return found, true
}

// appendETag appends `"<version>;<hash>"` for media type m.
func appendETag(dst []byte, version int64, m mediaType) []byte {
	dst = append(dst, '"')
	dst = strconv.AppendInt(dst, version, 10)
	dst = append(dst, ';')
	dst = strconv.AppendInt(dst, int64(etagHashes[m]), 10)
	return append(dst, '"')
}

// parseIfNoneMatch splits an If-None-Match value of the form
// `"<version>;<hash>"` and reports the version when the hash is that of m
// (spec §2.7). Anything else is ignored (ok=false).
func parseIfNoneMatch(v []byte, m mediaType) (int64, bool) {
	v = bytes.Trim(v, `"`)
	i := bytes.IndexByte(v, ';')
	if i < 0 || bytes.IndexByte(v[i+1:], ';') >= 0 {
		return 0, false
	}
	h, ok := parseInt64(v[i+1:])
	if !ok || int32(h) != etagHashes[m] || h != int64(int32(h)) {
		return 0, false
	}
	ver, ok := parseInt64(v[:i])
	return ver, ok
}

// parseInt64 parses an optionally signed decimal without allocating.
func parseInt64(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	neg := false
	if b[0] == '-' || b[0] == '+' {
		neg = b[0] == '-'
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
		if n > 1<<63 {
			return 0, false
		}
	}
	if !neg && n == 1<<63 {
		return 0, false
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}
