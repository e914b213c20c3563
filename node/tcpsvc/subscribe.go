package tcpsvc

import (
	"errors"
	"strings"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/node/auth"
	"github.com/eventstored/eventstored/node/subscriptions"
)

// subscribe serves SubscribeToStream on a worker (spec §4.12): the read
// access check happens here, at subscribe time; the confirmation and every
// push come from the subscriptions service goroutine.
func (w *worker) subscribe(r *request) {
	q := &r.ss
	check := q.EventStreamID
	if check == "" {
		check = auth.StreamAll
	}
	if !w.s.auth.CheckStreamAccess(r.principal, check, auth.ActionRead) {
		m := codec.SubscriptionDropped{Reason: codec.DropAccessDenied}
		w.buf = codec.AppendMessageFrame(w.buf[:0], codec.SubscriptionDroppedCommand, &r.corr, &m, codec.AppendSubscriptionDropped)
		if !r.sess.closed.Load() {
			_ = r.sess.conn.Send(w.buf)
		}
		return
	}
	// The stream name aliases the request's buffer, which is pooled.
	sub, err := w.s.opts.Subscriptions.Subscribe(r.sess.conn, r.corr, strings.Clone(q.EventStreamID), q.ResolveLinkTos)
	switch {
	case errors.Is(err, subscriptions.ErrTooManySubscriptions):
		r.sess.sendNotHandled(&r.corr, codec.NotHandledTooBusy)
		return
	case err != nil: // stopping
		r.sess.sendNotHandled(&r.corr, codec.NotHandledNotReady)
		return
	}
	r.sess.addSub(r.corr, sub)
}
