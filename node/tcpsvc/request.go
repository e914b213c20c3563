package tcpsvc

import (
	"sync"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/node/auth"
	"github.com/eventstored/eventstored/store"
)

// request is one client operation in flight. It owns a copy of the
// package's payload and credentials (buf); every decoded string and slice
// is a view into buf, valid until release. Requests are pooled so that the
// steady-state path allocates nothing.
type request struct {
	s    *Service
	sess *Session
	cmd  codec.Command
	corr codec.GUID

	hasCreds  bool
	needsAuth bool
	// aclPending: a write whose access check missed the metadata cache on
	// the event loop; a worker runs the check and submits (checkAndSubmit).
	aclPending bool
	// action is the access a write needs on op.Stream.
	action auth.Action
	// trusted: the package came with TrustedWrite (a write a replica
	// forwards as the system account; the reactor lets the flag in on the
	// internal listener only). It runs as systemPrincipal.
	trusted bool
	// v1 is set for clients that identified with protocol version 0.
	v1        bool
	principal *auth.Principal
	login     []byte
	password  []byte
	payload   []byte
	buf       []byte

	// Decoded payload: only the field matching cmd is meaningful.
	we codec.WriteEvents
	ds codec.DeleteStream
	ts codec.TransactionStart
	tw codec.TransactionWrite
	tc codec.TransactionCommit
	re codec.ReadEvent
	rs codec.ReadStreamEvents
	ra codec.ReadAllEvents
	ss codec.SubscribeToStream
	cp codec.CreatePersistentSubscription
	dp codec.DeletePersistentSubscription
	cn codec.ConnectToPersistentSubscription

	op     store.Op
	events []store.NewEvent
	// txStream is the stream of the transaction named by tw/tc.
	txStream string
}

var requestPool sync.Pool

func init() {
	requestPool.New = func() any {
		r := &request{}
		// Bound once per pooled object, so submitting allocates no closure.
		r.op.Done = r.onDone
		return r
	}
}

// acquireRequest copies the payload and credentials of p (which alias the
// event loop's read buffer) into a pooled request.
func acquireRequest(s *Service, sess *Session, p *codec.Package, login, password []byte, hasCreds bool) *request {
	r := requestPool.Get().(*request)
	r.s, r.sess, r.cmd, r.corr, r.hasCreds = s, sess, p.Command, p.CorrelationID, hasCreds
	r.v1 = sess.identified && sess.clientVersion == codec.ClientVersionV1
	n := len(p.Payload) + len(login) + len(password)
	if cap(r.buf) < n {
		r.buf = make([]byte, 0, n)
	}
	b := append(r.buf[:0], p.Payload...)
	b = append(b, login...)
	b = append(b, password...)
	r.buf = b
	pl := len(p.Payload)
	r.payload = b[:pl:pl]
	r.login = b[pl : pl+len(login) : pl+len(login)]
	r.password = b[pl+len(login):]
	return r
}

// release returns r to the pool. REQUIRES: nothing refers to r any more
// (the store has called Done, the reply was sent).
func (r *request) release() {
	if cap(r.buf) > replyBufferKeepBytesMax {
		r.buf = nil
	}
	clear(r.events)
	r.events = r.events[:0]
	clear(r.we.Events)
	clear(r.tw.Events)
	done := r.op.Done
	r.op = store.Op{Done: done}
	r.s, r.sess, r.principal = nil, nil, nil
	r.needsAuth, r.hasCreds, r.v1, r.trusted, r.aclPending = false, false, false, false, false
	r.login, r.password, r.payload = nil, nil, nil
	r.txStream = ""
	requestPool.Put(r)
}

// isWrite reports whether r goes to the writer.
func (r *request) isWrite() bool {
	switch r.cmd {
	case codec.WriteEventsCommand, codec.DeleteStreamCommand, codec.TransactionStartCommand,
		codec.TransactionWriteCommand, codec.TransactionCommitCommand:
		return true
	}
	return false
}

// decode parses the payload for r.cmd.
func (r *request) decode() error {
	switch r.cmd {
	case codec.WriteEventsCommand:
		return codec.DecodeWriteEvents(r.payload, &r.we)
	case codec.DeleteStreamCommand:
		return codec.DecodeDeleteStream(r.payload, &r.ds)
	case codec.TransactionStartCommand:
		return codec.DecodeTransactionStart(r.payload, &r.ts)
	case codec.TransactionWriteCommand:
		return codec.DecodeTransactionWrite(r.payload, &r.tw)
	case codec.TransactionCommitCommand:
		return codec.DecodeTransactionCommit(r.payload, &r.tc)
	case codec.ReadEventCommand:
		return codec.DecodeReadEvent(r.payload, &r.re)
	case codec.ReadStreamEventsForwardCommand, codec.ReadStreamEventsBackwardCommand:
		return codec.DecodeReadStreamEvents(r.payload, &r.rs)
	case codec.ReadAllEventsForwardCommand, codec.ReadAllEventsBackwardCommand:
		return codec.DecodeReadAllEvents(r.payload, &r.ra)
	case codec.SubscribeToStreamCommand:
		return codec.DecodeSubscribeToStream(r.payload, &r.ss)
	case codec.CreatePersistentSubscriptionCommand, codec.UpdatePersistentSubscriptionCommand:
		return codec.DecodeCreatePersistentSubscription(r.payload, &r.cp)
	case codec.DeletePersistentSubscriptionCommand:
		return codec.DecodeDeletePersistentSubscription(r.payload, &r.dp)
	case codec.ConnectToPersistentSubscriptionCommand:
		return codec.DecodeConnectToPersistentSubscription(r.payload, &r.cn)
	case codec.ScavengeDatabaseCommand:
		// No fields; any payload is ignored (spec §3.7).
		return nil
	}
	panic("BUG: tcpsvc: decode of unexpected command " + r.cmd.String())
}
