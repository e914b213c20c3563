package codec

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
)

// GUID is 16 bytes in .NET Guid.ToByteArray() order, exactly as carried on
// the wire (spec §1.5): the first three groups are little-endian, the last
// eight bytes are in text order. Keep ids in this form everywhere and convert
// only at the text edges (logs, HTTP).
type GUID [16]byte

// ErrBadGUID is returned by ParseGUID for text that is not a canonical GUID.
var ErrBadGUID = errors.New("codec: malformed GUID text")

// netOrder maps each wire (.NET) byte index to the RFC 4122 (text) byte
// index it holds.
var netOrder = [16]int{3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15}

// IsZero reports whether g is the all-zero GUID, which marks a
// connection-wide BadRequest (spec §1.5).
func (g GUID) IsZero() bool { return g == GUID{} }

// String returns the canonical lower-case text form
// (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx) that the .NET and node clients show
// for these bytes.
func (g GUID) String() string {
	var buf [36]byte
	return string(g.AppendText(buf[:0]))
}

// AppendText appends the canonical text form of g to dst.
func (g GUID) AppendText(dst []byte) []byte {
	var rfc [16]byte
	for i, j := range netOrder {
		rfc[j] = g[i]
	}
	var out [36]byte
	hex.Encode(out[0:8], rfc[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], rfc[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], rfc[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], rfc[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], rfc[10:16])
	return append(dst, out[:]...)
}

// ParseGUID parses canonical GUID text (hyphenated, either case; braces
// allowed as .NET prints them with "B") into wire byte order.
func ParseGUID(s string) (GUID, error) {
	if len(s) == 38 && s[0] == '{' && s[37] == '}' {
		s = s[1:37]
	}
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return GUID{}, fmt.Errorf("%w: %q", ErrBadGUID, s)
	}
	var hexDigits [32]byte
	copy(hexDigits[0:8], s[0:8])
	copy(hexDigits[8:12], s[9:13])
	copy(hexDigits[12:16], s[14:18])
	copy(hexDigits[16:20], s[19:23])
	copy(hexDigits[20:32], s[24:36])
	var rfc [16]byte
	if _, err := hex.Decode(rfc[:], hexDigits[:]); err != nil {
		return GUID{}, fmt.Errorf("%w: %q", ErrBadGUID, s)
	}
	var g GUID
	for i, j := range netOrder {
		g[i] = rfc[j]
	}
	return g, nil
}

// NewGUID returns a random version-4 GUID in wire order. It is safe for
// concurrent use. The version and variant bits sit where .NET's
// Guid.NewGuid() puts them, so the text form reads like any v4 UUID.
func NewGUID() GUID {
	var rfc [16]byte
	_, _ = rand.Read(rfc[:]) // crypto/rand.Read never fails since Go 1.24
	rfc[6] = rfc[6]&0x0f | 0x40
	rfc[8] = rfc[8]&0x3f | 0x80
	var g GUID
	for i, j := range netOrder {
		g[i] = rfc[j]
	}
	return g
}
