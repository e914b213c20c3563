package store

// $all reads walk the log itself (spec §4.6, §4.10). Positions: an
// implicitly committed event at record offset P is (P, P); the events of an
// explicit transaction committed by the commit record at C are (C, P_i).
// Records that are not committed events (transaction begin records,
// transaction prepares seen on their own, empty-write markers, cluster
// records) are skipped.
//
// Sequential paging is the common pattern (catch-up subscriptions, exports),
// so a Reader keeps the log iterator of its last $all read and reuses it
// when the next read starts where that one stopped: a page then costs no
// seek and no allocation.

// allIteratorMinCount is the page size from which a forward read without a
// reusable iterator makes a new one (a 128 KiB block) rather than reading
// record by record.
const allIteratorMinCount = 32

func (r *Reader) allError(text string) *AllSlice {
	r.all = AllSlice{Status: ReadError, Error: text, Next: Position{-1, -1}}
	return &r.all
}

// isCommittedEvent reports whether a prepare is an implicitly committed
// event or tombstone (visible in $all at its own position).
func isCommittedEvent(f PrepareFlags) bool {
	return f&FlagIsCommitted != 0 && f&(FlagData|FlagStreamDelete) != 0
}

func (r *Reader) dropForward() {
	if r.fwd != nil {
		r.fwd.Close()
		r.fwd = nil
	}
}

func (r *Reader) dropBackward() {
	if r.back != nil {
		r.back.Close()
		r.back = nil
	}
}

// Close releases the Reader's cached log iterators. A Reader that is
// dropped without Close only delays the release of their buffers to GC.
func (r *Reader) Close() {
	r.dropForward()
	r.dropBackward()
}

// ReadAllForward returns up to max events with position ≥ from, ascending.
// from = (-1,-1) means the end of the log (nothing is returned). An empty
// page means the end of $all.
func (r *Reader) ReadAllForward(from Position, max int, resolveLinks bool) *AllSlice {
	r.reset()
	if max > MaxReadCount {
		return r.allError(errTextReadTooBig)
	}
	end := r.db.visibleEnd.Load()
	if from == PositionEnd {
		from = Position{end, end}
		r.all = AllSlice{Status: ReadSuccess, Pos: from, Next: from}
		return &r.all
	}
	if from.Commit < 0 || from.Prepare < 0 {
		return r.allError(errTextInvalidPosition)
	}
	a := &r.all
	*a = AllSlice{Status: ReadSuccess, Pos: from, Next: from}
	if max <= 0 {
		return a
	}
	pos := from.Commit
	partial := false
	var it logIterator
	if r.fwd != nil && r.fwd.Pos() == pos {
		it = r.fwd
	} else if max >= allIteratorMinCount && pos < end {
		r.dropForward()
		r.fwd = r.db.log.NewIterator(pos)
		it = r.fwd
	}
	for pos < end && len(r.events) < max {
		var (
			payload []byte
			next    int64
			err     error
		)
		if it != nil {
			_, payload, err = it.Next()
			next = it.Pos()
		} else {
			payload, next, err = r.db.log.ReadAt(pos, r.scratch[:0])
		}
		if err != nil || len(payload) == 0 {
			r.dropForward()
			if it != nil {
				// A cached iterator is void after a truncation (a disk-full
				// cut): go on reading record by record.
				it = nil
				continue
			}
			if len(r.events) == 0 {
				return r.allError(errTextInvalidPosition)
			}
			break
		}
		mark := len(r.arena)
		switch RecordType(payload[0]) {
		case RecordPrepare:
			if PeekPrepare(payload, &r.pr) != nil || !isCommittedEvent(r.pr.Flags) {
				break
			}
			if pos == from.Commit && pos < from.Prepare {
				break
			}
			r.arena = append(r.arena, payload...)
			_ = PeekPrepare(r.arena[mark:], &r.pr)
			r.events = append(r.events, ResolvedEvent{})
			r.fillResolved(&r.events[len(r.events)-1], r.pr.Number, Position{pos, pos}, resolveLinks)
		case RecordCommit:
			r.arena = append(r.arena, payload...)
			if PeekCommit(r.arena[mark:], &r.cm) != nil {
				r.arena = r.arena[:mark]
				break
			}
			cm := r.cm
			for i := 0; i < cm.Count(); i++ {
				p := cm.PreparePos(i)
				if pos == from.Commit && p < from.Prepare {
					continue
				}
				if len(r.events) == max {
					// The page is full inside this commit: continue at its
					// next event.
					partial = true
					a.Next = Position{pos, p}
					break
				}
				if _, ok := r.readPrepare(p); !ok {
					continue
				}
				r.events = append(r.events, ResolvedEvent{})
				r.fillResolved(&r.events[len(r.events)-1], cm.FirstNumber+int64(i), Position{pos, p}, resolveLinks)
			}
		}
		if partial {
			break
		}
		// As AllReader.ReadAllEventsForward in 4.0.3, next moves past every
		// record read, returned or not; so after the newest event next is
		// at the end of the log, beyond (L, L) for the last commit L
		// (spec §4.6 rule 4), even when the last write was an empty one.
		a.Next = Position{next, 0}
		pos = next
	}
	a.Events = r.events
	return a
}

// ReadAllBackward returns up to max events with position < from, descending.
// from = (-1,-1) means the end of the log.
func (r *Reader) ReadAllBackward(from Position, max int, resolveLinks bool) *AllSlice {
	r.reset()
	if max > MaxReadCount {
		return r.allError(errTextReadTooBig)
	}
	end := r.db.visibleEnd.Load()
	if from == PositionEnd {
		from = Position{end, end}
	}
	if from.Commit < 0 || from.Prepare < 0 {
		return r.allError(errTextInvalidPosition)
	}
	a := &r.all
	*a = AllSlice{Status: ReadSuccess, Pos: from, Next: from}
	if max <= 0 {
		return a
	}
	pos := from.Commit
	if pos > end {
		pos = end
	}
	// The record at from.Commit itself may hold events below from: a commit
	// whose prepares lie below from.Prepare, or an event whose own position
	// (c,c) is below (c,p). Then walk backwards.
	first := pos < end
	retried := false
	if r.back == nil || r.back.Pos() != pos {
		r.dropBackward()
		r.back = r.db.log.NewBackwardIterator(pos)
	}
	for len(r.events) < max {
		var (
			payload []byte
			err     error
			recPos  int64
		)
		viaIter := !first
		if first {
			recPos = pos
			payload, _, err = r.db.log.ReadAt(pos, r.scratch[:0])
			first = false
		} else {
			if pos <= 0 {
				break
			}
			recPos, payload, err = r.back.Next()
		}
		if err != nil && viaIter && !isEnd(err) && !retried {
			// A cached iterator is void after a truncation: start a new
			// one where this one stood.
			retried = true
			r.dropBackward()
			r.back = r.db.log.NewBackwardIterator(pos)
			continue
		}
		if err != nil || len(payload) == 0 {
			r.dropBackward()
			if isEnd(err) {
				break
			}
			if len(r.events) == 0 {
				return r.allError(errTextInvalidPosition)
			}
			break
		}
		mark := len(r.arena)
		own := Position{recPos, recPos}
		switch RecordType(payload[0]) {
		case RecordPrepare:
			if PeekPrepare(payload, &r.pr) != nil || !isCommittedEvent(r.pr.Flags) || !own.Less(from) {
				break
			}
			r.arena = append(r.arena, payload...)
			_ = PeekPrepare(r.arena[mark:], &r.pr)
			r.events = append(r.events, ResolvedEvent{})
			r.fillResolved(&r.events[len(r.events)-1], r.pr.Number, own, resolveLinks)
			a.Next = own
		case RecordCommit:
			r.arena = append(r.arena, payload...)
			if PeekCommit(r.arena[mark:], &r.cm) != nil {
				r.arena = r.arena[:mark]
				break
			}
			cm := r.cm
			for i := cm.Count() - 1; i >= 0 && len(r.events) < max; i-- {
				p := Position{recPos, cm.PreparePos(i)}
				if !p.Less(from) {
					continue
				}
				if _, ok := r.readPrepare(p.Prepare); !ok {
					continue
				}
				r.events = append(r.events, ResolvedEvent{})
				r.fillResolved(&r.events[len(r.events)-1], cm.FirstNumber+int64(i), p, resolveLinks)
				a.Next = p
			}
		}
		pos = recPos
	}
	a.Events = r.events
	return a
}
