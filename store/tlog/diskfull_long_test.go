//go:build long && linux

package tlog

import (
	"bytes"
	"errors"
	"os/exec"
	"syscall"
	"testing"

	"github.com/eventstored/eventstored/store/vfs"
)

// TestDiskFullOnRealFilesystem repeats TestDiskFull on a real, small tmpfs
// mounted for the test (root only): fallocate of the next chunk must fail
// with ENOSPC, surfacing as ErrDiskFull without latching; remounting with
// more space lets appends resume.
func TestDiskFullOnRealFilesystem(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (needs root and mount permission): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	const chunkSize = 256 << 10
	opts := Options{FS: vfs.Default, Dir: dir + "/db", ChunkSizeBytes: chunkSize, Logger: quietLogger}
	l := mustOpen(t, opts)
	var want []rec
	var err error
	for i := 0; i < 100000; i++ {
		p := payloadFor(i, 1000)
		var pos int64
		if pos, err = l.Append(p); err != nil {
			break
		}
		want = append(want, rec{pos, p})
		if i%50 == 0 {
			requireNoError(t, l.Flush())
		}
	}
	if !errors.Is(err, ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("unexpected error on a full disk; got %v; want ErrDiskFull wrapping ENOSPC", err)
	}
	if l.Failed() != nil {
		t.Fatalf("disk full latched the log: %v", l.Failed())
	}
	t.Logf("disk full after %d records (%d chunks)", len(want), len(l.chunkList()))
	requireNoError(t, l.Flush())
	checkRecords(t, readAll(t, l), want)
	p, _, err := l.ReadAt(want[len(want)/2].pos, nil)
	requireNoError(t, err)
	if !bytes.Equal(p, want[len(want)/2].payload) {
		t.Fatalf("read on a full disk differs")
	}
	if out, err := exec.Command("mount", "-o", "remount,size=4m", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount with more space: %v: %s", err, out)
	}
	more := appendN(t, l, 900000, 300, func(int) int { return 1000 })
	requireNoError(t, l.Flush())
	all := append(append([]rec(nil), want...), more...)
	checkRecords(t, readAll(t, l), all)
	requireNoError(t, l.Close())
	l = mustOpen(t, opts)
	defer l.Close()
	checkRecords(t, readAll(t, l), all)
}
