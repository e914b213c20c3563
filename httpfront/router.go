package httpfront

import (
	"sort"
	"strings"
)

// The router implements spec http-api §1.3: templates of literal segments,
// single-segment placeholders {x} and one greedy tail {*x}; request segments
// are percent-decoded before matching; a literal beats a placeholder at the
// same position; a trailing slash is significant. Routes are bucketed by
// their first literal segment so a lookup touches a handful of templates.

type segKind uint8

const (
	segLit segKind = iota
	segParam
	segTail
)

type tmplSeg struct {
	kind segKind
	lit  string
}

// method is an HTTP method the router knows.
type method uint8

const (
	mGET method = iota
	mPOST
	mPUT
	mDELETE
	mOPTIONS
	mHEAD
	mOther
)

var methodNames = [...]string{"GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", ""}

func parseMethod(b []byte) method {
	switch string(b) {
	case "GET":
		return mGET
	case "POST":
		return mPOST
	case "PUT":
		return mPUT
	case "DELETE":
		return mDELETE
	case "OPTIONS":
		return mOPTIONS
	case "HEAD":
		return mHEAD
	}
	return mOther
}

// handlerFunc serves one matched request. It runs on the fasthttp
// connection goroutine and may block until the store replies.
type handlerFunc func(h *Handler, r *request)

// route is one (method, template) registration.
type route struct {
	m       method
	tmpl    string
	segs    []tmplSeg
	fn      handlerFunc
	offers  []mediaType // response media types, first = default; empty = any
	accepts []mediaType // request media types checked for POST/PUT/DELETE; nil = any
	// allow is the Access-Control-Allow-Methods value for paths matching
	// this template (every method of every template matching, + OPTIONS);
	// precomputed per template group at build time.
	allow []byte
	// class: how a node that is not the master handles it (forward.go).
	class routeClass
}

type router struct {
	byFirst map[string][]*route // first literal segment → routes, most specific first
	root    []*route            // templates whose first segment is a placeholder, or "/"
}

func parseTemplate(t string) []tmplSeg {
	if t == "/" {
		return nil
	}
	parts := strings.Split(strings.TrimPrefix(t, "/"), "/")
	segs := make([]tmplSeg, len(parts))
	for i, p := range parts {
		switch {
		case strings.HasPrefix(p, "{*"):
			segs[i] = tmplSeg{kind: segTail}
		case strings.HasPrefix(p, "{"):
			segs[i] = tmplSeg{kind: segParam}
		default:
			segs[i] = tmplSeg{kind: segLit, lit: p}
		}
	}
	return segs
}

// moreSpecific orders templates so that, at the first position where they
// differ in kind, literals come before placeholders before tails.
func moreSpecific(a, b []tmplSeg) bool {
	kind := func(t []tmplSeg, i int) int {
		if i >= len(t) {
			return -1 // a shorter template without a tail beats a tail
		}
		return int(t[i].kind)
	}
	for i := 0; i < len(a) || i < len(b); i++ {
		if ka, kb := kind(a, i), kind(b, i); ka != kb {
			return ka < kb
		}
	}
	return false
}

func newRouter(routes []*route) *router {
	rt := &router{byFirst: map[string][]*route{}}
	for _, r := range routes {
		r.segs = parseTemplate(r.tmpl)
		r.class = classify(r)
		if len(r.segs) > 0 && r.segs[0].kind == segLit {
			rt.byFirst[r.segs[0].lit] = append(rt.byFirst[r.segs[0].lit], r)
		} else {
			rt.root = append(rt.root, r)
		}
	}
	sortRoutes := func(rs []*route) {
		sort.SliceStable(rs, func(i, j int) bool { return moreSpecific(rs[i].segs, rs[j].segs) })
	}
	for k := range rt.byFirst {
		sortRoutes(rt.byFirst[k])
	}
	sortRoutes(rt.root)
	// Precompute Allow lists per template: all methods of the templates that
	// match any path this template matches is not computable in general, so
	// the list is computed per template group sharing the exact template,
	// plus the templates that shadow or are shadowed by it on the same
	// segment count (the usual case: /streams/{s}/metadata vs {s}/{event}).
	all := routes
	for _, r := range all {
		var ms []string
		seen := map[string]bool{}
		for _, o := range all {
			if overlaps(r.segs, o.segs) && !seen[methodNames[o.m]] {
				seen[methodNames[o.m]] = true
				ms = append(ms, methodNames[o.m])
			}
		}
		ms = append(ms, "OPTIONS")
		r.allow = []byte(strings.Join(ms, ", "))
	}
	return rt
}

// overlaps reports whether template b can match some path that template a
// matches exactly as written with its literals (placeholders of a stand for
// any segment).
func overlaps(a, b []tmplSeg) bool {
	for i := 0; i < len(a); i++ {
		if i >= len(b) {
			return false
		}
		if b[i].kind == segTail {
			return true
		}
		if a[i].kind == segTail {
			return false
		}
		if b[i].kind == segLit && (a[i].kind != segLit || a[i].lit != b[i].lit) {
			return false
		}
	}
	return len(a) == len(b)
}

// maxSegments bounds how many path segments are decoded; longer paths match
// no route (404).
const maxSegments = 16

// splitPath splits a raw request path into percent-decoded segments,
// appending the decoded bytes to buf. It returns false for a path that does
// not start with '/', holds more than maxSegments segments or a malformed
// escape. The segments alias buf.
func splitPath(raw []byte, buf []byte, segs *[maxSegments][]byte) (n int, tail [maxSegments]int, out []byte, ok bool) {
	if len(raw) == 0 || raw[0] != '/' {
		return 0, tail, buf, false
	}
	raw = raw[1:]
	if len(raw) == 0 {
		return 0, tail, buf, true // "/"
	}
	start := 0
	for i := 0; i <= len(raw); i++ {
		if i < len(raw) && raw[i] != '/' {
			continue
		}
		if n == maxSegments {
			return 0, tail, buf, false
		}
		tail[n] = start + 1 // offset into the raw path (after the leading '/')
		b0 := len(buf)
		var good bool
		buf, good = appendUnescape(buf, raw[start:i])
		if !good {
			return 0, tail, buf, false
		}
		segs[n] = buf[b0:len(buf):len(buf)]
		n++
		start = i + 1
	}
	return n, tail, buf, true
}

func appendUnescape(dst, s []byte) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			dst = append(dst, c)
			continue
		}
		if i+2 >= len(s) {
			return dst, false
		}
		h, ok1 := unhex(s[i+1])
		l, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return dst, false
		}
		dst = append(dst, h<<4|l)
		i += 2
	}
	return dst, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// matchResult is the outcome of a lookup.
type matchResult struct {
	r      *route // chosen route; nil when none matches the method
	any    *route // most specific template matching the path (for Allow), nil = 404
	params [maxSegments][]byte
	np     int
	tail   []byte // raw (still encoded) tail for {*x}
}

// lookup finds the route for (m, path segments). OPTIONS never selects a
// route; the caller answers it from res.any.
func (rt *router) lookup(m method, segs [][]byte, rawPath []byte, tailOff *[maxSegments]int, res *matchResult) {
	res.r, res.any, res.np, res.tail = nil, nil, 0, nil
	var cands []*route
	if len(segs) > 0 {
		cands = rt.byFirst[string(segs[0])]
	}
	for pass := 0; pass < 2; pass++ {
		if pass == 1 {
			cands = rt.root
		}
		for _, r := range cands {
			if !matchSegs(r.segs, segs) {
				continue
			}
			if res.any == nil {
				res.any = r
			}
			if r.m == m || (m == mHEAD && r.m == mGET) {
				res.r = r
				res.np = 0
				for i, s := range r.segs {
					switch s.kind {
					case segParam:
						res.params[res.np] = segs[i]
						res.np++
					case segTail:
						if i < len(segs) {
							res.tail = rawPath[tailOff[i]:]
						} else {
							res.tail = rawPath[len(rawPath):]
						}
					}
				}
				return
			}
		}
	}
}

func matchSegs(t []tmplSeg, segs [][]byte) bool {
	for i, s := range t {
		if s.kind == segTail {
			return i <= len(segs)
		}
		if i >= len(segs) {
			return false
		}
		if s.kind == segLit && string(segs[i]) != s.lit {
			return false
		}
	}
	return len(t) == len(segs)
}
