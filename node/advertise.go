package node

import (
	"net"
	"net/netip"

	"github.com/eventstored/eventstored/httpfront"
	"github.com/eventstored/eventstored/node/config"
)

// Advertised is what this node publishes in gossip and uses in
// NotMaster replies and redirects: the six endpoints of spec
// cluster-and-options §2.4, computed once at start-up.
type Advertised struct {
	InternalTCP, InternalSecureTCP, InternalHTTP netip.AddrPort
	ExternalTCP, ExternalSecureTCP, ExternalHTTP netip.AddrPort
}

// ComputeAdvertised applies §2.4: *IpAdvertiseAs over the bound IP; when
// AddInterfacePrefixes is set and an interface binds 0.0.0.0 without an
// advertise-as address, a guessed address (first non-loopback IPv4 in a
// cluster, 127.0.0.1 for a single node); each port's *PortAdvertiseAs over
// the real port. guess is the seam for the interface enumeration.
func ComputeAdvertised(o *config.Options, guess func() netip.Addr) Advertised {
	intIP, extIP := o.IntIp, o.ExtIp
	if o.IntIpAdvertiseAs.IsValid() {
		intIP = o.IntIpAdvertiseAs
	}
	if o.ExtIpAdvertiseAs.IsValid() {
		extIP = o.ExtIpAdvertiseAs
	}
	if o.AddInterfacePrefixes && (o.IntIp.IsUnspecified() || o.ExtIp.IsUnspecified()) {
		g := netip.AddrFrom4([4]byte{127, 0, 0, 1})
		if !o.SingleNode() {
			if a := guess(); a.IsValid() {
				g = a
			}
		}
		if o.IntIp.IsUnspecified() && !o.IntIpAdvertiseAs.IsValid() {
			intIP = g
		}
		if o.ExtIp.IsUnspecified() && !o.ExtIpAdvertiseAs.IsValid() {
			extIP = g
		}
	}
	port := func(adv, real int) uint16 {
		if adv > 0 {
			return uint16(adv)
		}
		return uint16(real)
	}
	return Advertised{
		InternalTCP:       netip.AddrPortFrom(intIP, port(o.IntTcpPortAdvertiseAs, o.IntTcpPort)),
		InternalSecureTCP: netip.AddrPortFrom(intIP, port(o.IntSecureTcpPortAdvertiseAs, o.IntSecureTcpPort)),
		InternalHTTP:      netip.AddrPortFrom(intIP, port(o.IntHttpPortAdvertiseAs, o.IntHttpPort)),
		ExternalTCP:       netip.AddrPortFrom(extIP, port(o.ExtTcpPortAdvertiseAs, o.ExtTcpPort)),
		ExternalSecureTCP: netip.AddrPortFrom(extIP, port(o.ExtSecureTcpPortAdvertiseAs, o.ExtSecureTcpPort)),
		ExternalHTTP:      netip.AddrPortFrom(extIP, port(o.ExtHttpPortAdvertiseAs, o.ExtHttpPort)),
	}
}

func (a Advertised) gossipSelf(priority int) httpfront.GossipSelf {
	return httpfront.GossipSelf{
		InternalTCPIP: a.InternalTCP.Addr().String(), ExternalTCPIP: a.ExternalTCP.Addr().String(),
		InternalHTTPIP: a.InternalHTTP.Addr().String(), ExternalHTTPIP: a.ExternalHTTP.Addr().String(),
		InternalTCPPort: int(a.InternalTCP.Port()), InternalSecureTCPPort: int(a.InternalSecureTCP.Port()),
		ExternalTCPPort: int(a.ExternalTCP.Port()), ExternalSecureTCPPort: int(a.ExternalSecureTCP.Port()),
		InternalHTTPPort: int(a.InternalHTTP.Port()), ExternalHTTPPort: int(a.ExternalHTTP.Port()),
		NodePriority: priority,
	}
}

// firstNonLoopbackIPv4 is 4.0.3's IPFinder guess: the first IPv4 address
// of any interface, in OS enumeration order, that is not loopback.
func firstNonLoopbackIPv4() netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok {
				ip = ip.Unmap()
				if ip.Is4() && !ip.IsLoopback() {
					return ip
				}
			}
		}
	}
	return netip.Addr{}
}
