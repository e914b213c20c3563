package tlog

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/eventstored/eventstored/store/vfs"
)

// The tests in this file pin the on-disk formats byte for byte (doc.go has
// the diagrams). A failure here means old logs would no longer open: change
// the expected bytes only together with formatVersion. The checksums were
// computed independently (a bitwise crc32c in Python over the bytes the
// diagrams describe), not copied from this code's output.

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	requireNoError(t, err)
	return b
}

func TestRecordFormat(t *testing.T) {
	f := func(payload string, want string) {
		t.Helper()
		got := AppendRecord(nil, []byte(payload))
		if hex.EncodeToString(got) != strings.Join(strings.Fields(want), "") {
			t.Fatalf("unexpected frame of %q; got %x; want %s", payload, got, want)
		}
		p, n, err := DecodeRecord(got)
		requireNoError(t, err)
		if string(p) != payload || n != len(got) {
			t.Fatalf("unexpected decode; got %q, %d", p, n)
		}
	}
	// len | crc32c(len||payload) | payload | len
	f("", "00000000 c74b6748 00000000")
	f("abc", "03000000 f8831455 616263 03000000")
}

func TestDecodeRecordErrors(t *testing.T) {
	good := AppendRecord(nil, []byte("hello"))
	f := func(name string, src []byte, want error) {
		t.Helper()
		_, _, err := DecodeRecord(src)
		if !errors.Is(err, want) {
			t.Fatalf("%s: unexpected error; got %v; want %v", name, err, want)
		}
	}
	f("empty", nil, ErrTornTail)
	f("zeroes", make([]byte, 64), ErrTornTail)
	for i := 0; i < len(good); i++ {
		f("cut", good[:i], ErrTornTail)
	}
	bad := append([]byte(nil), good...)
	bad[9] ^= 1
	f("payload bit flip", bad, ErrCorrupt)
	bad = append([]byte(nil), good...)
	bad[len(bad)-1] = 7
	f("suffix mismatch", bad, ErrCorrupt)
	huge := AppendRecord(nil, nil)
	huge[3] = 0x7F
	f("absurd length", huge, ErrCorrupt)
}

func TestChunkHeaderFormat(t *testing.T) {
	h := chunkHeader{Number: 3, DataSizeBytes: 256 << 20}
	for i := range h.ID {
		h.ID[i] = byte(i + 1)
	}
	var b [HeaderSizeBytes]byte
	h.encode(&b)
	want := unhex(t, `
		45534443 48554e4b 0100 0000 03000000 00000010 00000000
		0102030405060708090a0b0c0d0e0f10`+strings.Repeat("00", 84)+`
		`+hex.EncodeToString(b[124:]))
	if string(b[:]) != string(want) {
		t.Fatalf("unexpected header;\ngot  %x\nwant %x", b, want)
	}
	if got := hex.EncodeToString(b[124:]); got != "fe2dd061" {
		t.Fatalf("unexpected header checksum; got %s; want fe2dd061", got)
	}
	d, err := decodeChunkHeader(b[:])
	requireNoError(t, err)
	if d != h {
		t.Fatalf("unexpected decode; got %+v; want %+v", d, h)
	}
	b[20] ^= 1
	if _, err := decodeChunkHeader(b[:]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged header accepted: %v", err)
	}
}

func TestChunkFooterFormat(t *testing.T) {
	ft := chunkFooter{DataEndBytes: 1000, Hash: 0x1122334455667788}
	var b [FooterSizeBytes]byte
	ft.encode(&b)
	want := unhex(t, `
		45534446 4f4f5452 01000000 00000000 e803000000000000 8877665544332211`+strings.Repeat("00", 92)+`
		`+hex.EncodeToString(b[124:]))
	if string(b[:]) != string(want) {
		t.Fatalf("unexpected footer;\ngot  %x\nwant %x", b, want)
	}
	if got := hex.EncodeToString(b[124:]); got != "e7fc0025" {
		t.Fatalf("unexpected footer checksum; got %s; want e7fc0025", got)
	}
	d, ok := decodeChunkFooter(b[:])
	if !ok || d != ft {
		t.Fatalf("unexpected decode; got %+v %v; want %+v", d, ok, ft)
	}
	if _, ok := decodeChunkFooter(make([]byte, FooterSizeBytes)); ok {
		t.Fatalf("zeroed footer accepted")
	}
}

func TestCheckpointFormat(t *testing.T) {
	var b [checkpointSlotBytes]byte
	encodeCheckpointSlot(b[:], -1, 7)
	want := "4553434b ffffffffffffffff 0700000000000000 " + hex.EncodeToString(b[20:])
	if hex.EncodeToString(b[:]) != strings.Join(strings.Fields(want), "") {
		t.Fatalf("unexpected slot; got %x; want %s", b, want)
	}
	if got := hex.EncodeToString(b[20:]); got != "16c37ffb" {
		t.Fatalf("unexpected slot checksum; got %s; want 16c37ffb", got)
	}
	v, seq, ok := decodeCheckpointSlot(b[:])
	if !ok || v != -1 || seq != 7 {
		t.Fatalf("unexpected decode %d %d %v", v, seq, ok)
	}
}

// TestCheckpointSurvivesATornSlot: the slot being written is damaged (a
// torn write); the other slot's value is read.
func TestCheckpointSurvivesATornSlot(t *testing.T) {
	fsys := vfs.NewMem()
	requireNoError(t, fsys.MkdirAll("/d", 0o755))
	c, err := openCheckpoint(fsys, "/d/x.chk", "x", 0)
	requireNoError(t, err)
	for v := int64(1); v <= 3; v++ {
		c.Write(v * 10)
		requireNoError(t, c.Flush())
	}
	requireNoError(t, c.close())
	// seq 3 lives in slot 1; tear it.
	f, err := fsys.OpenReadWrite("/d/x.chk")
	requireNoError(t, err)
	_, err = f.WriteAt([]byte{0xde, 0xad}, checkpointSlotBytes+6)
	requireNoError(t, err)
	f.Close()
	c, err = openCheckpoint(fsys, "/d/x.chk", "x", 0)
	requireNoError(t, err)
	if c.Read() != 20 {
		t.Fatalf("unexpected value after a torn slot; got %d; want 20", c.Read())
	}
	// The next flush goes to the torn slot, and a reopen sees it.
	c.Write(99)
	requireNoError(t, c.Flush())
	c.close()
	c, err = openCheckpoint(fsys, "/d/x.chk", "x", 0)
	requireNoError(t, err)
	if c.Read() != 99 {
		t.Fatalf("unexpected value; got %d; want 99", c.Read())
	}
	c.close()
	// Both slots damaged: corruption, not a silent reset.
	f, _ = fsys.OpenReadWrite("/d/x.chk")
	f.WriteAt(make([]byte, CheckpointFileBytes-1), 1)
	f.Close()
	if _, err := openCheckpoint(fsys, "/d/x.chk", "x", 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unexpected open of a damaged checkpoint; got %v; want ErrCorrupt", err)
	}
}

// TestChunkFileLayout pins where things sit in a real chunk file: header at
// 0, records from byte 128, footer at 128+ChunkSizeBytes with the data end
// and the xxhash64 of header||data.
func TestChunkFileLayout(t *testing.T) {
	fsys := vfs.NewMem()
	l := mustOpen(t, testOpts(fsys, 256))
	_, err := l.Append([]byte("abc"))
	requireNoError(t, err)
	_, err = l.Append(make([]byte, 240)) // does not fit: seals chunk 0
	requireNoError(t, err)
	requireNoError(t, l.Close())
	f, err := fsys.Open("/db/" + chunkFileName(0, 0))
	requireNoError(t, err)
	defer f.Close()
	file := make([]byte, HeaderSizeBytes+256+FooterSizeBytes)
	requireNoError(t, vfs.ReadFull(f, file, 0))
	h, err := decodeChunkHeader(file[:HeaderSizeBytes])
	requireNoError(t, err)
	if h.Number != 0 || h.DataSizeBytes != 256 {
		t.Fatalf("unexpected header %+v", h)
	}
	rec := AppendRecord(nil, []byte("abc"))
	if string(file[HeaderSizeBytes:HeaderSizeBytes+len(rec)]) != string(rec) {
		t.Fatalf("record not at byte 128")
	}
	ft, ok := decodeChunkFooter(file[HeaderSizeBytes+256:])
	if !ok || ft.DataEndBytes != int64(len(rec)) {
		t.Fatalf("unexpected footer %+v %v", ft, ok)
	}
	if want := xxhash.Sum64(file[:HeaderSizeBytes+len(rec)]); ft.Hash != want {
		t.Fatalf("unexpected footer hash; got %x; want %x", ft.Hash, want)
	}
	names, _ := fsys.List("/db")
	wantNames := []string{"LOCK", "chunk-000000.000000", "chunk-000001.000000", "truncate.chk", "writer.chk"}
	if strings.Join(names, " ") != strings.Join(wantNames, " ") {
		t.Fatalf("unexpected files %q; want %q", names, wantNames)
	}
}

func TestParseChunkFileName(t *testing.T) {
	f := func(name string, num int64, ver int, ok bool) {
		t.Helper()
		n, v, o := parseChunkFileName(name)
		if n != num || v != ver || o != ok {
			t.Fatalf("unexpected parse of %q; got %d %d %v; want %d %d %v", name, n, v, o, num, ver, ok)
		}
	}
	f("chunk-000000.000000", 0, 0, true)
	f("chunk-000123.000002", 123, 2, true)
	f("chunk-1234567.000000", 1234567, 0, true)
	f("chunk-00001.000000", 0, 0, false)
	f("chunk-000001", 0, 0, false)
	f("chunk-00000x.000000", 0, 0, false)
	f("writer.chk", 0, 0, false)
	if chunkFileName(42, 1) != "chunk-000042.000001" {
		t.Fatalf("unexpected name %q", chunkFileName(42, 1))
	}
}

func TestChunkIDs(t *testing.T) {
	fsys := vfs.NewMem()
	l := mustOpen(t, testOpts(fsys, 256))
	appendN(t, l, 0, 10, func(int) int { return 30 })
	requireNoError(t, l.Flush())
	id0, ok0 := l.ChunkID(0)
	id1, ok1 := l.ChunkID(256)
	if !ok0 || !ok1 || id0 == id1 || id0 == [16]byte{} {
		t.Fatalf("unexpected chunk ids %x %v, %x %v", id0, ok0, id1, ok1)
	}
	if _, ok := l.ChunkID(10 * 256); ok {
		t.Fatalf("an id for a chunk that does not exist")
	}
	requireNoError(t, l.Close())
	l = mustOpen(t, testOpts(fsys, 256))
	defer l.Close()
	if again, _ := l.ChunkID(100); again != id0 {
		t.Fatalf("chunk id changed across a reopen: %x, was %x", again, id0)
	}
	// Truncating chunk 1 away and growing into it again makes a new chunk.
	requireNoError(t, l.Truncate(252))
	appendN(t, l, 20, 3, func(int) int { return 30 })
	requireNoError(t, l.Flush())
	if again, _ := l.ChunkID(256); again == id1 {
		t.Fatalf("a recreated chunk kept its old id")
	}
}
