package index

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/eventstored/eventstored/store/vfs"
)

// TestReadersDuringFeedFlushAndMerge runs readers against the feeder while
// memtables freeze, flush and merge (on the real disk, so merged-away
// tables are unmapped and deleted under the readers). Each hash receives
// events 0, 1, 2, … in order; a reader first loads how many events the
// feeder has published and then must see at least those, in order, without
// gaps or duplicates, forward and backward.
func TestReadersDuringFeedFlushAndMerge(t *testing.T) {
	for _, k := range []struct {
		name string
		fs   func(t *testing.T) (vfs.FS, string)
	}{{"memfs", func(*testing.T) (vfs.FS, string) { return newMemFS(), "/r" }}, {"disk", func(t *testing.T) (vfs.FS, string) { return vfs.Default, t.TempDir() }}} {
		t.Run(k.name, func(t *testing.T) {
			fsys, dir := k.fs(t)
			ix, err := Open(Options{FS: fsys, Dir: dir, MemTableMaxEntries: 64, MaxTables: 6, MergeFanIn: 2, MergeConcurrency: 2})
			requireNoError(t, err)
			const hashes, perHash = 8, 600
			var published [hashes]atomic.Int64
			var stop atomic.Bool
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for r := 0; r < 3; r++ {
				wg.Add(1)
				go func(r int) {
					defer wg.Done()
					for i := 0; !stop.Load(); i++ {
						h := uint64(i%hashes) + 1
						want := published[h-1].Load()
						fwd := (i+r)%2 == 0
						next := int64(0)
						if !fwd {
							next = -1
						}
						var bad error
						ix.Range(h, 0, perHash, fwd, func(e Entry) bool {
							switch {
							case e.Hash != h || e.Pos != int64(e.Number)*hashes+int64(h):
								bad = fmt.Errorf("entry %+v does not belong to hash %d", e, h)
							case fwd && e.Number != next:
								bad = fmt.Errorf("forward read of hash %d: got number %d; want %d", h, e.Number, next)
							case !fwd && next >= 0 && e.Number != next:
								bad = fmt.Errorf("backward read of hash %d: got number %d; want %d", h, e.Number, next)
							}
							if fwd {
								next = e.Number + 1
							} else {
								if next == -1 && e.Number+1 < want {
									bad = fmt.Errorf("backward read of hash %d starts at %d; %d were published", h, e.Number, want)
								}
								next = e.Number - 1
							}
							return bad == nil
						})
						if bad == nil && fwd && next < want {
							bad = fmt.Errorf("forward read of hash %d saw %d events; %d were published", h, next, want)
						}
						if bad == nil && !fwd && want > 0 && next != -1 {
							bad = fmt.Errorf("backward read of hash %d stopped above 0 at %d", h, next+1)
						}
						if bad != nil {
							errs <- bad
							return
						}
					}
				}(r)
			}
			for n := int64(0); n < perHash; n++ {
				batch := make([]Entry, 0, hashes)
				for h := uint64(1); h <= hashes; h++ {
					batch = append(batch, Entry{Hash: h, Number: n, Pos: n*hashes + int64(h)})
				}
				requireNoError(t, ix.Add(batch, (n+1)*hashes+1))
				for h := range published {
					published[h].Store(n + 1)
				}
			}
			stop.Store(true)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if ix.stats.merges.Load() == 0 {
				t.Fatalf("unexpected: no merge ran during the test")
			}
			requireNoError(t, ix.Close())
		})
	}
}
