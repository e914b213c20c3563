package tlog

import (
	"bytes"
	"errors"
	"testing"

	"github.com/eventstored/eventstored/store/vfs"
)

// FuzzDecodeRecord: any bytes decode to a record, ErrTornTail or
// ErrCorrupt, never a panic, and a decoded record re-encodes to exactly the
// bytes it came from.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(AppendRecord(nil, []byte("hello")))
	f.Add(AppendRecord(nil, nil))
	f.Add(make([]byte, 16))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 9, 1, 0, 0})
	f.Fuzz(func(t *testing.T, src []byte) {
		p, n, err := DecodeRecord(src)
		if err != nil {
			if !errors.Is(err, ErrTornTail) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if !bytes.Equal(AppendRecord(nil, p), src[:n]) {
			t.Fatalf("decoded record does not re-encode to its bytes")
		}
	})
}

// FuzzRecoveryTail: whatever bytes follow the last durable record, Open
// keeps every durable record, never panics, and what it keeps past the
// checkpoint are whole records that read back the same after a reopen.
func FuzzRecoveryTail(f *testing.F) {
	f.Add([]byte{})
	f.Add(AppendRecord(nil, []byte("extra")))
	f.Add(append(AppendRecord(nil, []byte("a")), 0xFF, 0xFF, 0, 0))
	f.Add(bytes.Repeat([]byte{0xA5}, 300))
	base := vfs.NewMem()
	l := mustOpen(f, testOpts(base, 1024))
	want := appendN(f, l, 0, 5, func(i int) int { return 20 + i })
	requireNoError(f, l.Close())
	end := want[len(want)-1].pos + int64(len(want[len(want)-1].payload)) + RecordOverheadBytes
	f.Fuzz(func(t *testing.T, tail []byte) {
		if len(tail) > 2000 {
			tail = tail[:2000]
		}
		fsys := base.CrashClone()
		fh := openRaw(t, fsys, "/db/"+chunkFileName(0, 0))
		if _, err := fh.WriteAt(tail, HeaderSizeBytes+end); err != nil {
			t.Fatal(err)
		}
		fh.Close()
		l, err := Open(testOpts(fsys, 1024))
		requireNoError(t, err)
		got := readAll(t, l)
		requireNoError(t, l.Close())
		if len(got) < len(want) {
			t.Fatalf("lost durable records: %d of %d", len(got), len(want))
		}
		checkRecords(t, got[:len(want)], want)
		l = mustOpen(t, testOpts(fsys.CrashClone(), 1024))
		defer l.Close()
		checkRecords(t, readAll(t, l), got)
	})
}
