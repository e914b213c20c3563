package codec

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// fuzzFrames is the body of FuzzSplitFrame: split and decode everything in
// data as a connection's read path would; it must never panic, never
// claim more bytes than it was given, and return views inside data.
func fuzzFrames(t testing.TB, data []byte) {
	buf := data
	for {
		pkg, n, err := SplitFrame(buf)
		if err != nil || n == 0 {
			return
		}
		if n > len(buf) || n != len(pkg)+LengthPrefixSize || int(binary.LittleEndian.Uint32(buf)) != len(pkg) {
			t.Fatalf("SplitFrame: n=%d len(pkg)=%d len(buf)=%d", n, len(pkg), len(buf))
		}
		p, err := DecodePackage(pkg)
		if err == nil {
			size := HeaderSize + len(p.Payload)
			if p.Flags&FlagAuthenticated != 0 {
				size += 2 + len(p.Login) + len(p.Password)
			}
			if size != len(pkg) {
				t.Fatalf("DecodePackage lost bytes: %d of %d", size, len(pkg))
			}
		}
		buf = buf[n:]
	}
}

func FuzzSplitFrame(f *testing.F) {
	stream, _ := sampleStream(f)
	f.Add(stream)
	f.Add([]byte{0x12, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Add([]byte{0x13, 0, 0, 0, 0xf2, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00})
	id := seqGUID(9)
	f.Add(AppendBadRequest(nil, &id, "reason"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzFrames(t, data) })
}

// fuzzDTO decodes data with decoder number sel. When decoding succeeds the
// re-encoding must decode again to the same bytes (the encoder is
// canonical), and its size must stay within a small factor of the input,
// which bounds what hostile input can make a decoder allocate.
func fuzzDTO(t testing.TB, cases []dtoCase, sel uint8, data []byte) {
	c := cases[int(sel)%len(cases)]
	again, err := c.decode(data)
	if err != nil {
		return
	}
	if len(again) > 32*len(data)+64 {
		t.Fatalf("%s: %d input bytes re-encode to %d", c.name, len(data), len(again))
	}
	third, err := c.decode(again)
	if err != nil {
		t.Fatalf("%s: re-encoding does not decode: %v", c.name, err)
	}
	if !bytes.Equal(third, again) {
		t.Fatalf("%s: encoding not stable", c.name)
	}
	// Allocation is bounded to the first decode: decoding again into the
	// same message allocates nothing, whatever the input.
	if !raceEnabled {
		redo := c.reuse(data)
		if n := testing.AllocsPerRun(1, func() { _ = redo() }); n != 0 {
			t.Fatalf("%s: decoding into a reused message allocated %v times", c.name, n)
		}
	}
}

func FuzzDecodeDTO(f *testing.F) {
	cases := allDTOCases()
	for i, c := range cases {
		f.Add(uint8(i), c.encoded)
		f.Add(uint8(i), c.encoded[:len(c.encoded)/2])
	}
	f.Add(uint8(0), []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add(uint8(4), []byte{0x1a, 0x00, 0x1a, 0x00})
	f.Fuzz(func(t *testing.T, sel uint8, data []byte) { fuzzDTO(t, cases, sel, data) })
}
