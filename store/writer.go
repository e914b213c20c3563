package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// The writer goroutine owns every append to the log and the state the
// expected-version checks need (streams' last event numbers, recent event
// ids, open transactions). It follows StorageWriterService in 4.0.3: take
// everything queued, check and append each op, then Flush once (group
// commit) and complete all ops of the batch. It flushes when its queue holds
// no more work or when FlushDelayMax has passed since the batch began.
//
// After a successful flush it feeds the batch's index entries to the index
// itself (it already knows them; re-reading the log would only cost time),
// publishes the new visible end, then calls Done for each op and the
// OnCommitted callbacks. An op is therefore acknowledged only once it is
// durable and readable, which is the read-your-writes guarantee clients
// rely on. At start-up recover.go replays the log tail the persisted index
// does not cover: that is the chaser role of the original.

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

	batch   []*Op
	entries []indexEntry
	buf     []byte
	ids1    [1][16]byte
	idsBuf  [][16]byte
	txPos   []int64
	// metaChanged lists the streams whose metadata changed in this batch.
	metaChanged []*streamState
	// Set when an append failed with ErrDiskFull in this batch: the rest of
	// the batch fails, and a partly appended write is cut off after flush.
	diskFull      bool
	truncateTo    int64
	batchEvents   int
	batchBytes    int
	lastCommitPos Position
	// announced is the last position given to OnCommitted callbacks.
	announced Position
}

func newWriter(db *DB) *writer {
	w := &writer{
		db:         db,
		log:        db.log,
		rd:         db.NewReader(),
		streams:    make(map[string]*streamState),
		txs:        make(map[int64]*txState),
		truncateTo: -1,
	}
	last := db.lastCommit.Load()
	w.lastCommitPos = Position{last, last}
	w.announced = w.lastCommitPos
	w.ids.init(db.opts.IdempotencyCacheMax)
	return w
}

func (w *writer) run() {
	defer close(w.db.writerDone)
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	prevOps := 0
	var lastFlush time.Duration
	for {
		op, ok := <-w.db.queue
		if !ok {
			return
		}
		w.batch = append(w.batch[:0], op)
		started := time.Now()
		w.process(op)
		open := w.drain(started)
		// Closed-loop clients (each waiting for its previous ack) come back
		// a few microseconds after their Done, one by one; flushing at the
		// first empty queue then splits them into cohorts that alternate
		// fsyncs, halving throughput. So when the last batch held more ops
		// than this one, wait a little for them: at most half the last
		// flush's duration and within FlushDelayMax. A single client
		// (last batch of one op) never waits.
		if target := prevOps; open && target >= 2 && len(w.batch) < target {
			wait := min(lastFlush/2, w.db.opts.FlushDelayMax-time.Since(started))
			if wait > 0 {
				gather.Reset(wait)
			gathering:
				for len(w.batch) < target {
					select {
					case op, ok := <-w.db.queue:
						if !ok {
							open = false
							break gathering
						}
						w.batch = append(w.batch, op)
						w.process(op)
					case <-gather.C:
						break gathering
					}
				}
				gather.Stop()
				if open {
					w.drain(started)
				}
			}
		}
		prevOps = len(w.batch)
		t0 := time.Now()
		w.commitBatch()
		lastFlush = time.Since(t0)
	}
}

// drain processes queued ops without waiting, until the queue is empty or
// FlushDelayMax has passed since started. It returns false once the queue
// is closed.
func (w *writer) drain(started time.Time) bool {
	for time.Since(started) < w.db.opts.FlushDelayMax {
		select {
		case op, ok := <-w.db.queue:
			if !ok {
				return false
			}
			w.batch = append(w.batch, op)
			w.process(op)
		default:
			return true
		}
	}
	return true
}

// process checks op and appends its records. It fills op.Result; Done is
// called by commitBatch.
func (w *writer) process(op *Op) {
	w.db.stats.ops.Add(1)
	op.Result = OpResult{FirstEventNumber: -1, LastEventNumber: -1, Pos: Position{-1, -1}, CurrentVersion: -1, TransactionID: -1}
	if err := w.db.Err(); err != nil {
		op.Result.Err = ErrWriterFailed
		return
	}
	if w.diskFull {
		op.Result.Err = fmt.Errorf("%w: an earlier write of the same group commit was refused", ErrDiskFull)
		return
	}
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

// appendRecord appends w.buf to the log. On failure it marks the op and the
// batch; the caller abandons the op.
func (w *writer) appendRecord(op *Op, groupStart int64) (int64, bool) {
	pos, err := w.log.Append(w.buf)
	if err == nil {
		w.batchBytes += len(w.buf)
		return pos, true
	}
	if errors.Is(err, ErrDiskFull) || errors.Is(err, errRecordTooLarge) {
		// Refusals that leave the log healthy: nothing of this record was
		// written (tlog contract). Earlier records of the same write were:
		// cut them after the flush. The rest of the batch fails too, since
		// the cut must not take later writes with it.
		w.diskFull = true
		if groupStart >= 0 {
			w.truncateTo = groupStart
		}
		op.Result.Err = err
		return 0, false
	}
	w.latch(fmt.Errorf("append to the log: %w", err))
	op.Result.Err = ErrWriterFailed
	return 0, false
}

func (w *writer) latch(err error) {
	if w.db.writerErr.CompareAndSwap(nil, &err) {
		w.db.logger.Error("writer failed; refusing writes until restart", "err", err)
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
	entriesMark := len(w.entries)
	groupStart := int64(-1)
	var pos int64
	n := len(op.Events)
	if n == 0 {
		// The empty-write marker (no data: readers skip it) gives the write
		// its position, as 4.0.3 does.
		var zero [16]byte
		w.buf = appendPrepareStrings(w.buf[:0], FlagTransactionBegin|FlagTransactionEnd|FlagIsCommitted,
			c.cur, -1, now, &zero, stream, "", nil, nil)
		var ok bool
		if pos, ok = w.appendRecord(op, -1); !ok {
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
		w.buf = appendPrepareStrings(w.buf[:0], flags, num, txPos, now, &e.ID, stream, e.Type, e.Data, e.Metadata)
		var ok bool
		if pos, ok = w.appendRecord(op, groupStart); !ok {
			w.entries = w.entries[:entriesMark]
			return
		}
		if i == 0 {
			groupStart = pos
		}
		w.entries = append(w.entries, indexEntry{Hash: hash, Number: num, Pos: pos})
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

func (w *writer) noteMetaChanged(st *streamState) {
	for _, x := range w.metaChanged {
		if x == st {
			return
		}
	}
	w.metaChanged = append(w.metaChanged, st)
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
	w.buf = appendPrepareStrings(w.buf[:0], FlagData|FlagIsCommitted|FlagTransactionBegin|FlagTransactionEnd|FlagIsJSON,
		num, -1, w.db.clock.Now().UnixNano(), &id, ms, eventTypeMetadata, raw, nil)
	pos, ok := w.appendRecord(op, -1)
	if !ok {
		return 0, false
	}
	h := streamHash(ms)
	w.entries = append(w.entries, indexEntry{Hash: h, Number: num, Pos: pos})
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
		w.buf = appendPrepareStrings(w.buf[:0], FlagStreamDelete|FlagIsCommitted|FlagTransactionBegin|FlagTransactionEnd,
			EventNumberDeletedStream, -1, now, &w.ids1[0], stream, eventTypeStreamDeleted, nil, nil)
		pos, ok := w.appendRecord(op, -1)
		if !ok {
			return
		}
		w.entries = append(w.entries, indexEntry{Hash: hash, Number: EventNumberDeletedStream, Pos: pos})
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
	w.buf = appendPrepareStrings(w.buf[:0], FlagTransactionBegin, op.ExpectedVersion, -1, now, &zero, op.Stream, "", nil, nil)
	pos, ok := w.appendRecord(op, -1)
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
		w.buf = appendPrepareStrings(w.buf[:0], flags, -1, op.TransactionID, now, &e.ID, tx.stream, e.Type, e.Data, e.Metadata)
		pos, ok := w.appendRecord(op, -1)
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
	w.buf = AppendCommit(w.buf[:0], op.TransactionID, first, now, stream, tx.pos)
	pos, ok := w.appendRecord(op, -1)
	if !ok {
		return
	}
	n := len(tx.pos)
	for i := range tx.pos {
		// Indexed at the commit record, which lists the events' records:
		// stream reads then report (C, P_i) like $all (reader.readIndexed).
		w.entries = append(w.entries, indexEntry{Hash: hash, Number: first + int64(i), Pos: pos})
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

// commitBatch flushes the batch's records with one fsync, makes them
// readable and completes every op of the batch.
func (w *writer) commitBatch() {
	db := w.db
	if db.Err() == nil && (w.batchBytes > 0 || w.truncateTo >= 0) {
		t0 := time.Now()
		err := w.log.Flush()
		db.observeFlush(time.Since(t0))
		if err == nil && w.truncateTo >= 0 {
			if terr := w.log.Truncate(w.truncateTo); terr != nil {
				err = fmt.Errorf("cut a partly written write at %d: %w", w.truncateTo, terr)
			}
		}
		if err != nil {
			w.latch(fmt.Errorf("flush the log: %w", err))
		}
	}
	if err := db.Err(); err != nil {
		w.failBatch()
		return
	}
	durable := w.log.Durable()
	if len(w.entries) > 0 {
		if err := db.indexAdd(w.entries, durable); err != nil {
			// The index is derived from the log and is rebuilt at restart;
			// but readers would now miss acknowledged events, so stop.
			w.latch(fmt.Errorf("add to the index: %w", err))
			w.failBatch()
			return
		}
	}
	db.visibleEnd.Store(durable)
	if w.lastCommitPos != w.announced {
		db.lastCommit.Store(w.lastCommitPos.Commit)
	}
	for _, st := range w.metaChanged {
		m, ok := ParseMetadata(st.metaRaw, st.metaJSON)
		if ok {
			m.Raw = append([]byte(nil), st.metaRaw...)
		}
		db.meta.set(st.name, metaEntry{meta: m, version: st.metaLast, has: ok})
	}
	db.stats.events.Add(uint64(w.batchEvents))
	db.stats.bytes.Add(uint64(w.batchBytes))
	w.finishBatch(true)
}

// failBatch completes every op of the batch with ErrWriterFailed: nothing of
// it may be acknowledged, and the state the writer built for it is
// unreliable (no further write will use it).
func (w *writer) failBatch() {
	for _, op := range w.batch {
		if op.Result.Err == nil {
			op.Result = OpResult{Err: ErrWriterFailed, FirstEventNumber: -1, LastEventNumber: -1, Pos: Position{-1, -1}, TransactionID: -1, CurrentVersion: -1}
		}
	}
	w.finishBatch(false)
}

func (w *writer) finishBatch(ok bool) {
	// Only batches that committed something (not, say, a lone transaction
	// start) announce a commit.
	last := w.lastCommitPos
	committed := ok && last != w.announced
	w.announced = last
	// Subscribers hear of the commit before the writers get their acks.
	if committed {
		for _, fn := range *w.db.committed.Load() {
			fn(last)
		}
	}
	for i, op := range w.batch {
		if op.Done != nil {
			op.Done(op)
		}
		w.batch[i] = nil
	}
	w.batch = w.batch[:0]
	w.entries = w.entries[:0]
	clear(w.metaChanged)
	w.metaChanged = w.metaChanged[:0]
	w.batchEvents, w.batchBytes = 0, 0
	w.diskFull, w.truncateTo = false, -1
	if len(w.streams) > w.db.opts.StreamCacheMax {
		// Every state is now readable from the index; start afresh rather
		// than track recency on the hot path.
		clear(w.streams)
	}
	if !ok {
		clear(w.streams)
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
