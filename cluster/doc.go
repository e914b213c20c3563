// Package cluster holds what the clustered node's parts share: the node
// state (VNodeState, spec cluster-and-options §4.1) with Event Store's
// ordinals. Its sub-packages are the cluster services:
//
//   - gossip: membership view, merge rules and liveness (spec §3) as a
//     pure state machine (Core, fed time and messages) plus a thin HTTP
//     driver (Driver) that runs rounds and serves GET/POST /gossip.
//   - consensus: leader election and log agreement on go.etcd.io/raft/v3
//     (PreVote, CheckQuorum) as a pure core driven through raft's Ready
//     loop, the node-state table derived from raft state, and a
//     deterministic simulation (one goroutine, virtual clock, seeded
//     network faults).
//
// Goroutines: each core is owned by exactly one goroutine (its driver);
// other goroutines talk to it through the driver's channels.
//
// Where this stands (see the report in the branch history): stages 1-3 of
// the cluster issue (interfaces, gossip, consensus core + simulation).
// Replication of the store's log through raft (stage 4), forwarding (5)
// and the process-level cluster tests (6) are not built yet.
package cluster
