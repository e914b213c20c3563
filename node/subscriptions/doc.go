// Package subscriptions pushes newly committed events to clients: volatile
// subscriptions to one stream or to $all (spec tcp-client-protocol §4.12),
// which 4.0 clients also use to go live in catch-up subscriptions (§6).
//
// # What it owns
//
// The registry of volatile subscriptions, one store.Reader that follows
// $all, one that resolves links and reads a stream's last event number,
// and the encode buffers. All of it belongs to one goroutine (run).
//
// # Goroutines
//
//	writer goroutine: OnCommitted → poke (non-blocking send on a 1-slot chan)
//	tcpsvc worker:    Subscribe (after the access check) → pending list (mutex, O(1))
//	event loop:       Sub.Unsubscribe / Sub.Close → atomic flag + poke
//	run:              admit pending (send confirmation) → read $all page → push
//	                  to the stream's and $all's subscribers → ... → wait for poke
//
// The confirmation and all pushes of a subscription are sent by run, so
// the client sees them in that order, and SubscriptionDropped{Unsubscribed}
// after any push already under way.
//
// # Why catch-up has no gap and no duplicate
//
// run reads $all in commit order and sets last = the commit position of the
// last event it pushed (initially the store's last commit, read after the
// end of the log was fixed). A new subscriber is admitted between pages
// with LastCommitPosition = last: every event above it is pushed to it,
// every event at or below it is readable, and last_event_number (read
// after admission) covers at least those events. Clients read history up
// to the confirmation and drop live events they already read (by position
// on $all, by number on a stream), spec §4.6 rules 2 and 4.
//
// # Limits and slow subscribers
//
// SubscriptionsMax bounds the node's subscriptions (ErrTooManySubscriptions,
// tcpsvc answers NotHandled TooBusy). run never blocks on a connection:
// Conn.Send queues to the reactor, whose per-connection send limit closes a
// connection that cannot keep up (as the original's TcpConnectionManager);
// a failed Send removes the subscription at once. Writers never wait for
// subscribers: OnCommitted only pokes. ReadBatch bounds the page read per
// step (and so the events held between admissions).
//
// # Persistent subscriptions (PersistentService, spec §5)
//
// Competing-consumer groups "<stream>::<group>". One goroutine (prun) owns
// every group: its buffer (retry list in event-number order, then new
// events), the in-flight table (event id → message, consumer, deadline),
// the set of pending event numbers, consumers and statistics.
//
//	tcpsvc worker / HTTP handler: Create, Update, Delete, Connect, Pull,
//	    ReplayParked, Groups → closure on the bounded inbox (full → ErrBusy /
//	    NotHandled TooBusy); replies run on prun
//	event loop: Ack, Nak, Disconnect → inbox (an ack lost to a full inbox
//	    is redelivered after the timeout; a lost disconnect is retried from
//	    a goroutine)
//	writer goroutine: OnCommitted → poke; op.Done → completion list + poke
//	ticker (or the test): Tick → inbox; timeouts, time-based checkpoints,
//	    retries of failed park writes
//
// Storage (implementation choice, spec §5.1): the whole set of groups is
// one PersistentConfig1 JSON event in $persistentSubscriptionConfig,
// rewritten on every change and read at Start; checkpoints are
// SubscriptionCheckpoint events (bare number) in
// $persistentsubscription-<id>-checkpoint; parked events are links in
// $persistentsubscription-<id>-parked with the original's metadata.
//
// Checkpoint rule: the checkpoint is the last event number all of whose
// predecessors are done (acked, skipped, or parked with the park write
// durable), so it is never ahead of the oldest unacknowledged event. A
// failed checkpoint write is retried on the next tick or done event; the
// group keeps delivering meanwhile. After a restart a group resumes at
// checkpoint + 1 (events acked after the last checkpoint are delivered
// again, as in the original).
//
// Limits: the inbox (PersistentOptions.InboxMax), groups (GroupsMax),
// a group's buffer (history + live buffer size, at most 100,000), a pull
// (100), ids taken from one ack/nak (10,000, in tcpsvc), a consumer's
// in-flight messages (its allowed_in_flight).
//
// Protocol version 0 (V1) clients get converted event numbers in
// confirmations and pushes (spec tcp-client-protocol §4.14), volatile
// here (one extra encoding per event only when a number changes) and
// persistent in tcpsvc. Pushed links are resolved without checking the
// target stream's ACL, as 4.0.3 does (see resolveLink).
//
// Not here yet: the original's exact statistics JSON, persistent
// subscriptions only on the master in a cluster (the service runs on
// every node; tcpsvc refuses the commands on slaves).
package subscriptions
