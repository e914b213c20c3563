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
// batch's index entries, publish the new visible end, call the OnCommitted
// callbacks and then every op's Done: an op is acknowledged once it is
// durable and readable (read-your-writes). When the previous batch held
// several ops and the queue runs dry early, the writer waits briefly (at
// most half the last flush, within FlushDelayMax) for those clients to come
// back, so closed-loop clients share one fsync instead of alternating. The writer feeds the index itself
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
// the log. Events of a transaction are positioned (C, P_i); implicit writes
// (P, P). The index points a transaction's events at the commit record, so
// stream reads report the same (C, P_i) as $all and live pushes. Open
// transactions live in the writer's memory (bounded, oldest evicted): a
// restart forgets them and their commit gets InvalidTransaction.
//
// Idempotency (spec §4.5): table A uses a fixed-size 4-way set-associative
// cache of recent event ids → (two independent hashes of the stream name,
// event number); table B reads the stored events. Stream identity in the
// index is the xxhash of the name; every index candidate is confirmed by the
// stream name in its record (TestHashCollisionsAreConfirmedByName forces
// all streams onto one hash).
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
// index.MaxAddBatchEntries per index add (larger group commits are split),
// IdempotencyCacheMax ids, StreamCacheMax writer stream states (cleared when
// exceeded; every state can be reloaded from the index), MetadataCacheMax
// parsed metadata entries, TransactionsMax open transactions and
// TransactionEventsMax events each, one log iterator per Reader.
//
// # Measured
//
// 2-core VM shared with seven other builds (load average 10-20 during the
// runs, so numbers swing by 3x between runs), ext4 on a virtual disk where
// one write+fdatasync takes 0.9-1.7 ms. Command:
//
//	go test ./store -run XXX -bench 'Write|ReadAll|ReadStream' -benchtime 200000x
//
//	1 writer, single events           ≈    500-1,650 events/s     1 event/fsync
//	16 writers, single events         ≈  8,600-13,000 events/s   16 events/fsync
//	256 writers, single events        ≈ 43,000-170,000 events/s 243-251 events/fsync
//	16 writers, 100-event batches     ≈ 175,000-235,000 events/s ~1,000-1,500 events/fsync
//	$all forward, pages of 4096       ≈ 1,860,000-4,000,000 events/s, 0 allocs
//	stream forward, pages of 100      ≈ 1,200,000-2,050,000 events/s, 0 allocs
//	10M events, SIGKILL, reopen       first read+write served 0.70-2.43 s (replays
//	                                  at most the unflushed index memtables)
//	10M events written by the child   37-83 s (8 goroutines x 100-event batches)
//	                                  (go test -tags long -run TestRestartTimeAfterKill10M)
//
// Writers that wait for their acknowledgement are bounded by writers ÷
// flush latency, and a tlog flush costs two fsyncs (chunk data, then the
// writer checkpoint): 256 such writers cannot exceed about 256 ÷ 2 ms ≈
// 130,000-250,000 events/s on this disk whatever the store does; the
// 250,000 target needs a disk with sub-millisecond fsync or one fsync per
// flush. The append path allocates nothing per event, the store's share and
// tlog's alike (alloc_norace_test.go).
package store
