package httpfront

import (
	"github.com/eventstored/eventstored/store"
)

// Header and path parameter parsing shared by the stream routes (spec
// http-api §2.2). Each parser reports ok=false for a malformed value; the
// caller answers 400 "<header> header in wrong format.".

var (
	hdrExpectedVersion = []byte("ES-ExpectedVersion")
	hdrRequireMaster   = []byte("ES-RequireMaster")
	hdrResolveLinkTos  = []byte("ES-ResolveLinkTos")
	hdrLongPoll        = []byte("ES-LongPoll")
	hdrHardDelete      = []byte("ES-HardDelete")
	hdrEventID         = []byte("ES-EventId")
	hdrEventType       = []byte("ES-EventType")
	hdrIfNoneMatch     = []byte("If-None-Match")
)

func (r *request) header(k []byte) []byte { return r.ctx.Request.Header.PeekBytes(k) }

// expectedVersion parses ES-ExpectedVersion: an integer ≥ −4 (−3 is not a
// legal value either; spec §2.2 and TCP §4.4 list −4, −2, −1 and ≥ 0).
func (r *request) expectedVersion() (int64, bool) {
	v := r.header(hdrExpectedVersion)
	if v == nil {
		return store.ExpectedVersionAny, true
	}
	n, ok := parseInt64(trimSpace(v))
	if !ok || n < -4 || n == -3 {
		return 0, false
	}
	return n, true
}

// boolHeader parses True/False case-insensitively.
func (r *request) boolHeader(k []byte, def bool) (bool, bool) {
	v := r.header(k)
	if v == nil {
		return def, true
	}
	v = trimSpace(v)
	switch {
	case equalFoldString(v, "true"):
		return true, true
	case equalFoldString(v, "false"):
		return false, true
	}
	return false, false
}

// longPoll parses ES-LongPoll: seconds > 0; 0 means absent.
func (r *request) longPoll() (int, bool) {
	v := r.header(hdrLongPoll)
	if v == nil {
		return 0, true
	}
	n, ok := parseInt64(trimSpace(v))
	if !ok || n <= 0 || n > maxLongPollSeconds {
		return 0, false
	}
	return int(n), true
}

// maxLongPollSeconds bounds ES-LongPoll so a request cannot park for ever
// (the original accepts any int; an hour is far beyond any client's use).
const maxLongPollSeconds = 3600

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// eventNumberParam parses an {event} segment: "head" (→ −1 when allowed)
// or an integer ≥ 0.
func eventNumberParam(b []byte, allowHead bool) (int64, bool) {
	if allowHead && string(b) == "head" {
		return -1, true
	}
	n, ok := parseInt64(b)
	if !ok || n < 0 || (len(b) > 0 && (b[0] == '+' || b[0] == '-')) {
		return 0, false
	}
	return n, true
}

// countParam parses a {count} segment: a positive integer.
func countParam(b []byte) (int, bool) {
	n, ok := parseInt64(b)
	if !ok || n <= 0 || (b[0] == '+') {
		return 0, false
	}
	if n > 1<<30 {
		n = 1 << 30 // above the read limit either way: the reader answers 500
	}
	return int(n), true
}

// embedLevel is the ?embed= level (spec §2.5.2).
type embedLevel uint8

const (
	embedNone embedLevel = iota
	embedContent
	embedRich
	embedBody
	embedPrettyBody
	embedTryHarder
)

func parseEmbed(b []byte) embedLevel {
	switch {
	case b == nil:
		return embedNone
	case equalFoldString(b, "content"):
		return embedContent
	case equalFoldString(b, "rich"):
		return embedRich
	case equalFoldString(b, "body"):
		return embedBody
	case equalFoldString(b, "pretty"), equalFoldString(b, "prettybody"):
		// NB: the original recognises only "pretty"; "prettybody" (the
		// documented spelling) is accepted too, which is harmless.
		return embedPrettyBody
	case equalFoldString(b, "tryharder"):
		return embedTryHarder
	}
	return embedNone
}

// queryArg returns the value of query parameter name, matched
// case-insensitively (spec §1.3); ok=false when absent.
func (r *request) queryArg(name string) (v []byte, ok bool) {
	for k, val := range r.ctx.QueryArgs().All() {
		if equalFoldString(k, name) {
			return val, true
		}
	}
	return nil, false
}
