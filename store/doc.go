// Package store is the storage engine's Event Store semantics: the record
// model, the single writer with group commit, the expected-version and
// idempotency rules, deletes, metadata, stream and $all reads, link
// resolution and recovery. It sits on two sub-packages it does not own:
// store/tlog (the chunked transaction log: framing, checksums, chunks,
// checkpoints, torn-tail recovery) and store/index (stream hash → event
// number → log position), both over the store/vfs filesystem seam.
//
// # Who calls what, from which goroutine
//
//   - Open, Close: the node's composition root, once each.
//   - Submit (never blocks), Do (blocks): any goroutine. Op.Done runs on
//     the writer goroutine and must not block.
//   - NewReader: any goroutine; a Reader is used by one goroutine at a time
//     and its results (every slice and string inside) are valid only until
//     its next call. Callers encode or copy before reading again.
//   - StreamMetadata, LastCommitPosition, Err, Stats: any goroutine.
//   - OnCommitted callbacks: the writer goroutine, in commit order.
//
// # Design
//
// One writer goroutine owns every append and the state the checks need
// (per-stream last event number and metadata, a bounded recent-event-id
// cache, open transactions). It takes an op from its bounded queue, checks
// and appends it, keeps taking queued ops until the queue is empty or
// FlushDelayMax has passed, then flushes once (one tlog.Flush: write,
// fsync, writer checkpoint) for the whole batch — group commit, as
// StorageWriterService.Flush in 4.0.3. Only after the flush does it add the
// batch's index entries, publish the new visible end, call every op's Done
// and the OnCommitted callbacks: an op is acknowledged once it is durable
// and readable (read-your-writes). The writer feeds the index itself
// because it already holds the entries; the chaser role of the original
// (reading the log behind the writer) is played at Open, which replays
// the log tail the persisted index does not cover (recover.go). Readers see
// only positions below the visible end and never take a lock the writer
// holds: the index is snapshot-based and the log's durable end is atomic.
//
// Failures: the first failed write or fsync latches (Err, later Submits get
// ErrWriterFailed, the batch fails); reads keep working. A disk-full refusal
// from tlog (before any byte of the record is written) fails that op and the
// rest of its batch with ErrDiskFull, cuts off (Truncate) records of a
// multi-event write that were already appended, and does not latch: writes
// succeed again once space is freed.
//
// A multi-event write is one group of prepares: the first carries
// TransactionBegin, the last TransactionEnd, all IsCommitted, as 4.0.3
// writes them. Recovery indexes a group only when its end record is in the
// log and cuts an unfinished group at the tail, so a write is atomic across
// a crash.
//
// Explicit transactions: TransactionStart appends a begin prepare whose
// position is the transaction id; TransactionWrite appends prepares without
// IsCommitted and number -1; TransactionCommit checks the expected version
// and idempotency over all the transaction's events and appends a commit
// record that lists their positions, so $all reads and recovery never search
// the log. Events of a transaction are positioned (C, P_i) in $all; implicit
// writes (P, P). Open transactions live in the writer's memory (bounded,
// oldest evicted): a restart forgets them and their commit gets
// InvalidTransaction.
//
// # Records
//
// Each record is one tlog payload (tlog adds length, checksum and length
// suffix). Integers are little-endian. Byte layouts, pinned by
// record_test.go:
//
//	Prepare (type 1): an event, a transaction begin, an empty-write marker or
//	a hard-delete tombstone.
//	+------+-----+-------+---------+---------+---------+----------+
//	| 0    | 1   | 2..3  | 4..11   | 12..19  | 20..27  | 28..43   |
//	| type | ver | flags | number  | tx pos  | created | event id |
//	+------+-----+-------+---------+---------+---------+----------+
//	| 44..47   | 48..51 | 52..55   | 56..59   | 60 ...                      |
//	| stream S | type T | data D   | meta M   | stream | type | data | meta |
//	+----------+--------+----------+----------+-----------------------------+
//	flags: 0x001 data, 0x002 transaction begin, 0x004 transaction end,
//	0x008 stream delete (tombstone), 0x020 implicitly committed, 0x100 JSON.
//	number: event number (implicit write, tombstone = MaxInt64), -1 in an
//	explicit transaction, the expected version in a begin record.
//	tx pos: -1 for the first record of an implicit write, the first record's
//	position for the following ones, the transaction id in a transaction.
//
//	Commit (type 2): commits an explicit transaction.
//	+------+-----+-------+---------+---------+---------+--------+-------+------+
//	| 0    | 1   | 2..3  | 4..11   | 12..19  | 20..27  | 28..31 | 32..35| 36.. |
//	| type | ver | 0     | tx pos  | first # | created | S      | N     | 0    |
//	+------+-----+-------+---------+---------+---------+--------+-------+------+
//	| 40 .. 40+S | 40+S .. 40+S+8N                  |
//	| stream     | prepare positions (int64 each)  |
//
//	System (type 3) and epoch (type 4): reserved for the cluster, which keeps
//	its consensus state in this log (no second WAL); readers skip them.
//	| type | ver | 0 | 0 | body ... |
//
// # Limits
//
// WriterQueueMax ops queued (Submit → ErrTooBusy beyond), MaxEventSizeBytes
// per event, MaxEventsPerWrite per write, MaxReadCount (4096) per read page,
// IdempotencyCacheMax ids, StreamCacheMax writer stream states (cleared when
// exceeded; every state can be reloaded from the index), MetadataCacheMax
// parsed metadata entries, TransactionsMax open transactions and
// TransactionEventsMax events each, one log iterator per Reader.
//
// # Measured (2-core shared VM, ext4 on a virtual disk, fdatasync ≈ 1-1.5 ms;
// go test ./store -run XXX -bench . -benchtime 200000x)
//
//	1 writer, single events           ≈   670 events/s   1 event/fsync
//	16 writers, single events         ≈ 4,000 events/s   8 events/fsync
//	256 writers, single events        ≈ 39,000 events/s  164 events/fsync
//	16 writers, 100-event batches     ≈ 155,000 events/s 1,149 events/fsync
//	$all forward, pages of 4096       ≈ 1,360,000 events/s, 0 allocs
//
// Writers that wait for their acknowledgement are bounded by writers ÷
// flush latency, and a tlog flush costs two fsyncs (chunk, then writer
// checkpoint): 256 closed-loop writers cannot exceed ~100,000 events/s on
// this disk whatever the store does. The store's own share of the append
// path allocates nothing per event (alloc_norace_test.go).
package store
