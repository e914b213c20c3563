package consensus

import (
	"encoding/binary"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/eventstored/eventstored/store/tlog"
	"github.com/eventstored/eventstored/store/vfs"
)

// scanTable is the entry table a full scan of l gives (read only: l was
// opened by a TlogDisk, which cut any incomplete entry).
func scanTable(t testing.TB, l *tlog.Log) (pos []int64, terms []termRun, end int64) {
	t.Helper()
	d := &TlogDisk{l: l, ds: l.ChunkSizeBytes(), log: quiet}
	if err := d.scan(time.Now()); err != nil {
		t.Fatal(err)
	}
	return d.pos, d.terms, d.end
}

// sameAsFullScan: d's entry table is exactly what a full scan gives.
func sameAsFullScan(t testing.TB, d *TlogDisk) {
	t.Helper()
	pos, terms, end := scanTable(t, d.l)
	if !slices.Equal(d.pos, pos) {
		t.Fatalf("positions differ from a full scan: %d entries vs %d", len(d.pos), len(pos))
	}
	if !slices.Equal(d.terms, terms) {
		t.Fatalf("term runs differ from a full scan: %v vs %v", d.terms, terms)
	}
	if d.end != end {
		t.Fatalf("end %d, full scan %d", d.end, end)
	}
}

// tableEnv fills a disk with n entries of mixed forms and terms, commit
// lagging lag entries behind, saved in Readies of up to 50 entries.
type tableEnv struct {
	*diskEnv
	rng    *rand.Rand
	want   map[uint64]*pb.Entry
	last   uint64
	term   uint64
	commit uint64
}

func newTableEnv(t *testing.T) *tableEnv {
	return &tableEnv{diskEnv: newDiskEnv(t, TlogDiskOptions{}), rng: rand.New(rand.NewPCG(11, 12)), want: map[uint64]*pb.Entry{}, term: 1}
}

func (e *tableEnv) add(n int, lag uint64) {
	e.t.Helper()
	for n > 0 {
		k := min(n, 1+e.rng.IntN(50))
		counts := make([]int, k)
		for i := range counts {
			counts[i] = e.rng.IntN(3) - 1 // inline, empty batch or one record
			if e.rng.IntN(20) == 0 {
				counts[i] = 2 + e.rng.IntN(3)
			}
		}
		if e.rng.IntN(10) == 0 {
			e.term++
		}
		ents, _ := batchEntries(e.rng, testChunkBytes, e.d.End(), e.last+1, e.term, counts...)
		e.last += uint64(k)
		for _, x := range ents {
			e.want[x.GetIndex()] = x
		}
		e.commit = max(e.commit, e.last-min(lag, e.last))
		e.mustSave(hardState(e.term, 1, e.commit), ents)
		n -= k
	}
}

func (e *tableEnv) check() {
	e.t.Helper()
	checkEntries(e.t, e.d, e.want, e.last)
	sameAsFullScan(e.t, e.d)
}

// TestEntryTableOpenMatchesFullScan: a node reopened from its entry
// table has exactly the table a full scan builds, and scans only the
// entries that were not committed.
func TestEntryTableOpenMatchesFullScan(t *testing.T) {
	e := newTableEnv(t)
	defer e.close()
	e.add(3*tableFrameEntries+100, 7)
	if e.d.et.frames < 3 {
		t.Fatalf("%d frames written while committing %d entries", e.d.et.frames, e.last)
	}
	e.reopen()
	if e.d.TableEntries != e.last-7 {
		t.Fatalf("%d entries from the table after a clean close, want the %d committed", e.d.TableEntries, e.last-7)
	}
	if e.d.ScanBytes <= 0 || e.d.ScanBytes >= e.d.End()/100 {
		t.Fatalf("scanned %d bytes of a %d-byte log: should be the uncommitted tail only", e.d.ScanBytes, e.d.End())
	}
	e.check()
	// And it goes on growing the same table.
	e.add(500, 3)
	e.reopen()
	e.check()
}

// TestEntryTableAfterTruncation: raft replaces a diverged uncommitted
// suffix; the table (which never holds uncommitted entries) and the scan
// past it agree with a full scan, after a clean close and after a crash.
func TestEntryTableAfterTruncation(t *testing.T) {
	e := newTableEnv(t)
	defer e.close()
	e.add(tableFrameEntries+10, 0)
	committed := e.last
	e.add(40, 40) // uncommitted tail
	e.term++
	repl, _ := batchEntries(e.rng, testChunkBytes, e.d.EntryPos(committed+1), committed+1, e.term, 2, -1, 1, 0, 3)
	e.commit = committed + 2
	e.mustSave(hardState(e.term, 2, e.commit), repl)
	for i := committed + 1; i <= e.last; i++ {
		delete(e.want, i)
	}
	for _, x := range repl {
		e.want[x.GetIndex()] = x
	}
	e.last = committed + uint64(len(repl))
	e.check()
	e.reopen()
	e.check()
	if e.d.TableEntries != committed+2 {
		t.Fatalf("%d entries from the table, want %d", e.d.TableEntries, committed+2)
	}
	// Diverge again past the table's end, then crash.
	e.add(20, 100)
	e.term++
	repl, _ = batchEntries(e.rng, testChunkBytes, e.d.EntryPos(committed+3), committed+3, e.term, 1, 1)
	e.mustSave(hardState(e.term, 3, committed+2), repl)
	for i := committed + 3; i <= e.last; i++ {
		delete(e.want, i)
	}
	for _, x := range repl {
		e.want[x.GetIndex()] = x
	}
	e.last = committed + 4
	e.crash()
	e.check()
}

// TestEntryTableCrashBeforeTableWrite: frames are written without fsync;
// a power cut after the log's fsync loses them, and the open scans the
// log past the synced part of the table instead.
func TestEntryTableCrashBeforeTableWrite(t *testing.T) {
	e := newTableEnv(t)
	defer e.close()
	e.add(tableFrameEntries+50, 0)
	e.reopen() // the table is synced up to here
	synced := e.d.TableEntries
	e.add(2*tableFrameEntries, 5) // frames written, not synced
	if e.d.et.persisted <= synced {
		t.Fatalf("no frame written past entry %d", synced)
	}
	e.crash()
	if e.d.TableEntries != synced {
		t.Fatalf("%d entries from the table after the crash, want the %d synced", e.d.TableEntries, synced)
	}
	e.check()
	// The open brought the table up to the commit index again.
	e.crash()
	if e.d.TableEntries <= synced {
		t.Fatalf("the table was not extended at open: %d entries", e.d.TableEntries)
	}
	e.check()
}

func (e *tableEnv) tablePath() string { return filepath.Join(testDir, EntryTableFileName) }

func (e *tableEnv) closeAll() {
	e.t.Helper()
	if err := e.d.Close(); err != nil {
		e.t.Fatal(err)
	}
	if err := e.l.Close(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *tableEnv) patchTable(off int64, b []byte) {
	e.t.Helper()
	f, err := e.fs.OpenReadWrite(e.tablePath())
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		e.t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		e.t.Fatal(err)
	}
}

// TestEntryTableDamagedOrMissing: a missing table, a damaged header, a
// damaged frame, an oversized frame, a table of another log and a table
// past the log's end all fall back to scanning (all or part of) the log,
// and the table is rebuilt.
func TestEntryTableDamagedOrMissing(t *testing.T) {
	cases := []struct {
		name string
		harm func(e *tableEnv)
		// minTable: at least this many entries still come from the table.
		minTable uint64
	}{
		{"missing", func(e *tableEnv) {
			if err := e.fs.Remove(e.tablePath()); err != nil {
				e.t.Fatal(err)
			}
		}, 0},
		{"header", func(e *tableEnv) { e.patchTable(9, []byte{0x55}) }, 0},
		{"second-frame", func(e *tableEnv) {
			// First frame: header 32 B, then magic, length.
			var b [4]byte
			f, _ := e.fs.Open(e.tablePath())
			vfs.ReadFull(f, b[:], tableHeaderBytes+4)
			f.Close()
			n := int64(binary.LittleEndian.Uint32(b[:]))
			e.patchTable(tableHeaderBytes+8+n+4+40, []byte{0xff, 0xee})
		}, tableFrameEntries},
		{"oversized-frame", func(e *tableEnv) {
			e.patchTable(tableHeaderBytes+4, binary.LittleEndian.AppendUint32(nil, maxTableFrameBody+1))
		}, 0},
		{"table-past-log", func(e *tableEnv) {
			// The log loses its second half (the table does not).
			k := e.last / 2
			cut := e.d.EntryPos(k)
			l := openLog(e.t, e.fs)
			if err := l.Truncate(cut); err != nil {
				e.t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				e.t.Fatal(err)
			}
			for i := k; i <= e.last; i++ {
				delete(e.want, i)
			}
			e.last = k - 1
			// The hard state's commit would be past the log: lower it.
			hs, err := openHardState(e.fs, testDir)
			if err != nil {
				e.t.Fatal(err)
			}
			if err := hs.save(hardState(e.term, 2, e.last)); err != nil {
				e.t.Fatal(err)
			}
			hs.close()
		}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newTableEnv(t)
			e.diskEnv.t = t
			defer e.close()
			e.add(2*tableFrameEntries+30, 0)
			e.closeAll()
			c.harm(e)
			e.open()
			if e.d.TableEntries < c.minTable || (c.minTable == 0 && e.d.TableEntries != 0) {
				t.Fatalf("%d entries from the damaged table, want %d", e.d.TableEntries, c.minTable)
			}
			e.check()
			e.reopen()
			if e.d.TableEntries != e.last {
				t.Fatalf("table not rebuilt: %d entries from it, want %d", e.d.TableEntries, e.last)
			}
			e.check()
		})
	}
}

// TestEntryTableOfAnotherLog: a table left behind by another log (same
// geometry, different entries) is noticed and not used.
func TestEntryTableOfAnotherLog(t *testing.T) {
	a := newTableEnv(t)
	a.add(tableFrameEntries+10, 0)
	a.closeAll()
	f, _ := a.fs.Open(a.tablePath())
	st, _ := f.Stat()
	table := make([]byte, st.Size())
	vfs.ReadFull(f, table, 0)
	f.Close()

	b := newTableEnv(t)
	defer b.close()
	b.rng = rand.New(rand.NewPCG(99, 100))
	b.add(tableFrameEntries+10, 0)
	b.closeAll()
	if err := vfs.WriteFileSync(b.fs, b.tablePath(), table); err != nil {
		t.Fatal(err)
	}
	b.open()
	if b.d.TableEntries != 0 {
		t.Fatalf("%d entries taken from another log's table", b.d.TableEntries)
	}
	b.check()
}
