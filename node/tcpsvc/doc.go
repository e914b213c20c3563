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
//	             → credentials from the cache (auth.AuthenticateCached)
//	   ├─ write-type command: access check → store.DB.Submit(op) → return
//	   │      writer goroutine: op.Done encodes the reply into a pooled buffer → Conn.Send
//	   └─ read, or cache miss: enqueue on the worker queue (full → NotHandled TooBusy)
//	          worker: authenticate if needed → access checks → read with its own
//	          store reader → encode into its own buffer → Conn.Send
//
// Payload bytes are copied once, into the request's pooled buffer, because
// gnet reuses its read buffer after the callback; decoded strings and byte
// slices are views into that copy and live until the request is released
// (after Done for writes, after the reply for reads).
//
// # Replies to commands this server does not implement yet
//
// Volatile and persistent subscriptions are not implemented yet.
// SubscribeToStream, ConnectToPersistentSubscription and the persistent
// subscription management commands are answered with BadRequest carrying
// the request's correlation id and the text "<command> is not supported by
// this server yet". Both clients then fail that one operation with that
// message and keep the connection: NotHandled would make them retry for
// ever, and SubscriptionDropped would look like a legitimate server-side
// drop. Acks, naks and UnsubscribeFromStream (which get no reply in the
// protocol) are ignored. ScavengeDatabase answers the 4.x
// ScavengeDatabaseCompleted: Failed "Access denied." for users outside
// $admins/$ops, else Failed "Scavenging is not supported by this server
// yet.".
//
// # Single node
//
// The node is always the master: require_master is accepted and ignored
// (spec §4.13). Until auth has created the default users, every command
// except the connection-level ones gets NotHandled NotReady.
package tcpsvc
