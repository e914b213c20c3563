// Package tcpsvc is the client command service behind the external TCP
// listener: it gives meaning to every package the reactor hands over
// (spec tcp-client-protocol §2-§4) and answers with the protocol's replies.
//
// # What it owns
//
//   - Per-connection session state (Session): default credentials stored by
//     Authenticate, the identified client name and protocol version.
//   - The bounded worker pool. Each worker owns one store reader and one
//     reply buffer; it runs reads and any authentication that misses the
//     credential cache (PBKDF2 plus a store read).
//   - The open-transaction table (transaction id → stream) used for the
//     access check of TransactionWrite / TransactionCommit, which name only
//     the id.
//
// It leaves framing, heartbeats, back-pressure and socket I/O to reactor,
// storage semantics (expected versions, idempotency, reads) to store, and
// credential and ACL rules to node/auth.
//
// # Goroutines and the request path
//
// Session.Handle runs on the connection's gnet event loop and never blocks:
//
//	event loop:  decode header → copy payload into a pooled request → decode DTO
//	             → credentials: the connection's last accepted ones while auth says
//	               they hold (auth.Valid), else auth's shared cache
//	               (auth.AuthenticateCachedGen); credentials that failed
//	               recently are refused here (auth.KnownBad)
//	   ├─ write-type command: role check → access check → store.DB.Submit(op) → return
//	   │      (metadata not cached for the check: enqueue; the worker checks and submits)
//	   │      writer goroutine: op.Done encodes the reply into a pooled buffer and
//	   │        queues it (reactor.SendBatch); after the group commit's last Done
//	   │        (store OnOpsDone) each connection's replies leave in one write,
//	   │        from the writer goroutine itself when nothing else of that
//	   │        connection is on its way through the loop
//	   └─ read, or cache miss: enqueue on the worker queue (full → NotHandled TooBusy)
//	          worker: authenticate if needed → access checks → read with its own
//	          store reader → encode into its own buffer → Conn.SendDirect (the
//	          worker writes the socket itself when nothing else of the
//	          connection is on its way through the loop)
//
// Payload bytes are copied once, into the request's pooled buffer, because
// gnet reuses its read buffer after the callback; decoded strings and byte
// slices are views into that copy and live until the request is released
// (after Done for writes, after the reply for reads).
//
// The write access check of a non-admin needs the stream's metadata,
// which the store caches but reads from the index and log on a miss. On
// the event loop the check is cache-only (auth.CheckStreamAccessCached);
// a miss hands the built request to a worker (request.aclPending), which
// checks with the read and submits, so a disk read never stalls the other
// connections of a loop (TestWriteACLMetadataMissDoesNotBlockLoop;
// Stats.WriteACLMisses counts them). Admins skip the lookup.
//
// # Limits
//
// Worker queue (Options.WorkQueueMax, NotHandled TooBusy beyond it),
// forwards pending on the master (ForwarderOptions.InFlightMax, TooBusy), store
// writer queue (store's, TooBusy), open-transaction table
// (Options.TransactionsMax, oldest forgotten), read page (4096, Error), a
// read reply over the 64 MiB frame limit (Error "read fewer events"),
// reply buffers kept by workers and pools (1 MiB; bigger ones are
// dropped after use). Outbound bytes per connection are the reactor's.
//
// # Subscriptions
//
// SubscribeToStream is decoded and authenticated like a read and runs on a
// worker: the read access check (stream, or $all for "") happens there at
// subscribe time (SubscriptionDropped{AccessDenied} if refused), then the
// subscription goes to Options.Subscriptions, whose goroutine sends the
// confirmation and the pushes. The session maps correlation ids to its
// subscriptions for UnsubscribeFromStream (unknown id: no reply) and
// removes them silently when the connection closes.
//
// Persistent subscription commands (Create/Update/Delete/Connect) run on
// a worker too (admin/ops check for management, read access for connect;
// master only, spec §4.13) and are answered from the persistent service's
// goroutine (persistent.go). Acks and naks are decoded on the event loop,
// their ids copied, and posted to that service without blocking.
//
// # Replies to commands this server does not implement yet
//
// Without Options.Subscriptions / Options.Persistent, SubscribeToStream
// and the persistent subscription commands are answered with BadRequest carrying the request's
// correlation id and the text "<command> is not supported by this server
// yet". Both clients then fail that one operation with that message and
// keep the connection: NotHandled would make them retry for ever, and
// SubscriptionDropped would look like a legitimate server-side drop. Acks
// and naks (which get no reply in the protocol) are ignored.
// ScavengeDatabase answers the 4.x
// ScavengeDatabaseCompleted: Failed "Access denied." for users outside
// $admins/$ops, else Failed "Scavenging is not supported by this server
// yet.".
//
// # Master, slave, not ready; forwarding
//
// Options.State reports the node's state and, in the replica states, the
// master's advertised MasterInfo. admit (role.go) applies the one table
// of spec cluster-and-options §4.3 (cluster.Decide) to every command
// after authentication, as in the original: serve, NotHandled NotReady,
// NotHandled NotMaster with the master's endpoints, or forward. Without a
// State (a single node) the node is always the master. Until auth has
// created the default users, every command except the connection-level
// ones gets NotHandled NotReady.
//
// Writes without require_master on PreReplica/CatchingUp/Clone/Slave go
// to Options.Forwarder (forward.go, spec §7.1): one connection from a
// reactor.Dialer to the master's internal TCP, re-dialled when the node
// points it at another master; the same command under a node-local
// internal correlation id with the client's credentials (TrustedWrite for
// the system account); the master's reply, NotHandled included, relayed
// under the client's id; a deadline of PrepareTimeout + CommitTimeout +
// 300 ms, then the command's completion with ForwardTimeout "Forwarding
// timeout". Limits: Options.Forwarder's InFlightMax pending forwards
// (beyond: NotHandled TooBusy); no connection to the master yet:
// NotHandled NotReady at once. The forward path allocates nothing
// (TestForwardPathAllocatesNothing). On the master, forwarded commands
// arrive on the internal listener (InternalHandler) and run like any
// client's, except that a node which is not the master either does not
// forward them again: it answers NotMaster with the master it knows (or
// NotReady), which the first node relays; a
// TrustedWrite package (internal listener only, the reactor refuses it
// elsewhere) runs as the system account.
//
// # Client protocol version
//
// A client that identifies with version 0 (V1) gets the conversion of spec
// §4.14: int64 max becomes int32 max, other event numbers are truncated to
// 32 bits, in ReadStreamEventsCompleted.last_event_number and the event
// numbers of $all reads (ReadEvent replies are never converted). A client
// that never identifies gets V2 replies; the original assumes V1 there,
// but every client of the 4.x line identifies, and V2 cannot corrupt a
// number.
package tcpsvc
