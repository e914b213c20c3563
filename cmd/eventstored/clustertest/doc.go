// Package clustertest runs whole eventstored processes as a cluster: the
// harness (harness.go) and the process-level cluster tests of the cluster
// issue (*_test.go), plus the linearizability model of a stream used by the
// partition test (model.go, github.com/anishathalye/porcupine).
//
// What it owns: building the binary once (Build), starting N processes on
// 127.0.0.1, 127.0.0.2, 127.0.0.3 (Linux routes all of 127/8 to loopback)
// with four free ports each, seeded with one another's internal HTTP
// endpoints (--discover-via-dns=false), each with its database directory
// and an append-only log file that survives restarts; kill -9 (SIGKILL to
// the process group, so a wrapper such as `ip netns exec` is no obstacle),
// clean stop (SIGTERM), restart on the same directory and ports; and the
// reading of GET /gossip on the internal and external HTTP interfaces
// (Roles: every node alive, one Master, the others Slave, one master in
// every view).
//
// Who calls it: tests (one goroutine per test; Node methods are safe from
// any goroutine) and the cluster subcommands of bin/esbench.
//
// The tests build the binary without -race even under `go test -race`:
// they time failovers against the 3 s goal of the cluster issue, and the
// race runtime slows a node several times over; the same code runs under
// the race detector in the in-process cluster tests of package node.
//
// The tests (about 60 s in all on 2 cores; the netns ones need root and
// `ip` and skip with the reason otherwise):
//
//   - TestGossipConvergesOnEveryInterface: three nodes' int and ext
//     /gossip list all three alive; advertise-as values (not bound ones)
//     in every view; --gossip-on-ext=false / --admin-on-ext=false: 404 on
//     ext, served on int.
//   - TestKilledNodeIsDeadThenRejoins: SIGKILL → dead in the others'
//     gossip; restarted on its directory → alive everywhere.
//   - TestKillMasterFailover: one Master and two Slaves on every int and
//     ext /gossip; clients write and read; kill -9 of the master → a
//     survivor elected within 3 s, every survivor's gossip agreeing on it
//     within gossip interval + timeout of the election, writes resume,
//     the old master restarted rejoins as Slave, the history is
//     linearizable and every acknowledged write is on every node.
//   - TestLoginRightAfterUsersReplicated: logins refused while the
//     default users are not yet replicated are not remembered: once the
//     users are on every node, the next login succeeds everywhere.
//   - TestForwardedWriteReadableEverywhere, TestNotMasterCarriesAdvertisedEndpoints.
//   - TestForeignClusterGossipRefused, TestClustersWithDifferentIdsRefuseEachOther:
//     gossip with another identity (ES-ClusterId; --cluster-id /
//     EVENTSTORE_CLUSTER_ID) is refused and logged on both sides, and
//     nothing of it is merged.
//   - TestPartitionIsolatedMaster (netns): the master's internal link cut
//     while clients write and read on every node: the old master
//     acknowledges nothing, the majority elects a master, the history is
//     linearizable, nothing acknowledged is lost after healing.
//   - TestMaxTruncationRefusal (netns): the healed old master would have
//     to cut its unreplicated tail; with --max-truncation 1 it stops and
//     names the option, and refuses again when restarted.
//   - TestWipedSlaveRejoins (wipe_test.go): a Slave killed -9 loses its
//     whole database directory, or only raft-state.chk, and restarts
//     with the same options while clients write: writes keep being
//     acknowledged, it is Slave again in every gossip within maxRejoin
//     (from the gossip and election intervals), its log shows the vote
//     guard armed, its floor fixed and the guard done, it holds every
//     acknowledged event, the history is linearizable, no term has two
//     masters. master-down-while-guarded: a Slave loses raft-state.chk
//     (or its whole directory) and the master is killed before it
//     restarts: no master appears while the master is down (the guarded
//     node refuses the survivor's votes; a wiped one has no membership
//     and cannot bootstrap with two nodes alive); once the old master
//     restarts a master is elected and nothing acknowledged is lost.
//     It found writes in flight on a leadership transfer answered
//     NotHandled(NotReady) that then committed; they are answered
//     CommitTimeout now (store.ErrCommitUnknown) and the check is strict.
//   - TestWorkloadOnSingleNodeIsLinearizable, TestStreamModel: the
//     recorder and the model themselves (the model rejects lost writes,
//     stale reads, double exact-version successes...).
//   - TestFailoverFigures (-tags long): 20 kills, median and max of the
//     election and of the agreement after it.
//
// The history tests share one frame (scenario_test.go): settle (agreed
// master, then WaitSettled), runWorkload (a Workload in the background
// recording a History), workloadRun.Verify (acknowledged appends,
// linearizable, on every node). A history that is not linearizable is
// described by DescribeViolations: the first time at which what was
// known was already illegal (bisection over knownAt, which is monotonic
// where prefixes in call order are not), the ops before it with the
// node that served each, stale reads marked, and that time on the node
// logs' clock; the node logs of a failed test are kept in
// /tmp/clustertest-logs-<test>-*.
//
// Network namespaces (netns.go): a namespace per node with an internal
// and an external link on two bridges in the root namespace, where the
// test and its clients run; cutting a node's internal link isolates it
// from the other nodes while clients still reach it.
//
// Clients log in after WaitSettled: a slave that has not yet received the
// default users refuses the login (it takes it as soon as they arrive).
package clustertest
