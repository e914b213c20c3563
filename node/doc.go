// Package node is the composition root of eventstored: New builds one node
// from a *config.Options, Start opens the database and binds the
// listeners, Stop takes the node down. The wiring of every service is in
// node.go, in one place.
//
// What it owns: the order of start-up and shutdown, the set of listeners
// per mode (spec cluster-and-options §2.1: a single node opens external
// TCP and external HTTP on ExtIp; a cluster node also opens internal TCP
// and internal HTTP on IntIp), the advertised endpoints (§2.4), the
// process logger, and the node's state (§4.1).
//
// What it leaves to others: framing, heartbeats and connections (reactor,
// codec), the meaning of TCP commands (node/tcpsvc), users and ACLs
// (node/auth), HTTP routing and rendering (httpfront), storage (store).
// In cluster mode (or with GossipOnSingleNode) the node runs the gossip
// driver of cluster/gossip (state_cluster.go); a cluster node also runs
// consensus (cluster/service) and its state follows the elected master:
// the store's writer proposes through consensus.Replicator and the raft
// log is the store's transaction log (consensus.TlogDisk); the default
// users are created by the master (auth.StartReplica serves at once).
// WithoutConsensus leaves a cluster node gossiping in state Unknown. forwarding.go tells tcpsvc and httpfront
// the state and the master (the consensus leader's gossip entry while
// gossip has it alive, checked every 100 ms) and points tcpsvc's Forwarder at the master's internal
// TCP.
//
// Goroutines: New, Start and Stop are called by the owner (cmd/eventstored
// or a test) from one goroutine; Stop at most once after a successful
// Start. State and ShutdownRequested are safe from any goroutine. If Start
// fails, everything it started is stopped before it returns, so a failed
// Start leaves no port bound, no file open and no goroutine running.
//
//	Start:  store.Open → auth.Start (default users) → tcpsvc workers
//	        → ext TCP → ext HTTP → [int TCP → int HTTP] → [gossip]
//	Stop:   all listeners at once (stop accepting, finish in-flight)
//	        → tcpsvc workers → store.Close (flush, close files)
package node
