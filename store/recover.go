package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/eventstored/eventstored/store/tlog"
)

// replayBatchMax bounds the index entries replay hands to the index at once.
const replayBatchMax = 64 << 10

// recover is the chaser's start-up pass: it replays the log from the
// index's checkpoint to the durable end into the index, cuts an
// implicitly committed write whose records are not all in the log (a crash
// tore it; it was never acknowledged), and finds the last commit position.
//
// In cluster mode (Options.Committer) it replays nothing: the log past the
// index's checkpoint may hold records consensus has not committed; what
// was applied before was committed, and the committer applies the rest
// (ApplyTo) once consensus says it is.
func (db *DB) recover() error {
	t0 := time.Now()
	durable := db.log.Durable()
	from := db.ix.CheckpointPos()
	if from > durable {
		return fmt.Errorf("store: index checkpoint %d is beyond the log's durable end %d", from, durable)
	}
	if db.opts.Committer != nil {
		db.lastCommit.Store(db.findLastCommit(from))
		db.visibleEnd.Store(from)
		db.logger.Info("store: opened for a committer", "applied", from, "logEnd", durable, "lastCommit", db.lastCommit.Load())
		return nil
	}
	r, err := db.replay(from, durable)
	if err != nil {
		return err
	}
	if r.groupPos >= 0 {
		// The tail holds the beginning of a write whose end never reached
		// the disk: it was never acknowledged. Cut it.
		db.logger.Warn("store: cutting an unfinished write at the end of the log",
			"position", r.groupPos, "bytes", durable-r.groupPos)
		if err := db.log.Truncate(r.groupPos); err != nil {
			return fmt.Errorf("store: cut the unfinished write at %d: %w", r.groupPos, err)
		}
		durable = r.groupPos
	}
	if len(r.entries) > 0 || durable > from {
		if err := db.indexAdd(r.entries, durable); err != nil {
			return fmt.Errorf("store: replay into the index: %w", err)
		}
		r.replayed += len(r.entries)
	}
	lastCmt := r.lastCmt
	if lastCmt < 0 {
		lastCmt = db.findLastCommit(from)
	}
	db.lastCommit.Store(lastCmt)
	db.visibleEnd.Store(durable)
	db.logger.Info("store: recovered", "indexCheckpoint", from, "durable", durable,
		"replayedEntries", r.replayed, "lastCommit", lastCmt, "took", time.Since(t0))
	return nil
}

// replayed is the outcome of replay.
type replayed struct {
	entries  []indexEntry // not yet added to the index (in log order)
	groupPos int64        // start of an implicit write whose end is not in [from, end); -1 none
	lastCmt  int64        // last commit position seen; -1 none
	replayed int          // entries already added
	// metas lists the metastreams written in the range (ApplyTo refreshes
	// their cached metadata), when collected.
	metas []string
}

// replay reads the log from from to end and collects the index entries of
// committed writes, as the chaser does: implicit writes once their end
// record is read, explicit transactions at their commit record. Entries
// are added to the index in batches of replayBatchMax as they come (never
// inside an unfinished write); the rest is left in the result.
func (db *DB) replay(from, end int64) (replayed, error) {
	return db.replayWith(db.log.NewIterator(from), from, end)
}

// resettableIterator is a log iterator that can be moved and reused
// (tlog.Iterator.Reset keeps its read buffer).
type resettableIterator interface {
	logIterator
	Reset(from int64)
}

// replayWith is replay reading with it, positioned at from; it is closed
// (its chunk released; a resettable one keeps its buffer for a later
// Reset) on return.
func (db *DB) replayWith(it logIterator, from, end int64) (replayed, error) {
	t0 := time.Now()
	var (
		p       Prepare
		c       Commit
		r       = replayed{groupPos: -1, lastCmt: -1}
		group   []indexEntry // entries of the implicit write being read
		lastLog = t0
	)
	collectMetas := db.opts.Committer != nil
	defer func() { it.Close() }()
	for {
		pos, payload, err := it.Next()
		if isEnd(err) {
			break
		}
		if err != nil && errors.Is(err, tlog.ErrTruncated) && it.Pos() <= end && end <= db.log.Durable() {
			// In a cluster, consensus cuts a diverged uncommitted tail of
			// the log (TlogDisk, on its own goroutine) while ApplyTo reads
			// the committed records below it; the iterator stops on any
			// truncation. One that left [it.Pos(), end) in the log cut
			// nothing this replay reads (committed records are never
			// truncated): go on with a fresh iterator from the same place
			// (at it.Pos() == end it only finds where the range ends).
			// The next truncation must come from another consensus step,
			// so this does not spin.
			db.logger.Debug("store: the log was truncated above the replay; re-reading", "position", it.Pos(), "end", end)
			next := it.Pos()
			if rs, ok := it.(resettableIterator); ok {
				rs.Reset(next)
			} else {
				it.Close()
				it = db.log.NewIterator(next)
			}
			continue
		}
		if err != nil {
			return r, fmt.Errorf("store: replay the log at %d: %w", it.Pos(), err)
		}
		next := it.Pos()
		if next > end {
			break
		}
		if time.Since(lastLog) > 5*time.Second {
			lastLog = time.Now()
			db.logger.Info("store: replaying the log into the index", "position", pos, "end", end)
		}
		typ, err := PeekRecordType(payload)
		if err != nil {
			return r, fmt.Errorf("store: replay the log at %d: %w", pos, err)
		}
		switch typ {
		case RecordPrepare:
			if err := PeekPrepare(payload, &p); err != nil {
				return r, fmt.Errorf("store: replay the log at %d: %w", pos, err)
			}
			if p.Flags&FlagIsCommitted == 0 {
				break // transaction begin or transaction event: committed by a commit record
			}
			if p.Flags&FlagTransactionBegin != 0 {
				// A new implicit write. An unfinished previous one was cut by
				// a disk-full failure the writer could not truncate; skip it.
				group = group[:0]
				r.groupPos = pos
			} else if r.groupPos < 0 {
				if pos != from {
					break // an orphan continuation (never written by this store)
				}
				// The index checkpoint can fall inside a write whose first
				// entries it already holds (indexAdd splits big batches):
				// the rest of that write starts the replay.
				r.groupPos = pos
			}
			if p.Flags&(FlagData|FlagStreamDelete) != 0 {
				stream := bytesToString(p.Stream)
				group = append(group, indexEntry{Hash: streamHash(stream), Number: p.Number, Pos: pos})
				if collectMetas && IsMetastream(stream) {
					r.metas = append(r.metas, stream[len(metastreamPrefix):])
				}
			}
			if p.Flags&FlagTransactionEnd != 0 {
				r.entries = append(r.entries, group...)
				group = group[:0]
				r.groupPos = -1
				r.lastCmt = pos
			}
		case RecordCommit:
			if err := PeekCommit(payload, &c); err != nil {
				return r, fmt.Errorf("store: replay the log at %d: %w", pos, err)
			}
			stream := bytesToString(c.Stream)
			h := streamHash(stream)
			for i := 0; i < c.Count(); i++ {
				r.entries = append(r.entries, indexEntry{Hash: h, Number: c.FirstNumber + int64(i), Pos: pos})
			}
			if collectMetas && IsMetastream(stream) && c.Count() > 0 {
				r.metas = append(r.metas, stream[len(metastreamPrefix):])
			}
			r.lastCmt = pos
		}
		if len(r.entries) >= replayBatchMax && r.groupPos < 0 {
			if err := db.indexAdd(r.entries, next); err != nil {
				return r, fmt.Errorf("store: replay into the index: %w", err)
			}
			r.replayed += len(r.entries)
			r.entries = r.entries[:0]
		}
	}
	return r, nil
}

// ApplyTo is called by the committer, from its goroutine, in log order,
// once the records in [Applied(), end) are durable in this node's log and
// committed, when this node's writer did not make them (a follower, or a
// leader catching up on its predecessor's entries): it reads them from the
// log and indexes them as recovery does, moves the visible end, refreshes
// the metadata of metastreams written and runs the OnCommitted callbacks.
// end must be a record boundary at or below the log's durable end, and no
// batch of this node's writer may be in flight. A multi-event write whose
// end record lies beyond end stays invisible until a later ApplyTo reaches
// it (Applied() then stops at its start).
func (db *DB) ApplyTo(end int64) error {
	p := &db.pipe
	if db.Err() != nil {
		return ErrWriterFailed
	}
	if n := p.inFlight(); n > 0 {
		return fmt.Errorf("%w: %d batches of this node's writer", ErrBatchesInFlight, n)
	}
	from := p.applied
	if end < from || end > db.log.Durable() {
		return fmt.Errorf("%w: apply to %d, applied %d, log end %d", ErrNotApplied, end, from, db.log.Durable())
	}
	if end == from {
		return nil
	}
	var it logIterator
	if p.applyIt != nil {
		p.applyIt.Reset(from)
		it = p.applyIt
	} else {
		it = db.log.NewIterator(from)
		p.applyIt, _ = it.(resettableIterator)
	}
	r, err := db.replayWith(it, from, end)
	if err != nil {
		db.latch(err)
		return err
	}
	upTo := end
	if r.groupPos >= 0 {
		upTo = r.groupPos
	}
	if err := db.indexAdd(r.entries, upTo); err != nil {
		err = fmt.Errorf("store: apply to the index: %w", err)
		db.latch(err)
		return err
	}
	p.applied = upTo
	db.visibleEnd.Store(upTo)
	for _, s := range r.metas {
		db.meta.drop(s)
	}
	if r.lastCmt >= 0 {
		db.announce(Position{r.lastCmt, r.lastCmt})
	}
	return nil
}

// findLastCommit walks backwards from end for the last committed record.
func (db *DB) findLastCommit(end int64) int64 {
	var p Prepare
	it := db.log.NewBackwardIterator(end)
	defer it.Close()
	for {
		pos, payload, err := it.Next()
		if err != nil || len(payload) == 0 {
			return -1
		}
		switch RecordType(payload[0]) {
		case RecordCommit:
			return pos
		case RecordPrepare:
			if PeekPrepare(payload, &p) == nil && p.Flags&FlagIsCommitted != 0 && p.Flags&FlagTransactionEnd != 0 {
				return pos
			}
		}
	}
}
