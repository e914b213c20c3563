package node

import "github.com/eventstored/eventstored/node/config"

// inertOptions are options the node accepts (they are part of Event
// Store 4.0.3's table, spec §1.8) but that change nothing in this build
// yet, with the reason. New logs a warning for each one a source sets, so
// that an operator is never silently ignored.
var inertOptions = []struct{ name, why string }{
	{"Defines", "run-time conditionals are not implemented"},
	{"MonoMinThreadpoolSize", "it applies to the Mono runtime only"},
	{"StatsPeriodSec", "statistics are computed on request, not collected periodically"},
	{"WorkerThreads", "there is no separate worker pool; event loops and readers are sized by TcpEventLoops and ReaderThreadsCount"},
	{"EnableHistograms", "histograms are not collected"},
	{"LogHttpRequests", "HTTP request logging is not implemented"},
	{"SkipIndexScanOnReads", "reads never scan the index for duplicates"},
	{"IntHttpPrefixes", "HTTP listeners bind IP:port and do not filter on the Host header"},
	{"ExtHttpPrefixes", "HTTP listeners bind IP:port and do not filter on the Host header"},
	{"CommitCount", "a write is acknowledged once a raft majority has it; larger counts are not waited for"},
	{"PrepareCount", "a write is acknowledged once a raft majority has it; larger counts are not waited for"},
	{"DisableScavengeMerging", "scavenging is not implemented"},
	{"ScavengeHistoryMaxAge", "scavenging is not implemented"},
	{"AlwaysKeepScavenged", "scavenging is not implemented"},
	{"CachedChunks", "chunks are read through the OS page cache"},
	{"ChunksCacheSize", "chunks are read through the OS page cache"},
	{"HashCollisionReadLimit", "hash collisions are resolved by checking each candidate record's stream, without a limit"},
	{"WriteThrough", "the store always flushes with fsync at commit"},
	{"Unbuffered", "the store always flushes with fsync at commit"},
	{"PrepareTimeoutMs", "a single node has no prepare phase to time out"},
	{"CommitTimeoutMs", "a single node has no commit acknowledgements to wait for"},
	{"BetterOrdering", "reads do not queue behind writes"},
	{"UnsafeIgnoreHardDelete", "hard deletes are always honoured"},
	{"IndexCacheDepth", "the index has no midpoint cache to size"},
	{"ProjectionThreads", "projections are not implemented"},
	{"AuthenticationConfig", "only the internal authentication provider exists"},
}

// warnInertOptions logs one warning per inert option that a source set.
func (n *Node) warnInertOptions(o *config.Options) {
	for _, io := range inertOptions {
		if src := o.Source(io.name); src != config.SourceDefault {
			n.log.Warn("option accepted but has no effect in this server: "+io.why, "option", io.name, "source", src.String())
		}
	}
}
