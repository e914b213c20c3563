package consensus

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/eventstored/eventstored/store/tlog"
	"github.com/eventstored/eventstored/store/vfs"
)

// BenchmarkTlogDiskOpenScan measures opening a TlogDisk: 200,000 events
// of 100 bytes on the real disk (page cache warm), as single-event
// entries (the worst case: a header per event) and as 100-event group
// commits, all committed; from=table reads the persisted entry table
// (entrytable.go), from=scan removes it first (the full scan a missing or
// damaged table falls back to, plus writing the table again).
//
//	go test ./cluster/consensus -run XXX -bench OpenScan -benchtime 5x
func BenchmarkTlogDiskOpenScan(b *testing.B) {
	const events = 200_000
	for _, c := range []struct {
		per   int
		table bool
	}{{1, true}, {1, false}, {100, true}, {100, false}} {
		per := c.per
		from := map[bool]string{true: "table", false: "scan"}[c.table]
		b.Run(fmt.Sprintf("events-per-entry=%d/from=%s", per, from), func(b *testing.B) {
			dir := b.TempDir()
			open := func() *tlog.Log {
				l, err := tlog.Open(tlog.Options{FS: vfs.Default, Dir: dir, SkipVerify: true, Logger: quiet})
				if err != nil {
					b.Fatal(err)
				}
				return l
			}
			l := open()
			d, err := OpenTlogDisk(TlogDiskOptions{Log: l, FS: vfs.Default, Dir: dir, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			rec := make([]byte, 100)
			idx := uint64(0)
			for n := 0; n < events; {
				var ents []*pb.Entry
				end := d.End()
				for k := 0; k < 64 && n < events; k++ {
					idx++
					planned, e := l.PlanAppend(end, EntryHeaderBytes)
					data := AppendBatchHeader(nil, planned, per)
					for range per {
						data = AppendBatchRecord(data, rec)
						_, e = l.PlanAppend(e, len(rec))
					}
					end = e
					n += per
					ents = append(ents, &pb.Entry{Term: u64(1), Index: u64(idx), Data: data})
				}
				if err := d.Save(&pb.HardState{Term: u64(1), Commit: u64(idx)}, ents); err != nil {
					b.Fatal(err)
				}
			}
			d.Close()
			l.Close()
			d, l = nil, nil // NB: the setup's disk (its 16 MiB entry cache) would stay live, and every GC in the timed opens would scan it
			var diskOpen time.Duration
			runtime.GC() // NB: the setup's garbage would otherwise be collected inside the timed opens
			b.ResetTimer()
			for range b.N {
				if !c.table {
					b.StopTimer()
					if err := os.Remove(filepath.Join(dir, EntryTableFileName)); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				l := open()
				d, err := OpenTlogDisk(TlogDiskOptions{Log: l, FS: vfs.Default, Dir: dir, Logger: quiet})
				if err != nil {
					b.Fatal(err)
				}
				if li, _ := d.LastIndex(); li != idx {
					b.Fatalf("scan found %d entries, want %d", li, idx)
				}
				diskOpen += d.ScanDuration
				if c.table != (d.TableEntries == idx) {
					b.Fatalf("%d entries from the table", d.TableEntries)
				}
				d.Close()
				l.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/events, "ns/event")
			// table-ns/event: the TlogDisk's own part (table and scan),
			// without opening and closing the tlog.
			b.ReportMetric(float64(diskOpen.Nanoseconds())/float64(b.N)/events, "table+scan-ns/event")
		})
	}
}
