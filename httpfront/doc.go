// Package httpfront serves the node's HTTP interfaces (external and, in a
// cluster, internal) with fasthttp: routing built from the interface options,
// AtomPub rendering, admin, stats, users and gossip routes.
//
// Handlers either wait for the node service's reply or copy every input
// before handing off: nothing from a RequestCtx outlives the handler.
package httpfront
