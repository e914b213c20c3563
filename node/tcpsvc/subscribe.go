package tcpsvc

import (
	"errors"
	"fmt"
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
	sub, err := w.s.opts.Subscriptions.Subscribe(sessionConn{r.sess}, r.corr, strings.Clone(q.EventStreamID), q.ResolveLinkTos, r.v1)
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

// sessionConn sends through the session's connection and fails once the
// session is closed, so a push racing the connection's close (before the
// subscription reached the session's table) goes nowhere.
type sessionConn struct{ ss *Session }

// Send is called by the subscription service's goroutine (a
// confirmation, a drop, a push): the frame is written from there when the
// connection allows it (SendDirect), not through the event loop.
func (c sessionConn) Send(frame []byte) error {
	if c.ss.closed.Load() {
		return errSessionClosed
	}
	if d, ok := c.ss.conn.(directSender); ok {
		return d.SendDirect(frame)
	}
	return c.ss.conn.Send(frame)
}

// frameBatcher is the part of *reactor.Conn that appends several frames
// under one lock and writes them from the caller's goroutine when it can.
type frameBatcher interface {
	BeginSend() ([]byte, error)
	EndSendDirect(buf []byte, packages int) error
}

// SendFrames sends n whole frames in one call (subscriptions.BatchConn):
// the subscription service hands over a page of pushes per connection at
// once, so the connection is locked and written (or its flush scheduled)
// once per page instead of once per push.
func (c sessionConn) SendFrames(frames []byte, n int) error {
	if c.ss.closed.Load() {
		return errSessionClosed
	}
	b, ok := c.ss.conn.(frameBatcher)
	if !ok {
		for len(frames) > 0 { // a connection without batching: frame by frame
			_, size, err := codec.SplitFrame(frames)
			if err != nil || size == 0 {
				return fmt.Errorf("tcpsvc: malformed frame batch (%d bytes left): %v", len(frames), err)
			}
			if err := c.ss.conn.Send(frames[:size]); err != nil {
				return err
			}
			frames = frames[size:]
		}
		return nil
	}
	buf, err := b.BeginSend()
	if err != nil {
		return err
	}
	return b.EndSendDirect(append(buf, frames...), n)
}
