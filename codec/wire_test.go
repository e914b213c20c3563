package codec

import (
	"bytes"
	"errors"
	"math/rand"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// The decoder's one-byte fast paths (tag, varint, length) are checked
// against protowire, the reference they short-cut: on every one- and
// two-byte input and on random longer ones, both must consume the same
// bytes, return the same value and agree on what is malformed.

func TestDecoderNextMatchesProtowire(t *testing.T) {
	check := func(in []byte) {
		t.Helper()
		d := decoder{b: in, msg: "M"}
		ok := d.next()
		num, typ, n := protowire.ConsumeTag(in)
		switch {
		case len(in) == 0:
			if ok || d.err != nil {
				t.Fatalf("empty input: ok=%v err=%v", ok, d.err)
			}
		case n < 0:
			if ok || !errors.Is(d.err, ErrMalformed) {
				t.Fatalf("tag % x: got ok=%v err=%v; want ErrMalformed", in, ok, d.err)
			}
		default:
			if !ok || d.num != num || d.typ != typ || len(d.b) != len(in)-n {
				t.Fatalf("tag % x: got %v %d/%d rest %d; want %d/%d rest %d", in, ok, d.num, d.typ, len(d.b), num, typ, len(in)-n)
			}
			if num < 64 && d.seen != 1<<uint(num) {
				t.Fatalf("tag % x: seen %x", in, d.seen)
			}
		}
	}
	for a := 0; a < 256; a++ {
		check([]byte{byte(a)})
		for b := 0; b < 256; b++ {
			check([]byte{byte(a), byte(b)})
		}
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 10000; i++ {
		in := make([]byte, 1+rng.Intn(11))
		rng.Read(in)
		check(in)
	}
}

func TestDecoderVarintMatchesProtowire(t *testing.T) {
	check := func(typ protowire.Type, in []byte) {
		t.Helper()
		d := decoder{b: in, msg: "M", typ: typ}
		got := d.varint("f")
		want, n := protowire.ConsumeVarint(in)
		switch {
		case typ != protowire.VarintType:
			if !errors.Is(d.err, ErrWireType) {
				t.Fatalf("wire type %d: got %v; want ErrWireType", typ, d.err)
			}
		case n < 0:
			if !errors.Is(d.err, ErrMalformed) {
				t.Fatalf("varint % x: got %d err=%v; want ErrMalformed", in, got, d.err)
			}
		default:
			if d.err != nil || got != want || len(d.b) != len(in)-n {
				t.Fatalf("varint % x: got %d rest %d err=%v; want %d rest %d", in, got, len(d.b), d.err, want, len(in)-n)
			}
		}
	}
	check(protowire.VarintType, nil)
	check(protowire.BytesType, []byte{1})
	for a := 0; a < 256; a++ {
		check(protowire.VarintType, []byte{byte(a)})
		for b := 0; b < 256; b++ {
			check(protowire.VarintType, []byte{byte(a), byte(b)})
		}
	}
	rng := rand.New(rand.NewSource(2))
	for i := 0; i < 10000; i++ {
		in := make([]byte, 1+rng.Intn(12))
		rng.Read(in)
		check(protowire.VarintType, in)
	}
}

func TestDecoderBytesMatchesProtowire(t *testing.T) {
	check := func(typ protowire.Type, in []byte) {
		t.Helper()
		d := decoder{b: in, msg: "M", typ: typ}
		got := d.bytes("f")
		want, n := protowire.ConsumeBytes(in)
		switch {
		case typ != protowire.BytesType:
			if !errors.Is(d.err, ErrWireType) {
				t.Fatalf("wire type %d: got %v; want ErrWireType", typ, d.err)
			}
		case n < 0:
			if !errors.Is(d.err, ErrMalformed) {
				t.Fatalf("bytes % x: got % x err=%v; want ErrMalformed", in, got, d.err)
			}
		default:
			if d.err != nil || !bytes.Equal(got, want) || len(d.b) != len(in)-n || cap(got) != len(got) {
				t.Fatalf("bytes % x: got % x (cap %d) rest %d err=%v; want % x rest %d", in, got, cap(got), len(d.b), d.err, want, len(in)-n)
			}
		}
	}
	check(protowire.BytesType, nil)
	check(protowire.VarintType, []byte{0})
	// Every one-byte length against every remaining size around it: the
	// fast path's bounds check is the one that matters.
	body := bytes.Repeat([]byte{0xab}, 300)
	for l := 0; l < 256; l++ {
		for rest := 0; rest <= 130; rest++ {
			check(protowire.BytesType, append([]byte{byte(l)}, body[:rest]...))
		}
	}
	rng := rand.New(rand.NewSource(3))
	for i := 0; i < 10000; i++ {
		in := make([]byte, 1+rng.Intn(300))
		rng.Read(in)
		if rng.Intn(2) == 0 { // a plausible two-byte length
			in[0] |= 0x80
			if len(in) > 1 {
				in[1] &= 0x03
			}
		}
		check(protowire.BytesType, in)
	}
}
