package httpfront

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/eventstored/eventstored/node/auth"
	"github.com/eventstored/eventstored/store"
)

// Write-side stream routes: append (§2.3), incoming (§2.3.5), metadata
// write (§2.11) and delete (§2.12). Each handler validates headers in the
// spec's order, copies the body into events it owns, and waits for the
// store's reply (Submit, then the Done signal) within the request deadline.

type writeKind uint8

const (
	writeAppend writeKind = iota
	writeIncoming
	writeMetadata
)

func (h *Handler) postStream(r *request)   { h.handleWrite(r, writeAppend) }
func (h *Handler) postIncoming(r *request) { h.handleWrite(r, writeIncoming) }
func (h *Handler) postMetadata(r *request) { h.handleWrite(r, writeMetadata) }

func (h *Handler) handleWrite(r *request, kind writeKind) {
	ctx := r.ctx
	stream := h.names.get(r.param(0))
	reqMedia, _ := requestMedia(ctx.Request.Header.ContentType(), r.mr.r.accepts)
	// 1. Stream name.
	if kind == writeMetadata {
		if stream == "" || auth.IsMetastream(stream) {
			r.status(fasthttp.StatusBadRequest, reasonMetaWriteStream)
			return
		}
	} else if stream == "" {
		r.status(fasthttp.StatusBadRequest, reasonStreamEmpty)
		return
	}
	var id [16]byte
	hasID := false
	if kind == writeIncoming {
		// The id comes from the URL; ES-EventId is ignored.
		g, ok := parseGUID(r.param(1))
		if !ok {
			r.status(fasthttp.StatusBadRequest, reasonBadGUID)
			return
		}
		id, hasID = g, true
	}
	evType := r.header(hdrEventType)
	// 3. A single-event media type needs ES-EventType.
	if kind == writeAppend && !carriesEvents(reqMedia) && reqMedia != mtStreamDescJSON && len(evType) == 0 {
		r.status(fasthttp.StatusBadRequest, reasonNeedEventType)
		return
	}
	if kind != writeIncoming {
		// 4. ES-EventId syntax.
		if v := r.header(hdrEventID); v != nil {
			g, ok := parseGUID(trimSpace(v))
			if !ok || g == ([16]byte{}) {
				r.status(fasthttp.StatusBadRequest, "ES-EventId header in wrong format.")
				return
			}
			id, hasID = g, true
		}
	}
	// Metadata events are typed $metadata; another type is refused (after
	// the ES-EventId check, in the spec's order, §2.11).
	if kind == writeMetadata && evType != nil && string(evType) != "$metadata" {
		r.status(fasthttp.StatusBadRequest, reasonMetaEventType)
		return
	}
	// 5. Idempotent-URI redirect (appends only).
	if kind == writeAppend && !hasID && !carriesEvents(reqMedia) && reqMedia != mtStreamDescJSON {
		h.redirectIncoming(r)
		return
	}
	// 6. Header syntax.
	ev, ok := r.expectedVersion()
	if !ok {
		r.status(fasthttp.StatusBadRequest, "ES-ExpectedVersion header in wrong format.")
		return
	}
	if _, ok := r.boolHeader(hdrRequireMaster, false); !ok {
		r.status(fasthttp.StatusBadRequest, "ES-RequireMaster header in wrong format.")
		return
	}
	// 8. Body.
	target := stream
	if kind == writeMetadata {
		target = "$$" + stream
	}
	body := ctx.Request.Body()
	r.evs = r.evs[:0]
	var err error
	switch {
	case reqMedia == mtStreamDescJSON:
		err = errBodyInvalid
	case carriesEvents(reqMedia) || reqMedia == mtAtomJSON || reqMedia == mtAtomXML:
		if reqMedia == mtEventsXML || reqMedia == mtEventXML || reqMedia == mtAtomXML {
			r.evs, err = parseXMLEvents(body, r.evs)
		} else {
			r.evs, r.body, err = parseJSONEventsInto(body, r.evs, r.body, &h.names)
		}
		if err == nil && kind == writeIncoming {
			// incoming/{guid} fixes the id of its one event.
			r.evs = r.evs[:1]
			r.evs[0].ID = id
		}
	default:
		ne := store.NewEvent{ID: id, Type: string(evType), IsJSON: reqMedia == mtJSON}
		if kind == writeMetadata {
			ne.Type = "$metadata"
		}
		ne.Data = append([]byte(nil), body...)
		if ne.ID == ([16]byte{}) {
			err = errEmptyID
		} else if ne.Type == "" {
			err = errEmptyType
		}
		r.evs = append(r.evs, ne)
	}
	if err == errTooLarge {
		r.status(fasthttp.StatusRequestEntityTooLarge, reasonTooLarge)
		return
	}
	if err != nil {
		r.status(fasthttp.StatusBadRequest, err.Error())
		return
	}
	// 9. The 4 MiB event limit. NB: the original answers 413 but still
	// writes; we stop, since nobody can rely on a write whose reply said it
	// failed (spec §2.3.1, recommended).
	for i := range r.evs {
		e := &r.evs[i]
		if len(e.Data)+len(e.Metadata) > maxEventDataBytes {
			r.status(fasthttp.StatusRequestEntityTooLarge, reasonTooLarge)
			return
		}
		if len(e.Data)+len(e.Metadata)+2*len(e.Type) > store.MaxEventSizeBytes {
			r.status(fasthttp.StatusBadRequest, reasonRecordTooBig)
			return
		}
	}
	// Access.
	if !h.d.Auth.CheckStreamAccess(r.user, target, auth.ActionWrite) {
		r.status(fasthttp.StatusUnauthorized, "Unauthorized")
		return
	}
	// 10. Write.
	r.op = store.Op{Kind: store.OpWrite, Stream: target, ExpectedVersion: ev, Events: r.evs}
	if !h.do(r) {
		return
	}
	res := &r.op.Result
	h.metrics.writes.Inc()
	switch res.Status {
	case store.OpSuccess:
		h.noteWritten(target)
		r.tmp = appendEventURL(r.tmp[:0], r.base, target, res.FirstEventNumber)
		ctx.Response.Header.SetBytesKV(hdrLocation, r.tmp)
		r.status(fasthttp.StatusCreated, "Created")
	case store.OpWrongExpectedVersion:
		r.tmp = strconv.AppendInt(r.tmp[:0], res.CurrentVersion, 10)
		ctx.Response.Header.SetBytesKV(hdrCurrentVersion, r.tmp)
		r.status(fasthttp.StatusBadRequest, reasonWrongExpected)
	default:
		h.writeFailure(r, res.Status, reasonWriteTimeout)
	}
}

// noteWritten tells auth about writes it caches (user streams, $settings)
// and drops cached responses that a metadata change may affect.
func (h *Handler) noteWritten(stream string) {
	h.d.Auth.NoteStreamWritten(stream)
}

// writeFailure maps the non-success results shared by writes and deletes
// (spec §2.3.6, §2.12).
func (h *Handler) writeFailure(r *request, st store.OpStatus, timeoutReason string) {
	switch st {
	case store.OpStreamDeleted:
		r.status(fasthttp.StatusGone, reasonStreamDeleted)
	case store.OpAccessDenied:
		r.status(fasthttp.StatusUnauthorized, "Unauthorized")
	case store.OpPrepareTimeout, store.OpCommitTimeout, store.OpForwardTimeout:
		r.status(fasthttp.StatusInternalServerError, timeoutReason)
	case store.OpInvalidTransaction:
		r.status(fasthttp.StatusInternalServerError, reasonInvalidTransaction)
	default:
		r.status(fasthttp.StatusInternalServerError, "Internal Server Error")
	}
}

// do runs r.op through the store within the request deadline and answers
// the failures that have no protocol result. It returns true when
// r.op.Result holds the outcome.
func (h *Handler) do(r *request) bool {
	if h.d.DB == nil {
		r.status(fasthttp.StatusServiceUnavailable, reasonNotReady)
		return false
	}
	r.op.Done = r.opDone
	err := h.d.DB.Submit(&r.op)
	if err == nil {
		if r.timer == nil {
			r.timer = time.NewTimer(h.timeout)
		} else {
			r.timer.Reset(h.timeout)
		}
		select {
		case <-r.done:
			r.timer.Stop()
		case <-r.timer.C:
			err = context.DeadlineExceeded
		}
	}
	if err == nil && r.op.Result.Err != nil {
		err = r.op.Result.Err
	}
	if err == nil {
		return true
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		// The writer still owns op: never reuse this request.
		r.abandoned = true
		r.status(fasthttp.StatusRequestTimeout, reasonTimeout)
	case errors.Is(err, store.ErrTooBusy):
		r.status(fasthttp.StatusServiceUnavailable, reasonTooBusy)
	case errors.Is(err, store.ErrCommitUnknown):
		// Handed to consensus, then leadership was lost: it may still
		// commit. Event Store's answer to a commit timeout (spec http-api
		// §2.3.6); the client retries (idempotent by event id).
		reason := reasonWriteTimeout
		if r.op.Kind == store.OpDelete {
			reason = reasonDeleteTimeout
		}
		h.writeFailure(r, store.OpCommitTimeout, reason)
	case errors.Is(err, store.ErrClosed):
		r.status(fasthttp.StatusServiceUnavailable, reasonNotReady)
	case errors.Is(err, store.ErrBadRequest):
		r.status(fasthttp.StatusBadRequest, badRequestReason(err))
	case errors.Is(err, store.ErrDiskFull):
		r.status(fasthttp.StatusInternalServerError, "Write failed: no space left on the database disk")
	default:
		h.log.Error("write failed", "stream", r.op.Stream, "err", err)
		r.status(fasthttp.StatusInternalServerError, "Write failed: the node refuses writes until restarted")
	}
	return false
}

// badRequestReason makes a store validation error a one-line reason phrase.
func badRequestReason(err error) string {
	s := err.Error()
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 {
			return s[:i]
		}
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// redirectIncoming answers the idempotent-URI redirect of spec §2.3.4: the
// raw request URL (not the advertised one) plus /incoming/<new guid>.
func (h *Handler) redirectIncoming(r *request) {
	ctx := r.ctx
	id := newGUID()
	b := r.tmp[:0]
	if ctx.IsTLS() {
		b = append(b, "https://"...)
	} else {
		b = append(b, "http://"...)
	}
	host := ctx.Request.Header.Host()
	if len(host) == 0 || !hostChars(host) || len(host) > maxHostBytes {
		host = s2b(h.d.Options.ListenAddr)
	}
	b = append(b, host...)
	b = append(b, ctx.Request.URI().PathOriginal()...)
	b = append(b, "/incoming/"...)
	b = appendGUID(b, &id)
	r.tmp = b
	ctx.Response.Header.SetBytesKV(hdrLocation, b)
	ctx.SetStatusCode(fasthttp.StatusTemporaryRedirect)
	ctx.Response.Header.SetStatusMessage([]byte("Temporary Redirect"))
	ctx.Response.Header.SetContentTypeBytes(textPlainUTF8)
	ctx.SetBodyString("Forwarding to idempotent URI")
}

// deleteStream handles DELETE /streams/{s} (spec §2.12).
func (h *Handler) deleteStream(r *request) {
	stream := string(r.param(0))
	if stream == "" {
		r.status(fasthttp.StatusBadRequest, "Invalid stream name ''")
		return
	}
	ev, ok := r.expectedVersion()
	if !ok {
		r.status(fasthttp.StatusBadRequest, "ES-ExpectedVersion header in wrong format.")
		return
	}
	if _, ok := r.boolHeader(hdrRequireMaster, false); !ok {
		r.status(fasthttp.StatusBadRequest, "ES-RequireMaster header in wrong format.")
		return
	}
	hard, ok := r.boolHeader(hdrHardDelete, false)
	if !ok {
		r.status(fasthttp.StatusBadRequest, "ES-HardDelete header in wrong format.")
		return
	}
	if !h.d.Auth.CheckStreamAccess(r.user, stream, auth.ActionDelete) {
		r.status(fasthttp.StatusUnauthorized, "Unauthorized")
		return
	}
	r.op = store.Op{Kind: store.OpDelete, Stream: stream, ExpectedVersion: ev, HardDelete: hard}
	if !h.do(r) {
		return
	}
	switch r.op.Result.Status {
	case store.OpSuccess:
		h.noteWritten(stream)
		h.cache.purge()
		r.status(fasthttp.StatusNoContent, "Stream deleted")
	case store.OpWrongExpectedVersion:
		r.status(fasthttp.StatusBadRequest, reasonWrongExpected)
	default:
		h.writeFailure(r, r.op.Result.Status, reasonDeleteTimeout)
	}
}
