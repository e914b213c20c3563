// Package cluster holds what the clustered node's parts share: the node
// state (VNodeState, spec cluster-and-options §4.1, Event Store's
// ordinals, which clients rank by) and the request acceptance table of
// §4.3 (Decide: serve, forward, NotReady, NotMaster by state, request
// kind and require-master). Its sub-packages are the cluster services:
//
//   - gossip: membership view, merge rules and liveness (§3) as a pure
//     state machine (Core, fed time and messages) plus a thin driver
//     (Driver: DNS or seeds, rounds as timer messages, POSTs over HTTP).
//     The node runs it in cluster mode (and with --gossip-on-single-node);
//     httpfront.WithCluster serves GET /gossip (int; ext when
//     --gossip-on-ext) and POST /gossip (int only).
//   - consensus: leader election and log agreement on go.etcd.io/raft/v3,
//     VNodeState derived from raft, transports (votes over internal HTTP,
//     appends over internal TCP on reactor.Dialer), and a deterministic
//     simulation.
//   - service: one node's composition of the two (raft ids from advertised
//     endpoints, voters bootstrapped from gossip, consensus state and epoch
//     published in gossip, TCP loss marks peers dead). Every cluster node
//     runs it (node.WithoutConsensus turns it off for gossip-only tests).
//
// Goroutines: each core is owned by exactly one goroutine (its driver);
// everything else talks to it through the driver's bounded inbox.
//
// Where the work stands (stages of the cluster issue):
//
//  1. Interfaces: four listeners per cluster node, ext toggles, advertise-as
//     in gossip, internal heartbeats (int interval/timeout) — done, tested
//     in node (TestClusterGossipOnLoopback, TestInternalTCPHeartbeats);
//     reactor.Dialer gives outgoing connections the same treatment.
//  2. Gossip — done (cores, driver, HTTP routes, identity check with
//     --cluster-id, the view pushed to every alive member on a state
//     change so survivors agree on a new master one POST after its
//     election), tested with fake time and on loopback.
//  3. Consensus — core, driver, transports, simulation and the per-node
//     composition (service) done; the default for every cluster node
//     (node.TestClusterConsensusOnLoopback: one Master and two Slaves on
//     every interface's /gossip, failover, rejoin).
//  4. Replication through the store's log — done: the raft log is the
//     transaction log (consensus.TlogDisk: one entry header record plus
//     the batch's records per entry, one fsync per Ready, hard state in
//     raft-state.chk, --max-truncation); the master's writer proposes each
//     group commit through consensus.Replicator (the store's Committer)
//     and acknowledges it once a majority has it durable; every node
//     applies committed entries to its store, so reads and subscriptions
//     never show what a majority has not made durable, and positions are
//     the same on every node (node.TestClusterReplicatesThroughRaft;
//     simulation on TlogDisk with crash clones).
//  5. Requests by node state and forwarding — done: Decide is the one
//     table; tcpsvc answers NotReady/NotMaster (the master's advertised
//     endpoints) and forwards replica writes to the master over internal
//     TCP (tcpsvc.Forwarder: deadline, in-flight limit); httpfront
//     proxies follower writes to the master's internal HTTP, redirects
//     require-master requests (307), 503 when not ready; node publishes
//     the master from consensus and gossip (node.TestForwardingOnLoopback,
//     node.TestClusterClientInterop).
//  6. Process-level failover tests — see the proctest work.
package cluster
