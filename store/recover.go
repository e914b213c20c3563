package store

import (
	"fmt"
	"time"
)

// replayBatchMax bounds the index entries replay hands to the index at once.
const replayBatchMax = 64 << 10

// recover is the chaser's start-up pass: it replays the log from the
// index's checkpoint to the durable end into the index, cuts an
// implicitly committed write whose records are not all in the log (a crash
// tore it; it was never acknowledged), and finds the last commit position.
func (db *DB) recover() error {
	t0 := time.Now()
	durable := db.log.Durable()
	from := db.ix.CheckpointPos()
	if from > durable {
		return fmt.Errorf("store: index checkpoint %d is beyond the log's durable end %d", from, durable)
	}
	var (
		p        Prepare
		c        Commit
		entries  []indexEntry
		group    []indexEntry // entries of the implicit write being read
		groupPos int64        = -1
		lastCmt  int64        = -1
		replayed int
		lastLog  = t0
	)
	it := db.log.NewIterator(from)
	defer it.Close()
	for {
		pos, payload, err := it.Next()
		if isEnd(err) {
			break
		}
		if err != nil {
			return fmt.Errorf("store: replay the log at %d: %w", it.Pos(), err)
		}
		next := it.Pos()
		if next > durable {
			break
		}
		if time.Since(lastLog) > 5*time.Second {
			lastLog = time.Now()
			db.logger.Info("store: replaying the log into the index", "position", pos, "end", durable)
		}
		typ, err := PeekRecordType(payload)
		if err != nil {
			return fmt.Errorf("store: replay the log at %d: %w", pos, err)
		}
		switch typ {
		case RecordPrepare:
			if err := PeekPrepare(payload, &p); err != nil {
				return fmt.Errorf("store: replay the log at %d: %w", pos, err)
			}
			if p.Flags&FlagIsCommitted == 0 {
				break // transaction begin or transaction event: committed by a commit record
			}
			if p.Flags&FlagTransactionBegin != 0 {
				// A new implicit write. An unfinished previous one was cut by
				// a disk-full failure the writer could not truncate; skip it.
				group = group[:0]
				groupPos = pos
			} else if groupPos < 0 {
				if pos != from {
					break // an orphan continuation (never written by this store)
				}
				// The index checkpoint can fall inside a write whose first
				// entries it already holds (indexAdd splits big batches):
				// the rest of that write starts the replay.
				groupPos = pos
			}
			if p.Flags&(FlagData|FlagStreamDelete) != 0 {
				group = append(group, indexEntry{Hash: streamHash(bytesToString(p.Stream)), Number: p.Number, Pos: pos})
			}
			if p.Flags&FlagTransactionEnd != 0 {
				entries = append(entries, group...)
				group = group[:0]
				groupPos = -1
				lastCmt = pos
			}
		case RecordCommit:
			if err := PeekCommit(payload, &c); err != nil {
				return fmt.Errorf("store: replay the log at %d: %w", pos, err)
			}
			h := streamHash(bytesToString(c.Stream))
			for i := 0; i < c.Count(); i++ {
				entries = append(entries, indexEntry{Hash: h, Number: c.FirstNumber + int64(i), Pos: pos})
			}
			lastCmt = pos
		}
		if len(entries) >= replayBatchMax && groupPos < 0 {
			if err := db.indexAdd(entries, next); err != nil {
				return fmt.Errorf("store: replay into the index: %w", err)
			}
			replayed += len(entries)
			entries = entries[:0]
		}
	}
	if groupPos >= 0 {
		// The tail holds the beginning of a write whose end never reached
		// the disk: it was never acknowledged. Cut it.
		db.logger.Warn("store: cutting an unfinished write at the end of the log",
			"position", groupPos, "bytes", durable-groupPos)
		if err := db.log.Truncate(groupPos); err != nil {
			return fmt.Errorf("store: cut the unfinished write at %d: %w", groupPos, err)
		}
		durable = groupPos
	}
	if len(entries) > 0 || durable > from {
		if err := db.indexAdd(entries, durable); err != nil {
			return fmt.Errorf("store: replay into the index: %w", err)
		}
		replayed += len(entries)
	}
	if lastCmt < 0 {
		lastCmt = db.findLastCommit(from)
	}
	db.lastCommit.Store(lastCmt)
	db.visibleEnd.Store(durable)
	db.logger.Info("store: recovered", "indexCheckpoint", from, "durable", durable,
		"replayedEntries", replayed, "lastCommit", lastCmt, "took", time.Since(t0))
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
