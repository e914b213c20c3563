package node

import (
	"net/netip"
	"testing"

	"github.com/eventstored/eventstored/node/config"
)

// TestComputeAdvertised checks spec cluster-and-options §2.4: advertise-as
// addresses and ports over the bound ones, and the 0.0.0.0 guess (first
// non-loopback IPv4 in a cluster, 127.0.0.1 for a single node, none when
// AddInterfacePrefixes is off).
func TestComputeAdvertised(t *testing.T) {
	guess := func() netip.Addr { return netip.MustParseAddr("10.9.8.7") }
	f := func(args []string, want Advertised) {
		t.Helper()
		o, err := config.Loader{Args: args}.Load()
		if err != nil {
			t.Fatal(err)
		}
		if got := ComputeAdvertised(o, guess); got != want {
			t.Errorf("unexpected endpoints for %q;\ngot  %+v\nwant %+v", args, got, want)
		}
	}
	ap := netip.MustParseAddrPort
	f(nil, Advertised{
		InternalTCP: ap("127.0.0.1:1112"), InternalSecureTCP: ap("127.0.0.1:0"), InternalHTTP: ap("127.0.0.1:2112"),
		ExternalTCP: ap("127.0.0.1:1113"), ExternalSecureTCP: ap("127.0.0.1:0"), ExternalHTTP: ap("127.0.0.1:2113"),
	})
	// The worked example of §2.4 (ports remapped for clients behind NAT).
	f([]string{"--cluster-size=3", "--int-ip=0.0.0.0", "--ext-ip=0.0.0.0", "--add-interface-prefixes=false",
		"--int-ip-advertise-as=172.20.0.11", "--ext-ip-advertise-as=203.0.113.10",
		"--ext-tcp-port-advertise-as=11113", "--ext-http-port-advertise-as=12113"}, Advertised{
		InternalTCP: ap("172.20.0.11:1112"), InternalSecureTCP: ap("172.20.0.11:0"), InternalHTTP: ap("172.20.0.11:2112"),
		ExternalTCP: ap("203.0.113.10:11113"), ExternalSecureTCP: ap("203.0.113.10:0"), ExternalHTTP: ap("203.0.113.10:12113"),
	})
	// 0.0.0.0 with interface prefixes: the guess in a cluster…
	f([]string{"--cluster-size=3", "--ext-ip=0.0.0.0", "--int-ip=10.0.0.5"}, Advertised{
		InternalTCP: ap("10.0.0.5:1112"), InternalSecureTCP: ap("10.0.0.5:0"), InternalHTTP: ap("10.0.0.5:2112"),
		ExternalTCP: ap("10.9.8.7:1113"), ExternalSecureTCP: ap("10.9.8.7:0"), ExternalHTTP: ap("10.9.8.7:2113"),
	})
	// …127.0.0.1 on a single node…
	f([]string{"--ext-ip=0.0.0.0", "--ext-http-port=3000"}, Advertised{
		InternalTCP: ap("127.0.0.1:1112"), InternalSecureTCP: ap("127.0.0.1:0"), InternalHTTP: ap("127.0.0.1:2112"),
		ExternalTCP: ap("127.0.0.1:1113"), ExternalSecureTCP: ap("127.0.0.1:0"), ExternalHTTP: ap("127.0.0.1:3000"),
	})
	// …and advertise-as wins over the guess.
	f([]string{"--cluster-size=3", "--ext-ip=0.0.0.0", "--ext-ip-advertise-as=192.0.2.1", "--int-tcp-port-advertise-as=4112"}, Advertised{
		InternalTCP: ap("127.0.0.1:4112"), InternalSecureTCP: ap("127.0.0.1:0"), InternalHTTP: ap("127.0.0.1:2112"),
		ExternalTCP: ap("192.0.2.1:1113"), ExternalSecureTCP: ap("192.0.2.1:0"), ExternalHTTP: ap("192.0.2.1:2113"),
	})
}
