package codec

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// unhex turns a spaced hex string (comments after '#' on each line are
// ignored) into bytes, so expected encodings are written by hand.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	var clean strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		clean.WriteString(strings.ReplaceAll(strings.ReplaceAll(line, " ", ""), "\t", ""))
	}
	b, err := hex.DecodeString(clean.String())
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

func seqGUID(first byte) GUID {
	var g GUID
	for i := range g {
		g[i] = first + byte(i)
	}
	return g
}

func TestHeartbeatFrameMatchesSpecExample(t *testing.T) {
	id := seqGUID(0xc0)
	got := AppendFrame(nil, HeartbeatRequestCommand, &id, nil)
	want := unhex(t, `12 00 00 00  # length 18
		01 00                       # command, flags
		c0 c1 c2 c3 c4 c5 c6 c7 c8 c9 ca cb cc cd ce cf`)
	if !bytes.Equal(got, want) {
		t.Fatalf("unexpected heartbeat frame; got % x; want % x", got, want)
	}
}

func TestAuthenticateFrameMatchesSpecExample(t *testing.T) {
	id := seqGUID(0x10)
	got, err := AppendFrameAuth(nil, Authenticate, &id, "admin", "changeit", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, `21 00 00 00   # length 33
		f2 01                         # Authenticate, Authenticated flag
		10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f
		05 61 64 6d 69 6e             # "admin"
		08 63 68 61 6e 67 65 69 74    # "changeit"`)
	if !bytes.Equal(got, want) {
		t.Fatalf("unexpected frame; got % x; want % x", got, want)
	}
	pkg, n, err := SplitFrame(got)
	if err != nil || n != len(got) {
		t.Fatalf("SplitFrame: n=%d err=%v", n, err)
	}
	p, err := DecodePackage(pkg)
	if err != nil {
		t.Fatal(err)
	}
	if p.Command != Authenticate || p.Flags != FlagAuthenticated || p.CorrelationID != id ||
		string(p.Login) != "admin" || string(p.Password) != "changeit" || len(p.Payload) != 0 {
		t.Fatalf("unexpected package %+v", p)
	}
}

func TestAppendFrameAuthRejectsLongCredentials(t *testing.T) {
	id := seqGUID(0)
	long := strings.Repeat("x", CredentialLengthMax+1)
	ok := strings.Repeat("x", CredentialLengthMax)
	if _, err := AppendFrameAuth(nil, Authenticate, &id, long, "", nil); !errors.Is(err, ErrCredentialTooLong) {
		t.Fatalf("login of 256 bytes: got %v; want ErrCredentialTooLong", err)
	}
	if _, err := AppendFrameAuth(nil, Authenticate, &id, "", long, nil); !errors.Is(err, ErrCredentialTooLong) {
		t.Fatalf("password of 256 bytes: got %v; want ErrCredentialTooLong", err)
	}
	frame, err := AppendFrameAuth([]byte{9}, Authenticate, &id, ok, ok, []byte("p"))
	if err != nil {
		t.Fatal(err)
	}
	pkg, _, _ := SplitFrame(frame[1:])
	p, err := DecodePackage(pkg)
	if err != nil || len(p.Login) != 255 || len(p.Password) != 255 || string(p.Payload) != "p" {
		t.Fatalf("255-byte credentials did not round-trip: %v", err)
	}
}

func TestGUIDByteOrderMatchesDotNet(t *testing.T) {
	g, err := ParseGUID("01234567-89ab-cdef-0123-456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, "67 45 23 01 ab 89 ef cd 01 23 45 67 89 ab cd ef")
	if !bytes.Equal(g[:], want) {
		t.Fatalf("unexpected wire bytes; got % x; want % x", g[:], want)
	}
	if s := g.String(); s != "01234567-89ab-cdef-0123-456789abcdef" {
		t.Fatalf("unexpected text %q", s)
	}
	if g2, err := ParseGUID("{01234567-89AB-CDEF-0123-456789ABCDEF}"); err != nil || g2 != g {
		t.Fatalf("braced upper-case form: %v %x", err, g2)
	}
	for _, bad := range []string{"", "01234567-89ab-cdef-0123-456789abcdeg", "0123456789abcdef0123456789abcdef", "01234567-89ab-cdef-0123_456789abcdef"} {
		if _, err := ParseGUID(bad); !errors.Is(err, ErrBadGUID) {
			t.Fatalf("ParseGUID(%q): got %v; want ErrBadGUID", bad, err)
		}
	}
	n := NewGUID()
	s := n.String()
	if s[14] != '4' || !strings.ContainsRune("89ab", rune(s[19])) {
		t.Fatalf("NewGUID is not a v4 GUID: %s", s)
	}
	if n == NewGUID() || n.IsZero() || !(GUID{}).IsZero() {
		t.Fatal("NewGUID repeated itself or IsZero is wrong")
	}
}

func TestSplitFrameRejectsBadLengthsEarly(t *testing.T) {
	f := func(prefix string, wantErr bool) {
		t.Helper()
		_, n, err := SplitFrame(unhex(t, prefix))
		if wantErr != errors.Is(err, ErrFrameLength) || n != 0 {
			t.Fatalf("SplitFrame(%s): n=%d err=%v; want error=%v", prefix, n, err, wantErr)
		}
	}
	f("00 00 00 00", true)           // zero
	f("ff ff ff ff", true)           // -1
	f("00 00 00 80", true)           // most negative
	f("01 00 00 04", true)           // 64 MiB + 1
	f("ff ff ff 7f 00", true)        // max int32
	f("00 00 00 04", false)          // exactly 64 MiB: waits for the body
	f("12 00 00", false)             // length incomplete
	f("12 00 00 00 01 02 03", false) // body incomplete
}

func TestSplitFrameAcceptsMaximumFrame(t *testing.T) {
	buf := make([]byte, LengthPrefixSize+FrameLengthMax+3)
	buf[0], buf[1], buf[2], buf[3] = 0, 0, 0, 4
	pkg, n, err := SplitFrame(buf)
	if err != nil || n != LengthPrefixSize+FrameLengthMax || len(pkg) != FrameLengthMax {
		t.Fatalf("64 MiB frame: n=%d len=%d err=%v", n, len(pkg), err)
	}
}

func TestDecodePackageMalformed(t *testing.T) {
	hdr := "82 00 " + strings.Repeat("aa ", 16)
	auth := "82 01 " + strings.Repeat("aa ", 16)
	cases := []struct {
		name, pkg string
		want      error
	}{
		{"empty", "", ErrPackageTooShort},
		{"17 bytes", "82 00 " + strings.Repeat("aa ", 15), ErrPackageTooShort},
		{"auth flag, no block", auth, ErrAuthBlock},
		{"login runs past end", auth + "05 61 62", ErrAuthBlock},
		{"login exactly fills, no password length", auth + "02 61 62", ErrAuthBlock},
		{"password runs past end", auth + "01 61 03 62 63", ErrAuthBlock},
	}
	for _, c := range cases {
		if _, err := DecodePackage(unhex(t, c.pkg)); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v; want %v", c.name, err, c.want)
		}
	}
	// The original rejects an empty password with no payload (spec §1.6
	// quirk); we accept it.
	p, err := DecodePackage(unhex(t, auth+"02 61 62 00"))
	if err != nil || string(p.Login) != "ab" || len(p.Password) != 0 || len(p.Payload) != 0 {
		t.Fatalf("empty password without payload: %+v %v", p, err)
	}
	p, err = DecodePackage(unhex(t, hdr+"01 02"))
	if err != nil || p.Login != nil || !bytes.Equal(p.Payload, []byte{1, 2}) || p.Command != WriteEventsCommand {
		t.Fatalf("plain package: %+v %v", p, err)
	}
}

func TestFinishFrameRejectsOversizedFrame(t *testing.T) {
	id := seqGUID(1)
	buf, start := AppendFrameStart([]byte("xx"), Pong, FlagNone, &id)
	buf = append(buf, make([]byte, FrameLengthMax)...) // header + 64 MiB > limit
	if err := FinishFrame(buf, start); !errors.Is(err, ErrFrameLength) {
		t.Fatalf("got %v; want ErrFrameLength", err)
	}
}

func TestCommandNames(t *testing.T) {
	if WriteEventsCommand.String() != "WriteEvents" || HeartbeatRequestCommand.String() != "HeartbeatRequestCommand" {
		t.Fatal("unexpected names")
	}
	if Command(0x80).Known() || Command(0x80).String() != "Unknown(0x80)" || !ClientIdentifiedCommand.Known() {
		t.Fatal("obsolete CreateStream must be unknown")
	}
}

// sampleStream is three frames back to back: a heartbeat, an authenticated
// package with payload, and a package with payload.
func sampleStream(t testing.TB) ([]byte, []Package) {
	var buf []byte
	id1, id2, id3 := seqGUID(1), seqGUID(20), seqGUID(40)
	buf = AppendFrame(buf, HeartbeatRequestCommand, &id1, nil)
	buf, _ = AppendFrameAuth(buf, ReadEventCommand, &id2, "admin", "changeit", []byte{0x0a, 0x01, 0x73})
	buf = AppendFrame(buf, Ping, &id3, bytes.Repeat([]byte{7}, 300))
	want := []Package{
		{Command: HeartbeatRequestCommand, CorrelationID: id1, Payload: []byte{}},
		{Command: ReadEventCommand, Flags: FlagAuthenticated, CorrelationID: id2, Login: []byte("admin"), Password: []byte("changeit"), Payload: []byte{0x0a, 0x01, 0x73}},
		{Command: Ping, CorrelationID: id3, Payload: bytes.Repeat([]byte{7}, 300)},
	}
	return buf, want
}

// reassembler mimics a connection's read path: append what arrives, take
// every whole frame, keep the rest.
type reassembler struct {
	buf  []byte
	got  []Package
	errs int
}

func (r *reassembler) feed(t testing.TB, b []byte) {
	r.buf = append(r.buf, b...)
	for {
		pkg, n, err := SplitFrame(r.buf)
		if err != nil {
			t.Fatalf("SplitFrame: %v", err)
		}
		if n == 0 {
			return
		}
		p, err := DecodePackage(pkg)
		if err != nil {
			t.Fatalf("DecodePackage: %v", err)
		}
		// Copy out, as a real caller must before the buffer moves.
		p.Login = bytes.Clone(p.Login)
		p.Password = bytes.Clone(p.Password)
		p.Payload = append([]byte{}, p.Payload...)
		r.got = append(r.got, p)
		r.buf = append(r.buf[:0], r.buf[n:]...)
	}
}

func checkPackages(t *testing.T, got, want []Package) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d packages; want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Command != w.Command || g.Flags != w.Flags || g.CorrelationID != w.CorrelationID ||
			!bytes.Equal(g.Login, w.Login) || !bytes.Equal(g.Password, w.Password) || !bytes.Equal(g.Payload, w.Payload) {
			t.Fatalf("package %d: got %+v; want %+v", i, g, w)
		}
	}
}

func TestSplitReadByteByByte(t *testing.T) {
	stream, want := sampleStream(t)
	var r reassembler
	for i := range stream {
		r.feed(t, stream[i:i+1])
	}
	checkPackages(t, r.got, want)
	if len(r.buf) != 0 {
		t.Fatalf("%d bytes left over", len(r.buf))
	}
}

func TestSplitReadEveryTwoWaySplit(t *testing.T) {
	stream, want := sampleStream(t)
	for cut := 0; cut <= len(stream); cut++ {
		var r reassembler
		r.feed(t, stream[:cut])
		r.feed(t, stream[cut:])
		checkPackages(t, r.got, want)
	}
}

func TestSplitReadEveryThreeWaySplit(t *testing.T) {
	stream, want := sampleStream(t)
	// Covers header split from body, length split from header and a frame
	// boundary inside a read, in every combination.
	for a := 0; a <= len(stream); a += 3 {
		for b := a; b <= len(stream); b += 5 {
			var r reassembler
			r.feed(t, stream[:a])
			r.feed(t, stream[a:b])
			r.feed(t, stream[b:])
			checkPackages(t, r.got, want)
		}
	}
}

func TestOversizedReplyBecomesBadRequest(t *testing.T) {
	id := seqGUID(7)
	m := NewEvent{EventID: id16(1), EventType: "t", Data: make([]byte, FrameLengthMax)}
	prefix := []byte("keep")
	check := func(name string, out []byte) {
		t.Helper()
		if !bytes.Equal(out[:4], prefix) {
			t.Fatalf("%s: earlier bytes changed", name)
		}
		pkg, n, err := SplitFrame(out[4:])
		if err != nil || n != len(out)-4 {
			t.Fatalf("%s: not one frame: n=%d err=%v", name, n, err)
		}
		p, _ := DecodePackage(pkg)
		if p.Command != BadRequest || p.CorrelationID != id || !strings.Contains(string(p.Payload), "exceeds the 64 MiB frame limit") {
			t.Fatalf("%s: got %v %q", name, p.Command, p.Payload)
		}
	}
	check("AppendMessageFrame", AppendMessageFrame(append([]byte{}, prefix...), WriteEventsCommand, &id, &m, AppendNewEvent))
	check("AppendFrame", AppendFrame(append([]byte{}, prefix...), Pong, &id, make([]byte, FrameLengthMax)))
	if _, err := AppendMessageFrameChecked(nil, WriteEventsCommand, &id, &m, AppendNewEvent); !errors.Is(err, ErrFrameLength) {
		t.Fatalf("checked: got %v", err)
	}
	// A Pong echoing the largest Ping still fits.
	out := AppendFrame(nil, Pong, &id, make([]byte, FrameLengthMax-HeaderSize))
	if pkg, _, err := SplitFrame(out); err != nil || len(pkg) != FrameLengthMax {
		t.Fatalf("largest Pong: %v", err)
	}
	long := AppendBadRequest(nil, &id, strings.Repeat("x", 1<<20))
	if len(long) != LengthPrefixSize+HeaderSize+badRequestReasonMax {
		t.Fatalf("BadRequest reason not bounded: %d", len(long))
	}
}
