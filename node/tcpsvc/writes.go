package tcpsvc

import (
	"errors"
	"strings"
	"sync"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/node/auth"
	"github.com/eventstored/eventstored/reactor"
	"github.com/eventstored/eventstored/store"
)

// eventNumberInvalid is what the original puts in first/last event number
// (and prepare position) of a failed write: int.MinValue (spec §3.3).
const eventNumberInvalid int64 = -2147483648

// resultMessage is the human-readable text of each OperationResult, as the
// original's WriteEventsCompleted messages (spec §3.3).
func resultMessage(r codec.OperationResult) string {
	switch r {
	case codec.OperationPrepareTimeout:
		return "Prepare phase timeout."
	case codec.OperationCommitTimeout:
		return "Commit phase timeout."
	case codec.OperationForwardTimeout:
		return "Forward timeout."
	case codec.OperationWrongExpectedVersion:
		return "Wrong expected version."
	case codec.OperationStreamDeleted:
		return "Stream is deleted."
	case codec.OperationInvalidTransaction:
		return "Invalid transaction."
	case codec.OperationAccessDenied:
		return "Access denied."
	}
	return ""
}

// execWrite checks access, builds the store op and submits it. It runs on
// an event loop (onLoop) or a worker (after a slow authentication) and
// never blocks an event loop: see checkAndSubmit. The request is released
// here on failure, else in onDone.
func (s *Service) execWrite(r *request, onLoop bool) {
	if !s.admit(r) {
		r.release()
		return
	}
	op := &r.op
	var stream string
	action := auth.ActionWrite
	switch r.cmd {
	case codec.WriteEventsCommand:
		stream = r.we.EventStreamID
		op.Kind, op.ExpectedVersion = store.OpWrite, r.we.ExpectedVersion
		if !r.fillEvents(r.we.Events) {
			return
		}
	case codec.DeleteStreamCommand:
		stream = r.ds.EventStreamID
		action = auth.ActionDelete
		op.Kind, op.ExpectedVersion, op.HardDelete = store.OpDelete, r.ds.ExpectedVersion, r.ds.HardDelete
	case codec.TransactionStartCommand:
		stream = r.ts.EventStreamID
		op.Kind, op.ExpectedVersion = store.OpTransactionStart, r.ts.ExpectedVersion
	case codec.TransactionWriteCommand, codec.TransactionCommitCommand:
		id := r.tw.TransactionID
		op.Kind = store.OpTransactionWrite
		if r.cmd == codec.TransactionCommitCommand {
			id = r.tc.TransactionID
			op.Kind = store.OpTransactionCommit
		} else if !r.fillEvents(r.tw.Events) {
			return
		}
		op.TransactionID = id
		var ok bool
		stream, ok = s.txs.lookup(id)
		if !ok {
			// The original cannot find the stream of an unknown
			// transaction; InvalidTransaction is the documented meaning
			// (spec §4.7, implementation choice).
			s.replyWrite(r, codec.OperationInvalidTransaction, nil, false)
			r.release()
			return
		}
		r.txStream = stream
	default:
		panic("BUG: tcpsvc: execWrite of " + r.cmd.String())
	}
	op.Stream = stream
	if stream == "" {
		r.sess.sendBadRequest(&r.corr, "Empty stream id.")
		r.release()
		return
	}
	r.action = action
	s.checkAndSubmit(r, onLoop)
}

// checkAndSubmit runs the access check of r's built op and submits it.
// Order of checks (spec §4.4): access first; deleted and expected version
// are the store's.
//
// A non-admin's check needs the stream's metadata, which the store caches
// but reads from the index and log on a miss. On an event loop that read
// would stall every connection of the loop, so there the check is
// cache-only and a miss hands r to a worker (r.aclPending), which repeats
// the check with the read and submits from there; the queue's limit
// applies (NotHandled TooBusy when full), as for reads.
func (s *Service) checkAndSubmit(r *request, onLoop bool) {
	op := &r.op
	var allowed bool
	if onLoop {
		var decided bool
		allowed, decided = s.auth.CheckStreamAccessCached(r.principal, op.Stream, r.action)
		if !decided {
			s.count.aclMisses.Add(1)
			r.aclPending = true
			s.enqueue(r)
			return
		}
	} else {
		allowed = s.auth.CheckStreamAccess(r.principal, op.Stream, r.action)
	}
	if !allowed {
		s.replyWrite(r, codec.OperationAccessDenied, nil, false)
		r.release()
		return
	}
	if err := s.db.Submit(op); err != nil {
		s.replySubmitError(r, err)
		r.release()
	}
}

// fillEvents converts the decoded events into store events that alias the
// request's buffer. It answers BadRequest and releases r on a malformed id.
func (r *request) fillEvents(evs []codec.NewEvent) bool {
	if cap(r.events) < len(evs) {
		r.events = make([]store.NewEvent, len(evs))
	}
	r.events = r.events[:len(evs)]
	for i := range evs {
		e := &evs[i]
		if len(e.EventID) != 16 {
			r.sess.sendBadRequest(&r.corr, "Event id must be 16 bytes.")
			r.release()
			return false
		}
		d := &r.events[i]
		copy(d.ID[:], e.EventID)
		d.Type, d.IsJSON, d.Data, d.Metadata = e.EventType, e.DataContentType == 1, e.Data, e.Metadata
	}
	r.op.Events = r.events
	return true
}

// replySubmitError maps a refused Submit: validation → BadRequest with the
// store's reason, a full queue → NotHandled TooBusy, a closed or failed
// store → NotHandled NotReady (clients retry, and the node is going down).
// A write whose outcome is unknown (handed to consensus, then leadership
// was lost: store.ErrCommitUnknown) is answered CommitTimeout, as Event
// Store answers a commit that did not complete in time (clients retry,
// idempotent by event id); NotReady would tell the client it was not done.
func (s *Service) replySubmitError(r *request, err error) {
	switch {
	case errors.Is(err, store.ErrCommitUnknown):
		s.replyWrite(r, codec.OperationCommitTimeout, nil, true)
	case errors.Is(err, store.ErrBadRequest):
		r.sess.sendBadRequest(&r.corr, strings.TrimPrefix(err.Error(), store.ErrBadRequest.Error()+": "))
	case errors.Is(err, store.ErrTooBusy):
		s.count.tooBusy.Add(1)
		r.sess.sendNotHandled(&r.corr, codec.NotHandledTooBusy)
	default:
		r.sess.sendNotHandled(&r.corr, codec.NotHandledNotReady)
	}
}

// onDone runs on the writer goroutine once the op has a result. It must
// not block: it encodes the reply into a pooled buffer and sends it.
func (r *request) onDone(op *store.Op) {
	s := r.s
	res := &op.Result
	if res.Err != nil {
		if !errors.Is(res.Err, store.ErrBadRequest) {
			s.failLog.log(s.log, op.Stream, res.Err)
		}
		s.replySubmitError(r, res.Err)
		r.release()
		return
	}
	status := codec.OperationResult(res.Status)
	if status == codec.OperationSuccess {
		switch r.cmd {
		case codec.TransactionStartCommand:
			s.txs.add(res.TransactionID, op.Stream)
		case codec.TransactionCommitCommand:
			s.txs.remove(op.TransactionID)
		}
		if len(op.Stream) > 0 && op.Stream[0] == '$' {
			// Users and $settings are cached by auth.
			s.auth.NoteStreamWritten(op.Stream)
		}
	}
	s.replyWrite(r, status, res, true)
	r.release()
}

// replyWrite sends the Completed message of a write-type command. res is
// nil when the request failed before reaching the store. fromDone: called
// from the op's Done, where the reply joins the group commit's batch of
// replies (sent by the store's OnOpsDone callback).
func (s *Service) replyWrite(r *request, status codec.OperationResult, res *store.OpResult, fromDone bool) {
	if r.sess.closed.Load() {
		return
	}
	ok := status == codec.OperationSuccess && res != nil
	msg := resultMessage(status)
	b := smallBufPool.Get().(*[]byte)
	buf := (*b)[:0]
	var start int
	// NB: the encoders are called directly rather than through the generic
	// codec.AppendMessageFrame, whose func-value call makes m escape (one
	// allocation per reply, measured by TestWriteEventsPathAllocatesNothing).
	switch r.cmd {
	case codec.WriteEventsCommand:
		m := codec.WriteEventsCompleted{Result: status, Message: msg, FirstEventNumber: eventNumberInvalid,
			LastEventNumber: eventNumberInvalid, PreparePosition: eventNumberInvalid}
		if ok {
			m.FirstEventNumber, m.LastEventNumber = res.FirstEventNumber, res.LastEventNumber
			m.PreparePosition, m.CommitPosition = res.Pos.Prepare, res.Pos.Commit
		} else if res != nil && status == codec.OperationWrongExpectedVersion {
			m.CurrentVersion = res.CurrentVersion
		}
		buf, start = codec.AppendFrameStart(buf, codec.WriteEventsCompletedCommand, codec.FlagNone, &r.corr)
		buf = codec.AppendWriteEventsCompleted(buf, &m)
	case codec.DeleteStreamCommand:
		m := codec.DeleteStreamCompleted{Result: status, Message: msg, PreparePosition: -1, CommitPosition: -1}
		if ok {
			m.PreparePosition, m.CommitPosition = res.Pos.Prepare, res.Pos.Commit
		}
		buf, start = codec.AppendFrameStart(buf, codec.DeleteStreamCompletedCommand, codec.FlagNone, &r.corr)
		buf = codec.AppendDeleteStreamCompleted(buf, &m)
	case codec.TransactionStartCommand:
		m := codec.TransactionStartCompleted{TransactionID: -1, Result: status, Message: msg}
		if ok {
			m.TransactionID = res.TransactionID
		}
		buf, start = codec.AppendFrameStart(buf, codec.TransactionStartCompletedCommand, codec.FlagNone, &r.corr)
		buf = codec.AppendTransactionStartCompleted(buf, &m)
	case codec.TransactionWriteCommand:
		m := codec.TransactionWriteCompleted{TransactionID: r.tw.TransactionID, Result: status, Message: msg}
		buf, start = codec.AppendFrameStart(buf, codec.TransactionWriteCompletedCommand, codec.FlagNone, &r.corr)
		buf = codec.AppendTransactionWriteCompleted(buf, &m)
	case codec.TransactionCommitCommand:
		m := codec.TransactionCommitCompleted{TransactionID: r.tc.TransactionID, Result: status, Message: msg,
			FirstEventNumber: eventNumberInvalid, LastEventNumber: eventNumberInvalid, PreparePosition: -1, CommitPosition: -1}
		if ok {
			m.FirstEventNumber, m.LastEventNumber = res.FirstEventNumber, res.LastEventNumber
			m.PreparePosition, m.CommitPosition = res.Pos.Prepare, res.Pos.Commit
		}
		buf, start = codec.AppendFrameStart(buf, codec.TransactionCommitCompletedCommand, codec.FlagNone, &r.corr)
		buf = codec.AppendTransactionCommitCompleted(buf, &m)
	}
	if err := codec.FinishFrame(buf, start); err != nil {
		panic("BUG: tcpsvc: write reply over the frame limit: " + err.Error())
	}
	if rc, ok := r.sess.conn.(*reactor.Conn); ok && fromDone && s.batchReplies {
		_ = s.replies.Send(rc, buf)
	} else {
		_ = r.sess.conn.Send(buf)
	}
	*b = buf
	if cap(buf) <= replyBufferKeepBytesMax {
		smallBufPool.Put(b)
	}
}

// txTable maps open transaction ids to their streams, for the access
// checks of TransactionWrite and TransactionCommit (which carry only the
// id). It holds at most max entries; when full the oldest is forgotten and
// its later write or commit gets InvalidTransaction. Transactions survive
// their connection (spec §4.1), so the table is service-wide.
type txTable struct {
	mu    sync.Mutex
	max   int
	m     map[int64]string
	order []int64 // ring of ids in insertion order
	head  int
}

func (t *txTable) init(max int) {
	t.max = max
	t.m = make(map[int64]string)
	t.order = make([]int64, 0, min(max, 1024))
}

func (t *txTable) add(id int64, stream string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	stream = strings.Clone(stream) // the op's stream aliases a pooled buffer
	if len(t.order) < t.max {
		t.order = append(t.order, id)
	} else {
		// Overwrite the oldest slot; ids already removed are skipped.
		delete(t.m, t.order[t.head])
		t.order[t.head] = id
		t.head = (t.head + 1) % t.max
	}
	t.m[id] = stream
}

func (t *txTable) lookup(id int64) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.m[id]
	return s, ok
}

func (t *txTable) remove(id int64) {
	t.mu.Lock()
	delete(t.m, id)
	t.mu.Unlock()
}

func (t *txTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
