package httpfront

import (
	"crypto/rand"
	"encoding/json"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/eventstored/eventstored/node/auth"
	"github.com/eventstored/eventstored/store"
)

// Read-side stream routes: single events (§2.4), stream and metastream
// feeds (§2.5), $all (§2.10), metadata reads (§2.11), with the caching of
// §2.7 and the long poll of §2.8.

// newGUID returns a random (version 4) GUID in .NET byte order.
func newGUID() [16]byte {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		panic("BUG: crypto/rand failed: " + err.Error())
	}
	raw[6] = raw[6]&0x0f | 0x40
	raw[8] = raw[8]&0x3f | 0x80
	var id [16]byte
	id[0], id[1], id[2], id[3] = raw[3], raw[2], raw[1], raw[0]
	id[4], id[5] = raw[5], raw[4]
	id[6], id[7] = raw[7], raw[6]
	copy(id[8:], raw[8:])
	return id
}

// readCommon parses ES-ResolveLinkTos and ES-RequireMaster (stream reads).
func (r *request) readCommon(resolve bool) (bool, bool) {
	if resolve {
		v, ok := r.boolHeader(hdrResolveLinkTos, true)
		if !ok {
			r.status(fasthttp.StatusBadRequest, "ES-ResolveLinkTos header in wrong format.")
			return false, false
		}
		resolve = v
	}
	if _, ok := r.boolHeader(hdrRequireMaster, false); !ok {
		r.status(fasthttp.StatusBadRequest, "ES-RequireMaster header in wrong format.")
		return false, false
	}
	return resolve, true
}

func (r *request) embed() embedLevel {
	v, _ := r.queryArg("embed")
	return parseEmbed(v)
}

// cacheControl sets the metadata-driven or forever header sets of §2.7.
func (h *Handler) setCaching(r *request, stream string, forever bool, etagVer int64, withETag bool) {
	hdr := &r.ctx.Response.Header
	public := h.d.Auth.CheckStreamAccess(nil, stream, auth.ActionRead)
	var cc []byte
	switch {
	case h.d.Options.DisableHTTPCaching:
		cc = ccRevalidate
	case forever && public:
		cc = ccForeverPublic
	case forever:
		cc = ccForeverPrivate
	default:
		cc = ccRevalidate
		if md, _, ok := h.d.DB.StreamMetadata(stream); ok && md.CacheControlSec > 0 {
			r.tmp = strconv.AppendInt(append(r.tmp[:0], "max-age="...), md.CacheControlSec, 10)
			if public {
				r.tmp = append(r.tmp, ", public"...)
			} else {
				r.tmp = append(r.tmp, ", private"...)
			}
			cc = r.tmp
		}
	}
	hdr.SetBytesKV(hdrCacheControl, cc)
	hdr.SetBytesKV(hdrVary, valAccept)
	if withETag && !forever {
		r.tmp = appendETag(r.tmp[:0], etagVer, r.media)
		hdr.SetBytesKV(hdrETag, r.tmp)
	}
}

// ---- single event ----

func (h *Handler) getEvent(r *request) { h.readEvent(r, h.names.get(r.param(0)), r.param(1), false) }

func (h *Handler) getMetadataEvent(r *request) {
	s := string(r.param(0))
	if s == "" || auth.IsMetastream(s) {
		r.status(fasthttp.StatusBadRequest, reasonMetaReadStream)
		return
	}
	ev := []byte("head")
	if r.mr.np > 1 {
		ev = r.param(1)
	}
	h.readEvent(r, "$$"+s, ev, true)
}

func (h *Handler) readEvent(r *request, stream string, evParam []byte, meta bool) {
	n, ok := eventNumberParam(evParam, true)
	if !ok {
		r.status(fasthttp.StatusBadRequest, "'"+string(evParam)+"' is not valid event number")
		return
	}
	resolve, ok := r.readCommon(true)
	if !ok {
		return
	}
	if stream == "" {
		r.status(fasthttp.StatusBadRequest, "Invalid stream name ''")
		return
	}
	if !h.d.Auth.CheckStreamAccess(r.user, stream, auth.ActionRead) {
		r.status(fasthttp.StatusUnauthorized, "Unauthorized")
		return
	}
	level := r.embed()
	if r.media == mtHTML {
		level = embedTryHarder
	}
	// The cache serves reads by number (immutable, "forever" responses).
	cacheable := n >= 0 && h.cache != nil
	var metaVer int64
	if cacheable {
		var md store.StreamMetadata
		var has bool
		md, metaVer, has = h.d.DB.StreamMetadata(stream)
		cacheable = !has || (md.MaxCount == 0 && md.MaxAgeSeconds == 0 && md.TruncateBefore <= 0)
		if cacheable {
			r.key = appendCacheKey(r.key[:0], r, stream, n, metaVer, level, resolve)
			if e := h.cache.get(r.key); e != nil {
				h.metrics.readsCached.Inc()
				r.ctx.SetStatusCode(fasthttp.StatusOK)
				r.ctx.Response.Header.SetContentTypeBytes(contentTypes[e.media])
				r.ctx.Response.Header.SetBytesKV(hdrCacheControl, e.cc)
				r.ctx.Response.Header.SetBytesKV(hdrVary, valAccept)
				r.ctx.SetBody(e.body)
				return
			}
		}
	}
	rd := h.acquireReader()
	if rd == nil {
		r.status(fasthttp.StatusServiceUnavailable, reasonTooBusy)
		return
	}
	defer h.releaseReader(rd)
	h.metrics.reads.Inc()
	st, ev := rd.ReadEvent(stream, n, resolve)
	switch st {
	case store.ReadSuccess:
	case store.ReadNotFound, store.ReadNoStream:
		r.status(fasthttp.StatusNotFound, "Not Found")
		return
	case store.ReadStreamDeleted:
		r.status(fasthttp.StatusGone, reasonDeleted)
		return
	case store.ReadAccessDenied:
		r.status(fasthttp.StatusUnauthorized, "Unauthorized")
		return
	default:
		r.status(fasthttp.StatusInternalServerError, "Internal Server Error")
		return
	}
	if meta && ev != nil && !ev.HasEvent && !ev.HasLink {
		// The stream exists but has no metadata (§2.4): an empty 200.
		h.emptyMetadata(r)
		return
	}
	if ev == nil || (!ev.HasEvent && ev.HasLink && resolve) || (!ev.HasEvent && !ev.HasLink) {
		r.status(fasthttp.StatusNotFound, "Not Found")
		return
	}
	if ev.HasLink && ev.HasEvent && !h.d.Auth.CheckStreamAccess(r.user, ev.Event.Stream, auth.ActionRead) {
		r.status(fasthttp.StatusUnauthorized, "Unauthorized")
		return
	}
	if ev.HasLink {
		// The body shows another stream's event, whose ACL is checked per
		// request above: never serve it from the cache.
		cacheable = false
	}
	r.buf = h.renderEvent(r, r.buf[:0], ev, level)
	if r.buf == nil {
		return // reply written (e.g. 406 on a non-JSON event as XML is not an error; kept for symmetry)
	}
	r.reply(fasthttp.StatusOK, "", r.media, r.buf)
	if n >= 0 {
		h.setCaching(r, stream, true, 0, false)
		if cacheable {
			var cc []byte
			if h.d.Options.DisableHTTPCaching {
				cc = ccRevalidate
			} else if h.d.Auth.CheckStreamAccess(nil, stream, auth.ActionRead) {
				cc = ccForeverPublic
			} else {
				cc = ccForeverPrivate
			}
			h.cache.put(r.key, r.media, cc, r.buf)
		}
	} else {
		ver := ev.Event.Number
		if ev.HasLink {
			ver = ev.Link.Number
		}
		h.setCaching(r, stream, false, ver, true)
	}
}

// canReadTargets checks read access to the target streams of resolved
// links (spec §2.9: the reader needs read access to every target, else the
// whole read is refused).
func (h *Handler) canReadTargets(r *request, evs []store.ResolvedEvent) bool {
	last := ""
	for i := range evs {
		e := &evs[i]
		if !e.HasLink || !e.HasEvent || e.Event.Stream == last {
			continue
		}
		if !h.d.Auth.CheckStreamAccess(r.user, e.Event.Stream, auth.ActionRead) {
			return false
		}
		last = e.Event.Stream
	}
	return true
}

func (h *Handler) emptyMetadata(r *request) {
	switch r.media {
	case mtAtomXML, mtTextXML, mtAppXML, mtEventXML, mtOctet:
		r.reply(fasthttp.StatusOK, "", r.media, nil)
	default:
		r.reply(fasthttp.StatusOK, "", r.media, []byte("{}"))
	}
}

// renderEvent renders a single-event read in the negotiated media type.
func (h *Handler) renderEvent(r *request, b []byte, ev *store.ResolvedEvent, level embedLevel) []byte {
	rec := &ev.Event
	if !ev.HasEvent {
		rec = &ev.Link
	}
	switch r.media {
	case mtAtomJSON:
		r.w.reset(b)
		r.writeEntryJSON(&r.w, ev, level, true)
		return r.w.b
	case mtAtomXML:
		b = append(b, xmlHeader...)
		return r.appendEntryXML(b, ev, level, true, true)
	case mtJSON:
		if rec.IsJSON && len(rec.Data) > 0 && json.Valid(rec.Data) {
			return appendIndentedJSON(b, rec.Data, 0)
		}
		return appendJSONBytes(b, rec.Data)
	case mtTextXML, mtAppXML:
		b = append(b, xmlHeader...)
		return appendDataXML(b, "data", rec.Data, rec.IsJSON)
	case mtEventJSON:
		r.w.reset(b)
		writeContentJSON(&r.w, rec)
		return r.w.b
	case mtEventXML:
		b = append(b, xmlHeader...)
		b = append(b, "<event>"...)
		b = appendContentXML(b, rec)
		return append(b, "</event>"...)
	case mtOctet:
		return append(b, rec.Data...)
	case mtHTML:
		r.w.reset(nil)
		r.writeEntryJSON(&r.w, ev, level, true)
		var inf entryInfo
		describe(ev, &inf)
		target := inf.posStream + "/" + strconv.FormatInt(inf.posNumber, 10)
		return appendHTMLPage(b, target, r.w.b)
	}
	r.w.reset(b)
	r.writeEntryJSON(&r.w, ev, level, true)
	return r.w.b
}

// ---- stream feeds ----

func (h *Handler) feedHead(r *request) {
	h.streamFeed(r, string(r.param(0)), nil, nil, false, true)
}
func (h *Handler) feedBackward(r *request) {
	h.streamFeed(r, string(r.param(0)), r.param(1), r.param(2), false, true)
}
func (h *Handler) feedForward(r *request) {
	h.streamFeed(r, string(r.param(0)), r.param(1), r.param(2), true, true)
}
func (h *Handler) metaFeedBackward(r *request) {
	if h.metaStreamOK(r) {
		h.streamFeed(r, "$$"+string(r.param(0)), r.param(1), r.param(2), false, false)
	}
}
func (h *Handler) metaFeedForward(r *request) {
	if h.metaStreamOK(r) {
		h.streamFeed(r, "$$"+string(r.param(0)), r.param(1), r.param(2), true, false)
	}
}

func (h *Handler) metaStreamOK(r *request) bool {
	s := r.param(0)
	if len(s) == 0 || (len(s) >= 2 && s[0] == '$' && s[1] == '$') {
		r.status(fasthttp.StatusBadRequest, reasonMetaReadStream)
		return false
	}
	return true
}

const defaultFeedCount = 20

// streamFeed serves every stream and metastream feed route. evParam/cntParam
// nil means the head route /streams/{s}. descAllowed marks the backward
// stream routes that answer with the description document (§2.5.5).
func (h *Handler) streamFeed(r *request, stream string, evParam, cntParam []byte, forward, descAllowed bool) {
	from, count := int64(-1), defaultFeedCount
	if evParam != nil {
		var ok bool
		from, ok = eventNumberParam(evParam, !forward)
		if !ok {
			r.status(fasthttp.StatusBadRequest, "'"+string(evParam)+"' is not valid event number")
			return
		}
		count, ok = countParam(cntParam)
		if !ok {
			r.status(fasthttp.StatusBadRequest, "'"+string(cntParam)+"' is not valid count. Should be positive integer")
			return
		}
	}
	resolve, ok := r.readCommon(true)
	if !ok {
		return
	}
	longPoll := 0
	if forward {
		if longPoll, ok = r.longPoll(); !ok {
			r.status(fasthttp.StatusBadRequest, "ES-LongPoll header in wrong format.")
			return
		}
	}
	if r.media == mtStreamDescJSON && !forward && descAllowed {
		h.descriptionDocument(r, stream)
		return
	}
	if stream == "" {
		r.status(fasthttp.StatusBadRequest, "Invalid stream name ''")
		return
	}
	if count > store.MaxReadCount {
		r.status(fasthttp.StatusInternalServerError, reasonReadTooBig)
		return
	}
	if !h.d.Auth.CheckStreamAccess(r.user, stream, auth.ActionRead) {
		r.status(fasthttp.StatusUnauthorized, "Unauthorized")
		return
	}
	headRead := !forward && from < 0
	var sl *store.StreamSlice
	rd, ok := h.pollRead(r, longPoll, func(rd StoreReader) bool {
		if forward {
			sl = rd.ReadStreamForward(stream, from, count, resolve)
		} else {
			sl = rd.ReadStreamBackward(stream, from, count, resolve)
		}
		return !(sl.Status == store.ReadNoStream || (sl.Status == store.ReadSuccess && from > sl.LastEventNumber))
	})
	defer h.releaseReader(rd)
	if !ok {
		return
	}
	switch sl.Status {
	case store.ReadSuccess:
	case store.ReadNoStream, store.ReadNotFound:
		r.status(fasthttp.StatusNotFound, "Not Found")
		return
	case store.ReadStreamDeleted:
		r.status(fasthttp.StatusGone, reasonDeleted)
		return
	case store.ReadAccessDenied:
		r.status(fasthttp.StatusUnauthorized, "Unauthorized")
		return
	default:
		reason := sl.Error
		if reason == "" {
			reason = "Internal Server Error"
		}
		r.status(fasthttp.StatusInternalServerError, reason)
		return
	}
	if !h.canReadTargets(r, sl.Events) {
		r.status(fasthttp.StatusUnauthorized, "Unauthorized")
		return
	}
	L := sl.LastEventNumber
	// Conditional GET (§2.7).
	if inm := r.header(hdrIfNoneMatch); inm != nil {
		if v, ok := parseIfNoneMatch(inm, r.media); ok && v == L {
			r.status(fasthttp.StatusNotModified, "Not Modified")
			return
		}
	}
	F := from
	if headRead {
		F = L
	}
	p := &feedPage{title: "Event stream '" + stream + "'", stream: stream, streamMem: true, entries: sl.Events, level: r.embed()}
	if r.media == mtHTML {
		p.level = embedPrettyBody
	}
	r.lbuf = append(r.lbuf[:0], r.base...)
	r.lbuf = append(r.lbuf, "/streams/"...)
	r.lbuf = appendEscaped(r.lbuf, stream)
	selfEnd := len(r.lbuf)
	S := r.lbuf[:selfEnd]
	p.selfURL = S
	addLink := func(rel string, n int64, dir string, head bool) {
		start := len(r.lbuf)
		r.lbuf = append(r.lbuf, S...)
		if head {
			r.lbuf = append(r.lbuf, "/head"...)
		} else if n >= 0 {
			r.lbuf = append(r.lbuf, '/')
			r.lbuf = strconv.AppendInt(r.lbuf, n, 10)
		}
		if dir != "" {
			r.lbuf = append(r.lbuf, '/')
			r.lbuf = append(r.lbuf, dir...)
			r.lbuf = append(r.lbuf, '/')
			r.lbuf = strconv.AppendInt(r.lbuf, int64(count), 10)
		}
		p.addLink(rel, r.lbuf[start:len(r.lbuf):len(r.lbuf)])
	}
	// NB: link URIs are views of r.lbuf, which nothing else writes while
	// the page renders; should an append outgrow it, earlier views keep
	// pointing at the old (unchanged) array.
	r.lbuf = reserve(r.lbuf, 6*(len(S)+48)+32)
	S = r.lbuf[:selfEnd]
	p.selfURL = S
	C := int64(count)
	addLink("self", -1, "", false)
	addLink("first", 0, "backward", true)
	if forward {
		atEnd := F+C-1 >= L
		p.headOf = atEnd
		if F >= 1 {
			addLink("last", 0, "forward", false)
			addLink("next", F-1, "backward", false)
		}
		if !(atEnd && len(sl.Events) == 0) {
			addLink("previous", minInt64(F+C-1, L)+1, "forward", false)
		}
		p.reverse = true
		if len(sl.Events) > 0 {
			p.updated = entryTime(&sl.Events[0])
		}
	} else {
		start := F - C + 1
		if start < 0 {
			start = 0
		}
		atEnd := sl.IsEndOfStream || start == 0 ||
			(start <= L && (len(sl.Events) == 0 || entryNumber(&sl.Events[len(sl.Events)-1]) != start))
		p.headOf = headRead
		p.hasSelf = true
		if !atEnd {
			addLink("last", 0, "forward", false)
			addLink("next", F-C, "backward", false)
		}
		addLink("previous", minInt64(F, L)+1, "forward", false)
		if len(sl.Events) > 0 {
			p.updated = entryTime(&sl.Events[0])
		}
		if headRead {
			p.etag, p.etagVer = true, L
		}
	}
	// The metadata link is always present (quirk of §2.5.4).
	{
		start := len(r.lbuf)
		r.lbuf = append(r.lbuf, S...)
		r.lbuf = append(r.lbuf, "/metadata"...)
		p.addLink("metadata", r.lbuf[start:len(r.lbuf):len(r.lbuf)])
	}
	r.buf = h.renderFeed(r, r.buf[:0], p)
	r.reply(fasthttp.StatusOK, "", r.media, r.buf)
	var forever bool
	if forward {
		forever = L+1 >= F+C
	} else {
		forever = !headRead && L >= F
	}
	h.setCaching(r, stream, forever, L, true)
}

func reserve(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), len(b)+n)
	copy(nb, b)
	return nb
}

func minInt64(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}

func entryTime(e *store.ResolvedEvent) int64 {
	if e.HasLink {
		return e.Link.CreatedUnixNano
	}
	return e.Event.CreatedUnixNano
}

// entryNumber is the number of the record in the stream read.
func entryNumber(e *store.ResolvedEvent) int64 {
	if e.HasLink {
		return e.Link.Number
	}
	return e.Event.Number
}

// pollRead runs read with a reader from the pool. read reports whether its
// answer is final; with an ES-LongPoll of longPoll seconds an answer that is
// not final (nothing new yet) parks the request until the next commit or the
// deadline, then reads again — one last read after the deadline gives the
// final answer. A parked long poll gives its reader back while it waits, so
// parked requests cannot exhaust the reader pool. The caller releases the
// returned reader; false means the pool was exhausted and 503 was sent.
func (h *Handler) pollRead(r *request, longPoll int, read func(StoreReader) (final bool)) (StoreReader, bool) {
	var deadline time.Time
	for {
		rd := h.acquireReader()
		if rd == nil {
			r.status(fasthttp.StatusServiceUnavailable, reasonTooBusy)
			return nil, false
		}
		h.metrics.reads.Inc()
		var wake <-chan struct{}
		if longPoll > 0 {
			wake = h.commitWatch() // before the read, so no commit is missed
		}
		if read(rd) || longPoll == 0 {
			if wake != nil {
				h.commitUnwatch()
			}
			return rd, true
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(time.Duration(longPoll) * time.Second)
		}
		h.releaseReader(rd)
		woken := h.waitCommit(r, wake, deadline)
		h.commitUnwatch()
		if !woken {
			if rd = h.acquireReader(); rd == nil {
				r.status(fasthttp.StatusServiceUnavailable, reasonTooBusy)
				return nil, false
			}
			read(rd)
			return rd, true
		}
	}
}

// waitCommit waits for the next commit or the deadline; false on deadline.
//
// NB: it also returns false when the server shuts down (the RequestCtx's
// Done closes then), so a parked long poll gets its final answer at once
// instead of holding the node's shutdown for up to ES-LongPoll seconds.
func (h *Handler) waitCommit(r *request, wake <-chan struct{}, deadline time.Time) bool {
	h.parked.Add(1)
	defer h.parked.Add(-1)
	d := time.Until(deadline)
	if d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-wake:
		return true
	case <-t.C:
		return false
	case <-r.ctx.Done():
		return false
	}
}

func (h *Handler) renderFeed(r *request, b []byte, p *feedPage) []byte {
	switch r.media {
	case mtAtomXML, mtTextXML, mtAppXML, mtEventXML, mtEventsXML:
		return r.appendFeedXML(b, p)
	case mtHTML:
		r.w.reset(nil)
		r.writeFeedJSON(&r.w, p)
		return appendHTMLPage(b, p.stream, r.w.b)
	}
	r.w.reset(b)
	r.writeFeedJSON(&r.w, p)
	return r.w.b
}

// descriptionDocument answers a backward feed whose negotiated type is the
// stream description (§2.5.5).
func (h *Handler) descriptionDocument(r *request, stream string) {
	code, reason := fasthttp.StatusOK, reasonDescriptionDocument
	accept := r.ctx.Request.Header.Peek("Accept")
	if _, hasFormat := r.queryArg("format"); !hasFormat {
		switch {
		case len(accept) == 0:
			code, reason = fasthttp.StatusNotAcceptable, reasonDescNoAccept
		case acceptHasStarStar(accept):
			code, reason = fasthttp.StatusNotAcceptable, reasonDescriptionDocument
		}
	}
	var w jw
	w.reset(r.buf[:0])
	w.obj()
	w.kStr("title", "Description document for '"+stream+"'")
	w.kStr("description", "The description document will be presented when no accept header is present or it was requested")
	w.key("_links")
	w.obj()
	href := "/streams/" + string(appendEscaped(nil, stream))
	w.key("self")
	w.obj()
	w.kStr("href", href)
	w.key("supportedContentTypes")
	w.arr()
	w.str(mediaNames[mtStreamDescJSON])
	w.endArr()
	w.endObj()
	w.key("stream")
	w.obj()
	w.kStr("href", href)
	w.key("supportedContentTypes")
	w.arr()
	w.str(mediaNames[mtAtomXML])
	w.str(mediaNames[mtAtomJSON])
	w.endArr()
	w.endObj()
	w.endObj()
	w.endObj()
	r.buf = w.b
	r.reply(code, reason, mtStreamDescJSON, r.buf)
}

// ---- $all ----

func (h *Handler) allHead(r *request)     { h.allFeed(r, nil, nil, false) }
func (h *Handler) allBackward(r *request) { h.allFeed(r, r.param(0), r.param(1), false) }
func (h *Handler) allForward(r *request)  { h.allFeed(r, r.param(0), r.param(1), true) }

var zeroPosition = []byte("00000000000000000000000000000000")

func (h *Handler) allFeed(r *request, posParam, cntParam []byte, forward bool) {
	pos, count := store.PositionEnd, defaultFeedCount
	headRead := posParam == nil
	if posParam != nil {
		if !forward && string(posParam) == "head" {
			headRead = true
		} else {
			c, p, ok := parsePosition(posParam)
			if !ok {
				r.status(fasthttp.StatusBadRequest, "Invalid position argument: "+string(posParam))
				return
			}
			pos = store.Position{Commit: c, Prepare: p}
		}
		var ok bool
		count, ok = countParam(cntParam)
		if !ok {
			r.status(fasthttp.StatusBadRequest, "Invalid count argument: "+string(cntParam))
			return
		}
	}
	if _, ok := r.readCommon(false); !ok {
		return
	}
	longPoll := 0
	if forward {
		var ok bool
		if longPoll, ok = r.longPoll(); !ok {
			r.status(fasthttp.StatusBadRequest, "ES-LongPoll header in wrong format.")
			return
		}
	}
	if count > store.MaxReadCount {
		r.status(fasthttp.StatusInternalServerError, reasonReadTooBig)
		return
	}
	if !h.d.Auth.CheckStreamAccess(r.user, "$all", auth.ActionRead) {
		r.status(fasthttp.StatusUnauthorized, "Unauthorized")
		return
	}
	if inm := r.header(hdrIfNoneMatch); inm != nil {
		if v, ok := parseIfNoneMatch(inm, r.media); ok && v == h.d.DB.LastCommitPosition() {
			r.status(fasthttp.StatusNotModified, "Not Modified")
			return
		}
	}
	var sl *store.AllSlice
	rd, ok := h.pollRead(r, longPoll, func(rd StoreReader) bool {
		if forward {
			sl = rd.ReadAllForward(pos, count, true)
		} else {
			sl = rd.ReadAllBackward(pos, count, true)
		}
		return sl.Status != store.ReadSuccess || len(sl.Events) > 0
	})
	defer h.releaseReader(rd)
	if !ok {
		return
	}
	switch sl.Status {
	case store.ReadSuccess:
	case store.ReadAccessDenied:
		r.status(fasthttp.StatusUnauthorized, "Unauthorized")
		return
	default:
		reason := sl.Error
		if reason == "" {
			reason = "Internal Server Error"
		}
		r.status(fasthttp.StatusInternalServerError, reason)
		return
	}
	if !h.canReadTargets(r, sl.Events) {
		r.status(fasthttp.StatusUnauthorized, "Unauthorized")
		return
	}
	P := sl.Pos
	n := len(sl.Events)
	var nextPos, prevPos store.Position
	nextPos = sl.Next
	if forward {
		if n > 0 {
			prevPos = sl.Events[0].Pos
		} else {
			prevPos = store.Position{Commit: P.Commit, Prepare: 1<<63 - 1}
		}
	} else {
		if n > 0 {
			prevPos = store.Position{Commit: sl.Events[0].Pos.Commit, Prepare: sl.Events[0].Pos.Prepare + 1}
		} else {
			prevPos = store.Position{Commit: P.Commit, Prepare: 0}
		}
	}
	atEnd := n < count
	p := &feedPage{title: "All events", entries: sl.Events, level: r.embed(), reverse: forward}
	if r.media == mtHTML {
		p.level = embedPrettyBody
	}
	r.lbuf = reserve(r.lbuf[:0], len(r.base)*8+512)
	r.lbuf = append(r.lbuf, r.base...)
	r.lbuf = append(r.lbuf, "/streams/%24all"...)
	A := r.lbuf[:len(r.lbuf):len(r.lbuf)]
	p.selfURL = A
	addLink := func(rel string, pos []byte, head bool, cp *store.Position, dir string) {
		start := len(r.lbuf)
		r.lbuf = append(r.lbuf, A...)
		r.lbuf = append(r.lbuf, '/')
		switch {
		case head:
			r.lbuf = append(r.lbuf, "head"...)
		case cp != nil:
			r.lbuf = appendPosition(r.lbuf, cp.Commit, cp.Prepare)
		default:
			r.lbuf = append(r.lbuf, pos...)
		}
		r.lbuf = append(r.lbuf, '/')
		r.lbuf = append(r.lbuf, dir...)
		r.lbuf = append(r.lbuf, '/')
		r.lbuf = strconv.AppendInt(r.lbuf, int64(count), 10)
		p.addLink(rel, r.lbuf[start:len(r.lbuf):len(r.lbuf)])
	}
	p.addLink("self", A)
	addLink("first", nil, true, nil, "backward")
	if forward {
		if P.Commit != 0 {
			addLink("last", zeroPosition, false, nil, "forward")
			addLink("next", nil, false, &prevPos, "backward")
		}
		if n > 0 {
			addLink("previous", nil, false, &nextPos, "forward")
		}
	} else {
		if !atEnd {
			addLink("last", zeroPosition, false, nil, "forward")
			addLink("next", nil, false, &nextPos, "backward")
		}
		addLink("previous", nil, false, &prevPos, "forward")
	}
	{
		start := len(r.lbuf)
		r.lbuf = append(r.lbuf, A...)
		r.lbuf = append(r.lbuf, "/metadata"...)
		p.addLink("metadata", r.lbuf[start:len(r.lbuf):len(r.lbuf)])
	}
	if n > 0 {
		if forward {
			p.updated = entryTime(&sl.Events[n-1])
		} else {
			p.updated = entryTime(&sl.Events[0])
		}
	}
	r.buf = h.renderFeed(r, r.buf[:0], p)
	r.reply(fasthttp.StatusOK, "", r.media, r.buf)
	last := h.d.DB.LastCommitPosition()
	var forever bool
	if forward {
		forever = n == count
	} else {
		forever = !headRead && P.Commit <= last
	}
	h.setCaching(r, "$all", forever, last, true)
}

// redirectSlash answers the trailing-slash routes of §2.13.
func (h *Handler) redirectSlash(r *request) {
	ctx := r.ctx
	b := append(r.tmp[:0], r.base...)
	p := ctx.Request.URI().PathOriginal()
	if len(p) > 1 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	b = append(b, p...)
	if q := ctx.URI().QueryString(); len(q) > 0 {
		b = append(b, '?')
		b = append(b, q...)
	}
	r.tmp = b
	ctx.Response.Header.SetBytesKV(hdrLocation, b)
	ctx.Response.Header.SetBytesKV(hdrCacheControl, ccForeverPublic)
	ctx.SetStatusCode(fasthttp.StatusTemporaryRedirect)
	ctx.Response.Header.SetContentTypeBytes(textPlainUTF8)
	ctx.SetBodyString("Moved Permanently")
}
