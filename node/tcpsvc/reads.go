package tcpsvc

import (
	"math"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/node/auth"
	"github.com/eventstored/eventstored/node/records"
	"github.com/eventstored/eventstored/store"
)

const (
	// errReadSizeTooBig is the original's text for max_count > 4096
	// (spec §4.10).
	errReadSizeTooBig = "Read size too big, should be less than 4096 items"
	errReplyTooLarge  = "Read result does not fit in one 64 MiB frame; read fewer events"
)

// replyFrameBytesMax is the largest reply package a read may produce: the
// protocol's frame limit (clients refuse bigger frames). A variable only so
// that the limit's test need not write 64 MiB.
var replyFrameBytesMax = codec.FrameLengthMax

// scratch holds a worker's reusable reply messages, so encoding a read
// reply allocates nothing once the slices have grown.
type scratch struct {
	rs codec.ReadStreamEventsCompleted
	ra codec.ReadAllEventsCompleted
	re codec.ReadEventCompleted
}

// fillRecord makes dst a view of src (no copies), exactly as live pushes
// do. REQUIRES: src stays unchanged until dst is encoded.
func fillRecord(dst *codec.EventRecord, src *store.EventRecord) {
	records.FillEventRecord(dst, src)
}

func fillIndexed(dst *codec.ResolvedIndexedEvent, src *store.ResolvedEvent) {
	dst.HasEvent, dst.HasLink = src.HasEvent, src.HasLink
	if src.HasEvent {
		fillRecord(&dst.Event, &src.Event)
	}
	if src.HasLink {
		fillRecord(&dst.Link, &src.Link)
	}
}

// linksAllowed applies the link rule of spec §4.3: when links were
// resolved, the caller needs read access on every target stream.
func (s *Service) linksAllowed(p *auth.Principal, evs []store.ResolvedEvent) bool {
	for i := range evs {
		if !s.linkAllowed(p, &evs[i]) {
			return false
		}
	}
	return true
}

func (s *Service) linkAllowed(p *auth.Principal, e *store.ResolvedEvent) bool {
	return !e.HasLink || !e.HasEvent || s.auth.CheckStreamAccess(p, e.Event.Stream, auth.ActionRead)
}

// execRead runs a read-type request on worker w and sends the reply.
func (w *worker) execRead(r *request) {
	if !w.s.admit(r) {
		return
	}
	switch r.cmd {
	case codec.ReadEventCommand:
		w.readEvent(r)
	case codec.ReadStreamEventsForwardCommand, codec.ReadStreamEventsBackwardCommand:
		w.readStream(r)
	case codec.ReadAllEventsForwardCommand, codec.ReadAllEventsBackwardCommand:
		w.readAll(r)
	case codec.ScavengeDatabaseCommand:
		w.scavenge(r)
	case codec.SubscribeToStreamCommand:
		w.subscribe(r)
	case codec.CreatePersistentSubscriptionCommand, codec.UpdatePersistentSubscriptionCommand:
		w.createOrUpdatePersistent(r)
	case codec.DeletePersistentSubscriptionCommand:
		w.deletePersistent(r)
	case codec.ConnectToPersistentSubscriptionCommand:
		w.connectPersistent(r)
	default:
		panic("BUG: tcpsvc: execRead of " + r.cmd.String())
	}
}

// send finishes the frame started at offset 0 of w.buf and sends it.
// It reports false if the frame is over the 64 MiB limit (nothing sent).
func (w *worker) send(r *request) bool {
	if len(w.buf)-codec.LengthPrefixSize > replyFrameBytesMax {
		return false
	}
	if err := codec.FinishFrame(w.buf, 0); err != nil {
		return false
	}
	if !r.sess.closed.Load() {
		r.sess.sendFromWorker(w.buf)
	}
	return true
}

func (w *worker) readEvent(r *request) {
	m := &w.sc.re
	*m = codec.ReadEventCompleted{}
	q := &r.re
	if q.EventStreamID == "" {
		r.sess.sendBadRequest(&r.corr, "Empty stream id.")
		return
	}
	if q.EventNumber < -1 {
		r.sess.sendBadRequest(&r.corr, "Event number must be >= -1.")
		return
	}
	if !w.s.auth.CheckStreamAccess(r.principal, q.EventStreamID, auth.ActionRead) {
		m.Result = codec.ReadEventAccessDenied
	} else {
		st, ev := w.rd.ReadEvent(q.EventStreamID, q.EventNumber, q.ResolveLinkTos)
		m.Result = readEventResult(st)
		if st == store.ReadSuccess && ev != nil {
			if q.ResolveLinkTos && !w.s.linkAllowed(r.principal, ev) {
				m.Result = codec.ReadEventAccessDenied
			} else {
				fillIndexed(&m.Event, ev)
			}
		}
	}
	w.buf, _ = codec.AppendFrameStart(w.buf[:0], codec.ReadEventCompletedCommand, codec.FlagNone, &r.corr)
	w.buf = codec.AppendReadEventCompleted(w.buf, m)
	if !w.send(r) {
		*m = codec.ReadEventCompleted{Result: codec.ReadEventError, Error: errReplyTooLarge}
		w.buf, _ = codec.AppendFrameStart(w.buf[:0], codec.ReadEventCompletedCommand, codec.FlagNone, &r.corr)
		w.buf = codec.AppendReadEventCompleted(w.buf, m)
		w.send(r)
	}
}

func readEventResult(st store.ReadStatus) codec.ReadEventResult {
	switch st {
	case store.ReadSuccess:
		return codec.ReadEventSuccess
	case store.ReadNotFound:
		return codec.ReadEventNotFound
	case store.ReadNoStream:
		return codec.ReadEventNoStream
	case store.ReadStreamDeleted:
		return codec.ReadEventStreamDeleted
	case store.ReadAccessDenied:
		return codec.ReadEventAccessDenied
	}
	return codec.ReadEventError
}

func readStreamResult(st store.ReadStatus) codec.ReadStreamResult {
	switch st {
	case store.ReadSuccess:
		return codec.ReadStreamSuccess
	case store.ReadNoStream, store.ReadNotFound:
		return codec.ReadStreamNoStream
	case store.ReadStreamDeleted:
		return codec.ReadStreamStreamDeleted
	case store.ReadAccessDenied:
		return codec.ReadStreamAccessDenied
	}
	return codec.ReadStreamError
}

func (w *worker) readStream(r *request) {
	q := &r.rs
	if q.EventStreamID == "" {
		r.sess.sendBadRequest(&r.corr, "Empty stream id.")
		return
	}
	forward := r.cmd == codec.ReadStreamEventsForwardCommand
	replyCmd := codec.ReadStreamEventsBackwardCompletedCommand
	if forward {
		replyCmd = codec.ReadStreamEventsForwardCompletedCommand
	}
	m := &w.sc.rs
	w.encodeStreamSlice(r, m, q, forward)
	w.buf, _ = codec.AppendFrameStart(w.buf[:0], replyCmd, codec.FlagNone, &r.corr)
	w.buf = codec.AppendReadStreamEventsCompleted(w.buf, m)
	if !w.send(r) {
		*m = codec.ReadStreamEventsCompleted{Events: m.Events[:0], Result: codec.ReadStreamError, NextEventNumber: -1,
			LastEventNumber: -1, IsEndOfStream: true, LastCommitPosition: w.s.db.LastCommitPosition(), Error: errReplyTooLarge}
		w.buf, _ = codec.AppendFrameStart(w.buf[:0], replyCmd, codec.FlagNone, &r.corr)
		w.buf = codec.AppendReadStreamEventsCompleted(w.buf, m)
		w.send(r)
	}
}

// encodeStreamSlice runs the stream read of r and fills m. Split out so
// the allocation test can drive it without a connection.
func (w *worker) encodeStreamSlice(r *request, m *codec.ReadStreamEventsCompleted, q *codec.ReadStreamEvents, forward bool) {
	events := m.Events[:0]
	*m = codec.ReadStreamEventsCompleted{Events: events, NextEventNumber: -1, LastEventNumber: -1, IsEndOfStream: true,
		LastCommitPosition: w.s.db.LastCommitPosition()}
	switch {
	case q.MaxCount > store.MaxReadCount:
		m.Result, m.Error = codec.ReadStreamError, errReadSizeTooBig
		return
	case q.MaxCount <= 0:
		m.Result, m.Error = codec.ReadStreamError, "Max count must be positive."
		return
	case !w.s.auth.CheckStreamAccess(r.principal, q.EventStreamID, auth.ActionRead):
		m.Result = codec.ReadStreamAccessDenied
		return
	}
	var sl *store.StreamSlice
	if forward {
		sl = w.rd.ReadStreamForward(q.EventStreamID, q.FromEventNumber, int(q.MaxCount), q.ResolveLinkTos)
	} else {
		sl = w.rd.ReadStreamBackward(q.EventStreamID, q.FromEventNumber, int(q.MaxCount), q.ResolveLinkTos)
	}
	if q.ResolveLinkTos && !w.s.linksAllowed(r.principal, sl.Events) {
		m.Result = codec.ReadStreamAccessDenied
		return
	}
	fillStreamReply(m, sl)
	if r.v1 {
		m.LastEventNumber = v1EventNumber(m.LastEventNumber)
	}
}

// v1EventNumber converts an event number for a client that identified
// with protocol version 0 (spec §4.14, StreamVersionConverter in the
// original): the hard-delete number becomes int32 max, others are
// truncated to 32 bits.
func v1EventNumber(n int64) int64 {
	if n == store.EventNumberDeletedStream {
		return math.MaxInt32
	}
	return int64(int32(n))
}

// fillStreamReply makes m the reply for sl, reusing m.Events. Events are
// views into sl. It allocates nothing once m.Events has grown.
func fillStreamReply(m *codec.ReadStreamEventsCompleted, sl *store.StreamSlice) {
	events := m.Events[:0]
	m.Result = readStreamResult(sl.Status)
	m.NextEventNumber, m.LastEventNumber, m.IsEndOfStream = sl.NextEventNumber, sl.LastEventNumber, sl.IsEndOfStream
	m.Error = sl.Error
	if sl.LastCommitPosition != 0 {
		m.LastCommitPosition = sl.LastCommitPosition
	}
	if cap(events) < len(sl.Events) {
		events = make([]codec.ResolvedIndexedEvent, len(sl.Events))
	}
	events = events[:len(sl.Events)]
	for i := range sl.Events {
		fillIndexed(&events[i], &sl.Events[i])
	}
	m.Events = events
}

func (w *worker) readAll(r *request) {
	q := &r.ra
	forward := r.cmd == codec.ReadAllEventsForwardCommand
	replyCmd := codec.ReadAllEventsBackwardCompletedCommand
	if forward {
		replyCmd = codec.ReadAllEventsForwardCompletedCommand
	}
	m := &w.sc.ra
	events := m.Events[:0]
	*m = codec.ReadAllEventsCompleted{Events: events, CommitPosition: q.CommitPosition, PreparePosition: q.PreparePosition,
		NextCommitPosition: -1, NextPreparePosition: -1}
	switch {
	case q.MaxCount > store.MaxReadCount:
		m.Result, m.Error = codec.ReadAllError, errReadSizeTooBig
	case !w.s.auth.CheckStreamAccess(r.principal, auth.StreamAll, auth.ActionRead):
		m.Result = codec.ReadAllAccessDenied
	default:
		from := store.Position{Commit: q.CommitPosition, Prepare: q.PreparePosition}
		max := int(q.MaxCount)
		if max < 0 {
			max = 0 // spec §4.10: $all reads with max_count <= 0 return no events
		}
		var sl *store.AllSlice
		if forward {
			sl = w.rd.ReadAllForward(from, max, q.ResolveLinkTos)
		} else {
			sl = w.rd.ReadAllBackward(from, max, q.ResolveLinkTos)
		}
		if q.ResolveLinkTos && !w.s.linksAllowed(r.principal, sl.Events) {
			m.Result = codec.ReadAllAccessDenied
			break
		}
		switch sl.Status {
		case store.ReadSuccess:
			m.Result = codec.ReadAllSuccess
		case store.ReadAccessDenied:
			m.Result = codec.ReadAllAccessDenied
		default:
			m.Result = codec.ReadAllError
		}
		m.Error = sl.Error
		m.CommitPosition, m.PreparePosition = sl.Pos.Commit, sl.Pos.Prepare
		m.NextCommitPosition, m.NextPreparePosition = sl.Next.Commit, sl.Next.Prepare
		if cap(events) < len(sl.Events) {
			events = make([]codec.ResolvedEvent, len(sl.Events))
		}
		events = events[:len(sl.Events)]
		for i := range sl.Events {
			src, dst := &sl.Events[i], &events[i]
			dst.HasEvent, dst.HasLink = src.HasEvent, src.HasLink
			if src.HasEvent {
				fillRecord(&dst.Event, &src.Event)
			}
			if src.HasLink {
				fillRecord(&dst.Link, &src.Link)
			}
			dst.CommitPosition, dst.PreparePosition = src.Pos.Commit, src.Pos.Prepare
			if r.v1 {
				dst.Event.EventNumber = v1EventNumber(dst.Event.EventNumber)
				dst.Link.EventNumber = v1EventNumber(dst.Link.EventNumber)
			}
		}
		m.Events = events
	}
	w.buf, _ = codec.AppendFrameStart(w.buf[:0], replyCmd, codec.FlagNone, &r.corr)
	w.buf = codec.AppendReadAllEventsCompleted(w.buf, m)
	if !w.send(r) {
		*m = codec.ReadAllEventsCompleted{Events: m.Events[:0], CommitPosition: q.CommitPosition, PreparePosition: q.PreparePosition,
			NextCommitPosition: -1, NextPreparePosition: -1, Result: codec.ReadAllError, Error: errReplyTooLarge}
		w.buf, _ = codec.AppendFrameStart(w.buf[:0], replyCmd, codec.FlagNone, &r.corr)
		w.buf = codec.AppendReadAllEventsCompleted(w.buf, m)
		w.send(r)
	}
}

// scavenge answers with the 4.x ScavengeDatabaseCompleted (spec §4.16):
// scavenging itself is on the roadmap, not implemented.
func (w *worker) scavenge(r *request) {
	m := codec.ScavengeDatabaseCompleted{Result: codec.ScavengeCompletedFailed,
		Error: "Scavenging is not supported by this server yet."}
	if !r.principal.IsAdminOrOps() {
		m.Error = "Access denied."
	}
	w.buf = codec.AppendMessageFrame(w.buf[:0], codec.ScavengeDatabaseCompletedCommand, &r.corr, &m, codec.AppendScavengeDatabaseCompleted)
	if !r.sess.closed.Load() {
		_ = r.sess.conn.Send(w.buf)
	}
}
