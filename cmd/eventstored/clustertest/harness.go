package clustertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/eventstored/eventstored/cluster"
	"github.com/eventstored/eventstored/cluster/gossip"
)

// ErrNotRunning is returned by operations on a node whose process is not
// running (never started, killed or exited).
var ErrNotRunning = errors.New("clustertest: node is not running")

// ErrTimeout is returned by the Wait functions when the condition did not
// hold before the context ended; the error text carries the last state seen.
var ErrTimeout = errors.New("clustertest: condition not reached")

// Build compiles cmd/eventstored into dir and returns the binary's path.
// race adds -race (the tests build with it when they run with it).
func Build(dir string, race bool) (string, error) {
	bin := filepath.Join(dir, "eventstored")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "github.com/eventstored/eventstored/cmd/eventstored")
	cmd := exec.Command("go", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("clustertest: go build: %v\n%s", err, out.String())
	}
	return bin, nil
}

// Config describes the cluster to start.
type Config struct {
	// Bin is the eventstored binary (Build).
	Bin string
	// Dir holds each node's database (Dir/node<i>/db) and log
	// (Dir/node<i>.log).
	Dir string
	// Size is --cluster-size; 3 when zero.
	Size int
	// Nodes is how many processes to prepare; Size when zero.
	Nodes int
	// IPs gives node i its int (and ext) IP; 127.0.0.<i+1> when empty.
	IPs []string
	// ExtIPs, when set, gives node i another ext IP than its int IP.
	ExtIPs []string
	// FixedPorts uses Event Store's default ports (1112, 1113, 2112,
	// 2113) on every node, for nodes on distinct IPs in their own network
	// namespaces; otherwise four free ports are picked per node.
	FixedPorts bool
	// Args returns extra options for node i (may be nil).
	Args func(i int) []string
	// Wrap returns a command prefix for node i, e.g. "ip netns exec ns1"
	// (may be nil).
	Wrap func(i int) []string
	// Env is added to each process's environment (EVENTSTORE_* of the
	// caller's environment are never inherited).
	Env []string
	// EnvOf, when set, returns more environment for node i (after Env).
	EnvOf func(i int) []string
	// MemDB starts the nodes with --mem-db (no database directory).
	MemDB bool
}

// Cluster is a set of eventstored processes seeded with one another.
type Cluster struct {
	cfg   Config
	Nodes []*Node
}

// Node is one eventstored process of a Cluster. Its endpoints and
// directories stay the same across restarts.
type Node struct {
	Index                            int
	IP                               string // internal IP
	ExtIP                            string // external IP (IP unless Config.ExtIPs)
	IntTCP, ExtTCP, IntHTTP, ExtHTTP int
	DB                               string // database directory
	LogPath                          string // stdout and stderr of every run, appended
	args                             []string
	wrap                             []string
	env                              []string

	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{}
	exit  int
	runs  int
	start time.Time
}

// New prepares the nodes (addresses, ports, directories) without starting
// them; Start starts them all.
func New(cfg Config) (*Cluster, error) {
	if cfg.Size == 0 {
		cfg.Size = 3
	}
	if cfg.Nodes == 0 {
		cfg.Nodes = cfg.Size
	}
	if cfg.Bin == "" || cfg.Dir == "" {
		return nil, errors.New("clustertest: Config.Bin and Config.Dir are required")
	}
	c := &Cluster{cfg: cfg}
	for i := 0; i < cfg.Nodes; i++ {
		n := &Node{Index: i, IP: fmt.Sprintf("127.0.0.%d", i+1)}
		if i < len(cfg.IPs) {
			n.IP = cfg.IPs[i]
		}
		n.ExtIP = n.IP
		if i < len(cfg.ExtIPs) {
			n.ExtIP = cfg.ExtIPs[i]
		}
		if cfg.FixedPorts {
			n.IntTCP, n.ExtTCP, n.IntHTTP, n.ExtHTTP = 1112, 1113, 2112, 2113
		} else {
			var err error
			if n.IntTCP, n.ExtTCP, n.IntHTTP, n.ExtHTTP, err = freePorts(n.IP); err != nil {
				return nil, err
			}
		}
		n.DB = filepath.Join(cfg.Dir, fmt.Sprintf("node%d", i), "db")
		n.LogPath = filepath.Join(cfg.Dir, fmt.Sprintf("node%d.log", i))
		if err := os.MkdirAll(n.DB, 0o755); err != nil {
			return nil, err
		}
		c.Nodes = append(c.Nodes, n)
	}
	for i, n := range c.Nodes {
		var seeds []string
		for j, o := range c.Nodes {
			if j != i && j < cfg.Size {
				seeds = append(seeds, net.JoinHostPort(o.IP, strconv.Itoa(o.IntHTTP)))
			}
		}
		n.args = []string{
			"--cluster-size", strconv.Itoa(cfg.Size),
			"--int-ip", n.IP, "--ext-ip", n.ExtIP,
			"--int-tcp-port", strconv.Itoa(n.IntTCP), "--ext-tcp-port", strconv.Itoa(n.ExtTCP),
			"--int-http-port", strconv.Itoa(n.IntHTTP), "--ext-http-port", strconv.Itoa(n.ExtHTTP),
		}
		if cfg.Size > 1 {
			n.args = append(n.args, "--discover-via-dns=false", "--gossip-seed", strings.Join(seeds, ","))
		}
		if cfg.MemDB {
			n.args = append(n.args, "--mem-db")
		} else {
			n.args = append(n.args, "--db", n.DB)
		}
		if cfg.Args != nil {
			n.args = append(n.args, cfg.Args(i)...)
		}
		if cfg.Wrap != nil {
			n.wrap = cfg.Wrap(i)
		}
		n.env = append([]string(nil), cfg.Env...)
		if cfg.EnvOf != nil {
			n.env = append(n.env, cfg.EnvOf(i)...)
		}
	}
	return c, nil
}

// Start starts every node that is not running.
func (c *Cluster) Start() error {
	for _, n := range c.Nodes {
		if n.Running() {
			continue
		}
		if err := n.Start(c.cfg.Bin); err != nil {
			return err
		}
	}
	return nil
}

// Bin is the binary the nodes run.
func (c *Cluster) Bin() string { return c.cfg.Bin }

// Close kills every running node (SIGKILL) and waits for the exits.
func (c *Cluster) Close() {
	for _, n := range c.Nodes {
		_ = n.Kill()
	}
}

// freePorts returns four ports that were free on ip a moment ago.
func freePorts(ip string) (a, b, c, d int, err error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	ports := make([]int, 4)
	for i := range ports {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return 0, 0, 0, 0, fmt.Errorf("clustertest: no free port on %s: %w", ip, err)
		}
		lns = append(lns, ln)
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports[0], ports[1], ports[2], ports[3], nil
}

// Args returns the node's command-line options (without the binary).
func (n *Node) Args() []string { return append([]string(nil), n.args...) }

// SetArgs appends options used from the next Start on.
func (n *Node) SetArgs(extra ...string) { n.args = append(n.args, extra...) }

// Start starts the node's process (again, after Kill or an exit) on the
// same directory and ports.
func (n *Node) Start(bin string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil && !closed(n.done) {
		return fmt.Errorf("clustertest: node %d is already running", n.Index)
	}
	logf, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	n.runs++
	fmt.Fprintf(logf, "==== clustertest: start #%d of node %d at %s\n", n.runs, n.Index, time.Now().UTC().Format(time.RFC3339Nano))
	argv := append(append(append([]string(nil), n.wrap...), bin), n.args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EVENTSTORE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	cmd.Env = append(cmd.Env, n.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a kill reaches the node even behind a
	// wrapper such as `ip netns exec`.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("clustertest: start node %d: %w", n.Index, err)
	}
	done := make(chan struct{})
	n.cmd, n.done, n.start = cmd, done, time.Now()
	go func() {
		_ = cmd.Wait()
		code := cmd.ProcessState.ExitCode()
		fmt.Fprintf(logf, "==== clustertest: node %d exited with %d (%s)\n", n.Index, code, cmd.ProcessState)
		logf.Close()
		n.mu.Lock()
		n.exit = code
		n.mu.Unlock()
		close(done)
	}()
	return nil
}

func closed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Running reports whether the node's process is running.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil && !closed(n.done)
}

// Pid is the process id of the current run (0 when not running).
func (n *Node) Pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || closed(n.done) {
		return 0
	}
	return n.cmd.Process.Pid
}

// Kill sends SIGKILL to the node's process group and waits for the exit.
// No-op when the node is not running.
func (n *Node) Kill() error { return n.signal(syscall.SIGKILL, 10*time.Second) }

// Stop sends SIGTERM (a clean shutdown) and waits up to 10 s for the exit.
func (n *Node) Stop() error { return n.signal(syscall.SIGTERM, 10*time.Second) }

func (n *Node) signal(sig syscall.Signal, wait time.Duration) error {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil || closed(done) {
		return nil
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	select {
	case <-done:
		return nil
	case <-time.After(wait):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("clustertest: node %d did not exit within %v of %v", n.Index, wait, sig)
	}
}

// Dump sends SIGQUIT, on which the Go runtime writes every goroutine's
// stack to the node's log and exits (for a node found hung), and waits up
// to 5 s for the exit.
func (n *Node) Dump() error { return n.signal(syscall.SIGQUIT, 5*time.Second) }

// Wait waits for the process to exit and returns its exit code.
func (n *Node) Wait(ctx context.Context) (int, error) {
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	if done == nil {
		return 0, ErrNotRunning
	}
	select {
	case <-done:
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.exit, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Log returns everything the node has written so far (all runs).
func (n *Node) Log() string {
	b, _ := os.ReadFile(n.LogPath)
	return string(b)
}

// ExtTCPAddr is the external TCP endpoint clients connect to.
func (n *Node) ExtTCPAddr() string { return net.JoinHostPort(n.ExtIP, strconv.Itoa(n.ExtTCP)) }

// ExtTCPAddrs returns every node's external TCP endpoint, in node order.
func (c *Cluster) ExtTCPAddrs() []string {
	addrs := make([]string, 0, len(c.Nodes))
	for _, n := range c.Nodes {
		addrs = append(addrs, n.ExtTCPAddr())
	}
	return addrs
}

// ExtHTTPURL and IntHTTPURL are the HTTP bases ("http://ip:port").
func (n *Node) ExtHTTPURL() string {
	return "http://" + net.JoinHostPort(n.ExtIP, strconv.Itoa(n.ExtHTTP))
}
func (n *Node) IntHTTPURL() string {
	return "http://" + net.JoinHostPort(n.IP, strconv.Itoa(n.IntHTTP))
}

// IntHTTPEndpoint is the node's bound internal HTTP endpoint, the key by
// which gossip members are matched to nodes (tests never advertise
// another internal HTTP endpoint).
func (n *Node) IntHTTPEndpoint() string { return net.JoinHostPort(n.IP, strconv.Itoa(n.IntHTTP)) }

var httpClient = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// Get does GET base+path and returns status and body.
func Get(ctx context.Context, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, b, err
}

// Gossip reads GET /gossip from the node's internal (ext=false) or
// external HTTP interface.
func (n *Node) Gossip(ctx context.Context, ext bool) (gossip.ClusterInfo, error) {
	base := n.IntHTTPURL()
	if ext {
		base = n.ExtHTTPURL()
	}
	status, body, err := Get(ctx, base+"/gossip")
	if err != nil {
		return gossip.ClusterInfo{}, err
	}
	if status != http.StatusOK {
		return gossip.ClusterInfo{}, fmt.Errorf("GET %s/gossip: status %d: %s", base, status, body)
	}
	return gossip.Decode(body)
}

// View is one node's gossip as the harness reads it.
type View struct {
	Node *Node
	Info gossip.ClusterInfo
	Err  error
}

// Member returns the view's entry for node o (matched by internal HTTP
// endpoint). A seed's placeholder (zero instance id, state Manager, every
// endpoint the seed's address) is not the node's entry: it is skipped.
// After a restart the old instance may linger (dead) next to the new one:
// the entry with the latest timestamp wins.
func (v View) Member(o *Node) (gossip.Member, bool) {
	var best gossip.Member
	found := false
	for _, m := range v.Info.Members {
		if !m.InstanceID.IsZero() && m.InternalHTTP.String() == o.IntHTTPEndpoint() &&
			(!found || m.TimeStamp.After(best.TimeStamp)) {
			best, found = m, true
		}
	}
	return best, found
}

// Views reads /gossip from every running node (internal or external).
func (c *Cluster) Views(ctx context.Context, ext bool) []View {
	var vs []View
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		info, err := n.Gossip(ctx, ext)
		vs = append(vs, View{Node: n, Info: info, Err: err})
	}
	return vs
}

// Describe renders views compactly for failure messages.
func Describe(vs []View) string {
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "node%d(%s):", v.Node.Index, v.Node.IP)
		if v.Err != nil {
			fmt.Fprintf(&b, " error %v\n", v.Err)
			continue
		}
		for _, m := range v.Info.Members {
			alive := "alive"
			if !m.IsAlive {
				alive = "dead"
			}
			fmt.Fprintf(&b, " [%s %s %s e%d]", m.InternalHTTP, m.State, alive, m.EpochNumber)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Roles checks that every running node's gossip (internal, or external
// with ext) agrees: every running node alive, exactly one of them Master
// and the others Slave, the same master in every view. It returns the
// master, or an error describing what is off.
func (c *Cluster) Roles(ctx context.Context, ext bool) (*Node, error) {
	vs := c.Views(ctx, ext)
	if len(vs) == 0 {
		return nil, ErrNotRunning
	}
	var master *Node
	for _, v := range vs {
		if v.Err != nil {
			return nil, fmt.Errorf("node%d: %v", v.Node.Index, v.Err)
		}
		var vm *Node
		for _, o := range vs {
			m, ok := v.Member(o.Node)
			if !ok || !m.IsAlive {
				return nil, fmt.Errorf("node%d does not see node%d alive", v.Node.Index, o.Node.Index)
			}
			switch m.State {
			case cluster.StateMaster:
				if vm != nil {
					return nil, fmt.Errorf("node%d sees two masters", v.Node.Index)
				}
				vm = o.Node
			case cluster.StateSlave:
			default:
				return nil, fmt.Errorf("node%d sees node%d as %s", v.Node.Index, o.Node.Index, m.State)
			}
		}
		if vm == nil {
			return nil, fmt.Errorf("node%d sees no master", v.Node.Index)
		}
		if master != nil && master != vm {
			return nil, fmt.Errorf("node%d sees node%d as master, others node%d", v.Node.Index, vm.Index, master.Index)
		}
		master = vm
	}
	return master, nil
}

// Poll calls cond every interval until it returns nil or ctx ends; then
// it returns ErrTimeout wrapped with cond's last error.
func Poll(ctx context.Context, interval time.Duration, cond func(ctx context.Context) error) error {
	for {
		err := cond(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %v", ErrTimeout, err)
		case <-time.After(interval):
		}
	}
}

// WaitRoles waits for Roles (on internal and external /gossip) to hold
// and returns the master.
func (c *Cluster) WaitRoles(ctx context.Context) (*Node, error) {
	var master *Node
	err := Poll(ctx, 25*time.Millisecond, func(ctx context.Context) error {
		m, err := c.Roles(ctx, false)
		if err != nil {
			return err
		}
		if me, err := c.Roles(ctx, true); err != nil {
			return fmt.Errorf("external: %w", err)
		} else if me != m {
			return errors.New("internal and external gossip disagree on the master")
		}
		master = m
		return nil
	})
	return master, err
}

// Logs returns the last tail lines of every node's log, labelled.
func (c *Cluster) Logs(tail int) string {
	var b strings.Builder
	for _, n := range c.Nodes {
		lines := strings.Split(strings.TrimRight(n.Log(), "\n"), "\n")
		if tail > 0 && len(lines) > tail {
			fmt.Fprintf(&b, "---- node%d (%s): last %d of %d lines of %s\n", n.Index, n.IP, tail, len(lines), n.LogPath)
			lines = lines[len(lines)-tail:]
		} else {
			fmt.Fprintf(&b, "---- node%d (%s): %s\n", n.Index, n.IP, n.LogPath)
		}
		for _, l := range lines {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// AllAlive checks that every running node's gossip (internal, or external
// with ext) lists every running node alive and every stopped node dead
// or absent.
func (c *Cluster) AllAlive(ctx context.Context, ext bool) error {
	vs := c.Views(ctx, ext)
	for _, v := range vs {
		if v.Err != nil {
			return fmt.Errorf("node%d: %v", v.Node.Index, v.Err)
		}
		for _, o := range c.Nodes {
			m, ok := v.Member(o)
			switch {
			case o.Running() && (!ok || !m.IsAlive):
				return fmt.Errorf("node%d does not see running node%d alive:\n%s", v.Node.Index, o.Index, Describe(vs))
			case !o.Running() && ok && m.IsAlive:
				return fmt.Errorf("node%d still sees stopped node%d alive:\n%s", v.Node.Index, o.Index, Describe(vs))
			}
		}
	}
	return nil
}

// SelfMaster returns the first running node whose own gossip entry says
// Master (nil if none): the moment a node has won an election, before
// gossip has told the others.
func (c *Cluster) SelfMaster(ctx context.Context) *Node {
	for _, v := range c.Views(ctx, false) {
		if v.Err != nil {
			continue
		}
		if m, ok := v.Member(v.Node); ok && m.State == cluster.StateMaster {
			return v.Node
		}
	}
	return nil
}

// WaitSettled waits until every running node's own gossip entry reports
// the same writer checkpoint, above zero, unchanged for settle: the
// master's first writes (raft's entry of the new term, the default users)
// are on every node. Clients that log in before a slave has the users
// are refused, so tests wait for this before their clients dial.
func (c *Cluster) WaitSettled(ctx context.Context, settle time.Duration) error {
	var last int64 = -1
	var since time.Time
	return Poll(ctx, 50*time.Millisecond, func(ctx context.Context) error {
		var pos int64 = -1
		for _, v := range c.Views(ctx, false) {
			if v.Err != nil {
				return v.Err
			}
			m, ok := v.Member(v.Node)
			if !ok {
				return fmt.Errorf("node%d's gossip lacks itself", v.Node.Index)
			}
			switch {
			case m.WriterCheckpoint <= 0:
				return fmt.Errorf("node%d has written nothing yet", v.Node.Index)
			case pos >= 0 && m.WriterCheckpoint != pos:
				last = -1
				return fmt.Errorf("writer checkpoints differ: %d and %d (node%d)", pos, m.WriterCheckpoint, v.Node.Index)
			}
			pos = m.WriterCheckpoint
		}
		if pos != last {
			last, since = pos, time.Now()
		}
		if time.Since(since) < settle {
			return fmt.Errorf("writer checkpoint %d for %v only", pos, time.Since(since).Round(time.Millisecond))
		}
		return nil
	})
}
