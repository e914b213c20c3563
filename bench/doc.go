// Package bench is the load tool of eventstored (built as bin/esbench from
// bench/cmd/esbench): closed-loop workloads over the TCP protocol (through
// package client) and HTTP, the same write workload against peer databases
// (Redis Streams, PostgreSQL, NATS JetStream) started from bench/peers/*.sh,
// and the reports (one-line summary, JSON, Markdown, SVG plots).
//
// # Measurement
//
// Every client sends a request, waits for its reply and sends the next
// (closed loop); Config.InFlight > 1 gives each client several such loops
// sharing its connection. Requests that complete during the warm-up are
// not counted. The measured window opens when the warm-up ends and closes
// after Config.Duration or Config.Requests requests; throughput is events
// completed in the window over its length. Latencies go to HDR histograms
// (1 µs .. 60 s, 3 significant figures) held in 16 mutex-guarded shards;
// throughput is sampled every Config.Interval for the over-time plot.
// Failed requests are counted by kind (client error Kind(): wrong expected
// version, timeout, not_master, …), not timed.
//
// CPU: the user + system time of the server (its pid known: --start-node
// or --pid) and of the tool itself over the window, from /proc/<pid>/stat
// (10 ms ticks), is reported in total (cores) and per completed request
// (µs/request): on a machine shared by both, throughput follows the sum.
// For a profile of the node, start it with EVENTSTORED_CPUPROFILE=<file>
// (and EVENTSTORED_TRACE=<file> for an execution trace); the tool
// inherits its environment to a node it starts.
//
// # Drivers
//
// The eventstored TCP write workload runs by default on the tool's own
// event loops (Config.Driver "loops", loops.go): the reactor's gnet
// Dialer holds the connections, each reply is decoded and checked on the
// loop that read it and the slot's next request is encoded into the
// connection's send buffer at once, so a request costs the tool a share
// of one read, one write and one epoll wake-up and no goroutine hand-off.
// Everything else (reads, mixed, the HTTP and peer targets, and writes
// with --driver client) runs through the targets' clients.
//
// # Goroutines
//
// With the client driver Run starts one goroutine per client × in-flight
// slot; with the loop driver the dialer's event loops (one per CPU) and
// one timeout sweeper; plus one sampler. Everything ends before Run
// returns. Targets' sessions are shared by the clients assigned to them
// and must be safe for concurrent use.
//
// # Suite
//
// Suite runs the standard suite (bin/esbench suite): a durable node started
// from bin/eventstored with its database in a temp dir, then 1, 16 and 256
// clients × 1 event, 16 clients × 100 events, a $all read and 10,000 idle
// connections, and the same writes against each installed peer, and writes
// bench/results/<timestamp>/{report.md,results.json,*.svg}.
package bench
