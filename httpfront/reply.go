package httpfront

import (
	"github.com/valyala/fasthttp"
)

// CORS values of spec http-api §6.1, verbatim (the "ES-RequiresMaster"
// spelling and the missing ES-TrustedAuth are the original's quirks).
var (
	corsAllowHeaders  = []byte("Content-Type, X-Requested-With, X-Forwarded-Host, X-Forwarded-Prefix, X-PINGOTHER, Authorization, ES-LongPoll, ES-ExpectedVersion, ES-EventId, ES-EventType, ES-RequiresMaster, ES-HardDelete, ES-ResolveLinkTos")
	corsExposeHeaders = []byte("Location, ES-Position, ES-CurrentVersion")
	star              = []byte("*")
	wwwAuthenticate   = []byte(`Basic realm="ES"`)
	textPlainUTF8     = []byte("text/plain; charset=utf-8")

	hdrAllowOrigin     = []byte("Access-Control-Allow-Origin")
	hdrAllowMethods    = []byte("Access-Control-Allow-Methods")
	hdrAllowHeaders    = []byte("Access-Control-Allow-Headers")
	hdrExposeHeaders   = []byte("Access-Control-Expose-Headers")
	hdrWWWAuthenticate = []byte("WWW-Authenticate")
	hdrCacheControl    = []byte("Cache-Control")
	hdrVary            = []byte("Vary")
	hdrETag            = []byte("ETag")
	hdrLocation        = []byte("Location")
	hdrCurrentVersion  = []byte("ES-CurrentVersion")
	hdrRetryAfter      = []byte("Retry-After")
	valAccept          = []byte("Accept")
)

// Cache-Control values of spec §2.7.
var (
	ccForeverPublic  = []byte("max-age=31536000, public")
	ccForeverPrivate = []byte("max-age=31536000, private")
	ccRevalidate     = []byte("max-age=0, no-cache, must-revalidate")
	ccStats          = []byte("max-age=1, public")
)

// setCORS puts the CORS headers on every reply (spec §6.1). allow is the
// Access-Control-Allow-Methods value; empty before a route was chosen.
func setCORS(ctx *fasthttp.RequestCtx, allow []byte) {
	h := &ctx.Response.Header
	h.SetBytesKV(hdrAllowMethods, allow)
	h.SetBytesKV(hdrAllowHeaders, corsAllowHeaders)
	h.SetBytesKV(hdrAllowOrigin, star)
	h.SetBytesKV(hdrExposeHeaders, corsExposeHeaders)
}

// statusOnly writes a status-only reply: empty body, the reason phrase in
// the status line (spec §1.4), text/plain content type. A 401 always carries
// WWW-Authenticate (spec §5.5).
func statusOnly(ctx *fasthttp.RequestCtx, code int, reason string) {
	ctx.Response.ResetBody()
	ctx.SetStatusCode(code)
	if reason != "" {
		ctx.Response.Header.SetStatusMessage(s2b(reason))
	}
	ctx.Response.Header.SetContentTypeBytes(textPlainUTF8)
	if code == fasthttp.StatusUnauthorized {
		ctx.Response.Header.SetBytesKV(hdrWWWAuthenticate, wwwAuthenticate)
	}
}

// Reason phrases of spec Appendix A that several handlers share.
const (
	reasonNotAcceptable       = "Requested URI is not available in requested format"
	reasonBadContentType      = "Invalid or missing Content-Type"
	reasonTimeout             = "Server was unable to handle request in time"
	reasonWrongExpected       = "Wrong expected EventNumber"
	reasonStreamDeleted       = "Stream deleted"
	reasonDeleted             = "Deleted"
	reasonWriteTimeout        = "Write timeout"
	reasonDeleteTimeout       = "Delete timeout"
	reasonInvalidTransaction  = "Invalid transaction"
	reasonReadTooBig          = "Read size too big, should be less than 4096 items"
	reasonNotReady            = "Server Is Not Ready"
	reasonTooBusy             = "Server Is Too Busy"
	reasonBodyInvalid         = "Write request body invalid."
	reasonEmptyEventID        = "Empty eventId provided."
	reasonEmptyEventType      = "Empty eventType provided."
	reasonRecordTooBig        = "Record is too big"
	reasonTooLarge            = "Too large events received. Limit is 4mb"
	reasonNeedEventType       = "Must include an event type with the request either in body or as ES-EventType header."
	reasonStreamEmpty         = "Invalid request. Stream must be non-empty string"
	reasonMetaWriteStream     = "Invalid request. Stream must be non-empty string and should not be metastream"
	reasonMetaReadStream      = "Stream must be non-empty string and should not be metastream"
	reasonMetaEventType       = "Bad Request. You should not include an event type for metadata."
	reasonBadGUID             = "Invalid request. Unable to parse guid"
	reasonDescriptionDocument = "Description Document"
	reasonDescNoAccept        = "We are unable to represent the stream in the format requested."
	reasonStatsNoGroup        = "Dynamic stats selection works only with grouping enabled"
)
