// Package httpfront serves the node's HTTP interfaces (external and, in a
// cluster, internal) with fasthttp: the AtomPub stream API, users, admin,
// stats, gossip, health and Prometheus metrics, behaving as Event Store
// 4.0.3 does (spec http-api.md; cluster-and-options.md §2.2–§2.4, §3.4).
//
// # What it owns and what it leaves to others
//
// It owns routing, content negotiation, request parsing, AtomPub/JSON/XML
// rendering, absolute links, HTTP caching headers, the long poll, a small
// response cache and the HTTP listener (Server). It owns no state of the
// database: writes go to the store's single writer (Store.Submit) and
// reads through store readers taken from a bounded pool; users, passwords
// and ACLs belong to node/auth. The composition root (package node) builds
// one Handler per HTTP interface with NewHandler and serves it with
// NewServer.
//
// # Goroutines
//
// fasthttp runs each connection on its own goroutine and calls the handler
// there. Handlers block until the store replies (a write waits for its
// Done callback, bounded by the request timeout, default 10 s → 408), so
// no work outlives the handler: nothing from a RequestCtx is kept after
// it returns. The one exception is a write that times out: the store still
// owns the op, so the per-request state is dropped instead of pooled.
// Done callbacks and the commit notification run on the store's writer
// goroutine and only signal channels.
//
// # The request pipeline (spec §1.2)
//
//  1. authentication: Basic (cached by auth), ES-TrustedAuth when enabled,
//     else anonymous; failures answer 401/503 before routing;
//  2. routing on percent-decoded path segments: literal segments beat
//     placeholders, a trailing slash is significant (router.go);
//  3. OPTIONS → 200 with CORS; 4. method → 405;
//  5. request Content-Type → 415; 6. ?format= / Accept → 406 (media.go);
//  7. the handler: header checks in the spec's order, body, operation.
//
// At step 7 a node that is not the master may answer otherwise
// (forward.go, cluster-and-options §7.3, Deps.Cluster): stream writes,
// persistent subscriptions and users are proxied to the master's
// internal HTTP; ES-RequireMaster: True is a 307 to the master's
// advertised external HTTP; in Unknown and the not-ready states 503.
// /info reports the node's state.
//
// Every reply carries the CORS headers of §6.1; errors are status-only
// with the reason phrase of Appendix A in the status line; every 401 has
// WWW-Authenticate: Basic realm="ES".
//
// # Hot paths and limits
//
// GET /streams/{s}/{n} of a cached event allocates nothing (proved by
// TestGetCachedEventAllocatesNothing): stream names are interned (bounded
// table), the route and media lookups work on bytes, JSON is written by an
// append-style writer (jw) and immutable single-event responses are kept in
// a bounded cache keyed by everything the body depends on, including the
// stream's metadata version (cache.go explains invalidation). POST of an
// events+json body parses by hand into a per-request arena (parsefast.go,
// checked against the encoding/json reference by fuzzing).
//
// Limits: request body 16 MiB (Config.MaxRequestBodySize, → 413), request
// line + headers 16 KiB (Config.ReadBufferSize, → 431), 60 s to read a
// request or write a response, 5 min keep-alive idle, 10,000 connections
// (Config), the 10 s answer deadline (Options.RequestTimeout, → 408 for
// writes; reads wait at most that long for a pooled reader, → 503), gzip
// or deflate for bodies ≥ 256 bytes when asked, 4 MiB of data +
// metadata per event (→ 413, spec §2.3.1), 10,000 events per POST, 4096
// events per read page (→ 500, spec §2.5.1), 16 path segments, 32 Accept
// elements considered, proxying to the master at most 64 connections (1 s
// wait for one, the 10 s answer deadline, 64 MiB replies), ES-LongPoll
// ≤ 3600 s, store readers pooled up to Deps.ReadersMax, interned names ≤ 16,384, response cache ≤ 4096 entries
// and 32 MiB with a 1 s TTL, XML nesting ≤ 64.
//
// # Deliberate differences from 4.0.3
//
//   - events+json data/metadata: arrays are kept and strings holding JSON
//     are parsed, as 4.1+ does (4.0.3 silently stored nothing for arrays).
//   - An event over 4 MiB gets 413 and is not written (4.0.3 wrote it).
//   - GET /gossip answers on a single node (4.0.3 let it time out).
//   - "prettybody" is accepted as an embed level besides "pretty".
//   - Hostile Host/X-Forwarded-* values (characters outside host syntax)
//     are ignored when building links.
//   - /health/live, /health/ready and /metrics are additions.
package httpfront
