// Package consensus is the cluster's agreement layer on go.etcd.io/raft/v3
// (PreVote and CheckQuorum on, proposal forwarding off: forwarding is the
// node's business, spec cluster-and-options §7).
//
// Parts and goroutines:
//
//   - Core: raft.RawNode plus what the node derives from it. Pure: Tick is
//     driven, Disk (durable log + hard state) and IO (send, apply) are
//     seams; one goroutine owns it. Drain is etcd's Ready loop: save (one
//     fsync per Ready), then send, then apply, then Advance. A failed save
//     is final (ErrDiskFailed; state ShuttingDown), and so is an apply
//     that latched the store (ErrApplyFailed, reported by the
//     Replicator's apply goroutine); Status.Err says why.
//   - Status: VNodeState derived from raft state — leader with its own
//     term's first entry applied = Master, leader still applying =
//     PreMaster, follower of a known leader caught up = Slave (Clone for a
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
//   - Transports: Split sends vote traffic (pre-votes, votes, answers) to
//     one transport — internal HTTP, HTTPTransport, POST /cluster/raft —
//     and everything else (appends, heartbeats, snapshots) to another —
//     internal TCP, TCPTransport on reactor.Dialer connections, command
//     RaftMessagesCommand (0xE0), served on the listener by TCPHandler.
//     Both carry the batch format below.
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
// store.DB.ApplyTo. The writer leads (store.DB.Lead) from the end of the
// empty entry raft appends at the start of the term, once it is applied;
// losing leadership, a truncation or a refused proposal fails the batches
// in flight (store.DB.FailBatches: the clients get NotReady and retry;
// their writes may still commit under the next master, and are applied
// from the log then). The leader sends its appends before its own save
// (raft thesis §10.2.1), so the followers' fsyncs overlap its own.
//
// Measured (2-core VM shared with other builds; three nodes on loopback
// sharing one virtual disk, 100-byte single-event writes, closed loop):
//
//	in-process, store API on the master, median of 3 [range]
//	(go test ./node -run XXX -bench '^BenchmarkClusterWrite$' -benchtime 3s)
//	  1 writer     502 events/s [492-508]          one entry per write, ~1 ms a save on each node
//	  16 writers   2,788 [2,509-6,528]             ~6 events per fsync
//	  256 writers  33,895 [27,078-49,190]          ~110 events per fsync, 230-460 saves/s, 1.1-2.3 ms a save
//	same, --unsafe-disable-flush-to-disk (-bench ClusterWriteNoFsync)
//	  16 writers   8,600-9,600, 256 writers 43,000-49,000
//	whole processes (bin/eventstored x3 on 127.0.0.1-3, bin/esbench write --addr <master>
//	--clients N --duration 8s; single node: bin/esbench write --start-node bin/eventstored)
//	  16 clients   3,161-3,504 (single node in the same minutes: 13,036)
//	  256 clients  17,237-24,478 (single node: 27,328-29,306)
//
// Where the time goes: every batch costs one fsync on every node, and
// the three nodes' fsyncs queue on the one disk (a save takes 2-3x a
// single node's fsync under load); a write waits for the leader's save
// and one follower's (in parallel) plus about ten goroutine hand-offs
// (writer, driver, transport, event loops, follower driver and back,
// apply goroutine, client), each slow on two busy cores; and every node
// indexes every event (index memtable add is the largest CPU item), so
// three nodes spend three times the CPU of one. More batches in flight
// make them smaller and multiply the fsyncs (pipeline depth 3: 23k, 8:
// 13k at 256 writers), so the node uses 2. The 100,000 events/s target
// needs nodes on their own disks and cores; asynchronous storage writes
// (raft's AsyncStorageWrites: the leader's raft loop no longer waits for
// its fsync) are the next step here.
//
// Known: after a refused proposal (a leadership transfer, an injected
// refusal in TestReplicatorCommitsAppliesAndRecovers) a batch of the new
// leadership is, rarely, planned 40 bytes (one entry header record) off
// the log end and refused in turn; leading resumes after each refusal
// (the empty entry is proposed again), so clients retry and nothing is
// lost, but the cause (how the writer's planned end and the re-lead entry
// race) is not found yet. Batches of a failed generation are dropped as
// stale (store.DB.Current) instead of being refused.
//
// Limits: MaxProposalBytes, MaxMessageBytes, MaxBatchBytes, a bounded
// queue per peer (overflow drops; raft retransmits), MaxInflightMsgs and
// MaxUncommittedBytes inside raft, a bounded driver inbox.
//
// Testing: sim_test.go is a deterministic simulation — one goroutine, a
// virtual clock, a seeded network that drops, duplicates, delays
// (reorders) and partitions, nodes that crash and restart from their
// TlogDisk on vfs.MemFS (a crash keeps only what was synced:
// MemFS.CrashClone), with 4 KiB chunks so entries cross chunk boundaries;
// writes are batch entries planned at the leader's log end, as the
// master's writer plans its group commits.
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
