// Package reactor owns every TCP connection of the node: gnet event loops,
// connection lifecycle, framing, the per-loop timer wheel that drives
// heartbeats, and per-connection back-pressure. It knows the frame layout
// (codec) but not what commands mean: every whole package except
// heartbeats goes to a Handler, and replies come back through Conn.Send.
//
// # Goroutines
//
//   - gnet event loops (Config.NumEventLoops, default one per CPU) run
//     Handler.OnOpen, OnPackage and OnClose, the read path and all writes to
//     the socket. Nothing there blocks, fsyncs or waits for a reply.
//   - Any goroutine may call Conn.Send / BeginSend+EndSend / Close /
//     UserData. Frames are appended to the connection's pending buffer under
//     a short mutex; the first frame after a flush queues one flush on the
//     connection's loop (EventLoop.Execute), which hands everything pending
//     to gnet in one write, so frames sent by many goroutines to one
//     connection (forwards to the master, pushes) share writes. Replies
//     sent from inside OnPackage are flushed when OnTraffic returns, so a
//     burst of pipelined requests gets one write for all its replies.
//   - Conn.SendDirect (and EndSendDirect), for one reply or one burst of
//     frames from a goroutine that is not the loop (a worker's read reply,
//     a page of subscription pushes): when nothing of the connection is on its way
//     through the loop (no flush queued, the loop not writing it, gnet
//     holding none of its bytes), the sender writes the socket itself,
//     under that mutex (a non-blocking write; no hop to the loop, no
//     wake-up); what the socket does not take goes to the loop. Per
//     connection, frames leave in the order they were queued, whichever
//     way they go.
//   - SendBatch (batch.go) gathers a burst of replies to many connections
//     (the acknowledgements of one group commit): Send queues without
//     writing, Flush writes each connection's frames in one write —
//     directly for up to DirectFlushMax connections, else by handing the
//     connections to their loops, one runnable per loop, so that the single
//     store writer does not spend a socket write per ack.
//   - The fd a direct write uses is valid while the connection is not
//     closing: gnet calls OnClose (which marks it closing under the same
//     mutex) before it closes the fd, so a direct write never reaches a
//     reused descriptor.
//   - gnet's single ticker goroutine calls OnTick every Config.HeartbeatTick
//     and queues a wheel step on each loop; each wheel is only touched by
//     its own loop.
//
// # Read path
//
// OnTraffic peeks at the four length bytes; a length ≤ 0 or > 64 MiB is a
// framing error at once. Otherwise it waits until the whole frame is
// buffered (gnet's inbound buffer holds at most one partial frame, so
// per-connection read memory is bounded by 64 MiB + 4), decodes the header
// and auth block, and dispatches. Slices from Peek never outlive the
// callback: the Handler must copy what it keeps.
//
//	in:  [len][cmd flags corr-id [auth] payload][len]...
//	     HeartbeatRequest  -> HeartbeatResponse, same id (reactor)
//	     HeartbeatResponse -> traffic only
//	     TrustedWrite flag on an external listener -> BadRequest(id) + close
//	     bad length / < 18 bytes / bad auth block -> BadRequest(zero id) + close
//	     anything else -> Handler.OnPackage
//
// # Heartbeats (spec tcp-client-protocol §4.2, cluster-and-options §8.1)
//
// Every read event bumps the connection's counter. A check runs Interval
// after the previous one: if nothing was received the loop sends a
// HeartbeatRequest with a random id and checks again after Timeout,
// closing with ErrHeartbeatTimeout if still nothing came; if something was
// received but nothing was sent during the interval, it sends a request
// anyway so the peer's own timer sees traffic. Checks sit on a hashed
// timer wheel per loop (O(1) to schedule, cancel and fire; no timer per
// connection). Config.Now is the clock seam tests drive.
//
// # Back-pressure
//
// A connection is closed with a BadRequest (zero id, the original's text
// "Connection pending send bytes is too large: N." or "Connection queue
// size is too large: N.") when its unsent bytes — the reactor's pending
// buffer plus what gnet still holds for the socket — exceed
// PendingSendBytesMax (10 MiB), or when more than PendingSendPackagesMax
// (50,000) packages wait in the reactor. A slow reader only fills its own
// buffers; other connections on the same loop are not delayed.
//
// # Stats
//
// Server.Stats returns connection counts, bytes/packages in and out and
// socket writes (Writes, of which DirectWrites by the sending goroutine)
// for /stats and /metrics; the counters are atomics updated on the hot
// path.
//
// # Stop
//
// Server.Stop only signals gnet's engine and waits for gnet.Run to return,
// which it does once every loop has closed its connections (OnClose ran
// for each) and the listener is closed: about a millisecond, where gnet's
// own Engine.Stop would poll for up to 500 ms (BenchmarkServerStop,
// TestStopReturnsWhenEngineIsDown). Dialer.Stop is gnet's Client.Stop,
// which already waits without polling.
//
// # Measured (node CPU per TCP write, 2-core VM shared with four other
// engineers' benchmarks, load 5-14)
//
// bin/esbench write --start-node <node> --clients 256 --duration 5s, base
// = main at the start of the session (328c093) run alternately with this
// branch, pairwise ratios (this branch / base):
//
//	256 clients, 1 connection each   three sets of 5 pairs (08:55, 09:00, 09:05):
//	                                 events/s median 1.20, 1.17, 1.01 (range 0.92-1.80)
//	                                 node CPU/request median 0.97, 1.01, 0.92 (0.85-1.06);
//	                                 last set 15.2 → 14.2 µs/request, every pair lower
//	                                 (13-19 µs/request either way, rising with the load)
//	256 clients on 8 connections     events/s 0.94-1.65 (median 1.12), CPU/request 0.84-1.05
//	1 client                         events/s 0.87-1.23 (median 1.06), p50 0.33-0.46 ms both
//
// Where a write's node CPU goes (perf record -g -p <node> and pprof, 256
// clients): the reply's socket write ~4.4 µs (loopback TCP, waking the
// client), the request's read ~1.1 µs, epoll ~0.9 µs, the group commit's
// fdatasync ~1.1 µs per event, the Go scheduler around blocking syscalls
// (sysmon retaking Ps from the loops' epoll_wait and the fsync, thread
// wake-ups, context switches: ~25 % of the node's samples; GOMAXPROCS 4 or
// 8 moves it from sysmon to the scheduler without a net gain); the rest
// (decode, auth, writer, index, encode) ~5 µs. The hand-off per reply to
// the loop (EventLoop.Execute, eventfd, wake-up) that SendBatch and
// SendDirect remove was ~0.7 µs plus the loop's wake-up.
//
// Imports: codec only (plus gnet). The node package wires a Handler in.
package reactor
