package store

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DB is an open event store: one writer goroutine appending to the
// transaction log with group commit, an index that follows it, and readers.
// All methods are safe for concurrent use unless noted.
type DB struct {
	opts   Options
	log    logEngine
	ix     streamIndex
	clock  Clock
	logger *slog.Logger

	// closeMu orders Submit against Close: Submit holds it shared while it
	// enqueues, Close exclusively while it marks the DB closed.
	closeMu    sync.RWMutex
	closed     bool
	queue      chan *Op
	writerDone chan struct{}

	// writerErr is the latched first write or fsync failure.
	writerErr atomic.Pointer[error]
	// lastCommit is the commit position of the last visible commit (-1 on
	// an empty log); visibleEnd is the log position up to which records are
	// durable and indexed: readers never look beyond it.
	lastCommit atomic.Int64
	visibleEnd atomic.Int64

	committedMu sync.Mutex
	committed   atomic.Pointer[[]func(Position)]
	opsDone     atomic.Pointer[[]func()]

	meta metaCache
	pipe pipe

	stats struct {
		ops, events, bytes, fsyncs atomic.Uint64
		fsyncBuckets               [len(FsyncLatencyBoundsNs) + 1]atomic.Uint64
	}
}

// Open opens (or creates) the database and recovers it: the index is loaded
// and only the log tail beyond its checkpoint is replayed.
func Open(opts Options) (*DB, error) {
	opts.setDefaults()
	db := &DB{
		opts:       opts,
		clock:      opts.Clock,
		logger:     opts.Logger,
		queue:      make(chan *Op, opts.WriterQueueMax),
		writerDone: make(chan struct{}),
	}
	db.lastCommit.Store(-1)
	db.meta.init(opts.MetadataCacheMax)
	empty := []func(Position){}
	db.committed.Store(&empty)
	noOpsDone := []func(){}
	db.opsDone.Store(&noOpsDone)
	if err := db.openEngines(); err != nil {
		return nil, err
	}
	db.initPipe()
	w := newWriter(db)
	if f := db.pipe.flusher; f != nil {
		f.start()
	}
	go w.run()
	return db, nil
}

func (o *Options) setDefaults() {
	if o.Clock == nil {
		o.Clock = SystemClock
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ChunkSizeBytes <= 0 {
		o.ChunkSizeBytes = 256 << 20
		if o.MemDB {
			// The in-memory filesystem backs a preallocated chunk with real
			// memory; 32 MiB still holds the largest event (16 MiB).
			o.ChunkSizeBytes = 32 << 20
		}
	}
	if o.PipelineDepth < 0 {
		o.PipelineDepth = 0
	}
	if o.Committer != nil && o.PipelineDepth == 0 {
		// Consensus overlaps replication round trips: keep several
		// batches in flight.
		o.PipelineDepth = 4
	}
	if o.WriterQueueMax <= 0 {
		o.WriterQueueMax = 16384
	}
	if o.FlushDelayMax <= 0 {
		o.FlushDelayMax = 2 * time.Millisecond
	}
	if o.MaxEventSizeBytes <= 0 {
		o.MaxEventSizeBytes = MaxEventSizeBytes
	}
	if o.IndexMemTableMax <= 0 {
		o.IndexMemTableMax = 1_000_000
	}
	if o.IdempotencyCacheMax <= 0 {
		o.IdempotencyCacheMax = 100_000
	}
	if o.StreamCacheMax <= 0 {
		o.StreamCacheMax = 100_000
	}
	if o.MetadataCacheMax <= 0 {
		o.MetadataCacheMax = 100_000
	}
	if o.TransactionsMax <= 0 {
		o.TransactionsMax = 10_000
	}
	if o.TransactionEventsMax <= 0 {
		o.TransactionEventsMax = 100_000
	}
}

// Close stops accepting ops, lets the writer drain its queue and flush,
// persists the index and closes the files. It is safe to call more than
// once; later calls return nil.
func (db *DB) Close() error {
	db.closeMu.Lock()
	if db.closed {
		db.closeMu.Unlock()
		return nil
	}
	db.closed = true
	if db.pipe.cluster {
		db.pipe.leading.Store(false)
	}
	close(db.queue)
	db.closeMu.Unlock()
	<-db.writerDone
	errIx := db.ix.Close()
	errLog := db.log.Close()
	return errors.Join(errIx, errLog)
}

// Submit hands op to the writer and never blocks. On nil, op.Done is called
// exactly once later, on the writer goroutine. On error, Done is not called:
// ErrClosed, ErrTooBusy (queue full), ErrWriterFailed (latched), or an
// ErrBadRequest-wrapped validation error (see ValidateOp).
func (db *DB) Submit(op *Op) error {
	if err := validateOp(op, db.opts.MaxEventSizeBytes); err != nil {
		return err
	}
	if db.writerErr.Load() != nil {
		return ErrWriterFailed
	}
	if !db.pipe.leading.Load() {
		return ErrNotLeader
	}
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	select {
	case db.queue <- op:
		return nil
	default:
		return ErrTooBusy
	}
}

// Do submits op and waits for its result. It returns Submit's error, or
// op.Result.Err once done, or ctx.Err() if the context ends first (the op may
// still complete later; the caller must then not reuse it).
func (db *DB) Do(ctx context.Context, op *Op) error {
	done := make(chan struct{})
	user := op.Done
	op.Done = func(o *Op) {
		if user != nil {
			user(o)
		}
		close(done)
	}
	if err := db.Submit(op); err != nil {
		op.Done = user
		return err
	}
	select {
	case <-done:
		return op.Result.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// OnOpsDone registers fn, called after each group of Op.Done calls (the
// ops of a batch applied, refused or failed) on the goroutine that made
// them, so that a caller whose Done only queues its reply (a
// reactor.SendBatch) sends the whole group's replies at once. fn must not
// block. Register before writes start.
func (db *DB) OnOpsDone(fn func()) {
	db.committedMu.Lock()
	defer db.committedMu.Unlock()
	cur := *db.opsDone.Load()
	next := append(append([]func(){}, cur...), fn)
	db.opsDone.Store(&next)
}

// opsDoneGroup runs the OnOpsDone callbacks after a group of Done calls.
func (db *DB) opsDoneGroup() {
	for _, fn := range *db.opsDone.Load() {
		fn()
	}
}

// LastCommitPosition is the commit position of the last readable commit, -1
// on an empty log.
func (db *DB) LastCommitPosition() int64 { return db.lastCommit.Load() }

// OnCommitted registers fn, called on the writer goroutine after each group
// commit becomes readable, in commit order, with the position of the last
// event committed. fn must not block. Register before writes start to see
// every commit.
func (db *DB) OnCommitted(fn func(last Position)) {
	db.committedMu.Lock()
	defer db.committedMu.Unlock()
	cur := *db.committed.Load()
	next := append(append([]func(Position){}, cur...), fn)
	db.committed.Store(&next)
}

// Err returns the latched writer error, nil while healthy.
func (db *DB) Err() error {
	if p := db.writerErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Stats returns a copy of the counters.
func (db *DB) Stats() Stats {
	s := Stats{
		QueueLen:           len(db.queue),
		QueueMax:           cap(db.queue),
		Ops:                db.stats.ops.Load(),
		EventsWritten:      db.stats.events.Load(),
		BytesWritten:       db.stats.bytes.Load(),
		Fsyncs:             db.stats.fsyncs.Load(),
		LastCommitPosition: db.lastCommit.Load(),
		DurablePosition:    db.visibleEnd.Load(),
		ChunkCount:         db.log.Chunks(),
		WriterErr:          db.Err(),
	}
	for i := range s.FsyncLatencyBuckets {
		s.FsyncLatencyBuckets[i] = db.stats.fsyncBuckets[i].Load()
	}
	return s
}

func (db *DB) observeFlush(d time.Duration) {
	db.stats.fsyncs.Add(1)
	ns := d.Nanoseconds()
	for i, b := range FsyncLatencyBoundsNs {
		if ns <= b {
			db.stats.fsyncBuckets[i].Add(1)
			return
		}
	}
	db.stats.fsyncBuckets[len(FsyncLatencyBoundsNs)].Add(1)
}
