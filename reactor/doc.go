// Package reactor owns every TCP connection of the node: gnet event loops,
// connection lifecycle, framing, the per-loop timer wheel that drives
// heartbeats, and per-connection back-pressure.
//
// The reactor knows the frame layout (codec) but not what commands mean: it
// hands every whole package to a Handler and sends replies given to Conn.Send.
// Nothing in a gnet callback blocks, fsyncs or waits for a reply.
//
// Imports: codec only (plus gnet). The node package wires a Handler in.
package reactor
