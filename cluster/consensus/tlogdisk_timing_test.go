package consensus

import (
	"fmt"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/eventstored/eventstored/store/tlog"
	"github.com/eventstored/eventstored/store/vfs"
)

// BenchmarkTlogDiskOpenScan measures the open-time scan that rebuilds
// the entry position table: 200,000 events of 100 bytes on the real disk
// (page cache warm), as single-event entries (the worst case: a header
// per event) and as 100-event group commits.
//
//	go test ./cluster/consensus -run XXX -bench OpenScan -benchtime 5x
func BenchmarkTlogDiskOpenScan(b *testing.B) {
	const events = 200_000
	for _, per := range []int{1, 100} {
		b.Run(fmt.Sprintf("events-per-entry=%d", per), func(b *testing.B) {
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
				if err := d.Save(nil, ents); err != nil {
					b.Fatal(err)
				}
			}
			d.Close()
			l.Close()
			b.ResetTimer()
			for range b.N {
				l := open()
				d, err := OpenTlogDisk(TlogDiskOptions{Log: l, FS: vfs.Default, Dir: dir, Logger: quiet})
				if err != nil {
					b.Fatal(err)
				}
				if li, _ := d.LastIndex(); li != idx {
					b.Fatalf("scan found %d entries, want %d", li, idx)
				}
				d.Close()
				l.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/events, "ns/event")
		})
	}
}
