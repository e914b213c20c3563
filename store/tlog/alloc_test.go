//go:build !race

package tlog

import (
	"io"
	"testing"

	"github.com/eventstored/eventstored/store/vfs"
)

// The hot paths allocate nothing in steady state: Append (and the Flush of
// a group), every Iterator step, ReadAt with a big enough scratch buffer.

func TestAppendAllocatesNothing(t *testing.T) {
	for name, fsys := range map[string]vfs.FS{"os": vfs.Default, "mem": vfs.NewMem()} {
		t.Run(name, func(t *testing.T) {
			opts := testOpts(fsys, 64<<20)
			opts.Dir = t.TempDir()
			opts.SkipVerify = true
			l := mustOpen(t, opts)
			defer l.Close()
			p := make([]byte, 100)
			_, err := l.Append(p)
			requireNoError(t, err)
			requireNoError(t, l.Flush())
			if n := testing.AllocsPerRun(1000, func() {
				if _, err := l.Append(p); err != nil {
					t.Fatal(err)
				}
			}); n != 0 {
				t.Fatalf("unexpected allocations per Append; got %v; want 0", n)
			}
			if n := testing.AllocsPerRun(50, func() {
				for i := 0; i < 16; i++ {
					if _, err := l.Append(p); err != nil {
						t.Fatal(err)
					}
				}
				if err := l.Flush(); err != nil {
					t.Fatal(err)
				}
			}); n != 0 {
				t.Fatalf("unexpected allocations per 16 Appends + Flush; got %v; want 0", n)
			}
		})
	}
}

func TestReadPathsAllocateNothing(t *testing.T) {
	opts := testOpts(vfs.Default, 1<<20)
	opts.Dir = t.TempDir()
	opts.SkipVerify = true
	l := mustOpen(t, opts)
	defer l.Close()
	recs := appendN(t, l, 0, 20000, func(i int) int { return 100 })
	requireNoError(t, l.Flush())

	it := l.NewIterator(0)
	defer it.Close()
	if n := testing.AllocsPerRun(10000, func() {
		_, _, err := it.Next()
		if err == io.EOF {
			it.Close()
			it = l.NewIterator(0) // not counted often enough to matter: 1 in 20000
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("unexpected allocations per Iterator.Next; got %v; want 0", n)
	}
	bit := l.NewBackwardIterator(l.Durable())
	defer bit.Close()
	if n := testing.AllocsPerRun(10000, func() {
		if _, _, err := bit.Next(); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("unexpected allocations per BackIterator.Next; got %v; want 0", n)
	}
	scratch := make([]byte, 0, 4096)
	i := 0
	if n := testing.AllocsPerRun(10000, func() {
		if _, _, err := l.ReadAt(recs[i%len(recs)].pos, scratch); err != nil {
			t.Fatal(err)
		}
		i += 7
	}); n != 0 {
		t.Fatalf("unexpected allocations per ReadAt; got %v; want 0", n)
	}
}
