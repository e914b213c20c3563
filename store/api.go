package store

// This file is the contract between the store and its callers (the TCP and
// HTTP services, auth, subscriptions, later the cluster). Implementations
// live in the other files of the package.

import (
	"errors"
	"log/slog"
	"math"
	"time"
)

// Position is a position in $all: the (commit, prepare) pair of log offsets
// clients see (spec tcp-client-protocol §4.6). Positions order
// lexicographically.
type Position struct {
	Commit  int64
	Prepare int64
}

var (
	// PositionStart is <= every position ("start of $all").
	PositionStart = Position{0, 0}
	// PositionEnd is the reserved "end of $all" (-1, -1).
	PositionEnd = Position{-1, -1}
)

// Less reports whether p orders strictly before q.
func (p Position) Less(q Position) bool {
	return p.Commit < q.Commit || (p.Commit == q.Commit && p.Prepare < q.Prepare)
}

// Expected version values (spec §4.4).
const (
	ExpectedVersionAny          int64 = -2
	ExpectedVersionNoStream     int64 = -1
	ExpectedVersionStreamExists int64 = -4
)

// EventNumberDeletedStream is the event number of a hard-delete tombstone and
// the last event number a hard-deleted stream reports (spec §4.8).
const EventNumberDeletedStream int64 = math.MaxInt64

// Limits from the spec (§4.5, §4.10).
const (
	// MaxReadCount is the largest page a read may ask for.
	MaxReadCount = 4096
	// MaxEventSizeBytes bounds data + metadata + 2×len(event type) of one event.
	MaxEventSizeBytes = 16<<20 - 10000
)

// NewEvent is an event supplied by a client. The store copies nothing it
// does not need after Submit's Done callback has run; callers keep the slices
// alive until then.
type NewEvent struct {
	ID       [16]byte // GUID in .NET byte order, exactly as on the wire
	Type     string
	IsJSON   bool
	Data     []byte
	Metadata []byte
}

// EventRecord is a stored event as readers see it.
type EventRecord struct {
	Stream          string
	Number          int64
	ID              [16]byte
	Type            string
	IsJSON          bool
	Data            []byte
	Metadata        []byte
	CreatedUnixNano int64
	// Pos is the record's position in $all.
	Pos Position
}

// ResolvedEvent is one entry of a read or a live push (spec §3.2).
// Combinations: plain event → HasEvent; link resolved → HasEvent (target) and
// HasLink; link whose target cannot be read → HasLink only.
type ResolvedEvent struct {
	Event    EventRecord
	Link     EventRecord
	HasEvent bool
	HasLink  bool
	// Pos is the position of the original record (the link when there is one).
	Pos Position
}

// OpKind names a write-side operation.
type OpKind uint8

const (
	OpWrite OpKind = iota + 1
	OpDelete
	OpTransactionStart
	OpTransactionWrite
	OpTransactionCommit
)

// OpStatus mirrors the protocol's OperationResult (spec §3.8), so callers
// can put it on the wire unchanged.
type OpStatus uint8

const (
	OpSuccess OpStatus = iota
	OpPrepareTimeout
	OpCommitTimeout
	OpForwardTimeout
	OpWrongExpectedVersion
	OpStreamDeleted
	OpInvalidTransaction
	OpAccessDenied
)

// OpResult is filled in by the writer before Op.Done runs.
type OpResult struct {
	Status           OpStatus
	FirstEventNumber int64
	LastEventNumber  int64
	// Pos is (-1,-1) for an idempotent success.
	Pos Position
	// CurrentVersion is the stream's last event number, reported with
	// WrongExpectedVersion.
	CurrentVersion int64
	TransactionID  int64
	// Err is set when the operation did not reach a protocol outcome:
	// ErrWriterFailed, ErrDiskFull, ErrClosed, ErrBadRequest-wrapped errors.
	Err error
}

// Op is one write-side request. Submit hands it to the single writer, which
// fills Result and calls Done exactly once, after everything the result
// depends on is durable (or the op failed). Done runs on the writer
// goroutine and must not block. The caller must not touch the Op between
// Submit and Done.
type Op struct {
	Kind            OpKind
	Stream          string
	ExpectedVersion int64
	Events          []NewEvent
	HardDelete      bool  // OpDelete
	TransactionID   int64 // OpTransactionWrite, OpTransactionCommit
	Done            func(*Op)
	Result          OpResult
}

// ReadStatus mirrors the protocol's read results; not every status is
// possible for every read.
type ReadStatus uint8

const (
	ReadSuccess ReadStatus = iota
	ReadNotFound
	ReadNoStream
	ReadStreamDeleted
	ReadError
	ReadAccessDenied
	ReadNotModified
)

// StreamSlice is the result of a stream read (spec §4.10).
type StreamSlice struct {
	Status             ReadStatus
	Events             []ResolvedEvent
	NextEventNumber    int64
	LastEventNumber    int64
	IsEndOfStream      bool
	LastCommitPosition int64
	Error              string
}

// AllSlice is the result of a $all read (spec §4.10).
type AllSlice struct {
	Status ReadStatus
	Events []ResolvedEvent
	// Pos echoes the effective start; Next continues the read.
	Pos   Position
	Next  Position
	Error string
}

// StreamACL holds the role lists of a stream's $acl; a nil list means
// "not set, use the default" (spec §4.9, §4.3).
type StreamACL struct {
	Read, Write, Delete, MetaRead, MetaWrite []string
}

// StreamMetadata is the parsed metadata of a stream (spec §4.9). Zero values
// mean "not set".
type StreamMetadata struct {
	MaxCount        int64
	MaxAgeSeconds   int64
	TruncateBefore  int64 // -1 when not set
	CacheControlSec int64
	Temp            bool
	ACL             *StreamACL
	// Raw is the metadata event's JSON exactly as stored (nil if none).
	Raw []byte
}

// Sentinel errors callers branch on.
var (
	ErrTooBusy      = errors.New("store: writer queue is full")
	ErrWriterFailed = errors.New("store: writer failed; the node refuses writes until restarted")
	ErrDiskFull     = errors.New("store: no space left to allocate a new chunk")
	ErrClosed       = errors.New("store: closed")
	ErrBadRequest   = errors.New("store: bad request")
	// ErrCommitUnknown wraps the error of an op whose batch was handed to
	// the cluster's committer and then failed (leadership lost, a refused
	// proposal, shutdown): its entry may still commit under the next
	// master, so the outcome is unknown. Fronts answer it as Event Store
	// answers an expired commit: OperationResult CommitTimeout (TCP), 500
	// "Write timeout" (HTTP); clients retry (idempotent by event id) or
	// read back. Never NotReady, which tells a client nothing was done.
	ErrCommitUnknown = errors.New("store: outcome unknown, the write may still commit")
)

// Clock is the time seam: the writer stamps events with Now, and $maxAge
// visibility compares against it. Tests substitute a manual clock.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// SystemClock is the real clock.
var SystemClock Clock = systemClock{}

// Options configures Open. Zero values select the documented defaults.
type Options struct {
	// Dir is the database directory (ignored when MemDB is set).
	Dir string
	// FS is the filesystem seam; nil means the OS filesystem, or an
	// in-memory filesystem when MemDB is set.
	FS FS
	// MemDB keeps everything in memory (--mem-db): the same code over an
	// in-memory filesystem.
	MemDB bool
	// ChunkSizeBytes is the transaction log chunk size (default 256 MiB, as
	// Event Store).
	ChunkSizeBytes int64
	// Clock stamps events and judges $maxAge; nil means SystemClock.
	Clock  Clock
	Logger *slog.Logger
	// WriterQueueMax bounds the writer's queue of pending ops (default
	// 16384); Submit returns ErrTooBusy beyond it.
	WriterQueueMax int
	// FlushDelayMax bounds how long the writer keeps appending queued work
	// before it flushes (default 2 ms, Event Store's --min-flush-delay-ms).
	// The writer flushes earlier whenever its queue holds no more work.
	FlushDelayMax time.Duration
	// MaxEventSizeBytes bounds data + metadata + 2×len(type) of one event
	// (default MaxEventSizeBytes, spec §4.5).
	MaxEventSizeBytes int
	// IndexMemTableMax is the number of index entries kept in memory before
	// the index writes a table (default 1,000,000, --max-mem-table-size).
	IndexMemTableMax int
	// IdempotencyCacheMax bounds the recent-event-id cache used for
	// idempotent retries with expected version Any/StreamExists (default
	// 100,000 ids, about the 8 MiB of the original; spec §4.5 table A).
	IdempotencyCacheMax int
	// StreamCacheMax bounds the writer's cache of stream states (default
	// 100,000 streams).
	StreamCacheMax int
	// MetadataCacheMax bounds the parsed-metadata cache (default 100,000).
	MetadataCacheMax int
	// TransactionsMax bounds open explicit transactions (default 10,000);
	// TransactionEventsMax bounds events per transaction (default 100,000).
	TransactionsMax      int
	TransactionEventsMax int
	// UnsafeDisableFlushToDisk skips fsync (--unsafe-disable-flush-to-disk):
	// acknowledged writes may be lost on a crash of the machine.
	UnsafeDisableFlushToDisk bool
	// SkipVerify turns off the background verification of sealed chunks'
	// hashes after Open (--skip-db-verify).
	SkipVerify bool

	// PipelineDepth bounds the batches in flight: handed by the writer to
	// the committer and not yet applied (default 2: one being made
	// durable while the next waits; the writer gathers the one after).
	PipelineDepth int
	// Committer makes the writer's batches durable and committed (cluster
	// mode: the consensus log). nil selects the single-node committer.
	// With a Committer, Open indexes only what the persisted index covers
	// (ApplyTo applies the rest as consensus commits it) and the writer
	// accepts ops only after Lead.
	Committer Committer

	// noIndexer (inline mode) adds index entries after the fsync on the
	// writer goroutine (benchmark comparisons).
	noIndexer bool
	// testLog replaces the transaction log (unit tests of this package).
	testLog logEngine
}

// Stats is a point-in-time copy of the store's counters (for /stats and
// Prometheus). FsyncLatencyBuckets[i] counts flushes that took at most
// FsyncLatencyBoundsNs[i] (the last bucket is unbounded).
type Stats struct {
	QueueLen            int
	QueueMax            int
	Ops                 uint64
	EventsWritten       uint64
	BytesWritten        uint64
	Fsyncs              uint64
	FsyncLatencyBuckets [len(FsyncLatencyBoundsNs) + 1]uint64
	LastCommitPosition  int64
	DurablePosition     int64
	ChunkCount          int
	WriterErr           error
}

// FsyncLatencyBoundsNs are the upper bounds of the flush latency histogram.
var FsyncLatencyBoundsNs = [...]int64{
	100e3, 250e3, 500e3, 1e6, 2e6, 4e6, 8e6, 16e6, 32e6, 64e6, 128e6, 256e6, 1e9,
}
