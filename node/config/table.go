package config

// Group is an option group as shown by --help.
type Group string

// Groups in the order --help prints them (the order of Event Store's
// documentation; 4.0.3 itself sorts them alphabetically).
const (
	GroupApplication    Group = "Application"
	GroupInterface      Group = "Interface"
	GroupCluster        Group = "Cluster"
	GroupDatabase       Group = "Database"
	GroupProjections    Group = "Projections"
	GroupAuthentication Group = "Authentication"
	GroupCertificates   Group = "Certificate"
)

var groupOrder = []Group{GroupApplication, GroupInterface, GroupCluster, GroupDatabase,
	GroupProjections, GroupAuthentication, GroupCertificates}

// kind is how an option's text is converted, and which .NET type name the
// error message uses (spec §1.5).
type kind uint8

const (
	kindBool       kind = iota + 1 // Boolean
	kindInt                        // Int32
	kindInt64                      // Int64
	kindString                     // String
	kindStrings                    // String[] (comma separated)
	kindIP                         // IPAddress
	kindEndpoints                  // IPEndPoint[]
	kindProjection                 // ProjectionType
	kindMs                         // Int32 milliseconds → time.Duration
	kindSec                        // Int32 seconds → time.Duration
	kindDays                       // Int32 days → time.Duration
	kindDoubleMs                   // Double milliseconds → time.Duration
)

func (k kind) typeName() string {
	switch k {
	case kindBool:
		return "Boolean"
	case kindInt, kindMs, kindSec, kindDays:
		return "Int32"
	case kindInt64:
		return "Int64"
	case kindString:
		return "String"
	case kindStrings:
		return "String[]"
	case kindIP:
		return "IPAddress"
	case kindEndpoints:
		return "IPEndPoint[]"
	case kindProjection:
		return "ProjectionType"
	case kindDoubleMs:
		return "Double"
	}
	return "?"
}

// option describes one configuration option. Name is the canonical
// PascalCase property name; the CLI, env and YAML spellings derive from it
// (names.go). Default is text in the option's own syntax, converted by the
// same code as user input so that a default can never disagree with the
// parser.
type option struct {
	Name        string
	Group       Group
	Kind        kind
	Default     string
	Description string
	// Ours marks options this project adds beyond Event Store 4.0.3.
	Ours bool
	// Secret options are blanked in dumps.
	Secret bool
	field  func(o *Options) any
}

// options is the complete option table: spec cluster-and-options §1.8, in
// its order, then ours. Help, WhatIf and Version are ordinary options, as
// in 4.0.3.
var options = []option{
	// Application.
	{Name: "Help", Group: GroupApplication, Kind: kindBool, Default: "false", Description: "Show help.", field: func(o *Options) any { return &o.Help }},
	{Name: "Version", Group: GroupApplication, Kind: kindBool, Default: "false", Description: "Show version.", field: func(o *Options) any { return &o.Version }},
	{Name: "Log", Group: GroupApplication, Kind: kindString, Default: "/var/log/eventstore", Description: "Path where to keep log files. Logs always go to stderr; a file is written only when this option is given.", field: func(o *Options) any { return &o.Log }},
	{Name: "Config", Group: GroupApplication, Kind: kindString, Default: "", Description: "Configuration file with option values (YAML). Read only when given on the command line; otherwise /etc/eventstore/eventstore.conf if it exists.", field: func(o *Options) any { return &o.Config }},
	{Name: "Defines", Group: GroupApplication, Kind: kindStrings, Default: "", Description: "Run-time conditionals.", field: func(o *Options) any { return &o.Defines }},
	{Name: "WhatIf", Group: GroupApplication, Kind: kindBool, Default: "false", Description: "Print effective configuration to console and then exit.", field: func(o *Options) any { return &o.WhatIf }},
	{Name: "StartStandardProjections", Group: GroupApplication, Kind: kindBool, Default: "false", Description: "Start the built in system projections.", field: func(o *Options) any { return &o.StartStandardProjections }},
	{Name: "DisableHTTPCaching", Group: GroupApplication, Kind: kindBool, Default: "false", Description: "Disable HTTP caching.", field: func(o *Options) any { return &o.DisableHTTPCaching }},
	{Name: "MonoMinThreadpoolSize", Group: GroupApplication, Kind: kindInt, Default: "10", Description: "Minimum number of worker threads when running under mono. Accepted and ignored.", field: func(o *Options) any { return &o.MonoMinThreadpoolSize }},
	{Name: "Force", Group: GroupApplication, Kind: kindBool, Default: "false", Description: "Force the node to run despite safety checks (e.g. a database path starting with '~').", field: func(o *Options) any { return &o.Force }},
	{Name: "StatsPeriodSec", Group: GroupApplication, Kind: kindSec, Default: "30", Description: "The number of seconds between statistics gathers.", field: func(o *Options) any { return &o.StatsPeriod }},
	{Name: "WorkerThreads", Group: GroupApplication, Kind: kindInt, Default: "5", Description: "The number of threads to use for pool of worker services.", field: func(o *Options) any { return &o.WorkerThreads }},
	{Name: "EnableHistograms", Group: GroupApplication, Kind: kindBool, Default: "false", Description: "Enables the tracking of various histograms in the backend, typically only used for debugging.", field: func(o *Options) any { return &o.EnableHistograms }},
	{Name: "LogHttpRequests", Group: GroupApplication, Kind: kindBool, Default: "false", Description: "Log Http Requests and Responses before processing them.", field: func(o *Options) any { return &o.LogHttpRequests }},
	{Name: "SkipIndexScanOnReads", Group: GroupApplication, Kind: kindBool, Default: "false", Description: "Skip Index Scan on Reads. This skips the index scan which was used to stop reading duplicates.", field: func(o *Options) any { return &o.SkipIndexScanOnReads }},

	// Interface.
	{Name: "IntIp", Group: GroupInterface, Kind: kindIP, Default: "127.0.0.1", Description: "Internal IP Address (internal TCP and HTTP, cluster mode only).", field: func(o *Options) any { return &o.IntIp }},
	{Name: "ExtIp", Group: GroupInterface, Kind: kindIP, Default: "127.0.0.1", Description: "External IP Address (client TCP and HTTP).", field: func(o *Options) any { return &o.ExtIp }},
	{Name: "IntHttpPort", Group: GroupInterface, Kind: kindInt, Default: "2112", Description: "Internal HTTP Port (gossip, elections; cluster mode only).", field: func(o *Options) any { return &o.IntHttpPort }},
	{Name: "ExtHttpPort", Group: GroupInterface, Kind: kindInt, Default: "2113", Description: "External HTTP Port.", field: func(o *Options) any { return &o.ExtHttpPort }},
	{Name: "IntTcpPort", Group: GroupInterface, Kind: kindInt, Default: "1112", Description: "Internal TCP Port (replication; cluster mode only).", field: func(o *Options) any { return &o.IntTcpPort }},
	{Name: "IntSecureTcpPort", Group: GroupInterface, Kind: kindInt, Default: "0", Description: "Internal Secure TCP Port (0 = not opened).", field: func(o *Options) any { return &o.IntSecureTcpPort }},
	{Name: "ExtTcpPort", Group: GroupInterface, Kind: kindInt, Default: "1113", Description: "External TCP Port.", field: func(o *Options) any { return &o.ExtTcpPort }},
	{Name: "ExtSecureTcpPort", Group: GroupInterface, Kind: kindInt, Default: "0", Description: "External Secure TCP Port (0 = not opened).", field: func(o *Options) any { return &o.ExtSecureTcpPort }},
	{Name: "ExtIpAdvertiseAs", Group: GroupInterface, Kind: kindIP, Default: "", Description: "Advertise External Tcp Address As.", field: func(o *Options) any { return &o.ExtIpAdvertiseAs }},
	{Name: "ExtTcpPortAdvertiseAs", Group: GroupInterface, Kind: kindInt, Default: "0", Description: "Advertise External Tcp Port As (0 = the real port).", field: func(o *Options) any { return &o.ExtTcpPortAdvertiseAs }},
	{Name: "ExtSecureTcpPortAdvertiseAs", Group: GroupInterface, Kind: kindInt, Default: "0", Description: "Advertise Secure External Tcp Port As (0 = the real port).", field: func(o *Options) any { return &o.ExtSecureTcpPortAdvertiseAs }},
	{Name: "ExtHttpPortAdvertiseAs", Group: GroupInterface, Kind: kindInt, Default: "0", Description: "Advertise External Http Port As (0 = the real port).", field: func(o *Options) any { return &o.ExtHttpPortAdvertiseAs }},
	{Name: "IntIpAdvertiseAs", Group: GroupInterface, Kind: kindIP, Default: "", Description: "Advertise Internal Tcp Address As.", field: func(o *Options) any { return &o.IntIpAdvertiseAs }},
	{Name: "IntTcpPortAdvertiseAs", Group: GroupInterface, Kind: kindInt, Default: "0", Description: "Advertise Internal Tcp Port As (0 = the real port).", field: func(o *Options) any { return &o.IntTcpPortAdvertiseAs }},
	{Name: "IntSecureTcpPortAdvertiseAs", Group: GroupInterface, Kind: kindInt, Default: "0", Description: "Advertise Secure Internal Tcp Port As (0 = the real port).", field: func(o *Options) any { return &o.IntSecureTcpPortAdvertiseAs }},
	{Name: "IntHttpPortAdvertiseAs", Group: GroupInterface, Kind: kindInt, Default: "0", Description: "Advertise Internal Http Port As (0 = the real port).", field: func(o *Options) any { return &o.IntHttpPortAdvertiseAs }},
	{Name: "IntTcpHeartbeatTimeout", Group: GroupInterface, Kind: kindMs, Default: "700", Description: "Heartbeat timeout for internal TCP sockets (ms).", field: func(o *Options) any { return &o.IntTcpHeartbeatTimeout }},
	{Name: "ExtTcpHeartbeatTimeout", Group: GroupInterface, Kind: kindMs, Default: "1000", Description: "Heartbeat timeout for external TCP sockets (ms).", field: func(o *Options) any { return &o.ExtTcpHeartbeatTimeout }},
	{Name: "IntTcpHeartbeatInterval", Group: GroupInterface, Kind: kindMs, Default: "700", Description: "Heartbeat interval for internal TCP sockets (ms).", field: func(o *Options) any { return &o.IntTcpHeartbeatInterval }},
	{Name: "ExtTcpHeartbeatInterval", Group: GroupInterface, Kind: kindMs, Default: "2000", Description: "Heartbeat interval for external TCP sockets (ms).", field: func(o *Options) any { return &o.ExtTcpHeartbeatInterval }},
	{Name: "GossipOnSingleNode", Group: GroupInterface, Kind: kindBool, Default: "false", Description: "When enabled tells a single node to run gossip as if it is a cluster.", field: func(o *Options) any { return &o.GossipOnSingleNode }},
	{Name: "ConnectionPendingSendBytesThreshold", Group: GroupInterface, Kind: kindInt, Default: "10485760", Description: "The maximum number of pending send bytes allowed before an external connection is closed.", field: func(o *Options) any { return &o.ConnectionPendingSendBytesThreshold }},
	{Name: "AdminOnExt", Group: GroupInterface, Kind: kindBool, Default: "true", Description: "Whether or not to run the admin ui on the external HTTP endpoint.", field: func(o *Options) any { return &o.AdminOnExt }},
	{Name: "StatsOnExt", Group: GroupInterface, Kind: kindBool, Default: "true", Description: "Whether or not to accept statistics requests on the external HTTP endpoint.", field: func(o *Options) any { return &o.StatsOnExt }},
	{Name: "GossipOnExt", Group: GroupInterface, Kind: kindBool, Default: "true", Description: "Whether or not to accept gossip requests on the external HTTP endpoint.", field: func(o *Options) any { return &o.GossipOnExt }},
	{Name: "IntHttpPrefixes", Group: GroupInterface, Kind: kindStrings, Default: "", Description: "The prefixes that the internal HTTP server should respond to.", field: func(o *Options) any { return &o.IntHttpPrefixes }},
	{Name: "ExtHttpPrefixes", Group: GroupInterface, Kind: kindStrings, Default: "", Description: "The prefixes that the external HTTP server should respond to.", field: func(o *Options) any { return &o.ExtHttpPrefixes }},
	{Name: "EnableTrustedAuth", Group: GroupInterface, Kind: kindBool, Default: "false", Description: "Enables trusted authentication by an intermediary in the HTTP (ES-TrustedAuth header).", field: func(o *Options) any { return &o.EnableTrustedAuth }},
	{Name: "AddInterfacePrefixes", Group: GroupInterface, Kind: kindBool, Default: "true", Description: "Add interface prefixes derived from the IP addresses and ports.", field: func(o *Options) any { return &o.AddInterfacePrefixes }},
	{Name: "UseInternalSsl", Group: GroupInterface, Kind: kindBool, Default: "false", Description: "Whether to use secure internal communication.", field: func(o *Options) any { return &o.UseInternalSsl }},
	{Name: "DisableInsecureTCP", Group: GroupInterface, Kind: kindBool, Default: "false", Description: "Whether to disable insecure TCP communication.", field: func(o *Options) any { return &o.DisableInsecureTCP }},
	{Name: "SslTargetHost", Group: GroupInterface, Kind: kindString, Default: "n/a", Description: "Target host of server's SSL certificate.", field: func(o *Options) any { return &o.SslTargetHost }},
	{Name: "SslValidateServer", Group: GroupInterface, Kind: kindBool, Default: "true", Description: "Whether to validate that server's certificate is trusted.", field: func(o *Options) any { return &o.SslValidateServer }},
	{Name: "TcpEventLoops", Group: GroupInterface, Kind: kindInt, Default: "0", Ours: true, Description: "Event loops per TCP listener (0 = one per CPU).", field: func(o *Options) any { return &o.TcpEventLoops }},

	// Cluster.
	{Name: "ClusterSize", Group: GroupCluster, Kind: kindInt, Default: "1", Description: "The number of nodes in the cluster (1 = single node).", field: func(o *Options) any { return &o.ClusterSize }},
	{Name: "NodePriority", Group: GroupCluster, Kind: kindInt, Default: "0", Description: "The node priority used during master election.", field: func(o *Options) any { return &o.NodePriority }},
	{Name: "CommitCount", Group: GroupCluster, Kind: kindInt, Default: "-1", Description: "The number of nodes which must acknowledge commits before acknowledging to a client (effective: max(this, quorum)).", field: func(o *Options) any { return &o.CommitCount }},
	{Name: "PrepareCount", Group: GroupCluster, Kind: kindInt, Default: "-1", Description: "The number of nodes which must acknowledge prepares (effective: max(this, quorum)).", field: func(o *Options) any { return &o.PrepareCount }},
	{Name: "DiscoverViaDns", Group: GroupCluster, Kind: kindBool, Default: "true", Description: "Whether to use DNS lookup to discover other cluster nodes (overrides GossipSeed when true).", field: func(o *Options) any { return &o.DiscoverViaDns }},
	{Name: "ClusterDns", Group: GroupCluster, Kind: kindString, Default: "fake.dns", Description: "DNS name from which other nodes can be discovered.", field: func(o *Options) any { return &o.ClusterDns }},
	{Name: "ClusterGossipPort", Group: GroupCluster, Kind: kindInt, Default: "30777", Description: "The port on which cluster nodes' internal HTTP is reached via DNS discovery.", field: func(o *Options) any { return &o.ClusterGossipPort }},
	{Name: "GossipSeed", Group: GroupCluster, Kind: kindEndpoints, Default: "", Description: "Endpoints (ip:port) of other nodes' internal HTTP, used when DiscoverViaDns is false.", field: func(o *Options) any { return &o.GossipSeed }},
	{Name: "GossipIntervalMs", Group: GroupCluster, Kind: kindMs, Default: "1000", Description: "The interval nodes should try to gossip with each other (ms).", field: func(o *Options) any { return &o.GossipInterval }},
	{Name: "GossipAllowedDifferenceMs", Group: GroupCluster, Kind: kindMs, Default: "60000", Description: "The amount of drift allowed between gossip timestamps before an error is logged (ms).", field: func(o *Options) any { return &o.GossipAllowedDifference }},
	{Name: "GossipTimeoutMs", Group: GroupCluster, Kind: kindMs, Default: "500", Description: "The timeout on gossip to another node (ms).", field: func(o *Options) any { return &o.GossipTimeout }},
	{Name: "ClusterId", Group: GroupCluster, Kind: kindString, Default: "", Ours: true, Description: "The cluster's identity: nodes with different identities refuse each other's gossip, so a seed that names a node of another cluster cannot join the two (empty = only the log's chunk size is compared). Up to 128 visible ASCII characters.", field: func(o *Options) any { return &o.ClusterId }},

	// Database.
	{Name: "MinFlushDelayMs", Group: GroupDatabase, Kind: kindDoubleMs, Default: "2", Description: "The minimum flush delay in milliseconds.", field: func(o *Options) any { return &o.MinFlushDelay }},
	{Name: "DisableScavengeMerging", Group: GroupDatabase, Kind: kindBool, Default: "false", Description: "Disables the merging of chunks when scavenge is running.", field: func(o *Options) any { return &o.DisableScavengeMerging }},
	{Name: "ScavengeHistoryMaxAge", Group: GroupDatabase, Kind: kindDays, Default: "30", Description: "The number of days to keep scavenge history.", field: func(o *Options) any { return &o.ScavengeHistoryMaxAge }},
	{Name: "CachedChunks", Group: GroupDatabase, Kind: kindInt, Default: "-1", Description: "The number of chunks to cache in unmanaged memory (-1 = use ChunksCacheSize).", field: func(o *Options) any { return &o.CachedChunks }},
	{Name: "ReaderThreadsCount", Group: GroupDatabase, Kind: kindInt, Default: "4", Description: "The number of reader threads to use for processing reads.", field: func(o *Options) any { return &o.ReaderThreadsCount }},
	{Name: "ChunksCacheSize", Group: GroupDatabase, Kind: kindInt64, Default: "536871424", Description: "The amount of unmanaged memory to use for caching chunks in bytes.", field: func(o *Options) any { return &o.ChunksCacheSize }},
	{Name: "MaxMemTableSize", Group: GroupDatabase, Kind: kindInt, Default: "1000000", Description: "Adjusts the maximum size of a mem table.", field: func(o *Options) any { return &o.MaxMemTableSize }},
	{Name: "HashCollisionReadLimit", Group: GroupDatabase, Kind: kindInt, Default: "100", Description: "The number of events to read per candidate in the case of a hash collision.", field: func(o *Options) any { return &o.HashCollisionReadLimit }},
	{Name: "Db", Group: GroupDatabase, Kind: kindString, Default: "/var/lib/eventstore", Description: "The path the db should be loaded/saved to.", field: func(o *Options) any { return &o.Db }},
	{Name: "Index", Group: GroupDatabase, Kind: kindString, Default: "", Description: "The path the index should be loaded/saved to (default <Db>/index).", field: func(o *Options) any { return &o.Index }},
	{Name: "MemDb", Group: GroupDatabase, Kind: kindBool, Default: "false", Description: "Keep everything in memory, no directories or files are created.", field: func(o *Options) any { return &o.MemDb }},
	{Name: "SkipDbVerify", Group: GroupDatabase, Kind: kindBool, Default: "false", Description: "Bypasses the checking of file hashes of database during startup.", field: func(o *Options) any { return &o.SkipDbVerify }},
	{Name: "WriteThrough", Group: GroupDatabase, Kind: kindBool, Default: "false", Description: "Enables Write Through when writing to the file system.", field: func(o *Options) any { return &o.WriteThrough }},
	{Name: "Unbuffered", Group: GroupDatabase, Kind: kindBool, Default: "false", Description: "Enables Unbuffered/DirectIO when writing to the file system.", field: func(o *Options) any { return &o.Unbuffered }},
	{Name: "PrepareTimeoutMs", Group: GroupDatabase, Kind: kindMs, Default: "2000", Description: "Prepare timeout (in milliseconds).", field: func(o *Options) any { return &o.PrepareTimeout }},
	{Name: "CommitTimeoutMs", Group: GroupDatabase, Kind: kindMs, Default: "2000", Description: "Commit timeout (in milliseconds).", field: func(o *Options) any { return &o.CommitTimeout }},
	{Name: "UnsafeDisableFlushToDisk", Group: GroupDatabase, Kind: kindBool, Default: "false", Description: "Disable flushing to disk. (UNSAFE: on power off)", field: func(o *Options) any { return &o.UnsafeDisableFlushToDisk }},
	{Name: "BetterOrdering", Group: GroupDatabase, Kind: kindBool, Default: "false", Description: "Enable Queue affinity on reads during write process to try to get better ordering.", field: func(o *Options) any { return &o.BetterOrdering }},
	{Name: "UnsafeIgnoreHardDelete", Group: GroupDatabase, Kind: kindBool, Default: "false", Description: "Disables Hard Deletes (UNSAFE: use to remove hard deletes).", field: func(o *Options) any { return &o.UnsafeIgnoreHardDelete }},
	{Name: "IndexCacheDepth", Group: GroupDatabase, Kind: kindInt, Default: "16", Description: "Sets the depth to cache for the mid point cache in index.", field: func(o *Options) any { return &o.IndexCacheDepth }},
	{Name: "AlwaysKeepScavenged", Group: GroupDatabase, Kind: kindBool, Default: "false", Description: "Always keeps the newer chunks from a scavenge operation.", field: func(o *Options) any { return &o.AlwaysKeepScavenged }},
	{Name: "MaxTruncation", Group: GroupDatabase, Kind: kindInt64, Default: "268435456", Ours: true, Description: "Largest number of bytes of log a node may truncate when it rejoins a cluster (-1 = no limit).", field: func(o *Options) any { return &o.MaxTruncation }},

	// Projections.
	{Name: "RunProjections", Group: GroupProjections, Kind: kindProjection, Default: "None", Description: "Enables the running of projections. System runs built-in projections, All runs user projections.", field: func(o *Options) any { return &o.RunProjections }},
	{Name: "ProjectionThreads", Group: GroupProjections, Kind: kindInt, Default: "3", Description: "The number of threads to use for projections.", field: func(o *Options) any { return &o.ProjectionThreads }},

	// Authentication.
	{Name: "AuthenticationType", Group: GroupAuthentication, Kind: kindString, Default: "internal", Description: "The type of Authentication to use.", field: func(o *Options) any { return &o.AuthenticationType }},
	{Name: "AuthenticationConfig", Group: GroupAuthentication, Kind: kindString, Default: "", Description: "Path to the configuration file for Authentication configuration (if applicable).", field: func(o *Options) any { return &o.AuthenticationConfig }},

	// Certificates.
	{Name: "CertificateStoreLocation", Group: GroupCertificates, Kind: kindString, Default: "", Description: "The certificate store location name.", field: func(o *Options) any { return &o.CertificateStoreLocation }},
	{Name: "CertificateStoreName", Group: GroupCertificates, Kind: kindString, Default: "", Description: "The certificate store name.", field: func(o *Options) any { return &o.CertificateStoreName }},
	{Name: "CertificateSubjectName", Group: GroupCertificates, Kind: kindString, Default: "", Description: "The certificate subject name.", field: func(o *Options) any { return &o.CertificateSubjectName }},
	{Name: "CertificateThumbprint", Group: GroupCertificates, Kind: kindString, Default: "", Description: "The certificate fingerprint/thumbprint.", field: func(o *Options) any { return &o.CertificateThumbprint }},
	{Name: "CertificateFile", Group: GroupCertificates, Kind: kindString, Default: "", Description: "The path to certificate file.", field: func(o *Options) any { return &o.CertificateFile }},
	{Name: "CertificatePassword", Group: GroupCertificates, Kind: kindString, Default: "", Secret: true, Description: "The password to certificate in file.", field: func(o *Options) any { return &o.CertificatePassword }},
}

// optionIndex maps a normalized name (lower case, no dashes) to its index
// in options.
var optionIndex = func() map[string]int {
	m := make(map[string]int, len(options))
	for i, op := range options {
		n := normalizeName(op.Name)
		if _, dup := m[n]; dup {
			panic("BUG: duplicate option " + op.Name)
		}
		m[n] = i
	}
	return m
}()
