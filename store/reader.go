package store

import (
	"bytes"
	"math"
	"strconv"
	"sync"
	"time"
	"unsafe"
)

// Read-side error texts, as the original sends them (spec §4.10).
const (
	errTextReadTooBig      = "Read size too big, should be less than 4096 items"
	errTextInvalidPosition = "Invalid position."
	errTextBadCount        = "Invalid max count."
	errTextBadFrom         = "Invalid from event number."
)

// Reader reads streams and $all. A Reader is NOT safe for concurrent use:
// each goroutine takes its own (DB.NewReader). Results, including every
// byte slice and string inside them, stay valid only until the Reader's next
// call; callers copy what they keep. Readers see only records that are
// durable and indexed, and never block the writer.
type Reader struct {
	db      *DB
	scratch []byte
	arena   []byte
	events  []ResolvedEvent
	stream  StreamSlice
	all     AllSlice
	pr      Prepare
	cm      Commit
	ents    []indexEntry
	// fwd and back are the cached $all iterators (see allreader.go).
	fwd, back logIterator

	// Index callbacks, made once so that passing them allocates nothing;
	// they communicate through cbStream and cbResult.
	lastFn, findFn func(e indexEntry) bool
	getFn          func(pos int64) bool
	rangeFn        func(e indexEntry) bool
	cbStream       string
	cbResult       int64
}

// NewReader returns a new Reader.
func (db *DB) NewReader() *Reader {
	r := &Reader{db: db, scratch: make([]byte, 0, 4096)}
	r.lastFn = func(e indexEntry) bool {
		if r.recordIsOf(e.Pos, r.cbStream) {
			r.cbResult = e.Number
			return false
		}
		return true
	}
	r.getFn = func(pos int64) bool {
		if r.recordIsOf(pos, r.cbStream) {
			r.cbResult = pos
			return false
		}
		return true
	}
	r.rangeFn = func(e indexEntry) bool {
		if e.Number == EventNumberDeletedStream {
			return true
		}
		r.ents = append(r.ents, e)
		return len(r.ents) < 2*MaxReadCount+16
	}
	return r
}

var readerPool sync.Pool

func (db *DB) acquireReader() *Reader {
	if r, ok := readerPool.Get().(*Reader); ok && r.db == db {
		return r
	}
	return db.NewReader()
}

func (db *DB) releaseReader(r *Reader) { readerPool.Put(r) }

// reset starts a new call: previous results become invalid.
func (r *Reader) reset() {
	r.arena = r.arena[:0]
	clear(r.events)
	r.events = r.events[:0]
}

// bytesToString views b as a string without copying. NB: b lives in the
// Reader's arena, which is not written again until the Reader's next call;
// that is exactly the documented lifetime of read results.
func bytesToString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// readPrepare reads the prepare at pos into r.pr, its bytes copied into the
// arena. It returns false if the record is not a readable prepare.
func (r *Reader) readPrepare(pos int64) (next int64, ok bool) {
	payload, next, err := r.db.log.ReadAt(pos, r.scratch[:0])
	if err != nil {
		return 0, false
	}
	if cap(payload) > cap(r.scratch) && len(payload) <= 1<<20 {
		r.scratch = payload[:0]
	}
	start := len(r.arena)
	r.arena = append(r.arena, payload...)
	if PeekPrepare(r.arena[start:], &r.pr) != nil {
		return 0, false
	}
	return next, true
}

// recordIsOf reports whether the record at pos (a prepare, or the commit
// record of a transaction) belongs to stream, without copying anything
// (index collision check).
func (r *Reader) recordIsOf(pos int64, stream string) bool {
	payload, _, err := r.db.log.ReadAt(pos, r.scratch[:0])
	if err != nil {
		return false
	}
	s, ok := peekRecordStream(payload)
	return ok && string(s) == stream
}

// readIndexed reads the event an index entry (pos, number) points at into
// r.pr (bytes in the arena) and returns its $all position. An implicitly
// committed event is indexed at its own record: (pos, pos). The events of
// an explicit transaction are indexed at their commit record C, which lists
// their records, so a stream read reports the same (C, P_i) as $all.
func (r *Reader) readIndexed(pos, number int64) (Position, bool) {
	payload, _, err := r.db.log.ReadAt(pos, r.scratch[:0])
	if err != nil || len(payload) == 0 {
		return Position{}, false
	}
	if cap(payload) > cap(r.scratch) && len(payload) <= 1<<20 {
		r.scratch = payload[:0]
	}
	if RecordType(payload[0]) != RecordCommit {
		start := len(r.arena)
		r.arena = append(r.arena, payload...)
		if PeekPrepare(r.arena[start:], &r.pr) != nil {
			r.arena = r.arena[:start]
			return Position{}, false
		}
		return Position{pos, pos}, true
	}
	var c Commit
	if PeekCommit(payload, &c) != nil {
		return Position{}, false
	}
	i := number - c.FirstNumber
	if i < 0 || i >= int64(c.Count()) {
		return Position{}, false
	}
	p := c.PreparePos(int(i))
	if _, ok := r.readPrepare(p); !ok {
		return Position{}, false
	}
	return Position{pos, p}, true
}

// fillEvent converts r.pr (read at pos, numbered number) into rec.
func (r *Reader) fillEvent(rec *EventRecord, number int64, pos Position) {
	p := &r.pr
	rec.Stream = bytesToString(p.Stream)
	rec.Number = number
	rec.ID = p.EventID
	rec.Type = bytesToString(p.Type)
	rec.IsJSON = p.Flags&FlagIsJSON != 0
	rec.Data = p.Data
	rec.Metadata = p.Metadata
	rec.CreatedUnixNano = p.CreatedUnixNano
	rec.Pos = pos
}

// lastEventNumber returns the last event number of stream (-1 if none,
// EventNumberDeletedStream if hard-deleted), as the index and log show it.
func (r *Reader) lastEventNumber(stream string) int64 {
	r.cbStream, r.cbResult = stream, -1
	r.db.ix.Last(streamHash(stream), r.lastFn)
	r.cbStream = ""
	return r.cbResult
}

// findEvent returns the position of event number of stream.
func (r *Reader) findEvent(stream string, hash uint64, number int64) (int64, bool) {
	r.cbStream, r.cbResult = stream, -1
	r.db.ix.Get(hash, number, r.getFn)
	r.cbStream = ""
	return r.cbResult, r.cbResult >= 0
}

// lastEventData returns the last event number of stream and, if it has
// events, a copy of the last event's data and its JSON flag (the writer uses
// it to load metadata).
func (r *Reader) lastEventData(stream string) (int64, []byte, bool) {
	last := r.lastEventNumber(stream)
	if last < 0 || last == EventNumberDeletedStream {
		return last, nil, false
	}
	pos, ok := r.findEvent(stream, streamHash(stream), last)
	if !ok {
		return last, nil, false
	}
	r.reset()
	if _, ok := r.readIndexed(pos, last); !ok {
		return last, nil, false
	}
	return last, append([]byte(nil), r.pr.Data...), r.pr.Flags&FlagIsJSON != 0
}

// eventID returns the id of event number n of stream.
func (r *Reader) eventID(stream string, n int64) ([16]byte, bool) {
	pos, ok := r.findEvent(stream, streamHash(stream), n)
	if !ok {
		return [16]byte{}, false
	}
	r.reset()
	if _, ok := r.readIndexed(pos, n); !ok {
		return [16]byte{}, false
	}
	return r.pr.EventID, true
}

// loadMetadata reads and parses the metadata of stream.
func (r *Reader) loadMetadata(stream string) metaEntry {
	last, raw, isJSON := r.lastEventData(MetastreamOf(stream))
	e := metaEntry{version: last}
	if last == EventNumberDeletedStream {
		e.version = -1
	}
	e.meta, e.has = ParseMetadata(raw, isJSON)
	if !e.has {
		e.meta = StreamMetadata{TruncateBefore: -1}
	}
	return e
}

// streamInfo gathers what every stream read needs.
type streamInfo struct {
	last        int64
	hardDeleted bool
	softDeleted bool
	meta        StreamMetadata
	min         int64 // visibility floor
}

func (r *Reader) info(stream string) streamInfo {
	var si streamInfo
	si.last = r.lastEventNumber(stream)
	if base, meta := baseStream(stream); meta {
		// A metastream of a hard-deleted stream reads as deleted too
		// (spec §4.8).
		if r.lastEventNumber(base) == EventNumberDeletedStream {
			si.hardDeleted = true
		}
	}
	if si.last == EventNumberDeletedStream {
		si.hardDeleted = true
	}
	si.meta, _, _ = r.db.StreamMetadata(stream)
	si.softDeleted = si.meta.isSoftDeleted()
	si.min = 0
	if si.meta.MaxCount > 0 && si.last-si.meta.MaxCount+1 > si.min {
		si.min = si.last - si.meta.MaxCount + 1
	}
	if si.meta.TruncateBefore > si.min {
		si.min = si.meta.TruncateBefore
	}
	return si
}

// tooOld reports whether an event created at created is hidden by $maxAge.
func (r *Reader) tooOld(si *streamInfo, created int64) bool {
	// Ages beyond ~292 years (the int64 nanosecond range) hide nothing.
	if si.meta.MaxAgeSeconds <= 0 || si.meta.MaxAgeSeconds > math.MaxInt64/int64(time.Second) {
		return false
	}
	return created < r.db.clock.Now().UnixNano()-si.meta.MaxAgeSeconds*int64(time.Second)
}

// ReadEvent reads one event (number -1: the last one). Spec §4.10, and the
// metastream special case of §4.9.
func (r *Reader) ReadEvent(stream string, number int64, resolveLinks bool) (ReadStatus, *ResolvedEvent) {
	r.reset()
	si := r.info(stream)
	if si.hardDeleted {
		return ReadStreamDeleted, nil
	}
	if si.last < 0 || si.softDeleted {
		if si.last < 0 {
			if base, meta := baseStream(stream); meta && r.lastEventNumber(base) >= 0 {
				// The original stream exists: Success with no event.
				r.events = append(r.events, ResolvedEvent{})
				return ReadSuccess, &r.events[0]
			}
		}
		return ReadNoStream, nil
	}
	if number == -1 {
		number = si.last
	}
	if number < si.min || number > si.last {
		return ReadNotFound, nil
	}
	pos, ok := r.findEvent(stream, streamHash(stream), number)
	if !ok {
		return ReadNotFound, nil
	}
	epos, ok := r.readIndexed(pos, number)
	if !ok {
		return ReadNotFound, nil
	}
	if r.tooOld(&si, r.pr.CreatedUnixNano) {
		return ReadNotFound, nil
	}
	r.events = append(r.events, ResolvedEvent{})
	ev := &r.events[0]
	r.fillResolved(ev, number, epos, resolveLinks)
	return ReadSuccess, ev
}

// fillResolved fills ev from r.pr and resolves a link if asked (spec §4.11).
func (r *Reader) fillResolved(ev *ResolvedEvent, number int64, pos Position, resolveLinks bool) {
	ev.Pos = pos
	if !resolveLinks || !bytes.Equal(r.pr.Type, []byte(eventTypeLink)) {
		r.fillEvent(&ev.Event, number, pos)
		ev.HasEvent = true
		return
	}
	r.fillEvent(&ev.Link, number, pos)
	ev.HasLink = true
	data := ev.Link.Data
	at := bytes.IndexByte(data, '@')
	if at <= 0 {
		return
	}
	n, err := strconv.ParseInt(string(data[:at]), 10, 64)
	if err != nil || n < 0 {
		return
	}
	target := bytesToString(data[at+1:])
	si := r.info(target)
	if si.hardDeleted || si.softDeleted || si.last < 0 || n < si.min || n > si.last {
		return
	}
	tpos, ok := r.findEvent(target, streamHash(target), n)
	if !ok {
		return
	}
	tepos, ok := r.readIndexed(tpos, n)
	if !ok || r.tooOld(&si, r.pr.CreatedUnixNano) {
		return
	}
	r.fillEvent(&ev.Event, n, tepos)
	ev.HasEvent = true
}

func (r *Reader) streamError(text string) *StreamSlice {
	r.stream = StreamSlice{Status: ReadError, Error: text, NextEventNumber: -1, LastEventNumber: -1, IsEndOfStream: true,
		LastCommitPosition: r.db.lastCommit.Load()}
	return &r.stream
}

// ReadStreamForward reads up to max events of stream from number from
// upwards (spec §4.10 table "ReadStreamEventsForward").
func (r *Reader) ReadStreamForward(stream string, from int64, max int, resolveLinks bool) *StreamSlice {
	r.reset()
	if max > MaxReadCount {
		return r.streamError(errTextReadTooBig)
	}
	if max <= 0 {
		return r.streamError(errTextBadCount)
	}
	if from < 0 {
		return r.streamError(errTextBadFrom)
	}
	s := &r.stream
	*s = StreamSlice{LastCommitPosition: r.db.lastCommit.Load(), NextEventNumber: -1, IsEndOfStream: true}
	si := r.info(stream)
	if si.hardDeleted {
		s.Status = ReadStreamDeleted
		s.LastEventNumber = EventNumberDeletedStream
		return s
	}
	s.LastEventNumber = si.last
	if si.last < 0 || si.softDeleted {
		s.Status = ReadNoStream
		return s
	}
	s.Status = ReadSuccess
	to := addClamp(from, int64(max)-1)
	if to < si.min {
		s.NextEventNumber = si.min
		s.IsEndOfStream = false
		return s
	}
	lo := from
	if si.min > lo {
		lo = si.min
	}
	lastReturned := int64(-1)
	hash := streamHash(stream)
	r.collect(stream, hash, lo, to, true, &si, resolveLinks, &lastReturned)
	s.Events = r.events
	if lastReturned >= 0 {
		s.NextEventNumber = lastReturned + 1
	} else {
		s.NextEventNumber = min(addClamp(from, int64(max)), si.last+1)
	}
	s.IsEndOfStream = to >= si.last
	return s
}

// collect appends the visible events numbered lo..to of stream to r.events.
func (r *Reader) collect(stream string, hash uint64, lo, to int64, forward bool, si *streamInfo, resolveLinks bool, edge *int64) {
	r.ents = r.ents[:0]
	r.db.ix.Range(hash, lo, to, forward, r.rangeFn)
	prev := int64(-1)
	for _, e := range r.ents {
		if e.Number == prev {
			continue // a colliding stream's entry for the same number was already confirmed
		}
		mark := len(r.arena)
		epos, ok := r.readIndexed(e.Pos, e.Number)
		if !ok {
			continue
		}
		if string(r.pr.Stream) != stream {
			r.arena = r.arena[:mark]
			continue
		}
		if r.tooOld(si, r.pr.CreatedUnixNano) {
			r.arena = r.arena[:mark]
			continue
		}
		prev = e.Number
		r.events = append(r.events, ResolvedEvent{})
		r.fillResolved(&r.events[len(r.events)-1], e.Number, epos, resolveLinks)
		*edge = e.Number
	}
}

// ReadStreamBackward reads up to max events of stream from number from
// downwards, from = -1 meaning the last event (spec §4.10).
func (r *Reader) ReadStreamBackward(stream string, from int64, max int, resolveLinks bool) *StreamSlice {
	r.reset()
	if max > MaxReadCount {
		return r.streamError(errTextReadTooBig)
	}
	if max <= 0 {
		return r.streamError(errTextBadCount)
	}
	s := &r.stream
	*s = StreamSlice{LastCommitPosition: r.db.lastCommit.Load(), NextEventNumber: -1, IsEndOfStream: true}
	si := r.info(stream)
	if si.hardDeleted {
		s.Status = ReadStreamDeleted
		s.LastEventNumber = EventNumberDeletedStream
		return s
	}
	s.LastEventNumber = si.last
	if si.last < 0 || si.softDeleted {
		s.Status = ReadNoStream
		return s
	}
	s.Status = ReadSuccess
	end := from
	if from < 0 {
		end = si.last
	}
	if end < si.min {
		return s
	}
	start := end - int64(max) + 1
	if start < 0 {
		start = 0
	}
	eos := false
	if start <= si.min {
		start = si.min
		eos = true
	}
	lowest := int64(-1)
	r.collect(stream, streamHash(stream), start, end, false, &si, resolveLinks, &lowest)
	s.Events = r.events
	// Matches ReadStreamEventsBackward in 4.0.3's IndexReader.
	eos = eos || start == 0 || (start <= si.last && (len(r.events) == 0 || lowest != start))
	s.IsEndOfStream = eos
	if eos {
		s.NextEventNumber = -1
	} else {
		s.NextEventNumber = min(start-1, si.last)
	}
	return s
}

func addClamp(a, b int64) int64 {
	if s := a + b; s >= a {
		return s
	}
	return 1<<63 - 1
}
