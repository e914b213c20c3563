package tcpsvc

import (
	"errors"
	"strings"
	"sync"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/node/auth"
	"github.com/eventstored/eventstored/node/records"
	"github.com/eventstored/eventstored/node/subscriptions"
)

// Persistent subscription commands (spec §3.6, §5). Management and
// connect run on a worker after authentication; their outcome is sent
// from the persistent service's goroutine. Acks and naks are decoded on
// the event loop and posted without blocking.

const errCreateDenied = "You do not have permissions to create streams"

func (w *worker) createOrUpdatePersistent(r *request) {
	update := r.cmd == codec.UpdatePersistentSubscriptionCommand
	sess, corr := r.sess, r.corr
	send := func(res int32, reason string) {
		if update {
			m := codec.UpdatePersistentSubscriptionCompleted{Result: codec.UpdatePersistentSubscriptionResult(res), Reason: reason}
			sess.sendMessage(codec.UpdatePersistentSubscriptionCompletedCommand, &corr, func(b []byte) []byte {
				return codec.AppendUpdatePersistentSubscriptionCompleted(b, &m)
			})
			return
		}
		m := codec.CreatePersistentSubscriptionCompleted{Result: codec.CreatePersistentSubscriptionResult(res), Reason: reason}
		sess.sendMessage(codec.CreatePersistentSubscriptionCompletedCommand, &corr, func(b []byte) []byte {
			return codec.AppendCreatePersistentSubscriptionCompleted(b, &m)
		})
	}
	// Result numbers coincide for create and update except AlreadyExists /
	// DoesNotExist, which are both 1.
	if !r.principal.IsAdminOrOps() {
		send(3, errCreateDenied)
		return
	}
	cfg := subscriptions.ConfigFromCreate(&r.cp)
	cfg.Stream, cfg.Group, cfg.Strategy = strings.Clone(cfg.Stream), strings.Clone(cfg.Group), strings.Clone(cfg.Strategy)
	reply := func(err error) {
		switch {
		case err == nil:
			send(0, "")
		case errors.Is(err, subscriptions.ErrGroupExists), errors.Is(err, subscriptions.ErrGroupNotFound):
			send(1, "")
		default:
			send(2, err.Error())
		}
	}
	if update {
		w.s.opts.Persistent.Update(cfg, reply)
	} else {
		w.s.opts.Persistent.Create(cfg, reply)
	}
}

func (w *worker) deletePersistent(r *request) {
	sess, corr := r.sess, r.corr
	send := func(res codec.DeletePersistentSubscriptionResult, reason string) {
		m := codec.DeletePersistentSubscriptionCompleted{Result: res, Reason: reason}
		sess.sendMessage(codec.DeletePersistentSubscriptionCompletedCommand, &corr, func(b []byte) []byte {
			return codec.AppendDeletePersistentSubscriptionCompleted(b, &m)
		})
	}
	if !r.principal.IsAdminOrOps() {
		send(codec.DeletePersistentSubscriptionAccessDenied, errCreateDenied)
		return
	}
	w.s.opts.Persistent.Delete(strings.Clone(r.dp.EventStreamID), strings.Clone(r.dp.SubscriptionGroupName), func(err error) {
		switch {
		case err == nil:
			send(codec.DeletePersistentSubscriptionSuccess, "")
		case errors.Is(err, subscriptions.ErrGroupNotFound):
			send(codec.DeletePersistentSubscriptionDoesNotExist, "")
		default:
			send(codec.DeletePersistentSubscriptionFail, err.Error())
		}
	})
}

func (w *worker) connectPersistent(r *request) {
	q := &r.cn
	if q.AllowedInFlightMessages < 0 {
		r.sess.sendBadRequest(&r.corr, "AllowedInFlightMessages must be non-negative.")
		return
	}
	c := &persistentConsumer{sess: r.sess, corr: r.corr, v1: r.v1}
	if !w.s.auth.CheckStreamAccess(r.principal, q.EventStreamID, auth.ActionRead) {
		c.Dropped(codec.DropAccessDenied)
		return
	}
	r.sess.subsMu.Lock()
	if r.sess.closed.Load() {
		r.sess.subsMu.Unlock()
		return
	}
	if r.sess.psubs == nil {
		r.sess.psubs = make(map[codec.GUID]*persistentConsumer)
	}
	r.sess.psubs[r.corr] = c
	r.sess.subsMu.Unlock()
	if !w.s.opts.Persistent.Connect(strings.Clone(q.EventStreamID), strings.Clone(q.SubscriptionID),
		int(q.AllowedInFlightMessages), c, c) {
		r.sess.subsMu.Lock()
		delete(r.sess.psubs, r.corr)
		r.sess.subsMu.Unlock()
		r.sess.sendNotHandled(&r.corr, codec.NotHandledTooBusy)
	}
}

// ackOrNak serves PersistentSubscriptionAckEvents / NakEvents on the event
// loop (no reply in the protocol; malformed ones are ignored like unknown
// ids).
func (ss *Session) ackOrNak(p *codec.Package) {
	ack := p.Command == codec.PersistentSubscriptionAckEventsCommand
	var ids [][]byte
	var id, reason string
	var action codec.NakAction
	if ack {
		var m codec.PersistentSubscriptionAckEvents
		if codec.DecodePersistentSubscriptionAckEvents(p.Payload, &m) != nil {
			return
		}
		ids, id = m.ProcessedEventIDs, m.SubscriptionID
	} else {
		var m codec.PersistentSubscriptionNakEvents
		if codec.DecodePersistentSubscriptionNakEvents(p.Payload, &m) != nil {
			return
		}
		ids, id, reason, action = m.ProcessedEventIDs, m.SubscriptionID, m.Message, m.Action
	}
	if len(ids) > maxAckIDs {
		ids = ids[:maxAckIDs]
	}
	out := make([][16]byte, 0, len(ids))
	for _, b := range ids {
		if len(b) == 16 {
			out = append(out, [16]byte(b))
		}
	}
	ss.subsMu.Lock()
	key := ss.psubs[p.CorrelationID]
	ss.subsMu.Unlock()
	if ack {
		ss.s.opts.Persistent.Ack(strings.Clone(id), key, out)
	} else {
		ss.s.opts.Persistent.Nak(strings.Clone(id), key, out, action, strings.Clone(reason))
	}
}

// maxAckIDs bounds the ids taken from one ack or nak (clients send at
// most 2000 per package).
const maxAckIDs = 10_000

// persistentConsumer is a TCP consumer of a group. Its methods run on the
// persistent service goroutine (and, for an access-denied drop, on a
// worker before it is registered).
type persistentConsumer struct {
	sess *Session
	corr codec.GUID
	// v1: the client identified with protocol version 0; event numbers in
	// the confirmation and the pushes are converted (spec §4.14).
	v1  bool
	mu  sync.Mutex // guards buf (only one goroutine uses it at a time, see above)
	buf []byte
}

func (c *persistentConsumer) send(cmd codec.Command, appendFn func([]byte) []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess.closed.Load() {
		return errSessionClosed
	}
	b, start := codec.AppendFrameStart(c.buf[:0], cmd, codec.FlagNone, &c.corr)
	b = appendFn(b)
	if err := codec.FinishFrame(b, start); err != nil {
		return err
	}
	err := c.sess.conn.Send(b)
	if cap(b) <= replyBufferKeepBytesMax {
		c.buf = b[:0]
	} else {
		c.buf = nil
	}
	return err
}

var errSessionClosed = errors.New("tcpsvc: session closed")

func (c *persistentConsumer) Confirmed(lastCommit int64, groupID string, lastEventNumber int64) {
	if c.v1 {
		lastEventNumber = records.V1EventNumber(lastEventNumber)
	}
	m := codec.PersistentSubscriptionConfirmation{LastCommitPosition: lastCommit, SubscriptionID: groupID,
		LastEventNumber: lastEventNumber, HasLastEventNumber: true}
	_ = c.send(codec.PersistentSubscriptionConfirmationCommand, func(b []byte) []byte {
		return codec.AppendPersistentSubscriptionConfirmation(b, &m)
	})
}

func (c *persistentConsumer) Deliver(msg *subscriptions.Message) error {
	var m codec.PersistentSubscriptionStreamEventAppeared
	fillIndexed(&m.Event, &msg.Event)
	if c.v1 {
		m.Event.Event.EventNumber = records.V1EventNumber(m.Event.Event.EventNumber)
		m.Event.Link.EventNumber = records.V1EventNumber(m.Event.Link.EventNumber)
	}
	m.RetryCount, m.HasRetryCount = int32(msg.RetryCount), true
	return c.send(codec.PersistentSubscriptionStreamEventAppearedCommand, func(b []byte) []byte {
		return codec.AppendPersistentSubscriptionStreamEventAppeared(b, &m)
	})
}

func (c *persistentConsumer) Dropped(reason codec.SubscriptionDropReason) {
	m := codec.SubscriptionDropped{Reason: reason}
	_ = c.send(codec.SubscriptionDroppedCommand, func(b []byte) []byte {
		return codec.AppendSubscriptionDropped(b, &m)
	})
}

// sendMessage sends a small reply built by appendFn (any goroutine).
func (ss *Session) sendMessage(cmd codec.Command, id *codec.GUID, appendFn func([]byte) []byte) {
	if ss.closed.Load() {
		return
	}
	b := smallBufPool.Get().(*[]byte)
	buf, start := codec.AppendFrameStart((*b)[:0], cmd, codec.FlagNone, id)
	buf = appendFn(buf)
	if codec.FinishFrame(buf, start) == nil {
		_ = ss.conn.Send(buf)
	}
	*b = buf
	if cap(buf) <= replyBufferKeepBytesMax {
		smallBufPool.Put(b)
	}
}
