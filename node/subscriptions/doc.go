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
// Not here yet: persistent subscriptions (spec §5), V1 (protocol version 0)
// event number conversion in pushes, per-event ACL checks of resolved link
// targets.
package subscriptions
