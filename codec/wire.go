package codec

import (
	"errors"
	"fmt"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
)

// Sentinel errors of the payload decoders. Every decode error is a
// *FieldError wrapping one of these, so callers can both branch (errors.Is)
// and show the precise text in a BadRequest.
var (
	// ErrMalformed: the bytes are not a valid protobuf encoding (truncated
	// varint or length, bad tag, nesting too deep).
	ErrMalformed = errors.New("malformed protobuf")
	// ErrWireType: a known field arrived with a wire type its schema does
	// not allow.
	ErrWireType = errors.New("wrong wire type")
	// ErrMissingField: a proto2 required field is absent.
	ErrMissingField = errors.New("missing required field")
	// ErrTooManyElements: a repeated field holds more than
	// RepeatedCountMax elements.
	ErrTooManyElements = errors.New("too many elements")
)

// RepeatedCountMax bounds every repeated field a decoder accepts. Without
// it a 64 MiB frame of two-byte empty elements would expand into tens of
// millions of decoded structs (hundreds of bytes each). 100,000 covers any
// real page (reads are capped at 4,096, spec §4.10) and any sane write batch
// while keeping the worst case near 30 MB. (implementation choice: the
// original only had the 64 MiB frame limit.)
const RepeatedCountMax = 100_000

// FieldError names the message and field a decode error concerns.
type FieldError struct {
	Message string // e.g. "WriteEvents"
	Field   string // e.g. "event_stream_id"; empty when not known
	Err     error  // one of the sentinels above
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("codec: %s: %v", e.Message, e.Err)
	}
	return fmt.Sprintf("codec: %s.%s: %v", e.Message, e.Field, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// maxNestingDepth bounds recursion when skipping unknown groups.
const maxNestingDepth = 16

// decoder walks the fields of one message. Every method is a no-op once
// err is set, so generated decoders read straight-line.
type decoder struct {
	b    []byte
	msg  string
	num  protowire.Number
	typ  protowire.Type
	seen uint64 // bit n set when field n (< 64) was read
	err  error
}

// next reads the next tag; it returns false at the end or on error.
//
// Field numbers below 16 with any wire type fit a one-byte tag, which is
// every field of every message here (spec §3), so that case is decoded in
// line and protowire's general loop (which dominated decode profiles at
// 100 subscribers, node/subscriptions/doc.go) runs only for longer tags.
func (d *decoder) next() bool {
	if d.err != nil || len(d.b) == 0 {
		return false
	}
	if c := d.b[0]; c < 0x80 && c >= 1<<3 {
		d.b = d.b[1:]
		d.num, d.typ = protowire.Number(c>>3), protowire.Type(c&7)
		d.seen |= 1 << (c >> 3)
		return true
	}
	return d.nextSlow()
}

// nextSlow is next for multi-byte tags and for a one-byte tag with field
// number 0, which protowire rejects as malformed.
func (d *decoder) nextSlow() bool {
	num, typ, n := protowire.ConsumeTag(d.b)
	if n < 0 {
		d.err = &FieldError{Message: d.msg, Err: ErrMalformed}
		return false
	}
	d.b = d.b[n:]
	d.num, d.typ = num, typ
	if num < 64 {
		d.seen |= 1 << uint(num)
	}
	return true
}

func (d *decoder) fail(field string, err error) {
	if d.err == nil {
		d.err = &FieldError{Message: d.msg, Field: field, Err: err}
	}
}

func (d *decoder) varint(field string) uint64 {
	// One-byte values (types, flags, bools, small numbers) are decoded in
	// line; the rest, and every error, go through varintSlow.
	if d.typ == protowire.VarintType && len(d.b) > 0 && d.b[0] < 0x80 {
		v := uint64(d.b[0])
		d.b = d.b[1:]
		return v
	}
	return d.varintSlow(field)
}

func (d *decoder) varintSlow(field string) uint64 {
	if d.typ != protowire.VarintType {
		d.fail(field, ErrWireType)
		return 0
	}
	v, n := protowire.ConsumeVarint(d.b)
	if n < 0 {
		d.fail(field, ErrMalformed)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int64(field string) int64 { return int64(d.varint(field)) }

// int32 follows protobuf: an int32 is sent sign-extended to 64 bits and
// truncated on receipt.
func (d *decoder) int32(field string) int32 { return int32(d.varint(field)) }

func (d *decoder) bool(field string) bool { return d.varint(field) != 0 }

// bytes returns a view into the source; the capacity is clipped so that an
// append by the caller can never overwrite the following bytes.
func (d *decoder) bytes(field string) []byte {
	// A length below 128 (stream names, event types, GUIDs, small bodies)
	// is one byte and is decoded in line when the bytes are all there; the
	// rest, and every error, go through bytesSlow.
	if d.typ == protowire.BytesType && len(d.b) > 0 && d.b[0] < 0x80 && int(d.b[0]) < len(d.b) {
		n := int(d.b[0]) + 1
		v := d.b[1:n:n]
		d.b = d.b[n:]
		return v
	}
	return d.bytesSlow(field)
}

func (d *decoder) bytesSlow(field string) []byte {
	if d.typ != protowire.BytesType {
		d.fail(field, ErrWireType)
		return nil
	}
	v, n := protowire.ConsumeBytes(d.b)
	if n < 0 {
		d.fail(field, ErrMalformed)
		return nil
	}
	d.b = d.b[n:]
	return v[:len(v):len(v)]
}

// string returns a string that aliases the source bytes (no copy). See the
// package documentation: such strings are valid only while the source is
// unchanged.
func (d *decoder) string(field string) string {
	b := d.bytes(field)
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// room reports whether a repeated field that already holds n elements may
// take one more.
func (d *decoder) room(field string, n int) bool {
	if n >= RepeatedCountMax {
		d.fail(field, ErrTooManyElements)
		return false
	}
	return true
}

// sub records an error from a nested decoder.
func (d *decoder) sub(err error) {
	if err != nil && d.err == nil {
		d.err = err
	}
}

func (d *decoder) skip() {
	n := protowire.ConsumeFieldValue(d.num, d.typ, d.b)
	if n < 0 {
		d.fail("", ErrMalformed)
		return
	}
	d.b = d.b[n:]
}

// finish reports the first error, or the first required field (bit set in
// required) that was not seen. names[i] is the proto name of field i.
func (d *decoder) finish(required uint64, names []string) error {
	if d.err != nil {
		return d.err
	}
	if missing := required &^ d.seen; missing != 0 {
		for i := range names {
			if missing&(1<<uint(i)) != 0 {
				return &FieldError{Message: d.msg, Field: names[i], Err: ErrMissingField}
			}
		}
	}
	return nil
}

// growSlice extends s by one zeroed-or-reused element and returns it; the
// element's own reusable slices (if any) are kept for the nested decoder.
func growSlice[T any](s []T) []T {
	if len(s) < cap(s) {
		return s[:len(s)+1]
	}
	var zero T
	return append(s, zero)
}

// Encoding helpers. Field numbers are small constants, so the tag is
// almost always one byte, and most values (types, flags, small numbers,
// short lengths) fit one or two varint bytes: these fast paths avoid
// protowire's general loop, which dominated encode profiles.

func appendTag(b []byte, num protowire.Number, typ protowire.Type) []byte {
	if num < 16 {
		return append(b, byte(num)<<3|byte(typ))
	}
	return protowire.AppendTag(b, num, typ)
}

func appendVarint(b []byte, v uint64) []byte {
	switch {
	case v < 1<<7:
		return append(b, byte(v))
	case v < 1<<14:
		return append(b, byte(v)|0x80, byte(v>>7))
	}
	return protowire.AppendVarint(b, v)
}

func sizeVarint(v uint64) int {
	switch {
	case v < 1<<7:
		return 1
	case v < 1<<14:
		return 2
	}
	return protowire.SizeVarint(v)
}

func sizeTag(num protowire.Number) int {
	if num < 16 {
		return 1
	}
	return protowire.SizeTag(num)
}

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	return appendVarint(appendTag(b, num, protowire.VarintType), v)
}

func appendBoolField(b []byte, num protowire.Number, v bool) []byte {
	if v {
		return append(appendTag(b, num, protowire.VarintType), 1)
	}
	return append(appendTag(b, num, protowire.VarintType), 0)
}

func appendStringField(b []byte, num protowire.Number, v string) []byte {
	b = appendVarint(appendTag(b, num, protowire.BytesType), uint64(len(v)))
	return append(b, v...)
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	b = appendVarint(appendTag(b, num, protowire.BytesType), uint64(len(v)))
	return append(b, v...)
}

// appendMessageHeader writes the tag and length of a nested message.
func appendMessageHeader(b []byte, num protowire.Number, size int) []byte {
	return appendVarint(appendTag(b, num, protowire.BytesType), uint64(size))
}

func sizeVarintField(num protowire.Number, v uint64) int {
	return sizeTag(num) + sizeVarint(v)
}

func sizeBytesField(num protowire.Number, n int) int {
	return sizeTag(num) + sizeVarint(uint64(n)) + n
}

func boolU64(v bool) uint64 { return protowire.EncodeBool(v) }
