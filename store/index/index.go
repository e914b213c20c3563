package index

import (
	"errors"
	"fmt"
	"github.com/eventstored/eventstored/store/vfs"
	"log/slog"
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// Sentinel errors callers branch on.
var (
	// ErrCorrupt reports a ptable or index map whose checksum or layout is
	// wrong, or a map naming a missing file. The index is then unusable as
	// it stands: call Reset and rebuild it from the log.
	ErrCorrupt = errors.New("index: corrupt")
	// ErrFailed wraps the first flush or merge I/O error. It is final
	// (a failed fsync is never retried): every later Add returns it.
	ErrFailed = errors.New("index: failed")
	// ErrClosed is returned by Add after Close.
	ErrClosed = errors.New("index: closed")
	// ErrBatchTooLarge is returned by Add for more than MaxAddBatchEntries
	// entries in one call.
	ErrBatchTooLarge = errors.New("index: batch too large")
)

// Limits and defaults of Options. The defaults follow Event Store 4.0.3
// (MaxMemTableSize 1M entries) where it has one.
const (
	DefaultMemTableMaxEntries = 1 << 20
	DefaultMaxFrozenMemTables = 2
	DefaultMaxTables          = 32
	DefaultMergeFanIn         = 4
	DefaultMergeConcurrency   = 1

	memTableMaxEntriesLimit = 1 << 24
	maxFrozenLimit          = 8
	maxTablesLimit          = 100
	mergeConcurrencyLimit   = 4
	// MaxAddBatchEntries bounds one Add call: together with the memtable
	// limit it keeps a memtable under its node limit.
	MaxAddBatchEntries = 1 << 22
	// maxSources bounds the cursors of one read: the active memtable, the
	// frozen ones and the tables (which may exceed MaxTables by what Close
	// flushes).
	maxSources = 1 + maxFrozenLimit + maxMapTables
)

// Options configure Open.
type Options struct {
	// FS and Dir locate the index files. Dir is created if missing.
	FS  vfs.FS
	Dir string
	// MemTableMaxEntries is the number of entries after which the active
	// memtable is frozen and written as a ptable (checked after each Add).
	MemTableMaxEntries int
	// MaxFrozenMemTables bounds the frozen memtables waiting to be written;
	// Add blocks while that many are waiting (back-pressure on the feeder).
	MaxFrozenMemTables int
	// MaxTables bounds the ptables; flushing waits for merges beyond it.
	MaxTables int
	// MergeFanIn is the number of tables of one level merged into one table
	// of the next level.
	MergeFanIn int
	// MergeConcurrency is the number of merges that may run at once.
	MergeConcurrency int
	// SkipVerify skips the block checksums at Open (footers and metadata are
	// always checked).
	SkipVerify bool
	Logger     *slog.Logger

	// testHooks, when set, are called at points tests synchronise on.
	testMergeStarted func(inputs int)
	testMergeRelease chan struct{}
	testFlushRelease chan struct{}
}

func (o *Options) fill() error {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Dir == "" {
		return errors.New("index: Options.Dir is empty")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	def := func(v *int, d, lo, hi int, name string) error {
		if *v == 0 {
			*v = d
		}
		if *v < lo || *v > hi {
			return fmt.Errorf("index: Options.%s = %d, want %d..%d", name, *v, lo, hi)
		}
		return nil
	}
	for _, c := range []struct {
		v         *int
		d, lo, hi int
		name      string
	}{
		{&o.MemTableMaxEntries, DefaultMemTableMaxEntries, 1, memTableMaxEntriesLimit, "MemTableMaxEntries"},
		{&o.MaxFrozenMemTables, DefaultMaxFrozenMemTables, 1, maxFrozenLimit, "MaxFrozenMemTables"},
		{&o.MergeFanIn, DefaultMergeFanIn, 2, 16, "MergeFanIn"},
		{&o.MergeConcurrency, DefaultMergeConcurrency, 1, mergeConcurrencyLimit, "MergeConcurrency"},
	} {
		if err := def(c.v, c.d, c.lo, c.hi, c.name); err != nil {
			return err
		}
	}
	return def(&o.MaxTables, DefaultMaxTables, o.MergeFanIn+1, maxTablesLimit, "MaxTables")
}

// version is an immutable set of sources readers search. Only the active
// memtable inside it changes (by insertion, which readers tolerate).
type version struct {
	refs   atomic.Int32
	mem    *memTable
	frozen []*memTable // oldest first
	tables []*ptable
}

func (v *version) release() {
	if v.refs.Add(-1) == 0 {
		for _, t := range v.tables {
			t.unref()
		}
	}
}

// Index maps (stream hash, event number) to log positions. See the package
// doc for which goroutine may call what.
type Index struct {
	opts Options
	fs   vfs.FS
	dir  string
	log  *slog.Logger

	cur     atomic.Pointer[version]
	closing atomic.Bool
	// failed mirrors err for the feeder's fast path.
	failed atomic.Pointer[error]
	ckpt   atomic.Int64

	// mem is the active memtable; only the feeder touches it.
	mem *memTable

	mu   sync.Mutex
	cond *sync.Cond
	// Guarded by mu.
	frozen        []*memTable
	tables        []*ptable // ascending seq
	merging       map[*ptable]bool
	nextSeq       uint64
	err           error
	closed        bool
	mergesRunning int

	wg sync.WaitGroup

	stats struct {
		flushes, merges, removed, addBlocked atomic.Int64
		mergesPeak                           atomic.Int64
	}
}

// Open loads the index in opts.Dir: it reads the map, maps and verifies its
// ptables and removes files the map does not name. The caller then replays
// the log from CheckpointPos into Add.
func Open(opts Options) (*Index, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	ix := &Index{opts: opts, fs: opts.FS, dir: opts.Dir, log: opts.Logger, merging: map[*ptable]bool{}}
	ix.cond = sync.NewCond(&ix.mu)
	if err := ix.fs.MkdirAll(ix.dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create index directory: %w", err)
	}
	m, ok, err := readIndexMap(ix.fs, ix.dir)
	if err != nil {
		return nil, err
	}
	if !ok {
		m = indexMap{nextSeq: 1}
	}
	live := map[string]bool{}
	for _, mt := range m.tables {
		name := ptableFileName(mt.seq)
		t, err := openPtable(ix.fs, ix.dir, name, !opts.SkipVerify)
		if err != nil {
			for _, t := range ix.tables {
				t.m.release()
			}
			if errors.Is(err, ErrCorrupt) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: cannot open ptable %s listed in the index map: %v", ErrCorrupt, name, err)
		}
		if t.seq != mt.seq || t.upTo > m.checkpoint {
			t.m.release()
			return nil, fmt.Errorf("%w: ptable %s disagrees with the index map", ErrCorrupt, name)
		}
		t.ix = ix
		live[name] = true
		ix.tables = append(ix.tables, t)
	}
	sort.Slice(ix.tables, func(i, j int) bool { return ix.tables[i].seq < ix.tables[j].seq })
	if err := ix.removeOrphans(live); err != nil {
		ix.log.Warn("index: cannot remove unreferenced files", "dir", ix.dir, "err", err)
	}
	ix.nextSeq = m.nextSeq
	ix.ckpt.Store(m.checkpoint)
	ix.mem = newMemTable(ix.takeSeqLocked(), m.checkpoint)
	ix.installLocked()
	ix.log.Info("index: opened", "dir", ix.dir, "tables", len(ix.tables), "checkpoint", m.checkpoint)
	ix.wg.Add(1 + opts.MergeConcurrency)
	go ix.flushLoop()
	for i := 0; i < opts.MergeConcurrency; i++ {
		go ix.mergeLoop()
	}
	return ix, nil
}

// Reset removes every index file in dir, so that the next Open starts empty
// and the store rebuilds the index from the log (after ErrCorrupt).
func Reset(fsys vfs.FS, dir string) error {
	if fsys == nil {
		fsys = vfs.Default
	}
	names, err := fsys.List(dir)
	if err != nil {
		return fmt.Errorf("cannot list index directory: %w", err)
	}
	// Remove the map first: a crash half-way then leaves only orphans.
	for _, n := range []string{mapFileName, mapTempFileName} {
		for _, have := range names {
			if have == n {
				if err := fsys.Remove(join(dir, n)); err != nil {
					return fmt.Errorf("cannot remove %s: %w", n, err)
				}
			}
		}
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("cannot sync index directory: %w", err)
	}
	for _, n := range names {
		if _, ok := parsePtableFileName(n); ok {
			if err := fsys.Remove(join(dir, n)); err != nil {
				return fmt.Errorf("cannot remove %s: %w", n, err)
			}
		}
	}
	return nil
}

func (ix *Index) removeOrphans(live map[string]bool) error {
	names, err := ix.fs.List(ix.dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		_, isTable := parsePtableFileName(n)
		if (isTable && !live[n]) || n == mapTempFileName {
			ix.log.Info("index: removing unreferenced file", "file", n)
			if err := ix.fs.Remove(join(ix.dir, n)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (ix *Index) removeObsolete(name string) {
	if err := ix.fs.Remove(join(ix.dir, name)); err != nil {
		ix.log.Warn("index: cannot remove merged ptable", "file", name, "err", err)
		return
	}
	ix.stats.removed.Add(1)
}

func (ix *Index) takeSeqLocked() uint64 {
	s := ix.nextSeq
	ix.nextSeq++
	return s
}

// installLocked publishes a new version built from the current state.
// REQUIRES: ix.mu held, or no other goroutine running (Open).
func (ix *Index) installLocked() {
	v := &version{mem: ix.mem, frozen: append([]*memTable(nil), ix.frozen...), tables: append([]*ptable(nil), ix.tables...)}
	v.refs.Store(1)
	for _, t := range v.tables {
		t.ref()
	}
	if old := ix.cur.Swap(v); old != nil {
		old.release()
	}
}

// acquire returns the current version with a reference the caller must
// release.
func (ix *Index) acquire() *version {
	for {
		v := ix.cur.Load()
		// NB: never increment from zero: a version whose count reached zero
		// has released its tables and must not come back. A zero count
		// means v was superseded after the load; retry with the new one.
		for r := v.refs.Load(); r > 0; r = v.refs.Load() {
			if v.refs.CompareAndSwap(r, r+1) {
				return v
			}
		}
	}
}

// Add inserts entries and records that the index now covers the log up to
// upTo (exclusive). Entries need not be sorted; exact duplicates are ignored.
// It may block while MaxFrozenMemTables memtables wait to be written.
// REQUIRES: one feeder goroutine only; upTo never decreases.
func (ix *Index) Add(entries []Entry, upTo int64) error {
	if len(entries) > MaxAddBatchEntries {
		return fmt.Errorf("%w: %d entries, limit %d", ErrBatchTooLarge, len(entries), MaxAddBatchEntries)
	}
	if ix.closing.Load() {
		return ErrClosed
	}
	if p := ix.failed.Load(); p != nil {
		return *p
	}
	m := ix.mem
	for _, e := range entries {
		m.add(e)
	}
	if upTo > m.upTo {
		m.upTo = upTo
	}
	if m.len() < ix.opts.MemTableMaxEntries {
		return nil
	}
	return ix.freeze()
}

// freeze hands the active memtable to the flush worker.
func (ix *Index) freeze() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	blocked := false
	for len(ix.frozen) >= ix.opts.MaxFrozenMemTables && ix.err == nil && !ix.closed {
		if !blocked {
			blocked = true
			ix.stats.addBlocked.Add(1)
		}
		ix.cond.Wait()
	}
	if ix.err != nil {
		return ix.err
	}
	if ix.closed {
		return ErrClosed
	}
	ix.frozen = append(ix.frozen, ix.mem)
	ix.mem = newMemTable(ix.takeSeqLocked(), ix.mem.upTo)
	ix.installLocked()
	ix.cond.Broadcast()
	return nil
}

// CheckpointPos returns the log position the persisted index covers: every
// entry of a record before it is in a ptable. The store replays the log
// from there after Open. Safe from any goroutine.
func (ix *Index) CheckpointPos() int64 { return ix.ckpt.Load() }

// Err returns the latched background error, if any.
func (ix *Index) Err() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.err
}

func (ix *Index) failLocked(err error) {
	if ix.err == nil {
		ix.err = fmt.Errorf("%w: %w", ErrFailed, err)
		ix.failed.Store(&ix.err)
		ix.log.Error("index: background write failed; the index accepts no more entries", "err", err)
	}
	ix.cond.Broadcast()
}

func (ix *Index) mapLocked() indexMap {
	m := indexMap{checkpoint: ix.ckpt.Load(), nextSeq: ix.nextSeq}
	for _, t := range ix.tables {
		m.tables = append(m.tables, mapTable{seq: t.seq, level: t.level})
	}
	return m
}

func (ix *Index) flushLoop() {
	defer ix.wg.Done()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for {
		// Flushing waits for merges while the tables are at their limit,
		// except when closing: merges then stop, and Close bounds the excess.
		for ix.err == nil && (len(ix.frozen) == 0 || (len(ix.tables) >= ix.opts.MaxTables && !ix.closed)) {
			if ix.closed && len(ix.frozen) == 0 {
				return
			}
			ix.cond.Wait()
		}
		if ix.err != nil {
			return
		}
		m := ix.frozen[0]
		ix.mu.Unlock()
		if c := ix.opts.testFlushRelease; c != nil {
			<-c
		}
		t, err := ix.writeMemTable(m)
		ix.mu.Lock()
		if err != nil {
			ix.failLocked(err)
			return
		}
		ix.installTableLocked(t, m.upTo)
	}
}

// installTableLocked adds a flushed table, persists the map and drops the
// frozen memtable it came from.
func (ix *Index) installTableLocked(t *ptable, upTo int64) {
	ix.tables = append(ix.tables, t)
	sort.Slice(ix.tables, func(i, j int) bool { return ix.tables[i].seq < ix.tables[j].seq })
	prev := ix.ckpt.Load()
	ix.ckpt.Store(upTo)
	if err := writeIndexMap(ix.fs, ix.dir, ix.mapLocked()); err != nil {
		ix.tables = slices.DeleteFunc(ix.tables, func(x *ptable) bool { return x == t })
		ix.ckpt.Store(prev)
		t.m.release()
		ix.failLocked(err)
		return
	}
	ix.frozen = ix.frozen[1:]
	ix.installLocked()
	ix.stats.flushes.Add(1)
	ix.cond.Broadcast()
}

func (ix *Index) writeMemTable(m *memTable) (*ptable, error) {
	name := ptableFileName(m.seq)
	f, err := ix.fs.Create(join(ix.dir, name))
	if err != nil {
		return nil, fmt.Errorf("cannot create ptable %s: %w", name, err)
	}
	pw, err := newPtableWriter(f, m.seq, 0)
	if err == nil {
		m.each(func(e Entry) bool {
			err = pw.add(e)
			return err == nil
		})
	}
	if err == nil {
		err = pw.finish(m.upTo)
	}
	return ix.finishTable(f, name, err)
}

// finishTable closes a written table, syncs the directory and maps the
// table; on error it removes the file.
func (ix *Index) finishTable(f vfs.File, name string, err error) (*ptable, error) {
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ix.fs.SyncDir(ix.dir)
	}
	if err != nil {
		ix.fs.Remove(join(ix.dir, name))
		return nil, fmt.Errorf("cannot write ptable %s: %w", name, err)
	}
	// Read the table back with every checksum verified before it replaces
	// anything (a merge deletes its inputs): a pair assertion around the
	// disk. It costs a CRC pass over data that is still in the page cache,
	// off the feeder's path.
	t, err := openPtable(ix.fs, ix.dir, name, true)
	if err != nil {
		ix.fs.Remove(join(ix.dir, name))
		return nil, fmt.Errorf("cannot read back ptable %s: %w", name, err)
	}
	t.ix = ix
	return t, nil
}

// pickMergeLocked chooses tables to merge: MergeFanIn tables of the lowest
// level that has that many, or, when the tables are at their limit, the
// smallest tables whatever their level.
func (ix *Index) pickMergeLocked() ([]*ptable, int) {
	fan := ix.opts.MergeFanIn
	byLevel := map[int][]*ptable{}
	var free []*ptable
	for _, t := range ix.tables {
		if !ix.merging[t] {
			byLevel[t.level] = append(byLevel[t.level], t)
			free = append(free, t)
		}
	}
	best := -1
	for lvl, ts := range byLevel {
		if len(ts) >= fan && (best < 0 || lvl < best) {
			best = lvl
		}
	}
	if best >= 0 {
		return byLevel[best][:fan], best + 1
	}
	if len(ix.tables) >= ix.opts.MaxTables && len(free) >= 2 {
		sort.Slice(free, func(i, j int) bool { return free[i].count < free[j].count })
		in := free[:min(fan, len(free))]
		lvl := 0
		for _, t := range in {
			lvl = max(lvl, t.level)
		}
		return in, lvl
	}
	return nil, 0
}

var errMergeAborted = errors.New("merge aborted by Close")

func (ix *Index) mergeLoop() {
	defer ix.wg.Done()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for {
		var in []*ptable
		var lvl int
		for {
			if ix.closed || ix.err != nil {
				return
			}
			if in, lvl = ix.pickMergeLocked(); in != nil {
				break
			}
			ix.cond.Wait()
		}
		for _, t := range in {
			ix.merging[t] = true
			t.ref()
		}
		seq := ix.takeSeqLocked()
		ix.mergesRunning++
		if n := int64(ix.mergesRunning); n > ix.stats.mergesPeak.Load() {
			ix.stats.mergesPeak.Store(n)
		}
		ix.mu.Unlock()
		if h := ix.opts.testMergeStarted; h != nil {
			h(len(in))
		}
		if c := ix.opts.testMergeRelease; c != nil {
			<-c
		}
		out, err := ix.writeMerged(in, seq, lvl)
		ix.mu.Lock()
		ix.mergesRunning--
		for _, t := range in {
			delete(ix.merging, t)
		}
		if err == nil {
			ix.replaceTablesLocked(in, out)
		} else if !errors.Is(err, errMergeAborted) {
			ix.failLocked(err)
		}
		for _, t := range in {
			t.unref()
		}
		ix.cond.Broadcast()
	}
}

func (ix *Index) replaceTablesLocked(in []*ptable, out *ptable) {
	gone := map[*ptable]bool{}
	for _, t := range in {
		gone[t] = true
	}
	old := ix.tables
	var next []*ptable
	for _, t := range old {
		if !gone[t] {
			next = append(next, t)
		}
	}
	next = append(next, out)
	sort.Slice(next, func(i, j int) bool { return next[i].seq < next[j].seq })
	ix.tables = next
	if err := writeIndexMap(ix.fs, ix.dir, ix.mapLocked()); err != nil {
		ix.tables = old
		out.m.release()
		ix.failLocked(err)
		return
	}
	for _, t := range in {
		t.obsolete.Store(true)
	}
	ix.installLocked()
	ix.stats.merges.Add(1)
}

func (ix *Index) writeMerged(in []*ptable, seq uint64, lvl int) (*ptable, error) {
	name := ptableFileName(seq)
	f, err := ix.fs.Create(join(ix.dir, name))
	if err != nil {
		return nil, fmt.Errorf("cannot create ptable %s: %w", name, err)
	}
	pw, err := newPtableWriter(f, seq, lvl)
	var upTo int64
	if err == nil {
		idx := make([]int, len(in))
		for _, t := range in {
			upTo = max(upTo, t.upTo)
		}
		var last Entry
		n := 0
		for err == nil {
			best := -1
			var be Entry
			for i, t := range in {
				if idx[i] < t.count {
					if e := t.entry(idx[i]); best < 0 || less(e, be) {
						best, be = i, e
					}
				}
			}
			if best < 0 {
				break
			}
			idx[best]++
			if n > 0 && be == last {
				continue
			}
			if n&0xFFFF == 0 && ix.closing.Load() {
				err = errMergeAborted
				break
			}
			err = pw.add(be)
			last = be
			n++
		}
	}
	if err == nil {
		err = pw.finish(upTo)
	}
	if errors.Is(err, errMergeAborted) {
		f.Close()
		ix.fs.Remove(join(ix.dir, name))
		return nil, err
	}
	return ix.finishTable(f, name, err)
}

// Close stops the background work, writes the active memtable (so a restart
// replays little) and releases the files. Readers still running keep their
// tables mapped until they return. REQUIRES: called once, by the feeder's
// owner after the feeder has stopped.
func (ix *Index) Close() error {
	ix.closing.Store(true)
	ix.mu.Lock()
	ix.closed = true
	ix.cond.Broadcast()
	ix.mu.Unlock()
	ix.wg.Wait() // the flush worker drains the frozen memtables first

	ix.mu.Lock()
	defer ix.mu.Unlock()
	err := ix.err
	if err == nil && ix.mem.len() > 0 {
		ix.frozen = append(ix.frozen, ix.mem)
		var t *ptable
		if t, err = ix.writeMemTable(ix.mem); err == nil {
			ix.installTableLocked(t, ix.mem.upTo)
			err = ix.err
		}
	} else if err == nil && ix.mem.upTo > ix.ckpt.Load() {
		ix.ckpt.Store(ix.mem.upTo)
		err = writeIndexMap(ix.fs, ix.dir, ix.mapLocked())
	}
	ix.tables = nil
	ix.frozen = nil
	ix.mem = newMemTable(0, 0)
	ix.installLocked()
	return err
}

// Get calls fn with the log position of every entry (hash, number), newest
// (highest position) first, until fn returns false. Candidates may belong to
// other streams with the same hash: the caller confirms each.
// Safe from any goroutine, concurrently with Add. fn runs on the caller's
// goroutine and must not call Close.
func (ix *Index) Get(hash uint64, number int64, fn func(pos int64) bool) {
	ix.scan(hash, number, number, false, func(e Entry) bool { return fn(e.Pos) })
}

// Range calls fn for the entries of hash with numbers in [from, to],
// ascending by (number, pos) when forward, else descending, until fn returns
// false. Same concurrency contract as Get.
func (ix *Index) Range(hash uint64, from, to int64, forward bool, fn func(e Entry) bool) {
	if from > to {
		return
	}
	ix.scan(hash, from, to, forward, fn)
}

// Last calls fn for the entries of hash from the highest number down (the
// first candidate confirmed by the caller gives the stream's last event
// number; a hard-delete tombstone, number math.MaxInt64, comes first).
func (ix *Index) Last(hash uint64, fn func(e Entry) bool) {
	ix.scan(hash, math.MinInt64, math.MaxInt64, false, fn)
}

// cursor walks one source between bounds, in one direction.
type cursor struct {
	mt   *memTable
	node uint32
	pt   *ptable
	i    int
	e    Entry
	ok   bool
}

func (c *cursor) load(lo, hi Entry) {
	if c.pt != nil {
		c.ok = c.i >= 0 && c.i < c.pt.count
		if c.ok {
			c.e = c.pt.entry(c.i)
		}
	} else {
		c.ok = c.node != 0
		if c.ok {
			c.e = c.mt.node(c.node).e
		}
	}
	c.ok = c.ok && !less(c.e, lo) && !less(hi, c.e)
}

func (c *cursor) step(forward bool) {
	switch {
	case c.pt != nil && forward:
		c.i++
	case c.pt != nil:
		c.i--
	case forward:
		c.node = c.mt.nextOf(c.node)
	default:
		c.node = c.mt.prevOf(c.node)
	}
}

func (ix *Index) scan(hash uint64, from, to int64, forward bool, fn func(e Entry) bool) {
	v := ix.acquire()
	defer v.release()
	lo, hi := keyMin(hash, from), keyMax(hash, to)
	var cs [maxSources]cursor
	n := 0
	addMem := func(m *memTable) {
		c := &cs[n]
		c.mt = m
		if forward {
			c.node = m.findGE(lo)
		} else {
			c.node = m.findLE(hi)
		}
		if c.load(lo, hi); c.ok {
			n++
		} else {
			*c = cursor{}
		}
	}
	addMem(v.mem)
	for _, m := range v.frozen {
		addMem(m)
	}
	for _, t := range v.tables {
		if !t.mayContain(hash) {
			continue
		}
		c := &cs[n]
		c.pt = t
		if forward {
			c.i = t.lowerBound(lo)
		} else {
			c.i = t.upperBound(hi) - 1
		}
		if c.load(lo, hi); c.ok {
			n++
		} else {
			*c = cursor{}
		}
	}
	var last Entry
	emitted := false
	for n > 0 {
		b := 0
		for i := 1; i < n; i++ {
			if less(cs[i].e, cs[b].e) == forward {
				b = i
			}
		}
		e := cs[b].e
		if !emitted || e != last {
			if !fn(e) {
				return
			}
			emitted, last = true, e
		}
		cs[b].step(forward)
		if cs[b].load(lo, hi); !cs[b].ok {
			n--
			cs[b] = cs[n]
			cs[n] = cursor{}
		}
	}
}
