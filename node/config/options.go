package config

import (
	"net/netip"
	"strconv"
	"time"
)

// Options is the node's effective configuration: one typed field per option
// of Event Store 4.0.3 (spec cluster-and-options §1.8) plus the options this
// project adds (marked "ours" below and in --help).
//
// Field names follow the option's property name, except that millisecond,
// second and day counts are time.Duration values named without the unit
// (GossipTimeoutMs → GossipTimeout). IP options are netip.Addr; an unset
// advertise-as address is the zero Addr (IsValid() == false).
//
// An Options value is built once by Load (or Default) on the start-up
// goroutine and is read-only afterwards: services may read it from any
// goroutine without locks, and must not modify it.
type Options struct {
	// Application options.
	Help                     bool
	Version                  bool
	Log                      string // log directory; file logging only when set explicitly (see LogGiven)
	Config                   string // YAML file; honoured only from the command line (spec §1.1)
	Defines                  []string
	WhatIf                   bool
	StartStandardProjections bool
	DisableHTTPCaching       bool
	MonoMinThreadpoolSize    int // accepted and ignored (Mono runtime only)
	Force                    bool
	StatsPeriod              time.Duration // StatsPeriodSec
	WorkerThreads            int
	EnableHistograms         bool
	LogHttpRequests          bool
	SkipIndexScanOnReads     bool

	// Interface options.
	IntIp                               netip.Addr
	ExtIp                               netip.Addr
	IntHttpPort                         int
	ExtHttpPort                         int
	IntTcpPort                          int
	IntSecureTcpPort                    int
	ExtTcpPort                          int
	ExtSecureTcpPort                    int
	ExtIpAdvertiseAs                    netip.Addr // zero Addr = not set
	ExtTcpPortAdvertiseAs               int
	ExtSecureTcpPortAdvertiseAs         int
	ExtHttpPortAdvertiseAs              int
	IntIpAdvertiseAs                    netip.Addr // zero Addr = not set
	IntTcpPortAdvertiseAs               int
	IntSecureTcpPortAdvertiseAs         int
	IntHttpPortAdvertiseAs              int
	IntTcpHeartbeatTimeout              time.Duration
	ExtTcpHeartbeatTimeout              time.Duration
	IntTcpHeartbeatInterval             time.Duration
	ExtTcpHeartbeatInterval             time.Duration
	GossipOnSingleNode                  bool
	ConnectionPendingSendBytesThreshold int
	AdminOnExt                          bool
	StatsOnExt                          bool
	GossipOnExt                         bool
	IntHttpPrefixes                     []string
	ExtHttpPrefixes                     []string
	EnableTrustedAuth                   bool
	AddInterfacePrefixes                bool
	UseInternalSsl                      bool
	DisableInsecureTCP                  bool
	SslTargetHost                       string
	SslValidateServer                   bool

	// Cluster options.
	ClusterSize             int
	NodePriority            int
	CommitCount             int
	PrepareCount            int
	DiscoverViaDns          bool
	ClusterDns              string
	ClusterGossipPort       int
	GossipSeed              []netip.AddrPort
	GossipInterval          time.Duration // GossipIntervalMs
	GossipAllowedDifference time.Duration // GossipAllowedDifferenceMs
	GossipTimeout           time.Duration // GossipTimeoutMs

	// Database options.
	MinFlushDelay            time.Duration // MinFlushDelayMs (a double in 4.0.3)
	DisableScavengeMerging   bool
	ScavengeHistoryMaxAge    time.Duration // days in the option text
	CachedChunks             int
	ReaderThreadsCount       int
	ChunksCacheSize          int64
	MaxMemTableSize          int
	HashCollisionReadLimit   int
	Db                       string
	Index                    string // "" = <Db>/index
	MemDb                    bool
	SkipDbVerify             bool
	WriteThrough             bool
	Unbuffered               bool
	PrepareTimeout           time.Duration // PrepareTimeoutMs
	CommitTimeout            time.Duration // CommitTimeoutMs
	UnsafeDisableFlushToDisk bool
	BetterOrdering           bool
	UnsafeIgnoreHardDelete   bool
	IndexCacheDepth          int
	AlwaysKeepScavenged      bool

	// Database options of ours (not in Event Store 4.0.3).

	// MaxTruncation bounds how many bytes of committed log a replica may
	// truncate when it rejoins a cluster (spec §9 pitfall 9); -1 disables
	// the check.
	MaxTruncation int64

	// Cluster options of ours.

	// ClusterId is the cluster's identity, sent with every node-to-node
	// gossip message: nodes whose identities differ refuse each other's
	// gossip (cluster/gossip). Empty: only the derived part (the log's
	// chunk size) is compared.
	ClusterId string

	// Interface options of ours.

	// TcpEventLoops is the number of gnet event loops per TCP listener;
	// 0 means one per CPU.
	TcpEventLoops int

	// Projections options.
	RunProjections    ProjectionType
	ProjectionThreads int

	// Authentication options.
	AuthenticationType   string
	AuthenticationConfig string

	// Certificate options.
	CertificateStoreLocation string
	CertificateStoreName     string
	CertificateSubjectName   string
	CertificateThumbprint    string
	CertificateFile          string
	CertificatePassword      string

	// sources records where each option's value came from, indexed like
	// the option table. Filled by Load; all SourceDefault for Default().
	sources []Source
	// configFile is the file actually read ("" if none).
	configFile string
	// notices are non-fatal remarks from loading.
	notices []string
}

// ProjectionType is the RunProjections enum (spec §1.8).
type ProjectionType int

const (
	ProjectionsNone ProjectionType = iota
	ProjectionsSystem
	ProjectionsAll
)

// String returns the member name as Event Store prints it ("None", "System", "All").
func (p ProjectionType) String() string {
	switch p {
	case ProjectionsNone:
		return "None"
	case ProjectionsSystem:
		return "System"
	case ProjectionsAll:
		return "All"
	}
	return "ProjectionType(" + strconv.Itoa(int(p)) + ")"
}

// Source says where an option's effective value came from (spec §1.1).
type Source uint8

const (
	SourceDefault Source = iota
	SourceFile
	SourceEnv
	SourceCLI
)

// String returns the label Event Store uses in its effective-config dump.
func (s Source) String() string {
	switch s {
	case SourceFile:
		return "Config File"
	case SourceEnv:
		return "Environment Variable"
	case SourceCLI:
		return "Command Line"
	}
	return "<DEFAULT>"
}

// Source reports where the option with the given property name (for
// example "ExtHttpPort") got its value. Unknown names report SourceDefault.
func (o *Options) Source(name string) Source {
	i, ok := optionIndex[normalizeName(name)]
	if !ok || i >= len(o.sources) {
		return SourceDefault
	}
	return o.sources[i]
}

// ConfigFile returns the path of the YAML file that was read, or "".
func (o *Options) ConfigFile() string { return o.configFile }

// LogGiven reports whether --log was set by any source. The node writes a
// log file only then; by default it logs to stderr alone.
func (o *Options) LogGiven() bool { return o.Source("Log") != SourceDefault }

// SingleNode reports single-node mode (ClusterSize == 1, spec §1.10).
func (o *Options) SingleNode() bool { return o.ClusterSize <= 1 }

// Quorum is the majority used for commits and elections (spec §1.10).
func (o *Options) Quorum() int {
	if o.ClusterSize <= 1 {
		return 1
	}
	return o.ClusterSize/2 + 1
}

// EffectivePrepareCount is max(PrepareCount, quorum) (spec §1.10).
func (o *Options) EffectivePrepareCount() int { return max(o.PrepareCount, o.Quorum()) }

// EffectiveCommitCount is max(CommitCount, quorum) (spec §1.10).
func (o *Options) EffectiveCommitCount() int { return max(o.CommitCount, o.Quorum()) }

// IndexPath is Index, or <Db>/index when Index is not set.
func (o *Options) IndexPath() string {
	if o.Index != "" {
		return o.Index
	}
	return o.Db + "/index"
}

// IsOption reports whether name is an option's property name (compared
// like the command line: case-insensitive, dashes ignored).
func IsOption(name string) bool {
	_, ok := optionIndex[normalizeName(name)]
	return ok
}
