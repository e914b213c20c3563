// Package errorfs wraps a vfs.FS and injects errors, so storage code can be
// tested against every failure a disk can produce: the Nth operation fails
// (InjectIndex), operations matching a predicate fail (InjectIf), or the
// disk fills up (FS.SetCapacityBytes: writes and preallocations beyond the
// capacity fail with ENOSPC).
//
// Modelled on cockroachdb/pebble vfs/errorfs. Safe for concurrent use; the
// operation counter is shared by every goroutine, so index-based injection
// is only deterministic when the code under test is.
//
// What it owns: fault injection only. Files it wraps do not implement
// vfs.Mappable, so every read of code under test goes through the injector.
// Capacity accounting covers files created or opened through the wrapper
// (a file's share is the larger of its size and its preallocation); Remove
// and shrinking Truncate give space back.
package errorfs
