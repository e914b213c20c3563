package consensus

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/eventstored/eventstored/store/tlog"
	"github.com/eventstored/eventstored/store/vfs"
)

// Sentinel errors of TlogDisk.
var (
	// ErrTruncationLimit: raft asked to cut more of the log than
	// --max-truncation allows. The node stops instead of throwing the
	// data away; an operator decides.
	ErrTruncationLimit = errors.New("consensus: truncation above --max-truncation refused")
	// ErrPositionMismatch: a batch entry's header did not land at the log
	// position its writer planned. The logs of two nodes (or the writer
	// and its log) disagree on bytes: a bug, never retried.
	ErrPositionMismatch = errors.New("consensus: batch entry landed at an unplanned log position")
	// ErrCorruptState: the hard state or members file is unreadable.
	ErrCorruptState = errors.New("consensus: consensus state file is corrupt")
)

// DefaultMaxTruncationBytes is --max-truncation's default (256 MiB, as
// later Event Store versions added).
const DefaultMaxTruncationBytes = 256 << 20

// cacheMaxBytes bounds the recently saved entries TlogDisk keeps in
// memory, so that sending them to followers and applying them once
// committed (both right after the save) do not read the log back.
const cacheMaxBytes = 16 << 20

// TlogDiskOptions configure OpenTlogDisk.
type TlogDiskOptions struct {
	// Log is the transaction log the entries live in. TlogDisk owns its
	// writer methods (Append, Flush, Truncate) from then on: they run on
	// the consensus driver goroutine.
	Log *tlog.Log
	// FS and Dir locate the hard state and members files (the db
	// directory, next to the chunks).
	FS  vfs.FS
	Dir string
	// MaxTruncationBytes is --max-truncation; DefaultMaxTruncationBytes
	// when 0, no limit when negative.
	MaxTruncationBytes int64
	// OnTruncate is called (append goroutine: see Driver) after the log was cut back
	// to pos because raft replaced an uncommitted suffix: whatever was
	// planned past pos will never commit.
	OnTruncate func(pos int64)
	Logger     *slog.Logger
}

// TlogDisk is the Disk on the store's transaction log: raft's entries are
// tlog records (entry.go), so one fsync per Ready makes a group commit
// durable and there is no second write-ahead log. Hard state and members
// are small files of their own (hardstate.go).
//
// In memory it keeps, per entry, the log position of its header record
// (8 bytes an entry) and the terms as runs (a term changes only at an
// election), loaded at open from the entry table (entrytable.go) and a
// scan of the log's headers past its end; plus the
// recently saved entries (cacheMaxBytes). No compaction: FirstIndex is 1
// and there is no snapshot.
//
// raft.Storage and the position queries run on the consensus driver
// goroutine (the RawNode's); Save (and with it the log's writer methods)
// on the driver's append goroutine. mu guards what both touch: the
// position and term tables, the end and the cache. Save holds it while
// it appends to the log's buffer, not during the fsync.
type TlogDisk struct {
	mu sync.Mutex

	l        *tlog.Log
	fs       vfs.FS
	dir      string
	ds       int64
	hs       *hardStateFile
	et       *entryTable // persisted entry table (entrytable.go); nil only while opening
	guard    VoteGuardState
	members  *pb.ConfState
	maxTrunc int64
	onTrunc  func(int64)
	log      *slog.Logger
	failed   error

	pos   []int64   // pos[i]: log position of entry i+1's header
	terms []termRun // ascending first index
	end   int64     // log position after the last entry

	cache      []*pb.Entry // entries cacheFirst, cacheFirst+1, ...
	cacheFirst uint64
	cacheBytes int

	scratch  []byte // Save's
	rscratch []byte // Entries'
	// ScanDuration and ScanBytes describe the open: the time to load the
	// entry table and scan the log past it, and the log bytes scanned.
	// TableEntries is how many entries came from the table.
	ScanDuration time.Duration
	ScanBytes    int64
	TableEntries uint64
	// Saves counts Save calls that wrote entries (one fsync each). Any
	// goroutine.
	Saves atomic.Uint64
	// SaveNanos sums the time Saves took (write and fsync). Any
	// goroutine.
	SaveNanos atomic.Int64
	// SavedEntries counts the entries those Saves wrote. Any goroutine.
	SavedEntries atomic.Uint64
}

type termRun struct{ first, term uint64 }

// OpenTlogDisk opens the consensus state in o.Dir over o.Log: reads the
// hard state and members, loads the entry table and scans the log's
// entry headers past it (the whole log without a usable table). An entry
// whose records did not all reach the log before a crash (never reported
// saved) is cut.
func OpenTlogDisk(o TlogDiskOptions) (*TlogDisk, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxTruncationBytes == 0 {
		o.MaxTruncationBytes = DefaultMaxTruncationBytes
	}
	d := &TlogDisk{l: o.Log, fs: o.FS, dir: o.Dir, ds: o.Log.ChunkSizeBytes(), maxTrunc: o.MaxTruncationBytes,
		onTrunc: o.OnTruncate, log: o.Logger}
	var err error
	if d.members, err = readMembers(o.FS, o.Dir); err != nil {
		return nil, err
	}
	if err := d.openVoteGuard(); err != nil {
		return nil, err
	}
	if d.hs, err = openHardState(o.FS, o.Dir); err != nil {
		return nil, err
	}
	start := time.Now()
	if err := d.loadEntryTable(); err != nil {
		d.closeFiles()
		return nil, err
	}
	d.TableEntries = d.lastIndex()
	if err := d.scan(start); err != nil && d.TableEntries > 0 {
		// NB: the table passed its checks but the log past it does not
		// continue it: trust the log.
		d.log.Warn("consensus: the log does not continue the entry table; scanning the whole log", "err", err)
		if err := d.resetEntryTable(); err != nil {
			d.closeFiles()
			return nil, err
		}
		d.TableEntries = 0
		if err := d.scan(start); err != nil {
			d.closeFiles()
			return nil, err
		}
	} else if err != nil {
		d.closeFiles()
		return nil, err
	}
	if c := d.hs.cur.GetCommit(); c > d.lastIndex() {
		d.closeFiles()
		return nil, fmt.Errorf("%w: commit index %d is past the last entry %d in the log", ErrCorruptState, c, d.lastIndex())
	}
	// A rebuilt (or lagging) table catches up with the committed entries
	// now, before the node serves, rather than in its first commit.
	d.persistCommitted(d.hs.cur.GetCommit(), true)
	d.hs.onCommit = func(c uint64) { d.persistCommitted(c, false) }
	return d, nil
}

func (d *TlogDisk) closeFiles() {
	d.hs.close()
	d.et.close()
}

// scan extends the position and term tables from the log, from d.end
// (the end of what the entry table held; 0 without one).
func (d *TlogDisk) scan(start time.Time) error {
	from := d.end
	it := d.l.NewIterator(from)
	defer it.Close()
	durable := d.l.Durable()
	var pending int // records still owed to the last header
	var lastHdr int64
	for {
		p, payload, err := it.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("consensus: scanning the log for raft entries: %w", err)
		}
		if pending > 0 {
			pending--
			d.end = it.Pos()
			continue
		}
		h, err := decodeEntryHeader(payload)
		if err != nil {
			return fmt.Errorf("%w (record at %d; a database written by a single node cannot be opened as a cluster node)", err, p)
		}
		if want := d.lastIndex() + 1; h.index != want {
			return fmt.Errorf("%w: entry %d at %d follows entry %d", ErrNotRaftLog, h.index, p, want-1)
		}
		if h.term < d.lastTerm() {
			return fmt.Errorf("%w: entry %d at %d has term %d below %d", ErrNotRaftLog, h.index, p, h.term, d.lastTerm())
		}
		d.appendIndex(p, h.term)
		lastHdr, pending = p, h.count
		d.end = it.Pos()
	}
	d.ScanBytes, d.ScanDuration = durable-from, time.Since(start)
	if pending > 0 {
		// NB: Save flushes an entry's records together; a crash part-way
		// leaves a header without all its records, an entry never
		// reported saved: cut it (not a truncation of saved data, so
		// --max-truncation does not apply).
		d.log.Warn("consensus: cutting an entry whose records did not all reach the log", "index", d.lastIndex(), "pos", lastHdr, "missing_records", pending)
		if err := d.l.Truncate(lastHdr); err != nil {
			return fmt.Errorf("consensus: cannot cut the incomplete entry at %d: %w", lastHdr, err)
		}
		d.dropFrom(d.lastIndex())
		d.end = lastHdr
	}
	d.log.Info("consensus: raft log opened", "entries", d.lastIndex(), "from_table", d.TableEntries, "scanned_bytes", d.ScanBytes, "took", d.ScanDuration)
	return nil
}

func (d *TlogDisk) appendIndex(p int64, term uint64) {
	d.pos = append(d.pos, p)
	if len(d.terms) == 0 || d.terms[len(d.terms)-1].term != term {
		d.terms = append(d.terms, termRun{uint64(len(d.pos)), term})
	}
}

// dropFrom forgets entries i and later.
func (d *TlogDisk) dropFrom(i uint64) {
	d.tableDropFrom(i)
	d.pos = d.pos[:i-1]
	for len(d.terms) > 0 && d.terms[len(d.terms)-1].first >= i {
		d.terms = d.terms[:len(d.terms)-1]
	}
	if d.cacheFirst != 0 && i < d.cacheFirst+uint64(len(d.cache)) {
		if i <= d.cacheFirst {
			d.cache, d.cacheFirst, d.cacheBytes = nil, 0, 0
		} else {
			for _, e := range d.cache[i-d.cacheFirst:] {
				d.cacheBytes -= len(e.GetData())
			}
			d.cache = d.cache[:i-d.cacheFirst]
		}
	}
}

func (d *TlogDisk) lastIndex() uint64 { return uint64(len(d.pos)) }

func (d *TlogDisk) lastTerm() uint64 {
	if len(d.terms) == 0 {
		return 0
	}
	return d.terms[len(d.terms)-1].term
}

// InitialState implements raft.Storage.
func (d *TlogDisk) InitialState() (*pb.HardState, *pb.ConfState, error) {
	return proto.Clone(d.hs.cur).(*pb.HardState), proto.Clone(d.members).(*pb.ConfState), nil
}

// Bootstrap records the initial membership of an empty disk (voters are
// the first --cluster-size nodes, learners the rest). A disk that already
// has members keeps them.
func (d *TlogDisk) Bootstrap(voters, learners []uint64) error {
	if len(d.members.GetVoters()) > 0 {
		return nil
	}
	cs := &pb.ConfState{Voters: voters, Learners: learners}
	if err := writeMembers(d.fs, d.dir, cs); err != nil {
		return err
	}
	d.members = cs
	return nil
}

// FirstIndex implements raft.Storage: nothing is compacted.
func (d *TlogDisk) FirstIndex() (uint64, error) { return 1, nil }

// LastIndex implements raft.Storage.
func (d *TlogDisk) LastIndex() (uint64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastIndex(), nil
}

// Term implements raft.Storage.
func (d *TlogDisk) Term(i uint64) (uint64, error) {
	if i == 0 {
		return 0, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if i > d.lastIndex() {
		return 0, raft.ErrUnavailable
	}
	k := sort.Search(len(d.terms), func(k int) bool { return d.terms[k].first > i }) - 1
	return d.terms[k].term, nil
}

// Snapshot implements raft.Storage: there is none (no compaction), only
// the membership.
func (d *TlogDisk) Snapshot() (*pb.Snapshot, error) {
	return &pb.Snapshot{Metadata: &pb.SnapshotMetadata{ConfState: proto.Clone(d.members).(*pb.ConfState)}}, nil
}

// Entries implements raft.Storage: entries [lo, hi), at most maxSize
// bytes but at least one, from the cache or read back from the log.
func (d *TlogDisk) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	if lo < 1 {
		return nil, raft.ErrCompacted
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if hi > d.lastIndex()+1 || lo > hi {
		return nil, raft.ErrUnavailable
	}
	var out []*pb.Entry
	var size uint64
	for i := lo; i < hi; i++ {
		e, err := d.entry(i)
		if err != nil {
			return nil, err
		}
		size += uint64(proto.Size(e))
		if len(out) > 0 && size > maxSize {
			break
		}
		out = append(out, e)
	}
	return out, nil
}

func (d *TlogDisk) entry(i uint64) (*pb.Entry, error) {
	if d.cacheFirst != 0 && i >= d.cacheFirst && i < d.cacheFirst+uint64(len(d.cache)) {
		return d.cache[i-d.cacheFirst], nil
	}
	return d.readEntry(i)
}

// readEntry reads entry i back from the log and rebuilds it.
func (d *TlogDisk) readEntry(i uint64) (*pb.Entry, error) {
	p := d.pos[i-1]
	end := d.end
	if i < d.lastIndex() {
		end = d.pos[i]
	}
	payload, next, err := d.l.ReadAt(p, d.rscratch[:0])
	if err != nil {
		return nil, fmt.Errorf("consensus: reading entry %d at %d: %w", i, p, err)
	}
	h, err := decodeEntryHeader(payload)
	if err != nil {
		return nil, fmt.Errorf("consensus: entry %d at %d: %w", i, p, err)
	}
	if h.index != i {
		return nil, fmt.Errorf("%w: entry %d expected at %d, found entry %d", ErrNotRaftLog, i, p, h.index)
	}
	typ, term, idx := h.typ, h.term, h.index
	e := &pb.Entry{Type: &typ, Term: &term, Index: &idx}
	if h.form == formInline {
		if len(h.inline) > 0 {
			e.Data = append([]byte(nil), h.inline...)
		}
		return e, nil
	}
	// NB: the span of the entry in the log bounds its data (frames cost
	// 12 bytes a record, the data 4).
	data := AppendBatchHeader(make([]byte, 0, max(end-p, batchPrefix)), p, h.count)
	for k := 0; k < h.count; k++ {
		var rec []byte
		rec, next, err = d.l.ReadAt(next, d.rscratch[:0])
		if err != nil {
			return nil, fmt.Errorf("consensus: reading record %d of entry %d: %w", k, i, err)
		}
		if cap(rec) > cap(d.rscratch) && cap(rec) <= 1<<20 {
			d.rscratch = rec[:0]
		}
		data = AppendBatchRecord(data, rec)
	}
	e.Data = data
	return e, nil
}

// Save implements Disk: ents (replacing any conflicting suffix, within
// --max-truncation) go into the log with one fsync, then hs into the hard
// state file (fsynced when term or vote changed).
func (d *TlogDisk) Save(hs *pb.HardState, ents []*pb.Entry) error {
	if d.failed != nil {
		return d.failed
	}
	if err := d.save(hs, ents); err != nil {
		d.failed = err
		return err
	}
	return nil
}

func (d *TlogDisk) save(hs *pb.HardState, ents []*pb.Entry) error {
	if len(ents) > 0 {
		t0 := time.Now()
		cut, err := d.writeAll(ents)
		if cut >= 0 && d.onTrunc != nil {
			d.onTrunc(cut)
		}
		if err != nil {
			return err
		}
		if err := d.l.Flush(); err != nil {
			return err
		}
		d.SaveNanos.Add(int64(time.Since(t0)))
		d.Saves.Add(1)
		d.SavedEntries.Add(uint64(len(ents)))
	}
	if hs != nil {
		if err := d.hs.save(hs); err != nil {
			return fmt.Errorf("consensus: %w", err)
		}
	}
	return nil
}

// writeAll appends ents to the log's buffer (the fsync follows, outside
// the lock), replacing the entries they conflict with; cut is where the
// log was cut back (-1: it was not). Entries become visible to raft's
// reads here, before they are durable: raft reads only entries it was
// told are durable and keeps the others itself.
func (d *TlogDisk) writeAll(ents []*pb.Entry) (cut int64, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cut = -1
	first := ents[0].GetIndex()
	if first == 0 || first > d.lastIndex()+1 {
		return cut, fmt.Errorf("BUG: consensus: saving entry %d after entry %d", first, d.lastIndex())
	}
	if first <= d.lastIndex() {
		if err := d.truncate(first); err != nil {
			return cut, err
		}
		cut = d.end
	}
	for _, e := range ents {
		if err := d.write(e); err != nil {
			return cut, err
		}
	}
	d.remember(ents)
	return cut, nil
}

// truncate cuts entries i and later: raft replaces an uncommitted suffix
// that diverged from the leader's log. REQUIRES: d.mu held.
func (d *TlogDisk) truncate(i uint64) error {
	p := d.pos[i-1]
	cut := d.end - p
	if d.maxTrunc >= 0 && cut > d.maxTrunc {
		return fmt.Errorf("%w: entries %d..%d (%d bytes of the log from position %d) would have to go, more than --max-truncation %d; "+
			"the node stops instead; raise --max-truncation to accept the loss", ErrTruncationLimit, i, d.lastIndex(), cut, p, d.maxTrunc)
	}
	if d.hs.cur.GetCommit() >= i {
		return fmt.Errorf("BUG: consensus: raft replaces entry %d at or below the commit index %d", i, d.hs.cur.GetCommit())
	}
	d.log.Warn("consensus: replacing a diverged uncommitted suffix of the log", "from_index", i, "to_index", d.lastIndex(), "pos", p, "bytes", cut)
	if err := d.l.Truncate(p); err != nil {
		return err
	}
	d.dropFrom(i)
	d.end = p
	return nil
}

// write appends one entry's records (not yet flushed).
func (d *TlogDisk) write(e *pb.Entry) error {
	b, isBatch, err := peekBatch(e.GetData())
	if err != nil {
		return fmt.Errorf("consensus: entry %d: %w", e.GetIndex(), err)
	}
	if !isBatch {
		d.scratch = appendEntryHeader(d.scratch[:0], e.GetType(), formInline, e.GetTerm(), e.GetIndex(), len(e.GetData()), e.GetData())
		p, err := d.l.Append(d.scratch)
		if err != nil {
			return err
		}
		d.appendIndex(p, e.GetTerm())
		d.end = p + int64(len(d.scratch)) + tlog.RecordOverheadBytes
		return nil
	}
	d.scratch = appendEntryHeader(d.scratch[:0], e.GetType(), formBatch, e.GetTerm(), e.GetIndex(), b.count, nil)
	p, err := d.l.Append(d.scratch)
	if err != nil {
		return err
	}
	if p != b.planned {
		return fmt.Errorf("%w: entry %d (term %d) planned at %d, written at %d", ErrPositionMismatch, e.GetIndex(), e.GetTerm(), b.planned, p)
	}
	d.appendIndex(p, e.GetTerm())
	_, d.end = PlanAppend(d.ds, p, EntryHeaderBytes)
	rest := b.recs
	for k := 0; k < b.count; k++ {
		var rec []byte
		rec, rest = nextBatchRecord(rest)
		want, next := PlanAppend(d.ds, d.end, len(rec))
		rp, err := d.l.Append(rec)
		if err != nil {
			return err
		}
		if rp != want {
			return fmt.Errorf("%w: record %d of entry %d planned at %d, written at %d", ErrPositionMismatch, k, e.GetIndex(), want, rp)
		}
		d.end = next
	}
	return nil
}

// remember keeps saved entries for the sends and applies that follow.
func (d *TlogDisk) remember(ents []*pb.Entry) {
	if d.cacheFirst == 0 || ents[0].GetIndex() != d.cacheFirst+uint64(len(d.cache)) {
		d.cache, d.cacheFirst, d.cacheBytes = nil, ents[0].GetIndex(), 0
	}
	for _, e := range ents {
		d.cache = append(d.cache, e)
		d.cacheBytes += len(e.GetData())
	}
	drop := 0
	for d.cacheBytes > cacheMaxBytes && drop < len(d.cache)-1 {
		d.cacheBytes -= len(d.cache[drop].GetData())
		drop++
	}
	if drop > 0 {
		d.cache = append(d.cache[:0:0], d.cache[drop:]...)
		d.cacheFirst += uint64(drop)
	}
}

// End returns the log position after the last entry (where the next
// entry's header goes).
func (d *TlogDisk) End() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.end
}

// EntryEnd returns the log position after entry i's last record (the
// position up to which a committed entry i makes the log readable).
func (d *TlogDisk) EntryEnd(i uint64) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if i >= d.lastIndex() {
		return d.end
	}
	return d.pos[i]
}

// EntryPos returns the log position of entry i's header.
func (d *TlogDisk) EntryPos(i uint64) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pos[i-1]
}

// IndexCovering returns the last entry that ends at or before log
// position p (0 when none): what a store that applied the log up to p
// has applied.
func (d *TlogDisk) IndexCovering(p int64) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	// pos[k] is entry k+2's header = entry k+1's end.
	k := sort.Search(len(d.pos), func(k int) bool { return d.pos[k] > p })
	if k == len(d.pos) {
		if p >= d.end {
			return d.lastIndex()
		}
		return uint64(max(k-1, 0))
	}
	return uint64(max(k-1, 0))
}

// Close makes a commit index written without fsync durable and closes
// the hard state file. The log is the caller's.
func (d *TlogDisk) Close() error {
	d.persistCommitted(d.hs.cur.GetCommit(), true)
	d.et.close()
	err := d.hs.sync()
	if cerr := d.hs.close(); err == nil {
		err = cerr
	}
	return err
}
