package clustertest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Netns is the partition test's network: one namespace per node, each
// with two links, as Event Store clusters are deployed with separate
// networks (spec cluster-and-options §2):
//
//	root namespace (the test and its clients)
//	  <p>-bi  bridge 10.213.1.254/24  ── <p>-i<k> ═ veth ═ int0 10.213.1.<k>  ┐ namespace
//	  <p>-be  bridge 10.213.2.254/24  ── <p>-e<k> ═ veth ═ ext0 10.213.2.<k>  ┘ <p>-n<k>
//
// Nodes bind --int-ip on int0 and --ext-ip on ext0. Cutting a node's
// internal link (CutInt: the root side of its int veth goes down, so the
// namespace side loses carrier and packets vanish without a reset, as
// with a pulled cable) isolates it from the other nodes while clients
// still reach it on the external network: the minority side stays
// observable.
type Netns struct {
	prefix string
	n      int
}

// Subnets of the internal and external networks (the last octet is the
// node's number, 1-based; .254 is the bridge).
const (
	netnsIntNet = "10.213.1."
	netnsExtNet = "10.213.2."
)

// ErrNoNetns is returned when the machine cannot run the partition test
// (not root, or no `ip`).
var ErrNoNetns = errors.New("clustertest: network namespaces need root and the ip command (iproute2)")

// NetnsAvailable reports why the partition test cannot run here (nil when it can).
func NetnsAvailable() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: running as uid %d", ErrNoNetns, os.Geteuid())
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("%w: %v", ErrNoNetns, err)
	}
	return nil
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// SetupNetns builds the network for n nodes, first removing whatever a
// crashed earlier run with the same prefix left behind. prefix must be at
// most 8 characters (interface names are limited to 15).
func SetupNetns(prefix string, n int) (*Netns, error) {
	if err := NetnsAvailable(); err != nil {
		return nil, err
	}
	if len(prefix) > 8 || n > 9 {
		return nil, fmt.Errorf("clustertest: netns prefix %q too long or %d nodes too many", prefix, n)
	}
	x := &Netns{prefix: prefix, n: n}
	x.Close()
	steps := [][]string{
		{"link", "add", prefix + "-bi", "type", "bridge"},
		{"link", "add", prefix + "-be", "type", "bridge"},
		{"addr", "add", netnsIntNet + "254/24", "dev", prefix + "-bi"},
		{"addr", "add", netnsExtNet + "254/24", "dev", prefix + "-be"},
		{"link", "set", prefix + "-bi", "up"},
		{"link", "set", prefix + "-be", "up"},
	}
	for k := 1; k <= n; k++ {
		ns := x.Namespace(k - 1)
		for _, l := range []struct{ side, br, inner, net string }{
			{"i", "-bi", "int0", netnsIntNet}, {"e", "-be", "ext0", netnsExtNet},
		} {
			outer := fmt.Sprintf("%s-%s%d", prefix, l.side, k)
			steps = append(steps,
				[]string{"link", "add", outer, "type", "veth", "peer", "name", l.inner, "netns", ns},
				[]string{"link", "set", outer, "master", prefix + l.br, "up"},
				[]string{"-n", ns, "addr", "add", fmt.Sprintf("%s%d/24", l.net, k), "dev", l.inner},
				[]string{"-n", ns, "link", "set", l.inner, "up"},
			)
		}
		steps = append(steps, []string{"-n", ns, "link", "set", "lo", "up"})
		if err := ipCmd("netns", "add", ns); err != nil {
			x.Close()
			return nil, err
		}
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			x.Close()
			return nil, err
		}
	}
	return x, nil
}

// Namespace is node i's (0-based) namespace name.
func (x *Netns) Namespace(i int) string { return fmt.Sprintf("%s-n%d", x.prefix, i+1) }

// IntIPs and ExtIPs are the nodes' addresses, for Config.IPs / ExtIPs.
func (x *Netns) IntIPs() []string { return x.ips(netnsIntNet) }
func (x *Netns) ExtIPs() []string { return x.ips(netnsExtNet) }

func (x *Netns) ips(net string) []string {
	out := make([]string, x.n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", net, i+1)
	}
	return out
}

// Wrap is Config.Wrap: node i runs inside its namespace.
func (x *Netns) Wrap(i int) []string { return []string{"ip", "netns", "exec", x.Namespace(i)} }

// CutInt takes node i's internal link down; HealInt brings it back.
func (x *Netns) CutInt(i int) error {
	return ipCmd("link", "set", fmt.Sprintf("%s-i%d", x.prefix, i+1), "down")
}

func (x *Netns) HealInt(i int) error {
	return ipCmd("link", "set", fmt.Sprintf("%s-i%d", x.prefix, i+1), "up")
}

// Close removes the namespaces (their veth ends go with them, and the
// root ends with their peers) and the bridges; errors are ignored, as
// parts may not exist.
func (x *Netns) Close() {
	for k := 1; k <= 9; k++ {
		_ = ipCmd("netns", "del", fmt.Sprintf("%s-n%d", x.prefix, k))
		_ = ipCmd("link", "del", fmt.Sprintf("%s-i%d", x.prefix, k))
		_ = ipCmd("link", "del", fmt.Sprintf("%s-e%d", x.prefix, k))
	}
	_ = ipCmd("link", "del", x.prefix+"-bi")
	_ = ipCmd("link", "del", x.prefix+"-be")
}
