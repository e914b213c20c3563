package tcpsvc

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/node/auth"
	"github.com/eventstored/eventstored/node/subscriptions"
	"github.com/eventstored/eventstored/reactor"
	"github.com/eventstored/eventstored/store"
)

// DB is what the service needs of store.DB (which satisfies it).
type DB interface {
	// Submit hands a write-side op to the writer without blocking.
	Submit(op *store.Op) error
	// LastCommitPosition is the last readable commit position, -1 if none.
	LastCommitPosition() int64
}

// Reader is what a worker needs of a store reader (*store.Reader satisfies
// it). A Reader is used by one worker goroutine only; results stay valid
// until its next call.
type Reader interface {
	ReadEvent(stream string, number int64, resolveLinks bool) (store.ReadStatus, *store.ResolvedEvent)
	ReadStreamForward(stream string, from int64, max int, resolveLinks bool) *store.StreamSlice
	ReadStreamBackward(stream string, from int64, max int, resolveLinks bool) *store.StreamSlice
	ReadAllForward(from store.Position, max int, resolveLinks bool) *store.AllSlice
	ReadAllBackward(from store.Position, max int, resolveLinks bool) *store.AllSlice
}

// Conn is the reply side of a client connection (*reactor.Conn satisfies
// it). Send must be safe to call from any goroutine, must not block, and
// must be done with frame when it returns (the caller reuses the buffer).
// Its error (closed connection, send backlog over the limit, which closes
// the connection) needs no action here: the reply has nowhere to go.
type Conn interface {
	Send(frame []byte) error
}

// Defaults for Options.
const (
	WorkersDefault = 4 // the original's default reader thread count
	// WorkQueueMaxDefault bounds reads and slow authentications waiting
	// for a worker; beyond it clients get NotHandled TooBusy and retry.
	WorkQueueMaxDefault = 10_000
	// TransactionsMaxDefault bounds the open-transaction table; the oldest
	// entry is forgotten first (its commit is then refused, see
	// txTable).
	TransactionsMaxDefault = 65_536
	// replyBufferKeepBytesMax: buffers that grew beyond this (a big read)
	// are dropped after use instead of being kept by a worker or pool.
	replyBufferKeepBytesMax = 1 << 20
)

// Options configures a Service.
type Options struct {
	DB DB
	// NewReader returns a reader for one worker, e.g.
	// func() tcpsvc.Reader { return db.NewReader() }.
	NewReader func() Reader
	Auth      *auth.Service
	Logger    *slog.Logger
	// Workers is the number of read/authentication workers.
	Workers int
	// WorkQueueMax bounds requests waiting for a worker.
	WorkQueueMax int
	// TransactionsMax bounds the open-transaction table.
	TransactionsMax int
	// State reports the node's role for each command (spec §4.13); nil
	// means a single node, always master. Must not block: it runs on
	// event loops.
	State func() NodeState
	// Subscriptions serves SubscribeToStream / UnsubscribeFromStream;
	// nil answers SubscribeToStream with BadRequest "not supported".
	Subscriptions *subscriptions.Service
	// Persistent serves the persistent subscription commands (spec §5);
	// nil answers them with BadRequest "not supported".
	Persistent *subscriptions.PersistentService
	// Forwarder forwards writes from a replica to the master (spec §7.1);
	// nil (a single node) answers them NotMaster. The owner starts and
	// stops it.
	Forwarder *Forwarder
}

// Service handles client packages. Create it with New, call Start before
// the listener accepts connections and Stop after the listener stopped.
type Service struct {
	opts Options
	log  *slog.Logger
	auth *auth.Service
	db   DB
	work chan *request
	wg   sync.WaitGroup
	stop chan struct{}
	txs  txTable
	// failLog rate-limits the "write failed" warnings (faillog.go).
	failLog failedWriteLog
	count   struct {
		tooBusy atomic.Uint64
		// aclMisses: writes whose access check missed the metadata
		// cache on an event loop and went to a worker.
		aclMisses atomic.Uint64
	}
	// replies gathers the acknowledgements of one group commit, sent per
	// connection in one write when the store has run the group's Done
	// calls (batchReplies: the DB has OnOpsDone).
	replies      reactor.SendBatch
	batchReplies bool
}

// opsDoneNotifier is the part of *store.DB that tells when a group of
// Done calls has ended.
type opsDoneNotifier interface{ OnOpsDone(fn func()) }

// New returns a service for opts.
func New(opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Workers <= 0 {
		opts.Workers = WorkersDefault
	}
	if opts.WorkQueueMax <= 0 {
		opts.WorkQueueMax = WorkQueueMaxDefault
	}
	if opts.TransactionsMax <= 0 {
		opts.TransactionsMax = TransactionsMaxDefault
	}
	if opts.DB == nil || opts.NewReader == nil || opts.Auth == nil {
		panic("BUG: tcpsvc.New needs DB, NewReader and Auth")
	}
	s := &Service{opts: opts, log: opts.Logger.With("component", "tcpsvc"), auth: opts.Auth, db: opts.DB,
		work: make(chan *request, opts.WorkQueueMax), stop: make(chan struct{})}
	s.txs.init(opts.TransactionsMax)
	if n, ok := opts.DB.(opsDoneNotifier); ok {
		n.OnOpsDone(s.replies.Flush)
		s.batchReplies = true
	}
	return s
}

// Start launches the workers.
func (s *Service) Start() {
	for i := 0; i < s.opts.Workers; i++ {
		w := &worker{s: s, rd: s.opts.NewReader()}
		s.wg.Add(1)
		go w.run()
	}
}

// Stop ends the workers after they finish the request at hand; queued
// requests are dropped without a reply (their connections are closing).
func (s *Service) Stop() {
	close(s.stop)
	s.wg.Wait()
}

// TooBusyCount is the number of requests refused with NotHandled TooBusy.
func (s *Service) TooBusyCount() uint64 { return s.count.tooBusy.Load() }

// Stats is a snapshot of the service's queues and counters, for /stats.
type Stats struct {
	Workers          int
	WorkQueueLen     int
	WorkQueueMax     int
	TooBusy          uint64
	OpenTransactions int
	// WriteACLMisses counts writes whose access check needed uncached
	// stream metadata and so ran on a worker instead of the event loop.
	WriteACLMisses uint64
}

// Stats returns a snapshot. Safe from any goroutine.
func (s *Service) Stats() Stats {
	return Stats{Workers: s.opts.Workers, WorkQueueLen: len(s.work), WorkQueueMax: cap(s.work),
		TooBusy: s.count.tooBusy.Load(), OpenTransactions: s.txs.len(), WriteACLMisses: s.count.aclMisses.Load()}
}

// enqueue hands r to a worker, or answers TooBusy and releases it.
func (s *Service) enqueue(r *request) {
	select {
	case s.work <- r:
	default:
		s.count.tooBusy.Add(1)
		r.sess.sendNotHandled(&r.corr, codec.NotHandledTooBusy)
		r.release()
	}
}

// worker runs reads and slow authentications. It owns rd and buf.
type worker struct {
	s   *Service
	rd  Reader
	buf []byte
	sc  scratch
}

func (w *worker) run() {
	defer w.s.wg.Done()
	for {
		select {
		case <-w.s.stop:
			return
		case r := <-w.s.work:
			w.serve(r)
		}
	}
}

// serve runs one request taken from the queue. Every path ends with the
// request released, either here or (for writes) in the op's Done.
func (w *worker) serve(r *request) {
	if r.aclPending {
		r.aclPending = false
		w.s.checkAndSubmit(r, false)
		return
	}
	if r.needsAuth {
		p, err := w.s.auth.Authenticate(string(r.login), string(r.password))
		if r.cmd == codec.Authenticate {
			r.sess.replyAuthenticate(&r.corr, err)
			r.release()
			return
		}
		if err != nil {
			r.sess.replyAuthError(&r.corr, err)
			r.release()
			return
		}
		r.principal = p
		r.needsAuth = false
		if r.isWrite() {
			// Writes never run on workers once authenticated: hand the op
			// to the writer exactly as the event loop would.
			w.s.execWrite(r, false)
			return
		}
	}
	w.execRead(r)
	r.release()
	if cap(w.buf) > replyBufferKeepBytesMax {
		w.buf = nil
	}
}

// errNotSupported is the reason of BadRequest for unimplemented commands.
var errNotSupported = errors.New("is not supported by this server yet")
