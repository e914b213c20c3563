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
// The partition test (partition_test.go) needs root and `ip`: it puts each
// node in a network namespace of its own, joined by veth pairs to a bridge
// in a fourth namespace where the test's clients run, and cuts the
// master's link; see that file.
package clustertest
