// Package node is the composition root of eventstored: New builds every
// service of one node from a *config.Options and connects them; Start
// opens the database and binds the listeners; Stop takes the node down.
//
// What it owns: the order of start-up and shutdown, the set of listeners
// per mode (spec cluster-and-options §2.1: a single node opens external
// TCP and external HTTP on ExtIp; a cluster node also opens internal TCP
// and internal HTTP on IntIp), the process logger, and the node's
// externally visible state (reported by /info).
//
// What it leaves to others: the wire protocol and connections (reactor,
// codec), the TCP command service (node/tcpsvc), HTTP routing (httpfront),
// storage (store), clustering (cluster). Until those land, external HTTP
// is served by a small handler of this package that answers /ping and
// /info, and TCP listeners accept connections and discard their input.
//
// Goroutines: New, Start and Stop are called by the owner (cmd/eventstored
// or a test) from one goroutine, Stop at most once after Start. Start
// binds listeners strictly in the order of Options.Listeners; if any bind
// fails, everything started so far is stopped before Start returns, so a
// failed Start leaves no port open and no goroutine running.
//
//	Start:  open store → ext TCP → ext HTTP → [int TCP → int HTTP]
//	Stop:   listeners in reverse (stop accepting, finish in-flight) → store (flush, close)
package node
