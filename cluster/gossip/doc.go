// Package gossip implements Event Store 4.0.3's gossip (spec
// cluster-and-options §3): every node keeps a view of the cluster keyed by
// advertised internal HTTP endpoint, sends it to one random member per
// round (100 ms apart for the first 20 rounds, then GossipIntervalMs) and
// merges the view it gets back.
//
// Beyond 4.0.3: when the node's own state changes (Driver.Nudge, called
// by the cluster service on every consensus state change) the view is
// pushed to every alive member at once, not to one random member: a
// round picks among all members, dead ones included, so after a kill -9
// of the master the survivors could take several random rounds (seen:
// 6.3 s) to agree on the new one; with the push they agree one POST after
// the election. At most one POST per target is in flight (a later one
// waits and then carries the view of that moment), so a peer never
// receives an older view of us after a newer one.
//
// Core is the state machine: it reads no clock and does no I/O; every
// call takes the current time. Exactly one goroutine (the driver's) owns
// a Core. Rules implemented: seeds as Manager placeholders (§3.1), merge
// rules 1-4 (§3.5; rule 2 skips a peer's report about itself that is
// older, by its own clock and by less than 2 s, than one already taken
// from the same instance: two state-change pushes handled out of order),
// liveness (§3.6: failed send, replication connection
// lost/established, 30-minute removal of dead members), the clock-skew
// log (rate-limited to once a minute per peer).
//
// Cluster identity (an extension): node-to-node messages carry the
// cluster's identity in the ES-ClusterId HTTP header (the node sends
// --cluster-id plus its log's chunk size); a message or reply with a
// different identity is refused (ErrForeignCluster, 400 with the reason,
// logged on both sides: the sender reads the refuser's identity from
// the 400's header) and nothing of it is merged, so a mistyped seed
// pointing at another cluster cannot join the two. The JSON body stays exactly the
// 4.0.3 shape, which clients parse.
//
// Wire format (§3.4), indented JSON:
//
//	{ "members": [ {instanceId, timeStamp, state, isAlive,
//	    internalTcpIp, internalTcpPort, internalSecureTcpPort,
//	    externalTcpIp, externalTcpPort, externalSecureTcpPort,
//	    internalHttpIp, internalHttpPort, externalHttpIp, externalHttpPort,
//	    lastCommitPosition, writerCheckpoint, chaserCheckpoint,
//	    epochPosition, epochNumber, epochId, nodePriority}, ... ],
//	  "serverIp": "<advertised int HTTP ip>", "serverPort": <port> }
//
// Members are ordered by internal HTTP endpoint descending (ordinal IP
// text, then port). GUIDs use the .NET layout; times have at most 7
// fractional digits. Limits: MaxMessageBytes per body, MaxMembers per
// message and per view.
package gossip
