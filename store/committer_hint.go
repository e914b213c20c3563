package store

import "time"

// ObserveCommitLatency is called by a Committer (any goroutine) with how
// long a batch took from Commit to its ApplyBatch. The writer's gather
// heuristic (writer.run) waits up to half of it, within FlushDelayMax,
// for closed-loop clients acknowledged by the last batch to come back,
// as it does with the single-node flusher's fsync time; without it a
// cluster writer hands each batch over at the first free pipeline slot,
// a few microseconds before the clients that slot's batch just
// acknowledged can submit again, and every write waits for one more
// batch. (Owned by the cluster committer; store/pipeline.go keeps the
// value.)
func (db *DB) ObserveCommitLatency(d time.Duration) { db.pipe.lastFlushNs.Store(int64(d)) }
