// Package auth owns users, groups, credentials and stream access control
// (ACLs) of the node, following Event Store 4.0.3 (spec tcp-client-protocol
// §4.3, http-api §4.8 and §5).
//
// # What it owns
//
//   - User records. Each user lives in the stream "$user-<login>": events of
//     type "$UserCreated" / "$UserUpdated" whose JSON body is
//     {"loginName","fullName","salt","hash","disabled","groups","hashAlg"}.
//     Only the latest event counts. The "$users" stream lists every login
//     ever created (type "$User", body = the login as UTF-8, not JSON), and
//     "$users-password-notifications" receives a "$PasswordChanged" event
//     whenever cached credentials must be dropped. These are the stream
//     names and event types of UserManagementService.cs in 4.0.3, so tools
//     that read them see the same shapes.
//   - Password hashing: PBKDF2-HMAC-SHA256 with a 16-byte random salt (the
//     original uses PBKDF2-HMAC-SHA1 with 1,000 iterations, which is too weak
//     to keep). The iteration count travels in the record ("hashAlg"), so
//     it can be raised without invalidating stored users.
//   - The credential cache: verified (login, password) pairs are remembered
//     for Options.CacheTTL (default 60 s) as a SHA-256 of a per-process key
//     and the password, never the password itself. Any change to a user
//     through this package drops that user's entry at once. The cache holds
//     at most Options.CacheEntriesMax logins. A cache hit allocates nothing
//     and takes a read lock only, so a gnet loop may call
//     AuthenticateCached; a miss costs one PBKDF2 and a store read and must
//     run off the event loops (Authenticate). Credentials that failed are
//     remembered the same way for Options.FailedCacheTTL (default 5 s;
//     KnownBad), so a client repeating wrong credentials costs no PBKDF2
//     after the first failure. A refusal for a login that does not exist
//     is not remembered (it cost no PBKDF2; on a cluster node the user
//     may only not be replicated yet), and an answer is cached only if no
//     invalidation happened while it was computed. A connection may keep
//     an answer (AuthenticateCachedGen → CachedCredential) and reuse it for
//     the same credentials while Valid: not expired and the cache's
//     generation unchanged (it moves whenever an entry is remembered,
//     replaced, evicted or invalidated), which costs an atomic load and a
//     clock read instead of the lock and the SHA-256.
//   - On a cluster node (StartReplica), ErrNotReady while no user has
//     been replicated to it yet ($users absent: it cannot judge
//     credentials; clients retry NotReady), and a watcher that follows $users,
//     $users-password-notifications and $settings as commits are applied
//     (CommitNotifier) and invalidates what changed on another node,
//     as Event Store's PasswordChangeNotificationReader does.
//   - ACL evaluation (CheckStreamAccess) per spec §4.3: metastream mapping to
//     $mr/$mw, per-stream $acl from metadata, $settings defaults
//     ($userStreamAcl / $systemStreamAcl), built-in defaults, $admins
//     override, and the always-denied operations (write/delete $all,
//     delete/meta operations on a metastream itself).
//
// # What it leaves to others
//
// Auth never talks to clients. The TCP service and the HTTP front call it
// and translate its sentinel errors into their protocol's replies. Storage
// goes through the Backend seam (NewDBBackend adapts *store.DB); tests may
// substitute an in-memory Backend.
//
// # Concurrency
//
// Every exported method of *Service is safe for concurrent use.
// AuthenticateCached and CheckStreamAccessCached never block on I/O (the
// $settings ACL is cached and refreshed by Refresh / NoteStreamWritten;
// stream metadata comes from the store's cache, and a miss is reported as
// undecided rather than read). CheckStreamAccess reads the metadata on a
// cache miss (Backend.StreamMetadata); it and everything else may read or
// write the store and must not run on a gnet event loop.
package auth
