package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Limits on values that size memory or threads. 4.0.3 checks none of
// them; an absurd value should fail at start-up, not later.
const (
	maxTcpEventLoops = 1024
	maxClusterSize   = 64
	// clusterIdBytesMax bounds ClusterId, which travels in the
	// ES-ClusterId header of every gossip message.
	clusterIdBytesMax = 128
)

// Validate checks that the options make a runnable node: the start-up
// checks of 4.0.3 (spec §1.6, same wording), plus checks 4.0.3 lacked and
// that spec §9 recommends (port collisions, port ranges, advertising
// 0.0.0.0), plus refusing options whose feature this server does not have
// yet rather than ignoring them silently. It returns warnings to log and an
// error joining every problem (each wraps ErrInvalid).
func (o *Options) Validate() (warnings []string, err error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, newError(ErrInvalid, format, args...))
	}

	if strings.HasPrefix(o.Db, "~") && !o.Force {
		bad("The given database path starts with a '~'. We don't expand '~'. You can use --force to override this error.")
	}
	if strings.HasPrefix(o.Log, "~") && !o.Force {
		bad("The given log path starts with a '~'. We don't expand '~'. You can use --force to override this error.")
	}
	if o.ClusterSize < 1 || o.ClusterSize > maxClusterSize {
		bad("ClusterSize must be between 1 and %d, got %d", maxClusterSize, o.ClusterSize)
	}
	if o.ClusterSize == 1 && len(o.GossipSeed) > 1 {
		bad("The given ClusterSize is set to 1 but GossipSeeds are multiple. We will never be able to sync up with this configuration.")
	}
	if o.ClusterSize > 1 && !o.DiscoverViaDns && len(o.GossipSeed) == 0 {
		bad("DNS discovery is disabled, but no gossip seed endpoints have been specified. Specify gossip seeds using the `GossipSeed` option.")
	}
	if o.ClusterSize > 1 && o.DiscoverViaDns && len(o.GossipSeed) > 0 {
		// 4.0.3 silently prefers DNS (spec §3.1, §9 pitfall 1).
		warnings = append(warnings, "GossipSeed is ignored because DiscoverViaDns is true (the default); add --discover-via-dns=false to use the seeds")
	}

	// TLS (spec §1.6 rows on DisableInsecureTCP, UseInternalSsl, certificates).
	if o.DisableInsecureTCP && !o.UseInternalSsl {
		bad("Cannot disable insecure TCP (DisableInsecureTCP) without using internal SSL (UseInternalSsl).")
	}
	if o.DisableInsecureTCP && (o.IntSecureTcpPort <= 0 || o.ExtSecureTcpPort <= 0) {
		bad("Cannot disable insecure TCP (DisableInsecureTCP) without both IntSecureTcpPort and ExtSecureTcpPort set.")
	}
	if o.UseInternalSsl && o.SslTargetHost == "n/a" {
		bad("No SSL target host specified.")
	}
	if o.UseInternalSsl && o.IntSecureTcpPort <= 0 {
		bad("Usage of internal secure communication is specified, but no internal secure endpoint is specified (IntSecureTcpPort)!")
	}
	secure := o.ExtSecureTcpPort > 0 || o.IntSecureTcpPort > 0
	if secure && o.CertificateStoreLocation == "" && o.CertificateStoreName == "" && o.CertificateFile == "" {
		bad("No server certificate specified.")
	} else if secure {
		// TODO(node): TLS is on the roadmap; refuse rather than open
		// nothing on a port the operator asked for.
		bad("Secure TCP (ExtSecureTcpPort/IntSecureTcpPort) is not supported by this server yet; set both to 0")
	}
	if !strings.EqualFold(o.AuthenticationType, "internal") {
		bad("The specified authentication type %q is not known. Valid types: internal", o.AuthenticationType)
	}

	// Ports (not checked by 4.0.3).
	checkPort := func(name string, port int, allowZero bool) {
		if (port == 0 && !allowZero) || port < 0 || port > 65535 {
			if allowZero {
				bad("%s must be between 0 and 65535, got %d", name, port)
			} else {
				bad("%s must be between 1 and 65535, got %d", name, port)
			}
		}
	}
	for _, l := range o.Listeners() {
		checkPort(l.Option, l.Port, false)
	}
	checkPort("ExtSecureTcpPort", o.ExtSecureTcpPort, true)
	checkPort("IntSecureTcpPort", o.IntSecureTcpPort, true)
	checkPort("ExtTcpPortAdvertiseAs", o.ExtTcpPortAdvertiseAs, true)
	checkPort("ExtSecureTcpPortAdvertiseAs", o.ExtSecureTcpPortAdvertiseAs, true)
	checkPort("ExtHttpPortAdvertiseAs", o.ExtHttpPortAdvertiseAs, true)
	checkPort("IntTcpPortAdvertiseAs", o.IntTcpPortAdvertiseAs, true)
	checkPort("IntSecureTcpPortAdvertiseAs", o.IntSecureTcpPortAdvertiseAs, true)
	checkPort("IntHttpPortAdvertiseAs", o.IntHttpPortAdvertiseAs, true)
	checkPort("ClusterGossipPort", o.ClusterGossipPort, false)
	ls := o.Listeners()
	for i := range ls {
		for j := i + 1; j < len(ls); j++ {
			a, b := ls[i], ls[j]
			if a.Port == b.Port && (a.IP == b.IP || a.IP.IsUnspecified() || b.IP.IsUnspecified()) {
				bad("%s and %s are both %d on overlapping addresses (%s, %s): every listener needs its own port",
					a.Option, b.Option, a.Port, a.IP, b.IP)
			}
		}
	}
	if !o.SingleNode() && !o.AddInterfacePrefixes {
		// 4.0.3 would gossip 0.0.0.0 and peers could never reach us (§2.4, §9 pitfall 3).
		if o.IntIp.IsUnspecified() && !o.IntIpAdvertiseAs.IsValid() {
			bad("IntIp is %s and AddInterfacePrefixes is false: set IntIpAdvertiseAs to the address other nodes reach this node at", o.IntIp)
		}
		if o.ExtIp.IsUnspecified() && !o.ExtIpAdvertiseAs.IsValid() {
			bad("ExtIp is %s and AddInterfacePrefixes is false: set ExtIpAdvertiseAs to the address clients reach this node at", o.ExtIp)
		}
	}
	for _, a := range []struct {
		name string
		ip   netip.Addr
	}{{"IntIpAdvertiseAs", o.IntIpAdvertiseAs}, {"ExtIpAdvertiseAs", o.ExtIpAdvertiseAs}} {
		if a.ip.IsValid() && a.ip.IsUnspecified() {
			bad("%s cannot be %s: nobody can connect to it", a.name, a.ip)
		}
	}

	// Timings and sizes (not checked by 4.0.3).
	for _, d := range []struct {
		name string
		ms   int64
	}{
		{"IntTcpHeartbeatTimeout", o.IntTcpHeartbeatTimeout.Milliseconds()},
		{"ExtTcpHeartbeatTimeout", o.ExtTcpHeartbeatTimeout.Milliseconds()},
		{"IntTcpHeartbeatInterval", o.IntTcpHeartbeatInterval.Milliseconds()},
		{"ExtTcpHeartbeatInterval", o.ExtTcpHeartbeatInterval.Milliseconds()},
		{"GossipIntervalMs", o.GossipInterval.Milliseconds()},
		{"GossipTimeoutMs", o.GossipTimeout.Milliseconds()},
		{"PrepareTimeoutMs", o.PrepareTimeout.Milliseconds()},
		{"CommitTimeoutMs", o.CommitTimeout.Milliseconds()},
		{"StatsPeriodSec", o.StatsPeriod.Milliseconds()},
	} {
		if d.ms <= 0 {
			bad("%s must be positive, got %d", d.name, d.ms)
		}
	}
	if o.MinFlushDelay < 0 {
		bad("MinFlushDelayMs cannot be negative, got %v", o.MinFlushDelay)
	}
	if o.ConnectionPendingSendBytesThreshold <= 0 {
		bad("ConnectionPendingSendBytesThreshold must be positive, got %d", o.ConnectionPendingSendBytesThreshold)
	}
	if o.TcpEventLoops < 0 || o.TcpEventLoops > maxTcpEventLoops {
		bad("TcpEventLoops must be between 0 and %d, got %d", maxTcpEventLoops, o.TcpEventLoops)
	}
	if len(o.ClusterId) > clusterIdBytesMax || strings.IndexFunc(o.ClusterId, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
		bad("ClusterId must be at most %d visible ASCII characters (it travels in an HTTP header), got %q", clusterIdBytesMax, o.ClusterId)
	}
	if o.MaxTruncation < -1 {
		bad("MaxTruncation must be -1 (no limit) or a number of bytes, got %d", o.MaxTruncation)
	}
	for _, c := range []struct {
		name string
		n    int
	}{{"WorkerThreads", o.WorkerThreads}, {"ReaderThreadsCount", o.ReaderThreadsCount}, {"ProjectionThreads", o.ProjectionThreads},
		{"MaxMemTableSize", o.MaxMemTableSize}, {"HashCollisionReadLimit", o.HashCollisionReadLimit}} {
		if c.n <= 0 {
			bad("%s must be positive, got %d", c.name, c.n)
		}
	}
	if !o.MemDb && o.Db == "" {
		bad("Db cannot be empty (use --mem-db to run without files)")
	}

	if o.RunProjections != ProjectionsNone || o.StartStandardProjections {
		warnings = append(warnings, fmt.Sprintf("projections are not implemented by this server yet: RunProjections=%s and StartStandardProjections=%t are accepted but nothing runs", o.RunProjections, o.StartStandardProjections))
	}
	return warnings, errors.Join(errs...)
}

// Listener is one plain listener the node opens (spec §2.1).
type Listener struct {
	// Name is used in logs and errors: "external TCP", "internal HTTP", …
	Name string
	// Option is the property name of the port option.
	Option string
	IP     netip.Addr
	Port   int
	HTTP   bool
}

// Addr returns "ip:port" (IPv6 in brackets).
func (l Listener) Addr() string {
	return netip.AddrPortFrom(l.IP, uint16(l.Port)).String()
}

// Listeners returns the plain listeners in the order they are bound:
// external TCP (unless DisableInsecureTCP), external HTTP, then in cluster
// mode internal TCP (unless DisableInsecureTCP) and internal HTTP (spec
// §2.1). Secure listeners are not listed: they are refused by Validate
// until TLS exists.
func (o *Options) Listeners() []Listener {
	var ls []Listener
	if !o.DisableInsecureTCP {
		ls = append(ls, Listener{Name: "external TCP", Option: "ExtTcpPort", IP: o.ExtIp, Port: o.ExtTcpPort})
	}
	ls = append(ls, Listener{Name: "external HTTP", Option: "ExtHttpPort", IP: o.ExtIp, Port: o.ExtHttpPort, HTTP: true})
	if !o.SingleNode() {
		if !o.DisableInsecureTCP {
			ls = append(ls, Listener{Name: "internal TCP", Option: "IntTcpPort", IP: o.IntIp, Port: o.IntTcpPort})
		}
		ls = append(ls, Listener{Name: "internal HTTP", Option: "IntHttpPort", IP: o.IntIp, Port: o.IntHttpPort, HTTP: true})
	}
	return ls
}
