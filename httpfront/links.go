package httpfront

import (
	"bytes"
	"strconv"

	"github.com/valyala/fasthttp"
)

// Absolute URLs (spec http-api §1.5): links start from the URL the client
// used (scheme, Host header), the interface's advertise-as IP and port
// replace host and port, then X-Forwarded-Port/-Proto/-Host override them.
// X-Forwarded-Prefix is ignored, as in 4.0.3.

var (
	hdrXFwdHost  = []byte("X-Forwarded-Host")
	hdrXFwdPort  = []byte("X-Forwarded-Port")
	hdrXFwdProto = []byte("X-Forwarded-Proto")
)

// maxHostBytes bounds the host text copied into links; longer Host headers
// are replaced by the listener's address.
const maxHostBytes = 255

// appendBase appends "scheme://host[:port]" for ctx to dst.
// advHost/advPort are the interface's advertise-as values ("" / 0 = unset);
// fallback is used when the request has no usable Host header.
func appendBase(dst []byte, ctx *fasthttp.RequestCtx, advHost string, advPort int, fallback string) []byte {
	scheme := []byte("http")
	if ctx.IsTLS() {
		scheme = []byte("https")
	}
	host := ctx.Request.Header.Host()
	if len(host) == 0 || len(host) > maxHostBytes || !hostChars(host) {
		host = s2b(fallback)
	}
	h, port := splitHostPort(host)
	if advHost != "" {
		h = s2b(advHost)
	}
	if advPort > 0 {
		port = advPort
	}
	if v := ctx.Request.Header.PeekBytes(hdrXFwdPort); len(v) > 0 {
		if p, ok := parseInt64(v); ok && p > 0 && p < 65536 {
			port = int(p)
		}
	}
	if v := ctx.Request.Header.PeekBytes(hdrXFwdProto); len(v) > 0 && len(v) < 16 && hostChars(v) {
		scheme = v
	}
	if v := ctx.Request.Header.PeekBytes(hdrXFwdHost); len(v) > 0 {
		if i := bytes.IndexByte(v, ','); i >= 0 {
			v = v[:i]
		}
		v = bytes.TrimSpace(v)
		if len(v) > 0 && len(v) <= maxHostBytes && hostChars(v) {
			var p int
			h, p = splitHostPort(v)
			if p > 0 {
				port = p
			}
		}
	}
	dst = append(dst, scheme...)
	dst = append(dst, "://"...)
	dst = append(dst, h...)
	if port > 0 && !((port == 80 && bytes.Equal(scheme, []byte("http"))) || (port == 443 && bytes.Equal(scheme, []byte("https")))) {
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, int64(port), 10)
	}
	return dst
}

// hostChars reports whether b holds only characters that may appear in a
// host[:port] (so a hostile header cannot inject markup or line breaks into
// links).
func hostChars(b []byte) bool {
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_') {
			return false
		}
	}
	return true
}

// splitHostPort splits "host:port" / "[v6]:port"; port is 0 when absent or
// invalid.
func splitHostPort(b []byte) ([]byte, int) {
	i := bytes.LastIndexByte(b, ':')
	if i < 0 || bytes.IndexByte(b[i:], ']') >= 0 {
		return b, 0
	}
	if b[0] != '[' && bytes.IndexByte(b[:i], ':') >= 0 {
		return b, 0 // bare IPv6 literal without a port
	}
	p, ok := parseInt64(b[i+1:])
	if !ok || p <= 0 || p > 65535 {
		return b[:i], 0
	}
	return b[:i], int(p)
}

// appendEscaped percent-encodes s keeping RFC 3986 unreserved characters
// (spec §1.5), so "$" becomes "%24".
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', upperHex[c>>4], upperHex[c&0xF])
	}
	return dst
}

const upperHex = "0123456789ABCDEF"

// appendPosition writes a $all position as 32 uppercase hex digits: commit
// then prepare, each a 64-bit two's-complement value (spec §2.10).
func appendPosition(dst []byte, commit, prepare int64) []byte {
	for _, v := range [2]uint64{uint64(commit), uint64(prepare)} {
		for sh := 60; sh >= 0; sh -= 4 {
			dst = append(dst, upperHex[(v>>uint(sh))&0xF])
		}
	}
	return dst
}

// parsePosition parses exactly 32 hex digits (either case); both halves
// must be non-negative (spec §2.10).
func parsePosition(b []byte) (commit, prepare int64, ok bool) {
	if len(b) != 32 {
		return 0, 0, false
	}
	var v [2]uint64
	for i := 0; i < 32; i++ {
		d, good := unhex(b[i])
		if !good {
			return 0, 0, false
		}
		v[i/16] = v[i/16]<<4 | uint64(d)
	}
	commit, prepare = int64(v[0]), int64(v[1])
	if commit < 0 || prepare < 0 {
		return 0, 0, false
	}
	return commit, prepare, true
}
