package store

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// Format-pinning tests: the record layouts are asserted byte for byte, so a
// format change breaks loudly (doc.go draws the same layouts).

func TestPrepareRecordFormat(t *testing.T) {
	p := Prepare{
		Flags:           FlagData | FlagIsCommitted | FlagTransactionBegin | FlagTransactionEnd | FlagIsJSON,
		Number:          5,
		TransactionPos:  -1,
		CreatedUnixNano: 0x0102030405060708,
		EventID:         [16]byte{0xA0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xAF},
		Stream:          []byte("st"),
		Type:            []byte("ty"),
		Data:            []byte("{}"),
		Metadata:        []byte("m"),
	}
	got := AppendPrepare(nil, &p)
	want := "" +
		"01" + "01" + "2701" + // type, version, flags 0x0127
		"0500000000000000" + // number 5
		"ffffffffffffffff" + // transaction position -1
		"0807060504030201" + // created
		"a00102030405060708090a0b0c0d0eaf" + // event id
		"02000000" + "02000000" + "02000000" + "01000000" + // lengths
		hex.EncodeToString([]byte("sttytype"[:4])) + hex.EncodeToString([]byte("{}m"))
	if hex.EncodeToString(got) != want {
		t.Fatalf("unexpected prepare encoding;\ngot  %x\nwant %s", got, want)
	}
	if len(got) != prepareHeaderSize+7 {
		t.Fatalf("unexpected length %d", len(got))
	}
	var d Prepare
	requireNoError(t, PeekPrepare(got, &d))
	if d.Flags != p.Flags || d.Number != 5 || d.TransactionPos != -1 || d.CreatedUnixNano != p.CreatedUnixNano || d.EventID != p.EventID ||
		string(d.Stream) != "st" || string(d.Type) != "ty" || string(d.Data) != "{}" || string(d.Metadata) != "m" {
		t.Fatalf("round trip: %+v", d)
	}
	// The string-based encoder used by the writer produces the same bytes.
	alt := appendPrepareStrings(nil, p.Flags, 5, -1, p.CreatedUnixNano, &p.EventID, "st", "ty", []byte("{}"), []byte("m"))
	if !bytes.Equal(alt, got) {
		t.Fatalf("appendPrepareStrings differs:\n%x\n%x", alt, got)
	}
	if s, ok := peekRecordStream(got); !ok || string(s) != "st" {
		t.Fatalf("peekRecordStream: %q %v", s, ok)
	}
}

func TestCommitRecordFormat(t *testing.T) {
	got := AppendCommit(nil, 0x10, 3, 0x20, "tx", []int64{0x100, 0x200})
	want := "" +
		"02" + "01" + "0000" +
		"1000000000000000" + // transaction position
		"0300000000000000" + // first event number
		"2000000000000000" + // created
		"02000000" + "02000000" + "00000000" + // stream length, count, reserved
		hex.EncodeToString([]byte("tx")) +
		"0001000000000000" + "0002000000000000"
	if hex.EncodeToString(got) != want {
		t.Fatalf("unexpected commit encoding;\ngot  %x\nwant %s", got, want)
	}
	var c Commit
	requireNoError(t, PeekCommit(got, &c))
	if s, ok := peekRecordStream(got); !ok || string(s) != "tx" {
		t.Fatalf("peekRecordStream: %q %v", s, ok)
	}
	if c.TransactionPos != 0x10 || c.FirstNumber != 3 || c.CreatedUnixNano != 0x20 || string(c.Stream) != "tx" ||
		c.Count() != 2 || c.PreparePos(0) != 0x100 || c.PreparePos(1) != 0x200 {
		t.Fatalf("round trip: %+v", c)
	}
}

func TestSystemRecordFormat(t *testing.T) {
	got := AppendSystem(nil, RecordEpoch, []byte{9, 8})
	if hex.EncodeToString(got) != "040100000908" {
		t.Fatalf("unexpected epoch record %x", got)
	}
	body, err := PeekSystemBody(got)
	if err != nil || !bytes.Equal(body, []byte{9, 8}) {
		t.Fatalf("body %x %v", body, err)
	}
	if typ, err := PeekRecordType(got); err != nil || typ != RecordEpoch {
		t.Fatalf("type %d %v", typ, err)
	}
}

func TestMalformedRecordsAreRejected(t *testing.T) {
	good := AppendPrepare(nil, &Prepare{Stream: []byte("s"), Type: []byte("t"), Data: []byte("d")})
	var p Prepare
	var c Commit
	for cut := 0; cut < len(good); cut++ {
		if err := PeekPrepare(good[:cut], &p); !errors.Is(err, ErrBadRecord) {
			t.Fatalf("prepare cut at %d: %v", cut, err)
		}
	}
	bad := append([]byte(nil), good...)
	bad[44] = 200 // stream length beyond the payload
	if err := PeekPrepare(bad, &p); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("bad length: %v", err)
	}
	bad = append([]byte(nil), good...)
	bad[1] = 9
	if _, err := PeekRecordType(bad); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("bad version: %v", err)
	}
	if err := PeekCommit(good, &c); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("prepare decoded as commit: %v", err)
	}
	cm := AppendCommit(nil, 1, 2, 3, "s", []int64{1})
	for cut := 0; cut < len(cm); cut++ {
		if err := PeekCommit(cm[:cut], &c); !errors.Is(err, ErrBadRecord) {
			t.Fatalf("commit cut at %d: %v", cut, err)
		}
	}
}

// FuzzRecordDecode feeds arbitrary payloads to the decoders: they must
// never panic, and a payload that decodes must re-encode to itself.
func FuzzRecordDecode(f *testing.F) {
	f.Add(AppendPrepare(nil, &Prepare{Stream: []byte("s"), Type: []byte("t"), Data: []byte("d"), Number: 3}))
	f.Add(AppendCommit(nil, 1, 2, 3, "s", []int64{7, 8}))
	f.Add([]byte{1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Prepare
		if PeekPrepare(b, &p) == nil {
			if got := AppendPrepare(nil, &p); !bytes.Equal(got, b) {
				t.Fatalf("prepare does not round-trip")
			}
		}
		var c Commit
		if PeekCommit(b, &c) == nil {
			pos := make([]int64, c.Count())
			for i := range pos {
				pos[i] = c.PreparePos(i)
			}
			// Reserved bytes (2-3, 36-39) are ignored by the decoder.
			got := AppendCommit(nil, c.TransactionPos, c.FirstNumber, c.CreatedUnixNano, string(c.Stream), pos)
			if !bytes.Equal(got[4:36], b[4:36]) || !bytes.Equal(got[40:], b[40:]) {
				t.Fatalf("commit does not round-trip")
			}
		}
		_, _ = PeekSystemBody(b)
		_, _ = peekRecordStream(b)
	})
}
