// Package consensus is the cluster's agreement layer on go.etcd.io/raft/v3
// (PreVote and CheckQuorum on, proposal forwarding off: forwarding is the
// node's business, spec cluster-and-options §7).
//
// Parts and goroutines:
//
//   - Core: raft.RawNode plus what the node derives from it. Pure: Tick is
//     driven, Disk (durable log + hard state) and IO (send, apply,
//     persist) are seams; one goroutine owns it. Raft runs with
//     AsyncStorageWrites: Drain never waits for an fsync. It sends
//     messages to peers at once (the leader's appends leave before its own
//     save: raft thesis §10.2.1), hands the log appends (MsgStorageAppend:
//     entries, hard state, and the answers that may leave only once they
//     are durable — MsgAppResp, vote answers) to IO.Persist, and applies
//     committed entries, which raft hands out only once they are durable
//     on this node too. The append goroutine saves them in order
//     (SaveAppends: everything queued meanwhile in one Save, one fsync)
//     and gives the core its own answers back (Persisted: the
//     MsgStorageAppendResp and the leader's own MsgAppResp, which is how
//     the leader counts itself in the quorum only once durable). So the
//     master acknowledges a write only when a majority, itself included,
//     has it durable. A failed save is final (ErrDiskFailed; state
//     ShuttingDown; nothing later is saved), and so is an apply that
//     latched the store (ErrApplyFailed, reported by the Replicator's
//     apply goroutine); Status.Err says why.
//   - Status: VNodeState derived from raft state — leader with its own
//     term's first entry applied = Master, leader still applying =
//     PreMaster (with a Replicator, "applied" is the store's: the node
//     stays PreMaster until the store has indexed every entry before its
//     term's first, since a master serves reads at once; raft counts an
//     entry applied when it is handed to the apply goroutine:
//     Replicator.gateMaster), follower of a known leader caught up = Slave (Clone for a
//     learner), behind = CatchingUp, otherwise Unknown. The term and the
//     log position of its first entry (EpochPos, from TlogDisk.EntryPos)
//     are the gossip epoch fields.
//   - --node-priority: the leader hands leadership (raft TransferLeader)
//     to the highest-priority voter above its own that is recently active
//     and has the whole log, at most once per election timeout. Among
//     nodes that are not up to date raft's own rules decide.
//   - Nodes beyond --cluster-size are raft learners (state Clone): they
//     replicate and never vote or lead.
//   - Driver: the goroutine that owns a Core; ticks (100 ms) are timer
//     messages; received messages and proposals arrive on a bounded inbox.
//     Its append goroutine saves (group commit across Readies: whatever
//     queued during one fsync shares the next), sends the answers for
//     other nodes itself right after the fsync (a follower's ack does not
//     wait for its Ready loop), and queues the core's own answers; it
//     never waits for the driver, and the driver waits for it only past
//     persistQueueMax (64 MiB) queued. A node that does not lead saves
//     inline on the driver goroutine instead whenever the appender is
//     idle (Driver.flush): a follower cannot save the next append before
//     this one is durable anyway, so blocking its loop costs nothing, and
//     its acknowledgement skips two hand-offs (driver → appender, and the
//     MsgStorageAppendResp back). The leader keeps the appender: its loop
//     takes acknowledgements and proposals during its own fsync. TlogDisk's tables are shared by
//     the two (raft reads on the driver, saves on the appender) under a
//     mutex that the fsync does not hold.
//   - Transports: Split sends vote traffic (pre-votes, votes, answers) to
//     one transport — internal HTTP, HTTPTransport, POST /cluster/raft —
//     and everything else (appends, heartbeats, snapshots) to another —
//     internal TCP, TCPTransport on reactor.Dialer connections, command
//     RaftMessagesCommand (0xE0), served on the listener by TCPHandler.
//     Both carry the batch format below. TCPTransport.Send writes a
//     peer's messages to its socket from the calling goroutine (the
//     leader's driver right after a Ready, a follower's driver or the
//     appender right after an fsync) when the connection is up and
//     nothing of the peer is queued: no hand-off to a send goroutine and
//     no event-loop wake-up (reactor.Conn.SendDirect). The peer's send
//     goroutine only dials and sends what met a busy peer, so a peer's
//     messages keep their order.
//
// Batch format (POST /cluster/raft body; payload of command 0xE0):
//
//	+---------------+----------------------+---------------+-----
//	| uvarint len n | n bytes raftpb.Msg   | uvarint len m | ...
//	+---------------+----------------------+---------------+-----
//
// The raft log is the transaction log (TlogDisk, tlogdisk.go; format in
// entry.go): every raft entry is one entry header record (a store system
// record) followed, for a batch entry (one group commit of the master's
// writer), by the batch's records as ordinary tlog records; Save writes
// a Ready's entries and then flushes once (one fsync per Ready, no second
// WAL). Batch entries carry the log position their writer planned; Save
// checks the header lands there (ErrPositionMismatch latches), so every
// node's log is the same bytes up to the commit index. Hard state (term,
// vote, commit) lives in raft-state.chk (two slots with sequence and crc;
// fsynced when term or vote change, commit may lag) and the bootstrap
// membership in raft-members. In memory TlogDisk keeps the header
// position of every entry (8 bytes each) and the terms as runs, plus the
// recently saved entries (16 MiB) so that sends and applies right after a
// save do not read back. Raft replacing a diverged uncommitted suffix
// truncates the tlog at the first replaced entry's header, unless that
// cuts more than --max-truncation bytes (ErrTruncationLimit: the node
// stops and says so).
//
// Open time: the position and term tables of the committed entries are
// persisted in raft-entries (entrytable.go: checksummed frames of
// delta-coded positions and term runs, appended as commits pass 4096
// entries or 4 MiB of log, fsynced every 64 MiB of log and on Close), so
// OpenTlogDisk loads them and scans the log only past the table's last
// entry (the uncommitted tail, and what a power cut took from the
// table). A missing, torn, damaged or foreign table (its first and last
// entries are checked against the log) falls back to the full scan and
// is rewritten. Raft snapshots with FirstIndex moving up were the other
// way; they would make lagging followers receive snapshots, and an event
// store's snapshot is its whole log, so they need a chunk transfer of
// their own, while the table changes nothing raft sees. No compaction:
// FirstIndex is 1. Measured (BenchmarkTlogDiskOpenScan, 200,000 100-byte
// events, page cache warm, 2-core VM loaded by other builds (load 6-10),
// medians of 3 in three sessions, table+scan-ns/event): single-event
// entries 49-58 ns an event from the table vs 202-340 from a full scan
// (4-6x); 100-event entries 3-8 vs 80-203 (15x and more). So 10M
// single-event entries open in about 0.5 s instead of 2-3 s (the 4-8 s
// once measured here were a slower day; the ratio is what holds). The table
// costs 8 bytes an entry in memory (80 MB for 10M single-event
// entries); the file about 2 bytes an entry.
//
// Lost raft state (voteguard.go): a voter that starts without
// raft-state.chk (a new cluster, a wiped data directory, a lost file)
// could vote twice in a term or help elect a master missing entries it
// had acknowledged. etcd refuses such a member ("already bootstrapped":
// remove it and add it back under a new id); Event Store 4.0 persists no
// election state at all. Here the node is guarded instead, in three
// persisted steps (raft-vote-guard): it refuses every vote and never
// campaigns until n-q+1 other voters showed their terms (their highest,
// F, bounds any term it can have voted in; F = 0 is a new cluster and
// ends the guard), then until its commit index is an entry of a master
// term >= F at or past that master's first commit index (it then holds
// every entry it acknowledged before), then it votes again, never in a
// term <= F. While abstaining it probes the voters it has not heard from
// (followers never talk to each other: in a quiet cluster it would hear
// only the master). A master whose follower progress predates the loss
// is told (an append answer marked lost-log) and hands leadership to
// another voter, since raft never lowers a follower's Match; heartbeats
// of such terms commit only what the node acknowledged since. Cost: a new
// cluster's voters must hear from each other before the first election
// (simulation, 50 seeds, no faults: first master at median 1.18 s, p90
// 1.44 s, against 1.17 s and 1.43 s unguarded); a three-node cluster with
// one node wiped and one down elects no master until the down node
// returns (the
// case where voting would be unsafe).
//
// Replication (Replicator, replicator.go) is the store's Committer on a
// cluster node: the master's writer hands it each group commit, the
// driver proposes it as one batch entry (checked against the planned log
// end), and committed entries go to an apply goroutine in log order —
// the node's own batches through store.DB.ApplyBatch (which acknowledges
// the clients: only after a majority has the entry durable), everything
// else (a slave, or batches of an earlier leadership) through
// store.DB.ApplyTo; each own batch's time from Commit to its ApplyBatch
// goes to store.DB.ObserveCommitLatency, which the writer's gather
// heuristic waits half of for its closed-loop clients. The writer leads (store.DB.Lead) from the end of the
// empty entry raft appends at the start of the term, once it is applied;
// losing leadership, a truncation or a refused proposal fails the batches
// in flight (store.DB.FailBatches: the clients get NotReady and retry;
// their writes may still commit under the next master, and are applied
// from the log then).
//
// Measured (2-core VM shared with four other engineers' builds and
// tests: load average 6-7, the one virtual disk's fdatasync 0.65-0.76 ms
// quiet and up to 1.9 ms busy; three nodes on loopback sharing it,
// 100-byte single-event writes, closed loop). "old" is the synchronous
// Ready loop (commit 328c093), "new" this design; runs interleaved in the
// same minutes, medians of 3 [runs]:
//
//	in-process, store API on the master
//	(go test ./node -run XXX -bench '^BenchmarkClusterWrite$' -benchtime 3s)
//	  16 writers   old 4,549 [3,325 8,503 4,549]     new 6,818 [5,824 6,818 7,255]   x1.5
//	               events/fsync old ~6, new ~11 (the gather hint below)
//	  256 writers  old 40,605 [20,651 51,550 40,605] new 35,836 [29,821 54,746 35,836]
//	               paired ratios 1.44 1.06 0.88: no clear change; ~130 events/fsync both
//	  1 writer     old 971, new 664 (one run each): one more hand-off each way
//	followers save inline when idle (commit 94d8942) against the appender
//	only ("async"); same command, binaries of both, interleaved, two sets
//	of 3 runs on another day (load 4-6):
//	  1 writer     async 914 669 910 | 713 737 639
//	               inline 978 987 730 | 891 895 970   medians 910→978, 713→895
//	  16 writers   async 9,558 8,901 8,377 | 6,896 5,666 5,869
//	               inline 9,756 8,519 6,608 | 9,256 7,426 8,798
//	               medians 8,901→8,519 (x0.96), 5,869→8,798 (x1.5)
//	  256 writers  async 60,424 60,508 50,681 | 47,905 47,876 41,072
//	               inline 67,684 66,548 46,931 | 61,373 48,030 38,010
//	               medians 60,424→66,548, 47,876→48,030
//	  cpu-us/event, 1 writer: 1,163-1,533 → 771-952 (a follower's goroutine
//	  wake-ups per write gone); allocs/op 600-685 → 310
//	  whole processes, same pairing (esbench cluster --node <bin>
//	  --clients 1,16,256, then --clients 256 alone three more times):
//	  1 client     async 562 482 555   inline 834 813 682   x1.46, p50 1.48 → 1.06 ms
//	  16 clients   async 4,527 3,759 5,276   inline 6,012 6,046 4,848   x1.33
//	  256 clients  async 22,003 19,076 21,262 18,110 22,023 30,817
//	               inline 28,010 18,496 17,399 19,566 20,087 33,119
//	               paired ratios 1.27 0.97 0.82 1.08 0.91 1.07: no clear change
//	whole processes (make build && bin/esbench cluster --clients 16,256)
//	  16 clients   old 4,151 [4,006 4,151 4,478]     new 4,883 [4,819 4,883 5,304]  x1.18, p50 3.34 → 2.86 ms
//	  256 clients  old 21,577 [18,496 21,577 23,648] new 20,058 [18,131 20,058 20,267]
//	               (an earlier set, same method: old 8,210 11,975 18,741, new 17,046 19,259 19,501)
//
// Where a write's time goes (Replicator.Stages, reported by
// BenchmarkClusterWrite per own batch; 256 writers, new): queue (Commit to
// proposed) 0.1-0.2 ms, replicate (proposed to committed) 2.5-4.8 ms,
// apply wait 0.1-0.25 ms, apply (index adds, acks) 0.1 ms; old: queue
// 0.4-0.55 ms (the writer waited for the driver's fsync), replicate
// 3.3-3.9 ms. Replicate is the follower's wait for the save it has in
// flight (up to one save), its own save (1.2-2.6 ms a save on every
// node while three nodes fsync on one disk), and about eight goroutine
// hand-offs (leader driver → TCP send goroutine → event loop → follower's
// event loop → its driver → its append goroutine → send goroutine →
// event loops → leader driver), each 0.1-0.3 ms on two cores at load 7.
// With 256 closed-loop writers and two batches in flight a write costs
// about one batch latency plus the wait for the next hand-over, so
// throughput = ~130 events an fsync × ~250-400 fsyncs a second a node.
//
// The 100,000 events/s figure, measured on a quiet machine (load 2-6;
// make build && bin/esbench cluster --node <bin> --clients 16,256 and
// --clients 256 --inflight 8 --duration 5s, both binaries interleaved,
// five rounds, same load tool; c0be26e = the start of that session;
// medians in parentheses):
//
//	16 clients       c0be26e  5,344 6,740 6,202 6,228 7,294 (6,228)
//	                 new      11,505 9,172 7,528 10,369 8,869 (9,172)  x1.47
//	256 clients      c0be26e  34,682 35,224 32,844 32,860 38,196 (34,682)
//	                 new      42,917 39,836 38,411 45,370 39,748 (39,836)  x1.15
//	256 clients x 8  c0be26e  105,220 108,274 80,119 112,225 100,466 (105,220)
//	                 new      118,774 115,650 128,388 125,219 123,164 (123,164)  x1.17
//
// 256 x 8 is Event Store's own way of measuring (its TestClient WRFL keeps a
// write window of 2,000 requests in flight over its clients); every write
// is still acknowledged only once a majority has fsynced it. The largest
// step was in the load tool: it took 0.76 cores (11.9 us a request) and
// now drives its connections on its own event loops (bench/loops.go,
// ~2 us a request). A closed loop of 256 clients (one write in flight
// each) is bounded by the round trip (two saves in sequence at worst plus
// the hand-offs below) and stays near 40k here.
//
// Why 100,000 events/s in a closed loop is out of reach on this VM: (1) CPU:
// the whole process (three nodes, each encoding, writing and indexing
// every event, plus the writers) spends 20-25 us of CPU an event
// (cpu-us/event), so two cores carry at most 80-100k even when nobody
// else uses them; the no-fsync variant (-bench ClusterWriteNoFsync)
// reached 40,000-82,000. (2) Disk: 100k at ~130 events an fsync needs
// ~770 fsyncs a second on every node back to back, 1.3 ms each, on one
// disk that does 2,200-4,600 a second in total for three writers when
// quiet; here a save takes 1.2-2.6 ms. (3) Latency: 256 writers at 100k
// leave 2.5 ms a write for two saves in sequence at worst (the one in
// flight, then its own) plus the hand-offs above. On nodes with their
// own disks and cores (1) and (2) go, and the asynchronous design is
// what lets the leader's loop keep taking acknowledgements and proposals
// during its own fsync. (Sends now leave from the goroutine that has
// them: two of the eight hand-offs above are gone.)
//
// Direct sends, measured (go test ./cluster/consensus -run XXX -bench
// BenchmarkReplicated -benchtime 3000x; three drivers on MemDisk, no
// fsync; runs interleaved with the send-goroutine transport of commit
// 23606db, machine at load 14-20 from other work; cpu-us/op is the
// process's CPU time, all three nodes):
//
//	RoundTrip (one append at a time, proposed → applied on the master)
//	  queued   257 374 458 us/op   cpu-us/op 149 164 208
//	  direct   211 154 223 us/op   cpu-us/op 153 174 159   median latency x0.56
//	Append (pipelined proposals)
//	  queued   cpu-us/op 32.0 31.0 48.1   allocs/op 130 67 135
//	  direct   cpu-us/op 26.3 31.4 31.2   allocs/op 91 82 80
//
// CPU per replicated event, the three changes together (direct sends,
// one batch in flight — node's clusterPipelineDepth — and fewer
// allocations: a reused proposal buffer, no closure per received
// message) against commit 23606db, interleaved, medians of 3, machine
// at load 11-18 from other engineers' builds and tests (so the
// throughput figures are low and noisy; CPU per event and events per
// fsync hold better):
//
//	in-process (go test ./node -run XXX -bench '^BenchmarkClusterWrite$' -benchtime 3s)
//	  256 writers  base 32,748 ev/s 19.1 cpu-us/event ~120 events/fsync
//	               new  37,817 ev/s 15.5 cpu-us/event ~150 events/fsync
//	  16 writers   base  5,642 ev/s 98.8 cpu-us/event  ~10 events/fsync
//	               new   7,213 ev/s 64.6 cpu-us/event  ~15 events/fsync
//	whole processes (esbench cluster --node <bin>; node CPU from /proc
//	over the measured window, the three nodes summed)
//	  --clients 16       base 4,144 ev/s p50 2.01 ms   new 4,747 p50 1.81
//	  --clients 256      base 11,317                   new 13,110
//	  --clients 256 --inflight 8
//	               base 14,052 ev/s, 37.6 us node CPU/event (28.9-76.9)
//	               new  14,915 ev/s, 30.5 us node CPU/event (29.5-30.7),
//	               ~120-160 writes a raft entry, one fsync each
//
// A round trip still costs ~150 us of CPU on this VM with no disk at
// all: eight messages (an append to each follower, their answers, then
// raft's commit broadcast — an empty append — to each and their
// answers), each a socket write, an epoll wake-up and read, and a driver
// wake-up. That is why fewer, larger batches (node's
// clusterPipelineDepth 1) pay more than any per-event saving here.
// Left: half of those messages are raft's commit broadcast and its
// answers (with one batch in flight the commit never rides on the next
// append); raft has no switch for it, and holding it back would delay
// the followers' applies. Profiles of the nodes under load show the rest
// of a replicated event's CPU outside this package: fdatasync's own
// CPU (~100 us a call here, every node every batch; likely because the
// tlog's chunks are preallocated with KEEP_SIZE, so each append also
// commits the file size), the index adds on every node, and the client
// connections.
// (A follower's ApplyTo no longer allocates a log iterator's read block
// per entry: store.DB reuses one, TestApplyToReusesItsReadBlock.)
//
// After a refused proposal (a leadership transfer, an injected refusal)
// leading resumes on the driver once a fresh empty entry is applied, and
// the writes in flight are failed on the apply goroutine, in order after
// the batches committed before the refusal; the store stops taking the
// old generation's batches for current at once (store.DB.StopLeading), so
// none handed over in between is proposed for the new leadership (it was
// planned one entry header, 40 bytes, short of the new log end and was
// refused in turn: TestReplicatorReleadBeforeStoreFails). Batches of a
// failed generation are dropped as stale (store.DB.Current).
//
// Limits: MaxProposalBytes, MaxMessageBytes, MaxBatchBytes, a bounded
// queue per peer (overflow drops; raft retransmits), MaxInflightMsgs and
// MaxUncommittedBytes inside raft, a bounded driver inbox.
//
// Testing: sim_test.go is a deterministic simulation — one goroutine, a
// virtual clock, a seeded network that drops, duplicates, delays
// (reorders) and partitions, an append goroutine per node whose saves
// complete 0-2 ms after the Ready (evPersist; a crash before loses them),
// nodes that crash and restart from their TlogDisk on vfs.MemFS (a crash keeps only what was synced:
// MemFS.CrashClone), with 4 KiB chunks so entries cross chunk boundaries;
// writes are batch entries planned past the leader's last proposal
// (saved or not), as the master's writer plans its group commits.
// raft's election jitter comes from crypto/rand, which
// testing/cryptotest.SetGlobalRandom makes a function of the seed, so a
// seed is one exact run (TestSimulationDeterministic). Properties: at most
// one leader per term, one entry per committed index on every node, a
// master agreed by all within 10 s (virtual) of healing, every
// acknowledged write on every node at its index. A failing seed prints
// the command that replays it (-sim.seed=N); keep such seeds as named
// tests. TestSimulationCatchesVoteAmnesia shows the checker failing on a
// disk that forgets votes. TestSimulationWipedNode wipes a node's whole
// directory in one crash of three (when the others hold everything) and
// keeps every property; TestSimulationWipeNeedsTheGuard shows the same
// runs without the guard electing two leaders in a term and replacing a
// committed entry. Every restart's entry table is compared with a full
// scan of its log.
package consensus
