package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Frame and package limits (spec §1.2, §1.6). These are the original
// server's values (LengthPrefixMessageFramer.cs, TcpPackage.cs in 4.0.3).
const (
	// LengthPrefixSize is the size of the little-endian length before each
	// package.
	LengthPrefixSize = 4
	// FrameLengthMax is the largest package (the length prefix's value)
	// either side accepts: 64 MiB.
	FrameLengthMax = 64 << 20
	// HeaderSize is command + flags + correlation id.
	HeaderSize = 18
	// CredentialLengthMax bounds login and password once UTF-8 encoded: one
	// length byte each.
	CredentialLengthMax = 255
)

// Flags is the bit set at offset 1 of a package (spec §1.4).
type Flags uint8

const (
	FlagNone          Flags = 0x00
	FlagAuthenticated Flags = 0x01
	// FlagTrustedWrite is legal only between cluster nodes; the external
	// port answers it with BadRequest and closes (spec §1.4).
	FlagTrustedWrite Flags = 0x02
)

// Sentinel errors of the framing layer. Each is a framing error: the
// original server answers it with a BadRequest carrying the zero
// correlation id and closes the connection (spec §4.15).
var (
	// ErrFrameLength: the length prefix is ≤ 0 or > FrameLengthMax.
	ErrFrameLength = errors.New("codec: invalid frame length")
	// ErrPackageTooShort: a package shorter than the 18-byte header.
	ErrPackageTooShort = errors.New("codec: package shorter than its header")
	// ErrAuthBlock: the Authenticated flag is set but the login/password
	// lengths run past the end of the package.
	ErrAuthBlock = errors.New("codec: malformed authentication block")
	// ErrCredentialTooLong: an encoder was given a login or password over
	// CredentialLengthMax bytes.
	ErrCredentialTooLong = errors.New("codec: login or password longer than 255 bytes")
)

// Package is one decoded package. Login, Password and Payload are views
// into the buffer given to DecodePackage: they stay valid only while that
// buffer is unchanged, so a caller that keeps them past the current
// callback must copy them first.
type Package struct {
	Command       Command
	Flags         Flags
	CorrelationID GUID
	// Login and Password are set only when Flags has FlagAuthenticated
	// (either may then be empty).
	Login    []byte
	Password []byte
	Payload  []byte
}

// SplitFrame looks for one whole frame at the start of buf. It returns the
// package (a view into buf, without the length prefix) and n, the number of
// bytes the frame occupies, or n = 0 when buf does not yet hold the whole
// frame. As soon as the four length bytes are present a bad length is
// reported (wrapping ErrFrameLength), without waiting for a body that will
// never be accepted. SplitFrame never allocates except for that error.
func SplitFrame(buf []byte) (pkg []byte, n int, err error) {
	if len(buf) < LengthPrefixSize {
		return nil, 0, nil
	}
	length := int32(binary.LittleEndian.Uint32(buf))
	if length <= 0 || length > FrameLengthMax {
		return nil, 0, frameLengthError(int64(length))
	}
	end := LengthPrefixSize + int(length)
	if len(buf) < end {
		return nil, 0, nil
	}
	return buf[LengthPrefixSize:end:end], end, nil
}

func frameLengthError(length int64) error {
	return fmt.Errorf("%w: %d (allowed 1..%d)", ErrFrameLength, length, FrameLengthMax)
}

// DecodePackage parses the header and authentication block of pkg (as
// returned by SplitFrame). It does not look at the payload. It allocates
// nothing on success.
//
// NB: the original server requires 18+1+L+1 < len(pkg) after reading the
// login length, which rejects an empty password with no payload (spec §1.6
// quirk). We accept that case: the check here is ≤.
func DecodePackage(pkg []byte) (Package, error) {
	if len(pkg) < HeaderSize {
		return Package{}, fmt.Errorf("%w: %d bytes", ErrPackageTooShort, len(pkg))
	}
	p := Package{Command: Command(pkg[0]), Flags: Flags(pkg[1])}
	copy(p.CorrelationID[:], pkg[2:HeaderSize])
	rest := pkg[HeaderSize:]
	if p.Flags&FlagAuthenticated != 0 {
		if len(rest) < 1 {
			return Package{}, fmt.Errorf("%w: no login length", ErrAuthBlock)
		}
		l := int(rest[0])
		if 1+l+1 > len(rest) {
			return Package{}, fmt.Errorf("%w: login length %d exceeds package", ErrAuthBlock, l)
		}
		p.Login = rest[1 : 1+l : 1+l]
		rest = rest[1+l:]
		pl := int(rest[0])
		if 1+pl > len(rest) {
			return Package{}, fmt.Errorf("%w: password length %d exceeds package", ErrAuthBlock, pl)
		}
		p.Password = rest[1 : 1+pl : 1+pl]
		rest = rest[1+pl:]
	}
	p.Payload = rest
	return p, nil
}

// AppendFrameStart appends a length-prefix placeholder and the 18-byte
// header to dst and returns the extended buffer and the offset of the
// frame's first byte. The caller appends the optional auth block
// (AppendAuth) and the payload, then calls FinishFrame with that offset.
// This lets replies be built in place in a connection's send buffer
// without copies.
func AppendFrameStart(dst []byte, cmd Command, flags Flags, id *GUID) ([]byte, int) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, byte(cmd), byte(flags))
	dst = append(dst, id[:]...)
	return dst, start
}

// AppendAuth appends the authentication block (only valid right after a
// header whose flags include FlagAuthenticated).
func AppendAuth(dst []byte, login, password string) ([]byte, error) {
	if len(login) > CredentialLengthMax || len(password) > CredentialLengthMax {
		return dst, ErrCredentialTooLong
	}
	dst = append(dst, byte(len(login)))
	dst = append(dst, login...)
	dst = append(dst, byte(len(password)))
	dst = append(dst, password...)
	return dst, nil
}

// FinishFrame patches the length prefix of the frame that starts at
// offset start of buf (as returned by AppendFrameStart) to cover everything
// appended since. It fails with ErrFrameLength if the frame grew past
// FrameLengthMax; the caller should then truncate buf to start.
func FinishFrame(buf []byte, start int) error {
	length := len(buf) - start - LengthPrefixSize
	if length < HeaderSize {
		panic("BUG: codec.FinishFrame on a buffer without a header at start")
	}
	if length > FrameLengthMax {
		return frameLengthError(int64(length))
	}
	binary.LittleEndian.PutUint32(buf[start:], uint32(length))
	return nil
}

// AppendPackageHeader appends the 18-byte header alone (no length prefix).
func AppendPackageHeader(dst []byte, cmd Command, flags Flags, id *GUID) []byte {
	dst = append(dst, byte(cmd), byte(flags))
	return append(dst, id[:]...)
}

// AppendFrame appends a whole frame without credentials: length prefix,
// header (flags 0, as the server always sends) and payload. A payload too
// large for a frame is replaced by a BadRequest with the same correlation
// id, as in AppendMessageFrame.
func AppendFrame(dst []byte, cmd Command, id *GUID, payload []byte) []byte {
	if HeaderSize+len(payload) > FrameLengthMax {
		return appendOversizeBadRequest(dst, cmd, id, LengthPrefixSize+HeaderSize+len(payload))
	}
	dst, start := AppendFrameStart(dst, cmd, FlagNone, id)
	dst = append(dst, payload...)
	_ = FinishFrame(dst, start) // cannot fail: checked above
	return dst
}

// AppendFrameAuth appends a whole frame that carries credentials (the
// Authenticated flag is set by this function).
func AppendFrameAuth(dst []byte, cmd Command, id *GUID, login, password string, payload []byte) ([]byte, error) {
	orig := len(dst)
	dst, start := AppendFrameStart(dst, cmd, FlagAuthenticated, id)
	dst, err := AppendAuth(dst, login, password)
	if err != nil {
		return dst[:orig], err
	}
	dst = append(dst, payload...)
	if err := FinishFrame(dst, start); err != nil {
		return dst[:orig], err
	}
	return dst, nil
}

// AppendBadRequest appends a BadRequest frame whose payload is the UTF-8
// reason (spec §2.2), cut to 64 KiB. A zero id makes the clients close the
// connection.
func AppendBadRequest(dst []byte, id *GUID, reason string) []byte {
	if len(reason) > badRequestReasonMax {
		reason = reason[:badRequestReasonMax]
	}
	dst, start := AppendFrameStart(dst, BadRequest, FlagNone, id)
	dst = append(dst, reason...)
	_ = FinishFrame(dst, start) // cannot fail: the reason is bounded
	return dst
}

// badRequestReasonMax bounds BadRequest texts (they may quote client
// input).
const badRequestReasonMax = 64 << 10
