package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// The writer goroutine owns the state the expected-version checks need
// (streams' last event numbers, recent event ids, open transactions) and
// encodes every write into a Batch of records with planned log positions;
// the committer (pipeline.go) makes each batch durable and applies it. It
// follows StorageWriterService in 4.0.3: take everything queued, check and
// encode each op, and hand the batch over as one group commit. Its state
// counts the batches in flight as committed; when one fails, the writer
// reloads its state from the index once the pipeline has drained.

// streamState is the writer's view of one stream. It is keyed by the base
// stream name: a metastream $$x shares the state of x.
type streamState struct {
	name string // the base stream (the map key)
	last int64  // last event number; -1 none; EventNumberDeletedStream when hard-deleted
	// metaLast is the last event number of $$x, metaRaw/metaJSON its data.
	metaLast    int64
	metaRaw     []byte
	metaJSON    bool
	softDeleted bool
}

// txState is an open explicit transaction.
type txState struct {
	stream   string
	expected int64
	pos      []int64
	ids      [][16]byte
	// For a transaction on a metastream: the last event's data, which
	// becomes the stream's metadata at commit.
	lastData []byte
	lastJSON bool
}

type decision uint8

const (
	decOK decision = iota
	decWrongExpectedVersion
	decDeleted
	decIdempotent
)

type checkResult struct {
	dec         decision
	cur         int64
	first, last int64
	softDeleted bool
}

type writer struct {
	db  *DB
	log logEngine
	rd  *Reader

	streams map[string]*streamState
	ids     idCache
	txs     map[int64]*txState
	txOrder []int64 // FIFO of transaction ids, to evict the oldest when full

	// b is the batch being built; end the planned log end after it (and
	// after every batch in flight).
	b          *Batch
	end        int64
	gen        uint64 // the pipe generation the state is valid for
	maxPayload int
	// statusOps counts the ops of b with a protocol outcome (the others
	// failed with an error before reaching the log).
	statusOps int
	// broken: an op of b failed after changing the state (a record too
	// large for a chunk): the rest of b fails and the state is reloaded
	// after it.
	broken    bool
	needReset bool

	ids1          [1][16]byte
	idsBuf        [][16]byte
	txPos         []int64
	batchEvents   int
	lastCommitPos Position
	lastCommit    time.Duration // how long the last Commit call took
}

func newWriter(db *DB) *writer {
	w := &writer{
		db:         db,
		log:        db.log,
		rd:         db.NewReader(),
		streams:    make(map[string]*streamState),
		txs:        make(map[int64]*txState),
		end:        db.log.Durable(),
		maxPayload: db.log.MaxPayloadBytes(),
	}
	last := db.lastCommit.Load()
	w.lastCommitPos = Position{last, last}
	w.ids.init(db.opts.IdempotencyCacheMax)
	return w
}

func (w *writer) run() {
	defer close(w.db.writerDone)
	p := &w.db.pipe
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	prevOps := 0
	for open := true; open; {
		op, ok := <-w.db.queue
		if !ok {
			break
		}
		w.begin()
		started := time.Now()
		w.process(op)
		haveSlot := false
	build:
		for {
			if open = w.drain(started); !open || w.full() || time.Since(started) >= w.db.opts.FlushDelayMax {
				break
			}
			// The queue is empty. Hand the batch over when the committer
			// can take it; while it cannot (PipelineDepth batches in
			// flight), keep taking ops: they join this batch.
			select {
			case p.slots <- struct{}{}:
				haveSlot = true
				break build
			default:
			}
			select {
			case op, ok := <-w.db.queue:
				if !ok {
					open = false
					break build
				}
				w.process(op)
			case p.slots <- struct{}{}:
				haveSlot = true
				break build
			}
		}
		// Closed-loop clients (each waiting for its previous ack) come back
		// a few microseconds after their Done, one by one; handing the
		// batch over at the first empty queue then splits them into
		// cohorts that alternate fsyncs, halving throughput. So when the
		// last batch held more ops than this one, wait a little for them:
		// at most half the last flush's duration and within FlushDelayMax.
		// A single client (last batch of one op) never waits.
		if target := prevOps; haveSlot && open && !w.full() && target >= 2 && len(w.b.ops) < target {
			wait := min(max(time.Duration(p.lastFlushNs.Load()), w.lastCommit)/2, w.db.opts.FlushDelayMax-time.Since(started))
			if wait > 0 {
				gather.Reset(wait)
			gathering:
				for len(w.b.ops) < target && !w.full() {
					select {
					case op, ok := <-w.db.queue:
						if !ok {
							open = false
							break gathering
						}
						w.process(op)
					case <-gather.C:
						break gathering
					}
				}
				gather.Stop()
				if open {
					open = w.drain(started)
				}
			}
		}
		prevOps = len(w.b.ops)
		w.submit(haveSlot)
	}
	// Closing: every batch handed over is applied (or failed) before the
	// flusher stops and Close closes the log and the index. In cluster mode
	// the committer has stopped (Close's contract): what it did not apply
	// never will be.
	if p.cluster {
		w.db.failInflight(ErrClosed)
	}
	w.drainPipeline()
	if f := p.flusher; f != nil {
		f.stop()
	}
}

// full reports that the batch must be handed over now: its payloads passed
// batchBytesMax, or an op broke it.
func (w *writer) full() bool { return len(w.b.buf) >= batchBytesMax || w.broken }

// drain processes queued ops without waiting, until the queue is empty,
// the batch is full or FlushDelayMax has passed since started. It returns
// false once the queue is closed.
func (w *writer) drain(started time.Time) bool {
	for !w.full() && time.Since(started) < w.db.opts.FlushDelayMax {
		select {
		case op, ok := <-w.db.queue:
			if !ok {
				return false
			}
			w.process(op)
		default:
			return true
		}
	}
	return true
}

// begin starts a batch. When the pipe's generation moved (a batch in
// flight failed, or leadership changed) or the state must be dropped, it
// first waits for every batch in flight to be resolved: the state is then
// reloaded from what is applied.
func (w *writer) begin() {
	p := &w.db.pipe
	p.mu.Lock()
	gen := p.gen
	p.mu.Unlock()
	stale := gen != w.gen || w.needReset
	if (stale && p.leading.Load()) || len(w.streams) > w.db.opts.StreamCacheMax {
		w.drainPipeline()
		if stale {
			w.reset()
		} else {
			// Every state is now readable from the index; start afresh
			// rather than track recency on the hot path.
			clear(w.streams)
		}
	}
	var b *Batch
	select {
	case b = <-p.free:
	default:
		b = &Batch{}
	}
	b.reset(w.end)
	w.b = b
	w.statusOps = 0
	w.batchEvents = 0
}

// drainPipeline waits until no batch is in flight.
func (w *writer) drainPipeline() {
	p := &w.db.pipe
	for i := 0; i < p.depth; i++ {
		p.slots <- struct{}{}
	}
	for i := 0; i < p.depth; i++ {
		<-p.slots
	}
}

// reset drops the writer's state: it is reloaded from the index (which
// holds everything applied) as streams are used again. Open transactions
// are forgotten, as by a restart: their commits get InvalidTransaction.
// REQUIRES: no batch in flight.
func (w *writer) reset() {
	p := &w.db.pipe
	clear(w.streams)
	w.ids.clear()
	clear(w.txs)
	w.txOrder = w.txOrder[:0]
	last := w.db.lastCommit.Load()
	w.lastCommitPos = Position{last, last}
	p.mu.Lock()
	w.gen = p.gen
	lead := p.leadEnd
	p.mu.Unlock()
	if p.cluster {
		w.end = lead
	} else {
		w.end = w.db.log.Durable()
	}
	w.needReset = false
	w.db.logger.Info("store: writer state reloaded after a failed or abandoned batch", "end", w.end)
}

// submit hands the batch to the committer, taking a pipeline slot first
// unless the caller holds one.
func (w *writer) submit(haveSlot bool) {
	p := &w.db.pipe
	b := w.b
	w.b = nil
	if w.broken {
		w.broken = false
		w.needReset = true
	}
	if !haveSlot {
		p.slots <- struct{}{}
	}
	if len(b.recs) == 0 && w.statusOps == 0 {
		// Every op failed before reaching the log: nothing to wait for.
		w.finishLocal(b, nil)
		return
	}
	p.mu.Lock()
	if p.gen != w.gen {
		// A batch in flight failed while this one was built on the state
		// that assumed it committed.
		err := p.failErr
		p.mu.Unlock()
		if f := p.flusher; f != nil && f.inline && f.appended > 0 {
			// NB: cannot happen (inline, every failure is found inside
			// Commit, before the next batch begins); records appended for
			// a batch that never commits would corrupt the log.
			w.db.latch(errors.New("store: BUG: a failed inline batch left records in the log buffer"))
		}
		w.finishLocal(b, err)
		return
	}
	b.gen = p.gen
	p.inflight = append(p.inflight, b)
	p.mu.Unlock()
	t0 := time.Now()
	if err := p.committer.Commit(b); err != nil {
		w.db.refuseBatch(b, err)
	}
	// The single-node committer in inline mode appends, fsyncs and applies
	// within Commit: the gather heuristic waits for half of that.
	w.lastCommit = time.Since(t0)
}

// finishLocal completes a batch that never reached the committer: ops
// without an error fail with err (when not nil).
func (w *writer) finishLocal(b *Batch, err error) {
	p := &w.db.pipe
	for _, op := range b.ops {
		if err != nil && op.Result.Err == nil {
			op.Result = failedResult(err)
		}
		if op.Done != nil {
			op.Done(op)
		}
	}
	w.db.opsDoneGroup()
	<-p.slots
	select {
	case p.free <- b:
	default:
	}
}

// process checks op and encodes its records into the batch. It fills
// op.Result; Done is called once the batch is applied or failed.
func (w *writer) process(op *Op) {
	w.db.stats.ops.Add(1)
	b := w.b
	op.Result = OpResult{FirstEventNumber: -1, LastEventNumber: -1, Pos: Position{-1, -1}, CurrentVersion: -1, TransactionID: -1}
	nrecs, nbuf, nentries, nmeta, end, header, start := len(b.recs), len(b.buf), len(b.entries), len(b.meta), w.end, b.header, b.start
	switch {
	case w.db.Err() != nil:
		op.Result.Err = ErrWriterFailed
	case !w.db.pipe.leading.Load():
		op.Result.Err = ErrNotLeader
	case w.broken:
		op.Result.Err = fmt.Errorf("%w: an earlier write of the same group commit was refused", ErrDiskFull)
	default:
		switch op.Kind {
		case OpWrite:
			w.processWrite(op)
		case OpDelete:
			w.processDelete(op)
		case OpTransactionStart:
			w.processTransactionStart(op)
		case OpTransactionWrite:
			w.processTransactionWrite(op)
		case OpTransactionCommit:
			w.processTransactionCommit(op)
		default:
			op.Result.Err = fmt.Errorf("%w: unknown op kind %d", ErrBadRequest, op.Kind)
		}
	}
	if op.Result.Err != nil {
		// The records of a failed op never reach the log.
		b.recs, b.buf, b.entries, b.meta, w.end, b.header, b.start = b.recs[:nrecs], b.buf[:nbuf], b.entries[:nentries], b.meta[:nmeta], end, header, start
		clear(b.meta[nmeta:cap(b.meta)])
	} else {
		w.statusOps++
		if f := w.db.pipe.flusher; f != nil && f.inline {
			f.appendTo(b, len(b.recs))
		}
	}
	b.end = w.end
	b.ops = append(b.ops, op)
	b.marks = append(b.marks, opMark{recs: len(b.recs), entries: len(b.entries), meta: len(b.meta), events: w.batchEvents, commit: w.lastCommitPos})
}

// baseStream returns the stream whose state a write to s changes.
func baseStream(s string) (base string, meta bool) {
	if IsMetastream(s) {
		return s[len(metastreamPrefix):], true
	}
	return s, false
}

// state returns the writer's state of base stream s, loading it from the
// readable store on a miss.
func (w *writer) state(s string) *streamState {
	if st, ok := w.streams[s]; ok {
		return st
	}
	st := &streamState{name: strings.Clone(s)}
	st.last = w.rd.lastEventNumber(s)
	ms := MetastreamOf(s)
	metaLast, raw, isJSON := w.rd.lastEventData(ms)
	st.metaLast = metaLast
	st.setMeta(raw, isJSON)
	w.streams[st.name] = st
	return st
}

func (st *streamState) setMeta(raw []byte, isJSON bool) {
	st.metaRaw = append(st.metaRaw[:0], raw...)
	st.metaJSON = isJSON
	m, ok := ParseMetadata(st.metaRaw, isJSON)
	st.softDeleted = ok && m.isSoftDeleted()
}

func (w *writer) fail(op *Op, err error) {
	op.Result.Err = err
}

// checkCommit decides a write of ids to stream with the expected version,
// as IndexWriter.CheckCommit in 4.0.3 (spec §4.4, §4.5). st is the base
// stream's state; meta says the write targets its metastream.
func (w *writer) checkCommit(stream string, hash uint64, st *streamState, meta bool, expected int64, ids [][16]byte) checkResult {
	cur := st.last
	softDeleted := st.softDeleted
	if meta {
		if st.last == EventNumberDeletedStream {
			return checkResult{dec: decDeleted, cur: cur}
		}
		cur = st.metaLast
		softDeleted = false // metadata of a metastream is not supported
	}
	if cur == EventNumberDeletedStream {
		return checkResult{dec: decDeleted, cur: cur}
	}
	if expected == ExpectedVersionStreamExists {
		if softDeleted {
			return checkResult{dec: decDeleted, cur: cur, softDeleted: true}
		}
		if cur < 0 && (meta || st.metaLast < 0) {
			return checkResult{dec: decWrongExpectedVersion, cur: cur}
		}
	}
	if expected == ExpectedVersionAny || expected == ExpectedVersionStreamExists {
		// Table A: best effort through the recent-id cache.
		if len(ids) == 0 {
			return checkResult{dec: decOK, cur: cur, softDeleted: softDeleted}
		}
		alt := streamAltHash(stream)
		var first, last int64
		for k := range ids {
			e, ok := w.ids.get(&ids[k])
			if !ok || e.hash != hash || e.alt != alt {
				if k == 0 {
					return checkResult{dec: decOK, cur: cur, softDeleted: softDeleted}
				}
				return checkResult{dec: decWrongExpectedVersion, cur: cur}
			}
			if k == 0 {
				first = e.number
			}
			last = e.number
		}
		return checkResult{dec: decIdempotent, cur: cur, first: first, last: last}
	}
	if expected < cur {
		// Table B: compare with what is stored.
		if len(ids) == 0 {
			return checkResult{dec: decWrongExpectedVersion, cur: cur}
		}
		for k := range ids {
			n := expected + 1 + int64(k)
			if !w.storedIDIs(stream, hash, n, &ids[k]) {
				if k == 0 && expected == ExpectedVersionNoStream && softDeleted {
					return checkResult{dec: decOK, cur: cur, softDeleted: true}
				}
				return checkResult{dec: decWrongExpectedVersion, cur: cur}
			}
		}
		return checkResult{dec: decIdempotent, cur: cur, first: expected + 1, last: expected + int64(len(ids))}
	}
	if expected > cur {
		return checkResult{dec: decWrongExpectedVersion, cur: cur}
	}
	return checkResult{dec: decOK, cur: cur, softDeleted: softDeleted}
}

// storedIDIs reports whether event n of stream has id: from the recent-id
// cache (which covers this batch's unflushed writes) or the readable store.
func (w *writer) storedIDIs(stream string, hash uint64, n int64, id *[16]byte) bool {
	if e, ok := w.ids.get(id); ok && e.hash == hash && e.alt == streamAltHash(stream) && e.number == n {
		return true
	}
	got, ok := w.rd.eventID(stream, n)
	return ok && got == *id
}

func (w *writer) applyFailure(op *Op, c checkResult) bool {
	switch c.dec {
	case decOK:
		return false
	case decWrongExpectedVersion:
		op.Result.Status = OpWrongExpectedVersion
		op.Result.CurrentVersion = c.cur
	case decDeleted:
		op.Result.Status = OpStreamDeleted
	case decIdempotent:
		op.Result.Status = OpSuccess
		op.Result.FirstEventNumber = c.first
		op.Result.LastEventNumber = c.last
	}
	return true
}

// appendRecord adds the record encoded at the end of the batch's buffer
// (since the previous record's end) with its planned position. A record
// too large for a chunk fails the op and breaks the batch (the op may have
// changed the state already).
func (w *writer) appendRecord(op *Op) (int64, bool) {
	b := w.b
	from := 0
	if len(b.recs) > 0 {
		from = b.recs[len(b.recs)-1].end
	}
	n := len(b.buf) - from
	if n > w.maxPayload {
		b.buf = b.buf[:from]
		op.Result.Err = fmt.Errorf("%w: %d bytes, limit %d", errRecordTooLarge, n, w.maxPayload)
		w.broken = true
		return 0, false
	}
	if len(b.recs) == 0 {
		if h := w.db.pipe.header; h > 0 {
			b.header, w.end = w.log.PlanAppend(w.end, h)
			b.start = b.header
		}
	}
	pos, next := w.log.PlanAppend(w.end, n)
	if len(b.recs) == 0 && b.header < 0 {
		b.start = pos
	}
	w.end = next
	b.recs = append(b.recs, batchRec{end: len(b.buf), pos: pos})
	return pos, true
}

func (db *DB) latch(err error) {
	if db.writerErr.CompareAndSwap(nil, &err) {
		db.logger.Error("writer failed; refusing writes until restart", "err", err)
	}
}

func (w *writer) processWrite(op *Op) {
	stream := op.Stream
	hash := streamHash(stream)
	base, meta := baseStream(stream)
	st := w.state(base)
	ids := w.idsBuf[:0]
	for i := range op.Events {
		ids = append(ids, op.Events[i].ID)
	}
	w.idsBuf = ids
	c := w.checkCommit(stream, hash, st, meta, op.ExpectedVersion, ids)
	if w.applyFailure(op, c) {
		return
	}
	now := w.db.clock.Now().UnixNano()
	groupStart := int64(-1)
	var pos int64
	n := len(op.Events)
	if n == 0 {
		// The empty-write marker (no data: readers skip it) gives the write
		// its position, as 4.0.3 does.
		var zero [16]byte
		w.b.buf = appendPrepareStrings(w.b.buf, FlagTransactionBegin|FlagTransactionEnd|FlagIsCommitted,
			c.cur, -1, now, &zero, stream, "", nil, nil)
		var ok bool
		if pos, ok = w.appendRecord(op); !ok {
			return
		}
	}
	for i := range op.Events {
		e := &op.Events[i]
		flags := FlagData | FlagIsCommitted
		txPos := groupStart
		if i == 0 {
			flags |= FlagTransactionBegin
		}
		if i == n-1 {
			flags |= FlagTransactionEnd
		}
		if e.IsJSON {
			flags |= FlagIsJSON
		}
		num := c.cur + 1 + int64(i)
		w.b.buf = appendPrepareStrings(w.b.buf, flags, num, txPos, now, &e.ID, stream, e.Type, e.Data, e.Metadata)
		var ok bool
		if pos, ok = w.appendRecord(op); !ok {
			return
		}
		if i == 0 {
			groupStart = pos
		}
		w.b.entries = append(w.b.entries, indexEntry{Hash: hash, Number: num, Pos: pos})
	}
	// The write is in the log buffer as a whole: update the state.
	alt := streamAltHash(stream)
	for i := range op.Events {
		w.ids.put(&op.Events[i].ID, hash, alt, c.cur+1+int64(i))
	}
	w.batchEvents += n
	op.Result.Status = OpSuccess
	op.Result.FirstEventNumber = c.cur + 1
	op.Result.LastEventNumber = c.cur + int64(n)
	op.Result.Pos = Position{pos, pos}
	// An empty write too moves the last commit position, as its marker
	// record does in 4.0.3.
	w.lastCommitPos = Position{pos, pos}
	if meta {
		wasSoftDeleted := st.softDeleted
		if n > 0 {
			last := &op.Events[n-1]
			st.metaLast = c.cur + int64(n)
			st.setMeta(last.Data, last.IsJSON)
			w.noteMetaChanged(st)
		}
		if wasSoftDeleted {
			// Writing metadata (even an empty write) undeletes a
			// soft-deleted stream: rewrite it with $tb = last + 1
			// (SoftUndeleteMetastream in 4.0.3).
			w.softUndelete(op, base, st, st.last+1)
		}
		return
	}
	if n > 0 {
		st.last = c.cur + int64(n)
	}
	if c.softDeleted {
		w.softUndelete(op, base, st, c.cur+1)
	}
}

// noteMetaChanged records st's new metadata in the batch: applying the
// batch publishes it to the metadata cache. (A copy: st.metaRaw is reused.
// Metadata writes are rare; the event path does not come here.)
func (w *writer) noteMetaChanged(st *streamState) {
	w.b.meta = append(w.b.meta, metaChange{name: st.name, raw: append([]byte(nil), st.metaRaw...), json: st.metaJSON, version: st.metaLast})
}

// softUndelete appends a metadata event to $$base carrying the current
// metadata with $tb = from (spec §4.8 "recreate"). Failure to append latches
// or marks disk full like any append; the triggering op keeps its result.
func (w *writer) softUndelete(op *Op, base string, st *streamState, from int64) {
	if !st.metaJSON {
		return
	}
	raw, ok := withTruncateBefore(st.metaRaw, from)
	if !ok {
		return
	}
	w.appendMetadata(op, base, st, raw)
}

// appendMetadata appends a $metadata event with data raw to $$base.
func (w *writer) appendMetadata(op *Op, base string, st *streamState, raw []byte) (int64, bool) {
	ms := MetastreamOf(base)
	id := randomID()
	num := st.metaLast + 1
	w.b.buf = appendPrepareStrings(w.b.buf, FlagData|FlagIsCommitted|FlagTransactionBegin|FlagTransactionEnd|FlagIsJSON,
		num, -1, w.db.clock.Now().UnixNano(), &id, ms, eventTypeMetadata, raw, nil)
	pos, ok := w.appendRecord(op)
	if !ok {
		return 0, false
	}
	h := streamHash(ms)
	w.b.entries = append(w.b.entries, indexEntry{Hash: h, Number: num, Pos: pos})
	w.ids.put(&id, h, streamAltHash(ms), num)
	w.batchEvents++
	st.metaLast = num
	st.setMeta(raw, true)
	w.noteMetaChanged(st)
	w.lastCommitPos = Position{pos, pos}
	return pos, true
}

func randomID() [16]byte {
	var id [16]byte
	a, b := rand.Uint64(), rand.Uint64()
	for i := 0; i < 8; i++ {
		id[i] = byte(a >> (8 * i))
		id[8+i] = byte(b >> (8 * i))
	}
	return id
}

func (w *writer) processDelete(op *Op) {
	stream := op.Stream
	hash := streamHash(stream)
	base, meta := baseStream(stream)
	st := w.state(base)
	// A delete is checked like a write of one fresh event id, so it is
	// never idempotent (spec §4.8).
	w.ids1[0] = randomID()
	c := w.checkCommit(stream, hash, st, meta, op.ExpectedVersion, w.ids1[:])
	if w.applyFailure(op, c) {
		return
	}
	if meta {
		// Deleting a metastream: Event Store treats $$x as a stream of its
		// own here; we do the same through its state in st.
		op.Result.Err = fmt.Errorf("%w: deleting a metastream is not supported", ErrBadRequest)
		return
	}
	if op.HardDelete {
		now := w.db.clock.Now().UnixNano()
		w.b.buf = appendPrepareStrings(w.b.buf, FlagStreamDelete|FlagIsCommitted|FlagTransactionBegin|FlagTransactionEnd,
			EventNumberDeletedStream, -1, now, &w.ids1[0], stream, eventTypeStreamDeleted, nil, nil)
		pos, ok := w.appendRecord(op)
		if !ok {
			return
		}
		w.b.entries = append(w.b.entries, indexEntry{Hash: hash, Number: EventNumberDeletedStream, Pos: pos})
		w.batchEvents++
		st.last = EventNumberDeletedStream
		op.Result.Status = OpSuccess
		op.Result.Pos = Position{pos, pos}
		w.lastCommitPos = op.Result.Pos
		return
	}
	// Soft delete: as 4.0.3, a stream with neither events nor metadata
	// cannot be soft-deleted (WrongExpectedVersion, current version -1).
	if st.last < 0 && st.metaLast < 0 {
		op.Result.Status = OpWrongExpectedVersion
		op.Result.CurrentVersion = -1
		return
	}
	pos, ok := w.appendMetadata(op, base, st, []byte(softDeletedMetadataJSON))
	if !ok {
		return
	}
	op.Result.Status = OpSuccess
	op.Result.Pos = Position{pos, pos}
}

func (w *writer) processTransactionStart(op *Op) {
	now := w.db.clock.Now().UnixNano()
	var zero [16]byte
	w.b.buf = appendPrepareStrings(w.b.buf, FlagTransactionBegin, op.ExpectedVersion, -1, now, &zero, op.Stream, "", nil, nil)
	pos, ok := w.appendRecord(op)
	if !ok {
		return
	}
	if len(w.txs) >= w.db.opts.TransactionsMax {
		// Evict the oldest open transaction: abandoned transactions must not
		// exhaust the table. Its commit later gets InvalidTransaction.
		for len(w.txOrder) > 0 && len(w.txs) >= w.db.opts.TransactionsMax {
			delete(w.txs, w.txOrder[0])
			w.txOrder = w.txOrder[1:]
		}
	}
	w.txs[pos] = &txState{stream: strings.Clone(op.Stream), expected: op.ExpectedVersion}
	w.txOrder = append(w.txOrder, pos)
	op.Result.Status = OpSuccess
	op.Result.TransactionID = pos
}

func (w *writer) processTransactionWrite(op *Op) {
	op.Result.TransactionID = op.TransactionID
	tx, ok := w.txs[op.TransactionID]
	if !ok {
		// The original silently drops events of an unknown transaction and
		// replies Success; spec §4.7 allows InvalidTransaction, which tells
		// the client the truth.
		op.Result.Status = OpInvalidTransaction
		return
	}
	if len(tx.pos)+len(op.Events) > w.db.opts.TransactionEventsMax {
		op.Result.Err = fmt.Errorf("%w: a transaction may hold at most %d events", ErrBadRequest, w.db.opts.TransactionEventsMax)
		return
	}
	now := w.db.clock.Now().UnixNano()
	w.txPos = w.txPos[:0]
	for i := range op.Events {
		e := &op.Events[i]
		flags := FlagData
		if e.IsJSON {
			flags |= FlagIsJSON
		}
		w.b.buf = appendPrepareStrings(w.b.buf, flags, -1, op.TransactionID, now, &e.ID, tx.stream, e.Type, e.Data, e.Metadata)
		pos, ok := w.appendRecord(op)
		if !ok {
			return
		}
		w.txPos = append(w.txPos, pos)
	}
	tx.pos = append(tx.pos, w.txPos...)
	for i := range op.Events {
		tx.ids = append(tx.ids, op.Events[i].ID)
	}
	if n := len(op.Events); n > 0 && IsMetastream(tx.stream) {
		tx.lastData = append(tx.lastData[:0], op.Events[n-1].Data...)
		tx.lastJSON = op.Events[n-1].IsJSON
	}
	op.Result.Status = OpSuccess
}

func (w *writer) processTransactionCommit(op *Op) {
	op.Result.TransactionID = op.TransactionID
	tx, ok := w.txs[op.TransactionID]
	if !ok {
		op.Result.Status = OpInvalidTransaction
		return
	}
	stream := tx.stream
	hash := streamHash(stream)
	base, meta := baseStream(stream)
	st := w.state(base)
	c := w.checkCommit(stream, hash, st, meta, tx.expected, tx.ids)
	if w.applyFailure(op, c) {
		w.endTransaction(op.TransactionID)
		return
	}
	now := w.db.clock.Now().UnixNano()
	first := c.cur + 1
	w.b.buf = AppendCommit(w.b.buf, op.TransactionID, first, now, stream, tx.pos)
	pos, ok := w.appendRecord(op)
	if !ok {
		return
	}
	n := len(tx.pos)
	for i := range tx.pos {
		// Indexed at the commit record, which lists the events' records:
		// stream reads then report (C, P_i) like $all (reader.readIndexed).
		w.b.entries = append(w.b.entries, indexEntry{Hash: hash, Number: first + int64(i), Pos: pos})
		w.ids.put(&tx.ids[i], hash, streamAltHash(stream), first+int64(i))
	}
	w.batchEvents += n
	op.Result.Status = OpSuccess
	op.Result.FirstEventNumber = first
	op.Result.LastEventNumber = c.cur + int64(n)
	op.Result.Pos = Position{pos, pos}
	w.lastCommitPos = op.Result.Pos
	w.endTransaction(op.TransactionID)
	if meta {
		wasSoftDeleted := st.softDeleted
		if n > 0 {
			st.metaLast = c.cur + int64(n)
			st.setMeta(tx.lastData, tx.lastJSON)
			w.noteMetaChanged(st)
		}
		if wasSoftDeleted {
			w.softUndelete(op, base, st, st.last+1)
		}
		return
	}
	if n > 0 {
		st.last = c.cur + int64(n)
	}
	if c.softDeleted {
		w.softUndelete(op, base, st, c.cur+1)
	}
}

func (w *writer) endTransaction(id int64) {
	delete(w.txs, id)
	for i, t := range w.txOrder {
		if t == id {
			w.txOrder = append(w.txOrder[:i], w.txOrder[i+1:]...)
			break
		}
	}
}

// idCache is the bounded recent-event-id cache of spec §4.5 table A: event
// id → (stream hash, event number), best effort like the original's 8 MiB
// cache. It is a 4-way set-associative table of fixed size: a put evicts
// the oldest entry of its set. NB: a Go map under constant insert/delete
// churn cost about 1 µs per put in the writer's profile; this costs a few
// cache misses and never allocates.
type idCache struct {
	sets []idSet
	mask uint64 // of set indexes
	seq  uint64
}

// The stream is identified by two independent 64-bit hashes of its name
// (the index's xxhash and FNV-1a), so that neither an index hash collision
// nor any realistic double collision confuses two streams; the cache keeps
// no strings (it would have to copy them).
//
// A set keeps its four ids together in 64 bytes, apart from the rest of
// the slots: a lookup of a new id (the common case: most writes carry new
// ids) reads one cache line instead of four. The table is one large
// allocation, page aligned, and a set is 192 bytes, so the ids of a set
// never straddle two lines. (In the 256-writer profile the old
// array-of-slots layout spent 8% of the CPU in get, almost all of it on
// the id comparison's cache misses.)
type idSet struct {
	ids  [idCacheWays][16]byte
	meta [idCacheWays]idMeta
}

type idMeta struct {
	hash   uint64
	alt    uint64
	number int64
	seq    uint64 // 0 = empty; higher = newer
}

type idEntry struct {
	hash, alt uint64
	number    int64
}

// streamAltHash is FNV-1a 64 of the stream name.
func streamAltHash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

const idCacheWays = 4

func (c *idCache) init(max int) {
	sets := 1
	for sets*idCacheWays < max {
		sets <<= 1
	}
	c.sets = make([]idSet, sets)
	c.mask = uint64(sets - 1)
}

// capacity is the number of ids the table holds.
func (c *idCache) capacity() int { return len(c.sets) * idCacheWays }

func (c *idCache) set(id *[16]byte) *idSet {
	lo := binary.LittleEndian.Uint64(id[0:8])
	hi := binary.LittleEndian.Uint64(id[8:16])
	h := lo ^ (hi * 0x9E3779B97F4A7C15)
	h ^= h >> 29
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 32
	return &c.sets[h&c.mask]
}

func (c *idCache) get(id *[16]byte) (idEntry, bool) {
	set := c.set(id)
	for i := range set.ids {
		if set.ids[i] == *id && set.meta[i].seq != 0 {
			m := &set.meta[i]
			return idEntry{hash: m.hash, alt: m.alt, number: m.number}, true
		}
	}
	return idEntry{}, false
}

func (c *idCache) put(id *[16]byte, hash, alt uint64, number int64) {
	set := c.set(id)
	victim := 0
	for i := range set.ids {
		if set.ids[i] == *id && set.meta[i].seq != 0 {
			victim = i
			break
		}
		if set.meta[i].seq < set.meta[victim].seq {
			victim = i
		}
	}
	c.seq++
	set.ids[victim] = *id
	set.meta[victim] = idMeta{hash: hash, alt: alt, number: number, seq: c.seq}
}

// clear empties the cache (the writer's state was dropped).
func (c *idCache) clear() { clear(c.sets) }
