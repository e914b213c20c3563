// Package client is the Go client of the external TCP protocol of
// eventstored (and of Event Store 4.0.x): writes with expected versions,
// reads of one event, of streams and of $all in both directions, deletes,
// raw stream metadata and explicit transactions.
//
// # Usage
//
//	c, err := client.Dial(ctx, "127.0.0.1:1113", client.Options{
//		Credentials: &client.Credentials{Login: "admin", Password: "changeit"},
//	})
//	...
//	res, err := c.AppendToStream(ctx, "orders-1", client.ExpectedNoStream,
//		client.EventData{ID: client.NewGUID(), Type: "OrderPlaced", IsJSON: true, Data: body})
//	var wev *client.WrongExpectedVersionError
//	if errors.As(err, &wev) { ... wev.CurrentVersion ... }
//
// # What it owns
//
// One TCP connection per Client, with goroutines of its own: a reader that
// splits frames and matches replies to requests by correlation id, a
// writer, and a heartbeat timer. An operation writes its frame itself when
// no write is in progress; frames queued meanwhile by other operations go
// out with the current write's next Write call, so concurrent requests
// share syscalls. The writer goroutine sends only what the reader and the
// timer queue (heartbeats), since those must never block on a full socket.
// Any goroutine may call any method: requests pipeline on the connection
// up to Options.MaxInFlight outstanding.
//
// # Lifecycle (spec tcp-client-protocol §4.1, §4.2)
//
// Dial connects, sends Authenticate when credentials are given, then
// IdentifyClient{version 1}, and returns once ClientIdentified arrives.
// After HeartbeatInterval (750 ms) without receiving anything the client
// sends a HeartbeatRequest; if nothing at all arrives within
// HeartbeatTimeout (1,500 ms) after that, it closes the connection. It
// answers the server's heartbeat requests. A BadRequest with the all-zero
// correlation id closes the connection (spec §4.15). With
// Options.Reconnect, a dropped connection is re-established (new
// handshake) and requests in flight at the drop are sent again on it (a
// write resent with the same event ids is idempotent, spec §4.5); without
// it they fail with ErrConnectionClosed.
// Options.OperationTimeout bounds an operation whose context has no
// deadline without a timer of its own: the request carries its deadline
// while it is pending and the heartbeat timer sweeps the pending requests
// every OperationTimeout/8 (at most every second, as the official clients
// check every second) while any has one, failing the late ones with a
// timeout; so an operation may end up to that period after its deadline.
// An operation answered NotHandled NotReady or TooBusy is sent again up to
// Options.MaxRetries times (spec §2.2); no other outcome is retried.
//
// # Errors
//
// Expected outcomes are typed errors that match sentinels with errors.Is:
// *WrongExpectedVersionError (with the current version), *StreamDeletedError,
// *AccessDeniedError, *NotAuthenticatedError, *NotHandledError (with the
// reason and, for NotMaster, the master's endpoints), *BadRequestError (with
// the server's text), *ServerTimeoutError, *ServerError. Every error also
// has a Kind() string used by the load tool's reports.
//
// # Allocation
//
// Requests are encoded with the codec's Append functions into pooled
// buffers, and replies are decoded into pooled messages, so AppendToStream
// and the Raw read methods allocate nothing in steady state, with or
// without a deadline on their context. The
// convenience reads copy each page into one arena so the returned events
// are the caller's to keep.
//
// # Subscriptions
//
// SubscribeToStream (volatile, a stream or $all), CatchUpStream and
// CatchUpAll (history, then live, each event once and in order: the
// client subscribes first, buffers live events while it reads history up
// to the confirmation, then drops live events history already delivered,
// by event number on a stream and by position on $all), and
// ConnectToPersistentSubscription. Push callbacks run on the connection's
// reader goroutine; catch-up callbacks on the subscription's own.
//
// Cluster discovery by gossip is not implemented yet.
package client
