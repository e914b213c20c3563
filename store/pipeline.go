package store

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventstored/eventstored/store/tlog"
)

// The write path is two stages joined by the Committer seam:
//
//	writer goroutine                       committer
//	ops → check → encode records      →    append, fsync (or replicate: raft)
//	      into a Batch with planned         → DB.ApplyBatch: index, visible end,
//	      log positions (tlog.PlanAppend)     OnCommitted, Done of every op
//
// The single-node committer (flusher, below) runs inline on the writer
// goroutine by default, or pipelined on its own goroutines. When pipelined,
// the writer encodes batch N+1 while the committer makes batch N durable;
// at most Options.PipelineDepth batches are in flight (handed to Commit and
// not yet applied or failed). The writer's state (stream versions,
// recent ids, open transactions) runs ahead of what is applied: it counts
// every in-flight batch as if it had committed. When one does not
// (disk full, a failed fsync, lost leadership) every later in-flight batch
// fails too, and the writer drops its state and reloads it from the index
// before it encodes the next batch (the pipe's generation, below).

// Sentinel errors of the pipeline and the cluster seam.
var (
	// ErrNotLeader: the store is in cluster mode and this node is not the
	// leader (Follow), so it accepts no writes. The node answers NotHandled
	// or forwards the request to the leader.
	ErrNotLeader = errors.New("store: not the leader")
	// ErrBatchNotInFlight: ApplyBatch was given a batch that is not the
	// oldest one in flight (already applied or failed, or out of order).
	ErrBatchNotInFlight = errors.New("store: the batch is not the oldest batch in flight")
	// ErrBatchesInFlight: Lead was called while batches of the previous
	// leadership were neither applied nor failed.
	ErrBatchesInFlight = errors.New("store: batches still in flight")
	// ErrNotApplied: Lead or ApplyTo was given a log position that does not
	// match what was applied.
	ErrNotApplied = errors.New("store: log position does not match the applied end")
)

// Committer makes the writer's batches durable and committed, then hands
// them back through DB.ApplyBatch (or DB.FailBatches). Options.Committer nil
// selects the single-node committer, which appends each batch to the
// transaction log, fsyncs once and applies it.
//
// HeaderBytes and Commit are called from the writer goroutine only, Commit
// in batch (= log) order.
type Committer interface {
	// HeaderBytes is the payload size of one record the committer writes
	// before each non-empty batch's records (a cluster writes its raft
	// entry header there, as a RecordSystem record so that readers skip
	// it); 0 for none. The writer plans record positions with it: see
	// Batch.HeaderPos. Called once, at Open.
	HeaderBytes() int
	// Commit takes b; b is the committer's until it calls ApplyBatch(b) or
	// FailBatches. Commit may block while the committer's own bounded queue
	// is full (back-pressure), never otherwise. An error means the
	// committer refuses b: its ops fail with that error and the writer
	// reloads its state once the batches before b are resolved.
	Commit(b *Batch) error
}

// Batch is one group commit: the records the writer encoded for a run of
// ops, each with the log position the writer planned for it. The committer
// must append exactly these payloads (after the header record, if
// HeaderBytes > 0) so that they land at the planned positions: the
// records refer to each other by position (transaction ids, commit
// records). A batch may hold no records (every op was answered from the
// writer's state, e.g. WrongExpectedVersion or an idempotent retry): it
// must still be applied in order, since its answers depend on the batches
// before it.
type Batch struct {
	buf     []byte     // the payloads back to back
	recs    []batchRec // one per record, in log order
	header  int64      // planned position of the header record, -1 none
	start   int64      // planned position of the first record (or header)
	end     int64      // planned log end after the batch
	ops     []*Op      // the ops, in submission order
	marks   []opMark   // per op: what the batch holds up to its end
	entries []indexEntry
	meta    []metaChange
	bytes   int    // payload bytes
	gen     uint64 // the pipe generation it was handed over in
}

type batchRec struct {
	end int   // end of the payload in buf (it starts at the previous end)
	pos int64 // planned log position
}

// opMark is the state of a batch after one of its ops: counts of what
// belongs to the ops up to and including it, so a batch can be applied in
// part (a disk-full refusal part-way through the batch).
type opMark struct {
	recs, entries, meta, events int
	commit                      Position // the writer's last commit position after the op
}

// metaChange is a stream's metadata as of one record of the batch.
type metaChange struct {
	name    string // base stream
	raw     []byte
	json    bool
	version int64
}

// Len is the number of records in the batch (the header not counted).
func (b *Batch) Len() int { return len(b.recs) }

// Record returns record i's planned position and payload. The payload is
// valid until the batch is applied or failed.
func (b *Batch) Record(i int) (pos int64, payload []byte) {
	from := 0
	if i > 0 {
		from = b.recs[i-1].end
	}
	return b.recs[i].pos, b.buf[from:b.recs[i].end]
}

// HeaderPos is the planned position of the header record of
// Committer.HeaderBytes() payload bytes the committer writes before the
// batch's records; -1 when HeaderBytes is 0 or the batch holds no records.
func (b *Batch) HeaderPos() int64 { return b.header }

// Start is the planned log position of the batch's first record (the
// header when there is one); End the planned log end after its last
// record. An empty batch has Start == End.
func (b *Batch) Start() int64 { return b.start }

// End: see Start.
func (b *Batch) End() int64 { return b.end }

func (b *Batch) reset(end int64) {
	b.buf = b.buf[:0]
	b.recs = b.recs[:0]
	b.header = -1
	b.start, b.end = end, end
	clear(b.ops)
	b.ops = b.ops[:0]
	b.marks = b.marks[:0]
	b.entries = b.entries[:0]
	clear(b.meta)
	b.meta = b.meta[:0]
	b.bytes = 0
}

// batchBufKeep bounds the payload buffer a recycled batch keeps: a batch
// that carried big events does not pin their memory.
const batchBufKeep = 4 << 20

// batchBytesMax closes a batch once its payloads pass it (the op that
// crosses it stays in), bounding the memory in flight to about
// PipelineDepth × (batchBytesMax + one write).
const batchBytesMax = 8 << 20

// pipe is the DB's share of the pipeline: the batches in flight, in log
// order, and the generation of the writer's state.
type pipe struct {
	committer Committer
	flusher   *flusher // the single-node committer; nil in cluster mode
	cluster   bool
	depth     int
	header    int

	// slots is a semaphore of depth tokens: the writer takes one per
	// batch; applying or failing the batch gives it back.
	slots chan struct{}
	// free recycles applied batches to the writer.
	free chan *Batch

	mu       sync.Mutex
	inflight []*Batch // handed to Commit, not yet applied or failed; log order
	// gen counts failures of in-flight batches (and leadership changes):
	// the writer's state is valid for one generation; failErr is why the
	// last one ended.
	gen     uint64
	failErr error
	leadEnd int64 // the log position Lead started at (cluster)

	// leading: the writer accepts ops (always true on a single node).
	leading atomic.Bool

	// Committer goroutine only: what was applied.
	applied   int64              // log end applied (== visibleEnd, except inside ApplyTo)
	announced Position           // last position given to OnCommitted callbacks
	applyIt   resettableIterator // ApplyTo's reader, reset per call (no read block allocated per entry)

	lastFlushNs atomic.Int64 // duration of the last flush (the writer's gather heuristic)
}

func (db *DB) initPipe() {
	p := &db.pipe
	p.depth = max(db.opts.PipelineDepth, 1)
	p.slots = make(chan struct{}, p.depth)
	p.free = make(chan *Batch, p.depth+1)
	p.committer = db.opts.Committer
	if p.committer == nil {
		p.flusher = newFlusher(db)
		p.committer = p.flusher
		p.leading.Store(true)
	} else {
		p.cluster = true
	}
	p.header = p.committer.HeaderBytes()
	p.applied = db.visibleEnd.Load()
	last := db.lastCommit.Load()
	p.announced = Position{last, last}
}

// inFlight is the number of batches handed to the committer and not yet
// resolved.
func (p *pipe) inFlight() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.inflight)
}

// ApplyBatch is called by the committer, from its goroutine, once b (a batch
// this node's writer made and handed to Commit) is durable and committed,
// in log order: b must be the oldest batch in flight (else
// ErrBatchNotInFlight, and nothing happens). It adds b's index entries,
// moves the visible end to b.End(), runs the OnCommitted callbacks and then
// every op's Done: an op is acknowledged only once it is durable, committed
// and readable. After ApplyBatch returns b belongs to the writer again.
func (db *DB) ApplyBatch(b *Batch) error {
	p := &db.pipe
	p.mu.Lock()
	ok := len(p.inflight) > 0 && p.inflight[0] == b
	p.mu.Unlock()
	if !ok {
		return ErrBatchNotInFlight
	}
	db.applyBatch(b, len(b.ops), b.end, nil, false)
	return nil
}

// applyBatch applies the first k ops of b, the oldest batch in flight, up
// to log end end, and fails the rest with failErr (an op keeps an error it
// already has). Committer goroutine.
func (db *DB) applyBatch(b *Batch, k int, end int64, failErr error, indexed bool) {
	p := &db.pipe
	var m opMark
	if k > 0 {
		m = b.marks[k-1]
	}
	if db.Err() == nil && !indexed {
		if err := db.indexAdd(b.entries[:m.entries], end); err != nil {
			// The index is derived from the log and is rebuilt at
			// restart; but readers would now miss acknowledged events.
			db.latch(fmt.Errorf("add to the index: %w", err))
		}
	}
	if db.Err() != nil {
		k, failErr = 0, ErrWriterFailed
	} else {
		p.applied = end
		db.visibleEnd.Store(end)
		for i := range b.meta[:m.meta] {
			c := &b.meta[i]
			me, ok := ParseMetadata(c.raw, c.json)
			if ok {
				me.Raw = c.raw
			}
			db.meta.set(c.name, metaEntry{meta: me, version: c.version, has: ok})
		}
		if k > 0 {
			db.stats.events.Add(uint64(m.events))
			byteEnd := 0
			if m.recs > 0 {
				byteEnd = b.recs[m.recs-1].end
			}
			db.stats.bytes.Add(uint64(byteEnd))
			db.announce(m.commit)
		}
	}
	// Take b out of flight before completing its ops: a FailBatches on
	// another goroutine (the cluster committer's) that raced this apply
	// has then either failed b already (and called its Done and freed its
	// slot: nothing more to do here) or will not see it. Completing first
	// and removing afterwards let both complete the same ops twice.
	p.mu.Lock()
	mine := len(p.inflight) > 0 && p.inflight[0] == b
	if mine {
		copy(p.inflight, p.inflight[1:])
		p.inflight[len(p.inflight)-1] = nil
		p.inflight = p.inflight[:len(p.inflight)-1]
	}
	p.mu.Unlock()
	if !mine {
		return
	}
	for i, op := range b.ops {
		if i >= k && op.Result.Err == nil {
			op.Result = failedResult(failErr)
		}
	}
	for _, op := range b.ops {
		if op.Done != nil {
			op.Done(op)
		}
	}
	db.opsDoneGroup()
	<-p.slots
	if cap(b.buf) <= batchBufKeep {
		select {
		case p.free <- b:
		default:
		}
	}
}

// refuseBatch fails b, the batch the writer just handed to Commit, which
// refused it with err; batches before it stay in flight. The writer
// reloads its state once they are resolved.
func (db *DB) refuseBatch(b *Batch, err error) {
	p := &db.pipe
	p.mu.Lock()
	n := len(p.inflight)
	found := n > 0 && p.inflight[n-1] == b
	if found {
		p.inflight[n-1] = nil
		p.inflight = p.inflight[:n-1]
		p.gen++
		p.failErr = err
	}
	p.mu.Unlock()
	if !found {
		return // already failed by FailBatches
	}
	for _, op := range b.ops {
		if op.Result.Err == nil {
			op.Result = failedResult(err)
		}
		if op.Done != nil {
			op.Done(op)
		}
	}
	db.opsDoneGroup()
	<-p.slots
}

// announce publishes last as the last commit position and tells the
// OnCommitted callbacks, when it moved. Committer goroutine.
func (db *DB) announce(last Position) {
	p := &db.pipe
	if last == p.announced {
		return
	}
	p.announced = last
	db.lastCommit.Store(last.Commit)
	// Subscribers hear of the commit before the writers get their acks.
	for _, fn := range *db.committed.Load() {
		fn(last)
	}
}

func failedResult(err error) OpResult {
	return OpResult{Err: err, FirstEventNumber: -1, LastEventNumber: -1, Pos: Position{-1, -1}, TransactionID: -1, CurrentVersion: -1}
}

// FailBatches is called by the committer, from its goroutine, when the
// batches in flight will not commit through this node (lost leadership,
// a truncated log, a refused proposal, shutdown): every op of every batch
// in flight fails with err, and the writer drops its state (it reloads it
// from the index before its next batch). In cluster mode their ops'
// errors wrap ErrCommitUnknown: a batch handed to Commit may still commit
// under the next master, so clients are told the outcome is unknown. The committer must
// not touch those batches afterwards; one it receives
// later from a Commit that raced this call is already failed (ApplyBatch
// returns ErrBatchNotInFlight for it) and must not be written. In cluster
// mode FailBatches also stops leading, as Follow: Lead starts again.
func (db *DB) FailBatches(err error) {
	if db.pipe.cluster {
		db.pipe.leading.Store(false)
	}
	db.failInflight(err)
}

// failInflight fails every batch in flight with err and starts a new
// generation of the writer's state.
func (db *DB) failInflight(err error) {
	p := &db.pipe
	p.mu.Lock()
	failed := p.inflight
	p.inflight = nil
	p.gen++
	p.failErr = err
	p.mu.Unlock()
	opErr := err
	if p.cluster && len(failed) > 0 && !errors.Is(err, ErrCommitUnknown) {
		// Handed to consensus: the entry may have reached other nodes.
		opErr = fmt.Errorf("%w: %w", ErrCommitUnknown, err)
	}
	for _, b := range failed {
		for _, op := range b.ops {
			if op.Result.Err == nil {
				op.Result = failedResult(opErr)
			}
			if op.Done != nil {
				op.Done(op)
			}
		}
		// NB: a failed batch is not recycled: the committer may still hold
		// it (a Commit that raced, a queue it has not drained).
		<-p.slots
	}
	if len(failed) > 0 {
		db.opsDoneGroup()
	}
}

// StopLeading is the first half of FailBatches, for a committer that
// decides on one goroutine that the batches in flight will not commit
// through this node and fails them later on another, in order after the
// batches that did commit (consensus: the driver decides, the apply
// goroutine applies and fails). From now on the writer accepts no ops, no
// batch handed over so far is Current, and a batch being built fails at
// hand-over with err (it never reaches the committer). The batches in
// flight stay in flight until ApplyBatch or FailBatches. Without it a
// batch the writer handed over between the decision and FailBatches was
// still Current, and a committer that had meanwhile resumed leading (a
// fresh empty entry applied) took it for one of the new leadership: it
// was planned at the old log end, one entry header short of the new one,
// and was refused in turn. Cluster mode; any goroutine.
func (db *DB) StopLeading(err error) {
	p := &db.pipe
	if !p.cluster {
		return
	}
	p.mu.Lock()
	p.leading.Store(false)
	p.gen++
	p.failErr = err
	p.mu.Unlock()
}

// Lead makes the writer accept ops again (cluster mode), proposing from
// log position end on: everything before end must be applied (ApplyTo)
// and no batch of an earlier leadership may be in flight. The writer
// reloads its state from the index before its first batch.
func (db *DB) Lead(end int64) error {
	p := &db.pipe
	if !p.cluster {
		return fmt.Errorf("%w: Lead needs Options.Committer", ErrBadRequest)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.inflight) > 0 {
		return ErrBatchesInFlight
	}
	if applied := db.visibleEnd.Load(); end != applied || end != p.applied {
		return fmt.Errorf("%w: lead at %d, applied %d", ErrNotApplied, end, applied)
	}
	p.gen++
	p.failErr = ErrNotLeader
	p.leadEnd = end
	p.leading.Store(true)
	return nil
}

// Follow stops the writer (cluster mode): ops queued or submitted from now
// on fail with ErrNotLeader; batches in flight wait for ApplyBatch or
// FailBatches.
func (db *DB) Follow() {
	if db.pipe.cluster {
		db.pipe.leading.Store(false)
	}
}

// Leading reports whether the writer accepts ops.
func (db *DB) Leading() bool { return db.pipe.leading.Load() }

// Current reports whether b was built in the writer's current leadership:
// no FailBatches, refusal or Lead since the writer handed it over. A batch
// that is not current was failed (or is being failed) by FailBatches and
// must not be proposed: a committer that receives it after leading again
// (its Commit raced the failure) drops it instead of refusing it. Any
// goroutine.
func (db *DB) Current(b *Batch) bool {
	p := &db.pipe
	p.mu.Lock()
	ok := b.gen == p.gen && p.leading.Load()
	p.mu.Unlock()
	return ok
}

// Applied is the log end up to which records are applied: indexed and
// visible to readers. In cluster mode Open sets it to the index's
// persisted checkpoint; consensus then applies the rest (ApplyTo).
func (db *DB) Applied() int64 { return db.visibleEnd.Load() }

// flusher is the single-node committer. Inline (PipelineDepth 0) its
// Commit does everything below on the writer goroutine. Pipelined, it is
// two goroutines: the flusher owns the transaction log's writer methods
// (Append, Flush, Truncate), takes the writer's batches in order, appends
// each and fsyncs once; the applier applies them in the same order (index,
// visible end, OnCommitted, Done). So the next batch's fsync overlaps the
// previous batch's apply, and the applier is the committer goroutine of
// the seam's contract.
//
// A failure found by the flusher (a refused append, a failed write or
// fsync) moves the pipe's generation at once, so the flusher skips every
// later batch of the old generation without writing it, and travels to the
// applier as an item after the batches before it: those are applied first,
// then the failed batch (in part, for a disk-full refusal) and then every
// batch still in flight fails.
type flusher struct {
	db   *DB
	log  logEngine
	q    chan *Batch
	aq   chan applyItem
	done chan struct{}
	// inline (PipelineDepth 0): Commit appends, fsyncs and applies on the
	// writer goroutine; the indexer goroutine adds the batch's index
	// entries while the writer goroutine waits for the fsync.
	inline bool
	ixReq  chan *Batch
	ixRes  chan error
	// The batch being committed: records appended so far, and the first
	// append that failed.
	appended    int
	appendErr   error
	appendErrAt int
	mismatch    error
}

// applyItem is the flusher's word to the applier about one batch.
type applyItem struct {
	b       *Batch // nil: only fail what is in flight
	k       int    // ops of b that committed
	end     int64  // log end after them
	failErr error  // for b's ops from k on
	// latch, when set, is latched before anything is applied; failRest,
	// when set, fails every batch in flight after b.
	latch    error
	failRest error
	// refused is op k's own error (the refusal).
	refused error
	// indexed: b's entries are in the index already (inline mode adds
	// them while the fsync runs).
	indexed bool
}

func newFlusher(db *DB) *flusher {
	f := &flusher{db: db, log: db.log, done: make(chan struct{})}
	if db.opts.PipelineDepth == 0 {
		f.inline = true
		f.ixReq, f.ixRes = make(chan *Batch), make(chan error, 1)
		return f
	}
	f.q = make(chan *Batch, db.opts.PipelineDepth)
	f.aq = make(chan applyItem, db.opts.PipelineDepth)
	return f
}

// start starts the committer's goroutines.
func (f *flusher) start() {
	if f.inline {
		go f.indexer()
		return
	}
	go f.run()
}

// indexer adds a batch's index entries while the writer goroutine waits
// for the batch's fsync (inline mode). Nothing reads them early: a reader
// confirms every index entry by reading its record, and the log returns
// nothing beyond its durable end (the $all reader stops at the visible
// end). If the fsync then fails the writer latches; an index persisted
// later with entries beyond the log's end is rebuilt at Open.
func (f *flusher) indexer() {
	defer close(f.done)
	for b := range f.ixReq {
		f.ixRes <- f.db.indexAdd(b.entries, b.end)
	}
}

// stop stops them, after the writer handed over its last batch.
func (f *flusher) stop() {
	if f.inline {
		close(f.ixReq)
	} else {
		close(f.q)
	}
	<-f.done
}

func (f *flusher) HeaderBytes() int { return 0 }

// appendTo appends b's records up to n (exclusive) that are not appended
// yet. Inline mode: the writer calls it after each op, so the records go
// to the log's buffer while the writer waits for the next op rather than
// all at once when the batch is closed. A refusal stops the appends; Commit
// then handles it. Writer goroutine (the flusher's, when pipelined).
func (f *flusher) appendTo(b *Batch, n int) {
	for ; f.appended < n && f.appendErr == nil && f.mismatch == nil; f.appended++ {
		planned, payload := b.Record(f.appended)
		pos, err := f.log.Append(payload)
		if err != nil {
			f.appendErr, f.appendErrAt = err, f.appended
			return
		}
		if pos != planned {
			f.mismatch = fmt.Errorf("a record planned at %d was appended at %d", planned, pos)
			return
		}
	}
}

func (f *flusher) Commit(b *Batch) error {
	if f.inline {
		f.commit(b)
		return nil
	}
	f.q <- b
	return nil
}

func (f *flusher) run() {
	go f.applier()
	p := &f.db.pipe
	for b := range f.q {
		p.mu.Lock()
		stale := b.gen != p.gen
		p.mu.Unlock()
		if stale {
			continue // a batch before it failed: the applier fails it
		}
		f.commit(b)
	}
	close(f.aq)
}

func (f *flusher) applier() {
	defer close(f.done)
	for it := range f.aq {
		f.apply(it)
	}
}

// deliver hands it to the applier (inline: applies it now).
func (f *flusher) deliver(it applyItem) {
	if f.inline {
		f.apply(it)
		return
	}
	f.aq <- it
}

func (f *flusher) apply(it applyItem) {
	db := f.db
	{
		if it.latch != nil {
			db.latch(it.latch)
		}
		if it.b != nil {
			if it.refused != nil {
				it.b.ops[it.k].Result = failedResult(it.refused)
			}
			db.applyBatch(it.b, it.k, it.end, it.failErr, it.indexed)
		}
		if it.failRest != nil {
			db.failInflight(it.failRest)
		}
	}
}

// failed moves the generation (the flusher skips the batches in flight from
// now on) and hands it to the applier.
func (f *flusher) failed(it applyItem) {
	p := &f.db.pipe
	p.mu.Lock()
	p.gen++
	p.failErr = it.failRest
	p.mu.Unlock()
	f.deliver(it)
}

func (f *flusher) commit(b *Batch) {
	db := f.db
	if err := db.Err(); err != nil {
		f.appended, f.appendErr, f.mismatch = 0, nil, nil
		f.failed(applyItem{failRest: ErrWriterFailed})
		return
	}
	f.appendTo(b, len(b.recs))
	appendErr, at, mismatch := f.appendErr, f.appendErrAt, f.mismatch
	f.appended, f.appendErr, f.mismatch = 0, nil, nil
	if mismatch != nil {
		f.failed(applyItem{latch: mismatch, failRest: ErrWriterFailed})
		return
	}
	if appendErr != nil {
		f.appendFailed(b, at, appendErr)
		return
	}
	indexed := false
	if len(b.recs) > 0 {
		if f.inline && len(b.entries) > 0 && !db.opts.noIndexer {
			f.ixReq <- b
			indexed = true
		}
		t0 := time.Now()
		err := f.log.Flush()
		d := time.Since(t0)
		db.observeFlush(d)
		db.pipe.lastFlushNs.Store(int64(d))
		if indexed {
			if ierr := <-f.ixRes; ierr != nil && err == nil {
				f.failed(applyItem{latch: fmt.Errorf("add to the index: %w", ierr), failRest: ErrWriterFailed})
				return
			}
		}
		if err != nil {
			f.failed(applyItem{latch: fmt.Errorf("flush the log: %w", err), failRest: ErrWriterFailed})
			return
		}
	}
	f.deliver(applyItem{b: b, k: len(b.ops), end: b.end, indexed: indexed})
}

// appendFailed handles a refused append of record i of b. A refusal that
// leaves the log healthy (disk full: no byte of the record was written)
// commits the ops whose records were all appended before it, cuts the
// records the refused op had appended, and fails the rest of b and every
// later batch in flight (they were encoded assuming b committed); any other
// error latches.
func (f *flusher) appendFailed(b *Batch, i int, err error) {
	if !errors.Is(err, ErrDiskFull) && !errors.Is(err, errRecordTooLarge) {
		f.failed(applyItem{latch: fmt.Errorf("append to the log: %w", err), failRest: ErrWriterFailed})
		return
	}
	k := 0 // the op record i belongs to
	for k < len(b.ops) && b.marks[k].recs <= i {
		k++
	}
	first := 0 // its first record
	if k > 0 {
		first = b.marks[k-1].recs
	}
	var ferr error
	if first < i {
		// Part of the op's write is in the log: cut it (Truncate flushes
		// what came before it first).
		pos, _ := b.Record(first)
		if terr := f.log.Truncate(pos); terr != nil {
			ferr = fmt.Errorf("cut a partly written write at %d: %w", pos, terr)
		}
	} else if first > 0 {
		ferr = f.log.Flush()
	}
	if ferr != nil {
		f.failed(applyItem{latch: fmt.Errorf("flush the log: %w", ferr), failRest: ErrWriterFailed})
		return
	}
	// NB: op k's result is the applier's to write (its Done runs there).
	later := fmt.Errorf("%w: an earlier write of the same group commit was refused", ErrDiskFull)
	f.failed(applyItem{b: b, k: k, end: f.log.Durable(), failErr: later, failRest: later, refused: err})
}

// Log is the transaction log, for a Committer (cluster mode: the consensus
// log is this log): the committer's goroutine owns its writer methods
// (Append, Flush, Truncate). nil when the store runs over a test log.
func (db *DB) Log() *tlog.Log {
	if e, ok := db.log.(tlogEngine); ok {
		return e.Log
	}
	return nil
}
