package consensus

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/eventstored/eventstored/store/tlog"
	"github.com/eventstored/eventstored/store/vfs"
)

const testDir = "/db"

// testChunkBytes is small so that entries and their records cross chunk
// boundaries often.
const testChunkBytes = 4096

type diskEnv struct {
	t    testing.TB
	fs   *vfs.MemFS
	l    *tlog.Log
	d    *TlogDisk
	opts TlogDiskOptions
}

func openLog(t testing.TB, fs vfs.FS) *tlog.Log {
	t.Helper()
	l, err := tlog.Open(tlog.Options{FS: fs, Dir: testDir, ChunkSizeBytes: testChunkBytes, SkipVerify: true, Logger: quiet,
		CheckpointSyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func newDiskEnv(t testing.TB, o TlogDiskOptions) *diskEnv {
	t.Helper()
	e := &diskEnv{t: t, fs: vfs.NewMem(), opts: o}
	e.open()
	return e
}

func (e *diskEnv) open() {
	e.t.Helper()
	e.l = openLog(e.t, e.fs)
	o := e.opts
	o.Log, o.FS, o.Dir, o.Logger = e.l, e.fs, testDir, quiet
	d, err := OpenTlogDisk(o)
	if err != nil {
		e.t.Fatal(err)
	}
	e.d = d
}

// crash replaces the filesystem by what a power cut now would leave and
// reopens from it. The old log is abandoned (closed on the old files).
func (e *diskEnv) crash() {
	e.t.Helper()
	clone := e.fs.CrashClone()
	e.l.Close()
	e.fs = clone
	e.open()
}

// reopen closes cleanly and opens again.
func (e *diskEnv) reopen() {
	e.t.Helper()
	if err := e.d.Close(); err != nil {
		e.t.Fatal(err)
	}
	if err := e.l.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

func (e *diskEnv) close() {
	e.d.Close()
	e.l.Close()
}

func u64(v uint64) *uint64 { return &v }

func hardState(term, vote, commit uint64) *pb.HardState {
	return &pb.HardState{Term: u64(term), Vote: u64(vote), Commit: u64(commit)}
}

// batchEntries makes entries first.. of term with the given record
// counts, batches planned from end (as the master's writer plans them);
// a count of -1 makes an inline entry (a raft empty entry when data is
// nil).
func batchEntries(rng *rand.Rand, ds, end int64, first, term uint64, counts ...int) ([]*pb.Entry, int64) {
	var out []*pb.Entry
	for k, c := range counts {
		idx := first + uint64(k)
		e := &pb.Entry{Term: u64(term), Index: u64(idx), Type: pb.EntryType_EntryNormal.Enum()}
		if c < 0 {
			if rng.IntN(2) == 0 {
				e.Data = fmt.Appendf(nil, "inline %d/%d", term, idx)
			}
			_, end = PlanAppend(ds, end, EntryHeaderBytes+len(e.Data))
			out = append(out, e)
			continue
		}
		var planned int64
		planned, end = PlanAppend(ds, end, EntryHeaderBytes)
		e.Data = AppendBatchHeader(nil, planned, c)
		for r := range c {
			rec := make([]byte, 1+rng.IntN(700))
			for i := range rec {
				rec[i] = byte(int(idx)*31 + r + i)
			}
			e.Data = AppendBatchRecord(e.Data, rec)
			_, end = PlanAppend(ds, end, len(rec))
		}
		out = append(out, e)
	}
	return out, end
}

func (e *diskEnv) mustSave(hs *pb.HardState, ents []*pb.Entry) {
	e.t.Helper()
	if err := e.d.Save(hs, ents); err != nil {
		e.t.Fatal(err)
	}
}

// checkEntries: the disk holds exactly want (by index, byte for byte).
func checkEntries(t testing.TB, d *TlogDisk, want map[uint64]*pb.Entry, last uint64) {
	t.Helper()
	if li, _ := d.LastIndex(); li != last {
		t.Fatalf("last index %d, want %d", li, last)
	}
	if last == 0 {
		return
	}
	got, err := d.Entries(1, last+1, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(got)) != last {
		t.Fatalf("%d entries, want %d", len(got), last)
	}
	for _, g := range got {
		w := want[g.GetIndex()]
		if !proto.Equal(g, w) {
			t.Fatalf("entry %d: got term %d type %v %d bytes, want term %d type %v %d bytes", g.GetIndex(), g.GetTerm(), g.GetType(), len(g.GetData()),
				w.GetTerm(), w.GetType(), len(w.GetData()))
		}
		if term, _ := d.Term(g.GetIndex()); term != w.GetTerm() {
			t.Fatalf("Term(%d) = %d, want %d", g.GetIndex(), term, w.GetTerm())
		}
	}
}

// TestTlogDiskRoundTrip: entries saved as tlog records come back byte
// for byte from the cache, after a clean reopen and after a crash, and
// batch records sit where their writer planned them.
func TestTlogDiskRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	e := newDiskEnv(t, TlogDiskOptions{})
	defer e.close()
	want := map[uint64]*pb.Entry{}
	end := e.d.End()
	var last uint64
	for term := uint64(1); term <= 4; term++ {
		for range 5 {
			counts := []int{-1}
			for range 1 + rng.IntN(4) {
				counts = append(counts, rng.IntN(12))
			}
			var ents []*pb.Entry
			ents, end = batchEntries(rng, testChunkBytes, end, last+1, term, counts...)
			e.mustSave(hardState(term, 1, last), ents)
			for _, x := range ents {
				want[x.GetIndex()] = x
			}
			last += uint64(len(ents))
			if e.d.End() != end {
				t.Fatalf("log ends at %d, planned %d", e.d.End(), end)
			}
		}
	}
	if e.l.Durable() < 4*testChunkBytes {
		t.Fatalf("only %d bytes written: chunk crossings not exercised", e.l.Durable())
	}
	checkEntries(t, e.d, want, last)
	e.reopen()
	checkEntries(t, e.d, want, last)
	e.crash()
	checkEntries(t, e.d, want, last)
	hs, _, _ := e.d.InitialState()
	if hs.GetTerm() != 4 || hs.GetVote() != 1 {
		t.Fatalf("hard state %v after crash", hs)
	}
	// The batch records are ordinary tlog records at planned positions:
	// the record after entry 2's header is its first record.
	for i := uint64(1); i <= last; i++ {
		b, ok, _ := peekBatch(want[i].GetData())
		if !ok || b.count == 0 {
			continue
		}
		_, p := PlanAppend(testChunkBytes, b.planned, EntryHeaderBytes)
		rec, _ := nextBatchRecord(b.recs)
		p, _ = PlanAppend(testChunkBytes, p, len(rec))
		got, _, err := e.l.ReadAt(p, nil)
		if err != nil || string(got) != string(rec) {
			t.Fatalf("entry %d: first record not at %d (%v)", i, p, err)
		}
		break
	}
}

// TestTlogDiskEntriesMaxSize: raft's size limit is honoured, and at
// least one entry is always returned.
func TestTlogDiskEntriesMaxSize(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	e := newDiskEnv(t, TlogDiskOptions{})
	defer e.close()
	ents, _ := batchEntries(rng, testChunkBytes, e.d.End(), 1, 1, 5, 5, 5, 5)
	e.mustSave(hardState(1, 1, 0), ents)
	e.reopen() // read from the log, not the cache
	got, err := e.d.Entries(1, 5, 1)
	if err != nil || len(got) != 1 {
		t.Fatalf("maxSize 1: %d entries, %v", len(got), err)
	}
	two := uint64(proto.Size(ents[0]) + proto.Size(ents[1]))
	if got, _ = e.d.Entries(1, 5, two); len(got) != 2 {
		t.Fatalf("maxSize of two entries: got %d", len(got))
	}
	if _, err := e.d.Entries(1, 6, 1<<30); !errors.Is(err, raft.ErrUnavailable) {
		t.Fatalf("past the end: %v", err)
	}
	if _, err := e.d.Term(5); !errors.Is(err, raft.ErrUnavailable) {
		t.Fatalf("Term past the end: %v", err)
	}
	if term, _ := e.d.Term(0); term != 0 {
		t.Fatalf("Term(0) = %d", term)
	}
}

// TestTlogDiskTruncatesConflictingSuffix: raft replacing entries from
// index i cuts the log at entry i's header; the cut survives reopen and
// crash, and OnTruncate learns the position.
func TestTlogDiskTruncatesConflictingSuffix(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var cutAt []int64
	e := newDiskEnv(t, TlogDiskOptions{OnTruncate: func(p int64) { cutAt = append(cutAt, p) }})
	defer e.close()
	ents, _ := batchEntries(rng, testChunkBytes, 0, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3)
	e.mustSave(hardState(1, 1, 3), ents)
	want := map[uint64]*pb.Entry{}
	for _, x := range ents {
		want[x.GetIndex()] = x
	}
	at := e.d.EntryPos(5)
	repl, _ := batchEntries(rng, testChunkBytes, at, 5, 2, 2, -1)
	e.mustSave(hardState(2, 2, 3), repl)
	for _, x := range repl {
		want[x.GetIndex()] = x
	}
	if len(cutAt) != 1 || cutAt[0] != at {
		t.Fatalf("OnTruncate calls %v, want [%d]", cutAt, at)
	}
	checkEntries(t, e.d, want, 6)
	e.crash()
	checkEntries(t, e.d, want, 6)
	if term, _ := e.d.Term(5); term != 2 {
		t.Fatalf("Term(5) = %d after the replacement", term)
	}
}

// TestTlogDiskRefusesTruncationAboveLimit: a cut larger than
// --max-truncation is refused with an error naming the option, the log
// keeps every byte, and the disk stays failed.
func TestTlogDiskRefusesTruncationAboveLimit(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	e := newDiskEnv(t, TlogDiskOptions{MaxTruncationBytes: 2000})
	defer e.close()
	ents, _ := batchEntries(rng, testChunkBytes, 0, 1, 1, 3, 3, 3, 3, 3, 3)
	e.mustSave(hardState(1, 1, 1), ents)
	want := map[uint64]*pb.Entry{}
	for _, x := range ents {
		want[x.GetIndex()] = x
	}
	// Within the limit the last entry alone could go; from entry 2 on it
	// is more than 2000 bytes.
	if cut := e.d.End() - e.d.EntryPos(2); cut <= 2000 {
		t.Fatalf("test needs more than 2000 bytes after entry 2, has %d", cut)
	}
	repl, _ := batchEntries(rng, testChunkBytes, e.d.EntryPos(2), 2, 2, 1)
	err := e.d.Save(hardState(2, 2, 1), repl)
	if !errors.Is(err, ErrTruncationLimit) || !strings.Contains(err.Error(), "--max-truncation") {
		t.Fatalf("Save: %v, want ErrTruncationLimit naming --max-truncation", err)
	}
	if err := e.d.Save(hardState(2, 2, 1), nil); !errors.Is(err, ErrTruncationLimit) {
		t.Fatalf("disk not latched after the refusal: %v", err)
	}
	e.crash()
	checkEntries(t, e.d, want, 6)
	hs, _, _ := e.d.InitialState()
	if hs.GetTerm() != 1 {
		t.Fatalf("the refused Save changed the hard state: %v", hs)
	}
}

// TestTlogDiskTruncationLimitBoundary: a cut of exactly the limit goes
// through.
func TestTlogDiskTruncationLimitBoundary(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	e := newDiskEnv(t, TlogDiskOptions{})
	ents, _ := batchEntries(rng, testChunkBytes, 0, 1, 1, 3, 3, 3)
	e.mustSave(hardState(1, 1, 1), ents)
	limit := e.d.End() - e.d.EntryPos(2)
	e.close()
	e.opts.MaxTruncationBytes = limit
	e.open()
	defer e.close()
	repl, _ := batchEntries(rng, testChunkBytes, e.d.EntryPos(2), 2, 2, 1)
	if err := e.d.Save(hardState(2, 2, 1), repl); err != nil {
		t.Fatalf("a cut of exactly --max-truncation was refused: %v", err)
	}
}

// TestTlogDiskRefusesUnplannedPosition: a batch planned at the wrong
// position is a bug: refused, latched, nothing of it survives.
func TestTlogDiskRefusesUnplannedPosition(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	e := newDiskEnv(t, TlogDiskOptions{})
	defer e.close()
	ents, _ := batchEntries(rng, testChunkBytes, 0, 1, 1, 2)
	e.mustSave(hardState(1, 1, 1), ents)
	bad, _ := batchEntries(rng, testChunkBytes, e.d.End()+8, 2, 1, 2)
	if err := e.d.Save(nil, bad); !errors.Is(err, ErrPositionMismatch) {
		t.Fatalf("Save: %v, want ErrPositionMismatch", err)
	}
	good, _ := batchEntries(rng, testChunkBytes, e.d.End(), 2, 1, 2)
	if err := e.d.Save(nil, good); !errors.Is(err, ErrPositionMismatch) {
		t.Fatalf("not latched: %v", err)
	}
	e.crash()
	checkEntries(t, e.d, map[uint64]*pb.Entry{1: ents[0]}, 1)
}

// TestTlogDiskCutsIncompleteEntry: an entry whose records did not all
// reach the disk (a crash inside Save) is cut at open.
func TestTlogDiskCutsIncompleteEntry(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	e := newDiskEnv(t, TlogDiskOptions{})
	ents, _ := batchEntries(rng, testChunkBytes, 0, 1, 1, 2, 2)
	e.mustSave(hardState(1, 1, 1), ents)
	// Entry 3 announces 3 records; only one reaches the disk.
	if _, err := e.l.Append(appendEntryHeader(nil, pb.EntryType_EntryNormal, formBatch, 1, 3, 3, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.l.Append([]byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := e.l.Flush(); err != nil {
		t.Fatal(err)
	}
	e.crash()
	defer e.close()
	checkEntries(t, e.d, map[uint64]*pb.Entry{1: ents[0], 2: ents[1]}, 2)
	more, _ := batchEntries(rng, testChunkBytes, e.d.End(), 3, 1, 1)
	e.mustSave(nil, more)
	checkEntries(t, e.d, map[uint64]*pb.Entry{1: ents[0], 2: ents[1], 3: more[0]}, 3)
}

// TestTlogDiskRefusesSingleNodeLog: a log with ordinary records (a single
// node's database) is not a raft log.
func TestTlogDiskRefusesSingleNodeLog(t *testing.T) {
	fs := vfs.NewMem()
	l := openLog(t, fs)
	defer l.Close()
	if _, err := l.Append([]byte{1, 1, 0, 0, 'x'}); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	_, err := OpenTlogDisk(TlogDiskOptions{Log: l, FS: fs, Dir: testDir, Logger: quiet})
	if !errors.Is(err, ErrNotRaftLog) || !strings.Contains(err.Error(), "single node") {
		t.Fatalf("OpenTlogDisk: %v, want ErrNotRaftLog", err)
	}
}

// TestHardStateSyncsOnlyTermAndVote: a change of term or vote is fsynced
// (it survives a crash); a change of commit alone is not, and a crash
// then keeps the term and vote with an older commit.
func TestHardStateSyncsOnlyTermAndVote(t *testing.T) {
	e := newDiskEnv(t, TlogDiskOptions{})
	defer e.close()
	ents, _ := batchEntries(rand.New(rand.NewPCG(1, 1)), testChunkBytes, 0, 1, 3, 1, 1, 1)
	e.mustSave(hardState(3, 2, 0), ents)
	e.mustSave(hardState(3, 2, 1), nil)
	e.mustSave(hardState(3, 2, 2), nil)
	if e.d.hs.syncs != 1 {
		t.Fatalf("%d hard state fsyncs, want 1 (commit-only changes are not fsynced)", e.d.hs.syncs)
	}
	e.crash()
	hs, _, _ := e.d.InitialState()
	if hs.GetTerm() != 3 || hs.GetVote() != 2 || hs.GetCommit() > 2 {
		t.Fatalf("after crash: %v", hs)
	}
	e.mustSave(hardState(4, 0, 2), nil)
	e.mustSave(hardState(4, 0, 3), nil)
	e.reopen() // Close syncs the commit
	if hs, _, _ = e.d.InitialState(); hs.GetTerm() != 4 || hs.GetVote() != 0 || hs.GetCommit() != 3 {
		t.Fatalf("after clean reopen: %v", hs)
	}
}

// TestHardStateTornSlot: a torn newest slot falls back to the other one;
// both torn is ErrCorruptState.
func TestHardStateTornSlot(t *testing.T) {
	e := newDiskEnv(t, TlogDiskOptions{})
	e.mustSave(hardState(1, 1, 0), nil)
	e.mustSave(hardState(2, 3, 0), nil)
	slot := e.d.hs.syncedSlot
	e.close()
	path := filepath.Join(testDir, HardStateFileName)
	f, err := e.fs.OpenReadWrite(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("torn"), int64(slot)*hardStateSlotBytes+10); err != nil {
		t.Fatal(err)
	}
	e.open()
	hs, _, _ := e.d.InitialState()
	if hs.GetTerm() != 1 || hs.GetVote() != 1 {
		t.Fatalf("torn newest slot: got %v, want the previous state (term 1, vote 1)", hs)
	}
	e.close()
	if _, err := f.WriteAt([]byte("torn"), int64(1-slot)*hardStateSlotBytes+10); err != nil {
		t.Fatal(err)
	}
	f.Close()
	l := openLog(t, e.fs)
	defer l.Close()
	if _, err := OpenTlogDisk(TlogDiskOptions{Log: l, FS: e.fs, Dir: testDir, Logger: quiet}); !errors.Is(err, ErrCorruptState) {
		t.Fatalf("both slots torn: %v, want ErrCorruptState", err)
	}
}

// TestTlogDiskMembers: Bootstrap persists the membership once; a second
// Bootstrap leaves it alone.
func TestTlogDiskMembers(t *testing.T) {
	e := newDiskEnv(t, TlogDiskOptions{})
	defer e.close()
	if err := e.d.Bootstrap([]uint64{1, 2, 3}, []uint64{9}); err != nil {
		t.Fatal(err)
	}
	e.crash()
	if err := e.d.Bootstrap([]uint64{4, 5, 6}, nil); err != nil {
		t.Fatal(err)
	}
	e.crash()
	_, cs, _ := e.d.InitialState()
	if !sameMembers(cs, &pb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{9}}) {
		t.Fatalf("members %v", cs)
	}
	snap, _ := e.d.Snapshot()
	if !sameMembers(snap.GetMetadata().GetConfState(), cs) || snap.GetMetadata().GetIndex() != 0 {
		t.Fatalf("snapshot %v", snap)
	}
}

// TestTlogDiskCrashLosesNothingSaved: random saves (appends, conflicting
// replacements, hard state changes), a crash clone after each: every
// entry and every term and vote that Save returned from is there.
func TestTlogDiskCrashLosesNothingSaved(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	e := newDiskEnv(t, TlogDiskOptions{MaxTruncationBytes: -1})
	defer e.close()
	want := map[uint64]*pb.Entry{}
	var last, term, commit uint64 = 0, 1, 0
	for step := range 200 {
		first := last + 1
		if last > commit && rng.IntN(4) == 0 {
			first = commit + 1 + uint64(rng.IntN(int(last-commit)))
			term++
		}
		var counts []int
		for range 1 + rng.IntN(3) {
			counts = append(counts, rng.IntN(6)-1)
		}
		at := e.d.End()
		if first <= last {
			at = e.d.EntryPos(first)
		}
		ents, _ := batchEntries(rng, testChunkBytes, at, first, term, counts...)
		last = first + uint64(len(ents)) - 1
		for i := range want {
			if i >= first {
				delete(want, i)
			}
		}
		for _, x := range ents {
			want[x.GetIndex()] = x
		}
		if rng.IntN(2) == 0 {
			commit += uint64(rng.IntN(int(last-commit) + 1))
		}
		e.mustSave(hardState(term, uint64(step%3), commit), ents)
		if rng.IntN(3) == 0 {
			e.crash()
			hs, _, _ := e.d.InitialState()
			if hs.GetTerm() != term || hs.GetVote() != uint64(step%3) || hs.GetCommit() > commit {
				t.Fatalf("step %d: hard state %v after crash, want term %d vote %d", step, hs, term, step%3)
			}
			checkEntries(t, e.d, want, last)
		}
	}
}

// TestTlogDiskIndexCovering maps a store's applied log position back to
// raft's applied index.
func TestTlogDiskIndexCovering(t *testing.T) {
	e := newDiskEnv(t, TlogDiskOptions{})
	defer e.close()
	ents, _ := batchEntries(rand.New(rand.NewPCG(1, 1)), testChunkBytes, 0, 1, 1, 2, 2, 2)
	e.mustSave(nil, ents)
	cases := []struct {
		p    int64
		want uint64
	}{{0, 0}, {e.d.EntryPos(2) - 1, 0}, {e.d.EntryPos(2), 1}, {e.d.EntryPos(3), 2}, {e.d.End() - 1, 2}, {e.d.End(), 3}}
	for _, c := range cases {
		if got := e.d.IndexCovering(c.p); got != c.want {
			t.Fatalf("IndexCovering(%d) = %d, want %d", c.p, got, c.want)
		}
	}
}
