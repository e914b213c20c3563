package store

// $all reads walk the log itself (spec §4.6, §4.10). Positions: an
// implicitly committed event at record offset P is (P, P); the events of an
// explicit transaction committed by the commit record at C are (C, P_i).
// Records that are not committed events (transaction begin records,
// transaction prepares seen on their own, empty-write markers, cluster
// records) are skipped.

func (r *Reader) allError(text string) *AllSlice {
	r.all = AllSlice{Status: ReadError, Error: text, Next: Position{-1, -1}}
	return &r.all
}

// isCommittedEvent reports whether a prepare is an implicitly committed
// event or tombstone (visible in $all at its own position).
func isCommittedEvent(f PrepareFlags) bool {
	return f&FlagIsCommitted != 0 && f&(FlagData|FlagStreamDelete) != 0
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
	for pos < end && len(r.events) < max {
		mark := len(r.arena)
		payload, next, err := r.db.log.ReadAt(pos, r.scratch[:0])
		if err != nil {
			if len(r.events) == 0 {
				return r.allError(errTextInvalidPosition)
			}
			break
		}
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
			a.Next = Position{next, 0}
		case RecordCommit:
			start := len(r.arena)
			r.arena = append(r.arena, payload...)
			if PeekCommit(r.arena[start:], &r.cm) != nil {
				r.arena = r.arena[:mark]
				break
			}
			cm := r.cm
			for i := 0; i < cm.Count() && len(r.events) < max; i++ {
				p := cm.PreparePos(i)
				if pos == from.Commit && p < from.Prepare {
					continue
				}
				if _, ok := r.readPrepare(p); !ok {
					continue
				}
				r.events = append(r.events, ResolvedEvent{})
				r.fillResolved(&r.events[len(r.events)-1], cm.FirstNumber+int64(i), Position{pos, p}, resolveLinks)
				if i == cm.Count()-1 {
					a.Next = Position{next, 0}
				} else {
					a.Next = Position{pos, p + 1}
				}
			}
		}
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
	// The record at from.Commit itself may hold events below from (a commit
	// whose prepares lie below from.Prepare, or an event whose own position
	// (c,c) is below (c,p)); then walk backwards.
	pos := from.Commit
	if pos > end {
		pos = end
	}
	first := pos < end
	for len(r.events) < max {
		var payload []byte
		var err error
		var recPos int64
		if first {
			recPos = pos
			payload, _, err = r.db.log.ReadAt(pos, r.scratch[:0])
			first = false
		} else {
			if pos <= 0 {
				break
			}
			payload, recPos, err = r.db.log.ReadBefore(pos, r.scratch[:0])
		}
		if err != nil {
			if len(r.events) == 0 && recPos == from.Commit {
				return r.allError(errTextInvalidPosition)
			}
			break
		}
		mark := len(r.arena)
		limit := Position{recPos, recPos}
		switch RecordType(payload[0]) {
		case RecordPrepare:
			if PeekPrepare(payload, &r.pr) != nil || !isCommittedEvent(r.pr.Flags) || !limit.Less(from) {
				break
			}
			r.arena = append(r.arena, payload...)
			_ = PeekPrepare(r.arena[mark:], &r.pr)
			r.events = append(r.events, ResolvedEvent{})
			r.fillResolved(&r.events[len(r.events)-1], r.pr.Number, limit, resolveLinks)
			a.Next = limit
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
