package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrPeerMissing means a peer's server is not installed; the suite skips
// that peer with a message instead of failing.
var ErrPeerMissing = errors.New("peer not installed")

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("cannot find a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Peer is a peer server run by its script in bench/peers.
type Peer struct {
	Name   string // redis, postgres, nats
	Script string
	Dir    string
	Port   int
}

// StartPeer runs "<scripts>/<name>.sh start DIR PORT" with a fresh temp
// dir. A script exit code 3 maps to ErrPeerMissing.
func StartPeer(ctx context.Context, scriptsDir, name string) (*Peer, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "esbench-"+name+"-")
	if err != nil {
		return nil, fmt.Errorf("cannot create a temp dir for %s: %w", name, err)
	}
	// The postgres user must be able to reach the dir when the script
	// drops root; MkdirTemp makes it 0700.
	_ = os.Chmod(dir, 0o755)
	p := &Peer{Name: name, Script: filepath.Join(scriptsDir, name+".sh"), Dir: dir, Port: port}
	cmd := exec.CommandContext(ctx, p.Script, "start", dir, strconv.Itoa(port))
	// NB: the script leaves the server running in the background; should
	// it keep our output pipe open, stop waiting for it shortly after the
	// script itself exits.
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 3 {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("%w: %s", ErrPeerMissing, strings.TrimSpace(string(out)))
		}
		p.Stop()
		return nil, fmt.Errorf("cannot start %s with %s: %v: %s", name, p.Script, err, strings.TrimSpace(string(out)))
	}
	return p, nil
}

// Addr is the peer's host:port.
func (p *Peer) Addr() string { return "127.0.0.1:" + strconv.Itoa(p.Port) }

// Stop stops the peer and removes its data.
func (p *Peer) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = exec.CommandContext(ctx, p.Script, "stop", p.Dir).Run()
	os.RemoveAll(p.Dir)
}

// Node is an eventstored process started by the tool.
type Node struct {
	Cmd      *exec.Cmd
	Dir      string
	TCPAddr  string
	HTTPAddr string
	logFile  *os.File
	exited   chan error
}

// StartNode runs binary (bin/eventstored) on free loopback ports with its
// database in a fresh temp dir, and waits until the TCP port accepts
// connections. extraArgs are appended to the command line.
func StartNode(ctx context.Context, binary string, extraArgs ...string) (*Node, error) {
	if _, err := os.Stat(binary); err != nil {
		return nil, fmt.Errorf("cannot start the node: %w (build it with 'make build')", err)
	}
	dir, err := os.MkdirTemp("", "esbench-node-")
	if err != nil {
		return nil, fmt.Errorf("cannot create the node's temp dir: %w", err)
	}
	tcpPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	httpPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "node.log"))
	if err != nil {
		return nil, fmt.Errorf("cannot create the node log: %w", err)
	}
	args := append([]string{
		"--db", filepath.Join(dir, "db"),
		"--log", filepath.Join(dir, "logs"),
		"--ext-ip", "127.0.0.1",
		"--ext-tcp-port", strconv.Itoa(tcpPort),
		"--ext-http-port", strconv.Itoa(httpPort),
	}, extraArgs...)
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("cannot start %s: %w", binary, err)
	}
	n := &Node{Cmd: cmd, Dir: dir, logFile: logf, exited: make(chan error, 1),
		TCPAddr: "127.0.0.1:" + strconv.Itoa(tcpPort), HTTPAddr: "127.0.0.1:" + strconv.Itoa(httpPort)}
	go func() { n.exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if listening(n.TCPAddr) && listening(n.HTTPAddr) {
			return n, nil
		}
		select {
		case werr := <-n.exited:
			n.exited <- werr
			tail := n.LogTail(20)
			n.Stop()
			return nil, fmt.Errorf("the node exited during start-up (%v); last log lines:\n%s", werr, tail)
		case <-ctx.Done():
			n.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tail := n.LogTail(20)
			n.Stop()
			return nil, fmt.Errorf("the node did not accept connections on %s and %s within 30 s; last log lines:\n%s", n.TCPAddr, n.HTTPAddr, tail)
		}
	}
}

func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// PID of the node process.
func (n *Node) PID() int { return n.Cmd.Process.Pid }

// LogTail returns the last lines of the node's log.
func (n *Node) LogTail(lines int) string {
	b, _ := os.ReadFile(n.logFile.Name())
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// Stop sends SIGTERM, waits up to 15 s, kills, and removes the data.
func (n *Node) Stop() {
	_ = n.Cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-n.exited:
		n.exited <- err
	case <-time.After(15 * time.Second):
		_ = n.Cmd.Process.Kill()
		<-n.exited
	}
	n.logFile.Close()
	os.RemoveAll(n.Dir)
}

// RSSBytes reads VmRSS of a process from /proc/<pid>/status.
func RSSBytes(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("cannot read the RSS of pid %d: %w", pid, err)
	}
	defer f.Close()
	return parseVmRSS(f)
}

func parseVmRSS(f interface{ Read([]byte) (int, error) }) (int64, error) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "VmRSS:") {
			continue
		}
		fields := strings.Fields(line[len("VmRSS:"):])
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", line)
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected VmRSS line %q", line)
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmRSS line in /proc status")
}
