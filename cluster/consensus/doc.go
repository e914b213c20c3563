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
//     is final (ErrDiskFailed; state ShuttingDown).
//   - Status: VNodeState derived from raft state — leader with its own
//     term's first entry applied = Master, leader still applying =
//     PreMaster, follower of a known leader caught up = Slave (Clone for a
//     learner), behind = CatchingUp, otherwise Unknown. Term and the index
//     where the newest term starts are the gossip epoch fields.
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
// Limits: MaxProposalBytes, MaxMessageBytes, MaxBatchBytes, a bounded
// queue per peer (overflow drops; raft retransmits), MaxInflightMsgs and
// MaxUncommittedBytes inside raft, a bounded driver inbox.
//
// Testing: sim_test.go is a deterministic simulation — one goroutine, a
// virtual clock, a seeded network that drops, duplicates, delays
// (reorders) and partitions, nodes that crash and restart from MemDisk.
// raft's election jitter comes from crypto/rand, which
// testing/cryptotest.SetGlobalRandom makes a function of the seed, so a
// seed is one exact run (TestSimulationDeterministic). Properties: at most
// one leader per term, one entry per committed index on every node, a
// master agreed by all within 10 s (virtual) of healing, every
// acknowledged write on every node at its index. A failing seed prints
// the command that replays it (-sim.seed=N); keep such seeds as named
// tests. TestSimulationCatchesVoteAmnesia shows the checker failing on a
// disk that forgets votes.
//
// Not yet (next stages): the Disk on the store's transaction log (raft
// entries as tlog records, no second WAL). Until then the node runs
// consensus only when asked (node.WithConsensus): with an in-memory raft
// log a restarted node could vote twice in one term.
package consensus
