package httpfront

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// Response compression (spec http-api §1.4, [4.1+], recommended): when the
// request's Accept-Encoding holds the token gzip or deflate (the first such
// token in header order, exact token, q ignored), a non-empty body is
// compressed with it and Content-Encoding is set. 4.0.3 never compressed;
// clients that do not ask get identical bytes.

var (
	hdrAcceptEncoding  = []byte("Accept-Encoding")
	hdrContentEncoding = []byte("Content-Encoding")
	encGzip            = []byte("gzip")
	encDeflate         = []byte("deflate")
)

// minCompressBytes skips bodies too small to gain from compression (the
// gzip framing alone is 18 bytes). Chosen, not from the original.
const minCompressBytes = 256

// chooseEncoding returns "gzip", "deflate" or nil.
func chooseEncoding(ae []byte) []byte {
	for len(ae) > 0 {
		var tok []byte
		if i := bytes.IndexByte(ae, ','); i >= 0 {
			tok, ae = ae[:i], ae[i+1:]
		} else {
			tok, ae = ae, nil
		}
		if i := bytes.IndexByte(tok, ';'); i >= 0 {
			tok = tok[:i]
		}
		tok = trimSpace(tok)
		switch {
		case bytes.Equal(tok, encGzip):
			return encGzip
		case bytes.Equal(tok, encDeflate):
			return encDeflate
		}
	}
	return nil
}

// maybeCompress compresses the response body in place when the client
// asked for it.
func (r *request) maybeCompress() {
	ctx := r.ctx
	body := ctx.Response.Body()
	if len(body) < minCompressBytes || len(ctx.Response.Header.PeekBytes(hdrContentEncoding)) > 0 {
		return
	}
	enc := chooseEncoding(ctx.Request.Header.PeekBytes(hdrAcceptEncoding))
	if enc == nil {
		return
	}
	if bytes.Equal(enc, encGzip) {
		r.tmp = fasthttp.AppendGzipBytesLevel(r.tmp[:0], body, fasthttp.CompressBestSpeed)
	} else {
		r.tmp = fasthttp.AppendDeflateBytesLevel(r.tmp[:0], body, fasthttp.CompressBestSpeed)
	}
	ctx.Response.SetBody(r.tmp)
	ctx.Response.Header.SetBytesKV(hdrContentEncoding, enc)
	ctx.Response.Header.AddBytesKV(hdrVary, []byte("Accept-Encoding"))
}
