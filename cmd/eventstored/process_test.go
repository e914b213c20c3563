package main

// Process-level tests: TestMain builds the real eventstored binary once into
// a temporary directory; each test starts it with its own free loopback
// ports (never the defaults, so a developer's node can keep running),
// drives it over TCP/HTTP and signals, and inspects its exit code, output
// and listening sockets (from /proc, attributed to the child's pid).

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "eventstored-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "eventstored")
	args := []string{"build", "-o", binPath}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "cannot build eventstored:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer is a bytes.Buffer safe for the exec copier and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
	exitCode       int
}

// startProc starts the binary with args and extra environment variables.
// The child never inherits the test's EVENTSTORE_* variables.
func startProc(t *testing.T, dir string, args []string, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EVENTSTORE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// The race runtime sleeps 1 s at exit by default; tests time exits.
	cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	cmd.Env = append(cmd.Env, env...)
	p := &proc{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		p.exitCode = cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait returns the exit code, failing the test if the process does not
// exit within d.
func (p *proc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.exitCode
	case <-time.After(d):
		t.Fatalf("process did not exit within %v\nstdout:\n%s\nstderr:\n%s", d, p.stdout, p.stderr)
	}
	return -1
}

// runProc starts the binary and waits for it to exit.
func runProc(t *testing.T, dir string, args []string, env ...string) (code int, stdout, stderr string) {
	t.Helper()
	p := startProc(t, dir, args, env...)
	code = p.wait(t, 60*time.Second)
	return code, p.stdout.String(), p.stderr.String()
}

// freePort returns a port free on ip a moment ago.
func freePort(t *testing.T, ip string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func portsFree(t *testing.T, addrs ...string) {
	t.Helper()
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Errorf("%s is not free: %v", a, err)
			continue
		}
		ln.Close()
	}
}

// waitHTTP polls GET url until it answers 200 or the process exits.
func waitHTTP(t *testing.T, p *proc, url string, d time.Duration) string {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(d)
	for {
		resp, err := c.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return string(b)
			}
		}
		select {
		case <-p.done:
			t.Fatalf("process exited (%d) before %s answered\nstderr:\n%s", p.exitCode, url, p.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer within %v (last error %v)\nstderr:\n%s", url, d, err, p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// listeningAddrs returns the TCP addresses the process pid listens on,
// matching the socket inodes of /proc/<pid>/fd against the LISTEN entries
// of /proc/<pid>/net/tcp and tcp6.
func listeningAddrs(t *testing.T, pid int) []string {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	var out []string
	for _, file := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, file))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] {
				continue
			}
			out = append(out, decodeProcAddr(t, fields[1]))
		}
		f.Close()
	}
	sort.Strings(out)
	return out
}

// decodeProcAddr turns /proc/net/tcp's "0100007F:1F90" into "127.0.0.1:8080".
func decodeProcAddr(t *testing.T, s string) string {
	t.Helper()
	hexIP, hexPort, _ := strings.Cut(s, ":")
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		t.Fatal(err)
	}
	var ip net.IP
	for i := 0; i+8 <= len(hexIP); i += 8 {
		w, err := strconv.ParseUint(hexIP[i:i+8], 16, 32)
		if err != nil {
			t.Fatal(err)
		}
		// Each 32-bit word is in host (little-endian) order.
		ip = append(ip, byte(w), byte(w>>8), byte(w>>16), byte(w>>24))
	}
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	return net.JoinHostPort(ip.String(), strconv.FormatUint(port, 10))
}

func addr(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }

// whatIfLine finds the dump line of an option ("EXT HTTP PORT") and
// returns "value (source)".
func whatIfLine(t *testing.T, out, name string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^\t` + regexp.QuoteMeta(name) + `:\s+(.*)$`)
	m := re.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("--what-if output lacks %s:\n%s", name, out)
	}
	return m[1]
}

// TestWhatIfShowsEachSource sets one value from each of the three sources
// and checks --what-if shows each value with its source, and exits 0.
func TestWhatIfShowsEachSource(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "es.yaml")
	if err := os.WriteFile(cfg, []byte("---\nIntTcpHeartbeatTimeout: 1234\nGossipSeed:\n  - 10.0.0.2:2112\n---\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runProc(t, dir, []string{"--config", cfg, "--ext-http-port", "3001", "--what-if"},
		"EVENTSTORE_EXT_TCP_PORT=2002")
	if code != 0 {
		t.Fatalf("unexpected exit code %d; stderr:\n%s", code, errOut)
	}
	for name, want := range map[string]string{
		"EXT HTTP PORT":             "3001 (Command Line)",
		"EXT TCP PORT":              "2002 (Environment Variable)",
		"INT TCP HEARTBEAT TIMEOUT": "1234 (Config File)",
		"GOSSIP SEED":               "[ 10.0.0.2:2112 ] (Config File)",
		"CLUSTER SIZE":              "1 (<DEFAULT>)",
		"CONFIG":                    cfg + " (Command Line)",
		"WHAT IF":                   "True (Command Line)",
	} {
		if got := whatIfLine(t, out, name); got != want {
			t.Errorf("unexpected %s; got %q; want %q", name, got, want)
		}
	}
	mod, _, _ := strings.Cut(out, "DEFAULT OPTIONS:")
	if !strings.Contains(mod, "MODIFIED OPTIONS:") || !strings.Contains(mod, "EXT TCP PORT:") || strings.Contains(mod, "CLUSTER SIZE:") {
		t.Errorf("modified options are not listed first:\n%s", out)
	}
}

// TestPrecedencePairs checks each pair of spec §1.1 on the real binary:
// command line over environment and over file, environment over file,
// file over default.
func TestPrecedencePairs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		cli         bool
		env, file   bool
		want, wantS string
	}{
		{"cli beats env", true, true, false, "3003", "Command Line"},
		{"cli beats file", true, false, true, "3003", "Command Line"},
		{"env beats file", false, true, true, "2002", "Environment Variable"},
		{"file beats default", false, false, true, "1001", "Config File"},
		{"default", false, false, false, "1113", "<DEFAULT>"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			args := []string{"--what-if"}
			var env []string
			if c.file {
				cfg := filepath.Join(dir, "c.yaml")
				if err := os.WriteFile(cfg, []byte("ExtTcpPort: 1001\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--config", cfg)
			}
			if c.env {
				env = append(env, "EVENTSTORE_EXT_TCP_PORT=2002")
			}
			if c.cli {
				args = append(args, "-ExtTcpPort", "3003")
			}
			code, out, errOut := runProc(t, dir, args, env...)
			if code != 0 {
				t.Fatalf("unexpected exit code %d; stderr:\n%s", code, errOut)
			}
			if got, want := whatIfLine(t, out, "EXT TCP PORT"), c.want+" ("+c.wantS+")"; got != want {
				t.Errorf("unexpected EXT TCP PORT; got %q; want %q", got, want)
			}
		})
	}
}

// TestBadConfigurationExitsBeforeBinding runs every kind of bad
// configuration with otherwise valid free ports, and checks the exit code
// is non-zero, the message names the option/file/line, and nothing was
// bound (no "listening" log line, ports free afterwards).
func TestBadConfigurationExitsBeforeBinding(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		args  []string
		file  string // YAML content for --config, if any
		env   []string
		wants []string
	}{
		{"unknown option", []string{"--ext-htp-port", "1"}, "", nil,
			[]string{"The option exthtpport is not a known option", "did you mean --ext-http-port?"}},
		{"bad value", []string{"--ext-http-port", "twenty"}, "", nil,
			[]string{"The value twenty could not be converted to Int32", "--ext-http-port"}},
		{"bad env value", nil, "", []string{"EVENTSTORE_CLUSTER_SIZE=three"},
			[]string{"The value three could not be converted to Int32", "ClusterSize", "Environment Variable"}},
		{"bad ip", []string{"--ext-ip", "my-host"}, "", nil,
			[]string{"could not be converted to IPAddress", "--ext-ip"}},
		{"advertise-as", []string{"--advertise-as", "10.114.12.112"}, "", nil,
			[]string{"The option advertiseas is not a known option", "--ext-ip-advertise-as", "--int-ip-advertise-as"}},
		{"option of a later version", []string{"--insecure"}, "", nil,
			[]string{"The option insecure is not a known option"}},
		{"yaml unknown key", nil, "ExtHttpPort: 2113\nMemDb: true\nChunkSize: 1024\n", nil,
			[]string{"c.yaml:3:", "The option chunksize is not a known option"}},
		{"yaml bad syntax", nil, "MemDb: true\nClusterSize: : 3\n", nil,
			[]string{"An invalid configuration file has been specified.", "c.yaml:2:"}},
		{"yaml bad value", nil, "MemDb: true\nClusterSize: three\n", nil,
			[]string{"c.yaml:2:", "could not be converted to Int32", "ClusterSize"}},
		{"missing config file", []string{"--config", "/nonexistent/es.yaml"}, "", nil,
			[]string{"The specified config file /nonexistent/es.yaml could not be found"}},
		{"no seeds without dns", []string{"--cluster-size", "3", "--discover-via-dns=false"}, "", nil,
			[]string{"no gossip seed endpoints have been specified"}},
		{"what-if of an invalid configuration", []string{"--what-if", "--db", "~/data"}, "", []string{"EVENTSTORE_MEM_DB=false"},
			[]string{"Invalid configuration", "starts with a '~'"}},
		{"port out of range", []string{"--ext-tcp-port", "0"}, "", nil,
			[]string{"ExtTcpPort must be between 1 and 65535"}},
		{"colliding ports", []string{"--ext-http-port", "{tcp}"}, "", nil,
			[]string{"ExtTcpPort and ExtHttpPort are both"}},
		{"unsupported secure port", []string{"--ext-secure-tcp-port", "{free}", "--certificate-file", "x.p12"}, "", nil,
			[]string{"not supported by this server yet"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			tcp, http := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1")
			// Ports come through the environment so that the case's own
			// command-line arguments take precedence over them.
			env := append([]string{"EVENTSTORE_EXT_TCP_PORT=" + strconv.Itoa(tcp), "EVENTSTORE_EXT_HTTP_PORT=" + strconv.Itoa(http),
				"EVENTSTORE_MEM_DB=true"}, c.env...)
			var args []string
			for _, a := range c.args {
				a = strings.ReplaceAll(a, "{tcp}", strconv.Itoa(tcp))
				a = strings.ReplaceAll(a, "{free}", strconv.Itoa(freePort(t, "127.0.0.1")))
				args = append(args, a)
			}
			if c.file != "" {
				cfg := filepath.Join(dir, "c.yaml")
				if err := os.WriteFile(cfg, []byte(c.file), 0o644); err != nil {
					t.Fatal(err)
				}
				args = append([]string{"--config", cfg}, args...)
			}
			code, _, errOut := runProc(t, dir, args, env...)
			if code == 0 {
				t.Fatalf("exit code 0 for a bad configuration; stderr:\n%s", errOut)
			}
			for _, w := range c.wants {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if strings.Contains(errOut, "listening") {
				t.Errorf("a listener was started before the configuration was rejected:\n%s", errOut)
			}
			portsFree(t, addr("127.0.0.1", tcp), addr("127.0.0.1", http))
		})
	}
}

// TestSingleNodeListensOnExactlyTwoPorts starts a single node on 127.0.0.2
// with non-default ports and checks its listening sockets are exactly
// external TCP and external HTTP on that IP.
func TestSingleNodeListensOnExactlyTwoPorts(t *testing.T) {
	t.Parallel()
	tcp, http := freePort(t, "127.0.0.2"), freePort(t, "127.0.0.2")
	p := startProc(t, t.TempDir(), []string{"--mem-db", "--ext-ip", "127.0.0.2",
		"--ext-tcp-port", strconv.Itoa(tcp), "--ext-http-port=" + strconv.Itoa(http)})
	body := waitHTTP(t, p, "http://"+addr("127.0.0.2", http)+"/info", 30*time.Second)
	if !strings.Contains(body, `"state": "master"`) {
		t.Errorf("unexpected /info: %s", body)
	}
	got := listeningAddrs(t, p.cmd.Process.Pid)
	want := []string{addr("127.0.0.2", tcp), addr("127.0.0.2", http)}
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("unexpected listening sockets; got %v; want %v", got, want)
	}
	c, err := net.DialTimeout("tcp", addr("127.0.0.2", tcp), 5*time.Second)
	if err != nil {
		t.Fatalf("external TCP does not accept: %v", err)
	}
	c.Close()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("unexpected exit code %d; stderr:\n%s", code, p.stderr)
	}
}

// TestClusterNodeListensOnFourPorts starts a cluster member (seeds, DNS
// off) with internal interfaces on 127.0.0.2 and external on 127.0.0.1,
// and checks exactly those four listeners exist.
func TestClusterNodeListensOnFourPorts(t *testing.T) {
	t.Parallel()
	etcp, ehttp := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1")
	itcp, ihttp := freePort(t, "127.0.0.2"), freePort(t, "127.0.0.2")
	p := startProc(t, t.TempDir(), []string{"--mem-db", "--cluster-size", "3", "--discover-via-dns=false",
		"--gossip-seed", "127.0.0.3:2112,127.0.0.4:2112", "--int-ip", "127.0.0.2", "--ext-ip", "127.0.0.1",
		"--ext-tcp-port", strconv.Itoa(etcp), "--ext-http-port", strconv.Itoa(ehttp),
		"--int-tcp-port", strconv.Itoa(itcp), "--int-http-port", strconv.Itoa(ihttp)})
	// Internal HTTP is bound last (spec §2.1 order), so once it answers
	// every listener is up.
	waitHTTP(t, p, "http://"+addr("127.0.0.2", ihttp)+"/ping", 30*time.Second)
	got := listeningAddrs(t, p.cmd.Process.Pid)
	want := []string{addr("127.0.0.1", etcp), addr("127.0.0.1", ehttp), addr("127.0.0.2", itcp), addr("127.0.0.2", ihttp)}
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("unexpected listening sockets; got %v; want %v", got, want)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("unexpected exit code %d; stderr:\n%s", code, p.stderr)
	}
}

// TestTakenPortFailsStartup occupies the external HTTP port; the node must
// exit non-zero naming the interface, address and port, and release the
// external TCP port it had bound first.
func TestTakenPortFailsStartup(t *testing.T) {
	t.Parallel()
	tcp := freePort(t, "127.0.0.1")
	blocker, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	http := blocker.Addr().(*net.TCPAddr).Port
	code, _, errOut := runProc(t, t.TempDir(), []string{"--mem-db", "--ext-tcp-port", strconv.Itoa(tcp), "--ext-http-port", strconv.Itoa(http)})
	if code == 0 {
		t.Fatalf("exit code 0 although the HTTP port was taken; stderr:\n%s", errOut)
	}
	for _, w := range []string{"Start-up failed", "external HTTP", addr("127.0.0.1", http), "address already in use"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errOut)
		}
	}
	portsFree(t, addr("127.0.0.1", tcp))
}

// TestSignalsShutDownCleanly sends SIGTERM (and SIGINT) to a node with an
// open TCP client and an idle HTTP keep-alive connection; the process must
// exit 0 within 5 s, with no more goroutines after shutdown than before
// start (reported by the binary under EVENTSTORED_TEST_REPORT_GOROUTINES).
func TestSignalsShutDownCleanly(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			tcp, httpPort := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1")
			p := startProc(t, dir, []string{"--db", filepath.Join(dir, "data"), "--log", filepath.Join(dir, "logs"),
				"--ext-tcp-port", strconv.Itoa(tcp), "--ext-http-port", strconv.Itoa(httpPort)},
				goroutineReportEnv+"=1")
			url := "http://" + addr("127.0.0.1", httpPort) + "/ping"
			waitHTTP(t, p, url, 30*time.Second)
			conn, err := net.DialTimeout("tcp", addr("127.0.0.1", tcp), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			keepAlive := &http.Client{Timeout: 5 * time.Second}
			resp, err := keepAlive.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			defer keepAlive.CloseIdleConnections()

			start := time.Now()
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			code := p.wait(t, 5*time.Second)
			if code != 0 {
				t.Fatalf("unexpected exit code %d after %v; stderr:\n%s", code, sig, p.stderr)
			}
			t.Logf("exited %v after %v", sig, time.Since(start))
			errOut := p.stderr.String()
			before := regexp.MustCompile(`goroutines before start: (\d+)`).FindStringSubmatch(errOut)
			after := regexp.MustCompile(`goroutines after shutdown: (\d+)`).FindStringSubmatch(errOut)
			if before == nil || after == nil {
				t.Fatalf("no goroutine report in stderr:\n%s", errOut)
			}
			b, _ := strconv.Atoi(before[1])
			a, _ := strconv.Atoi(after[1])
			if a > b {
				t.Errorf("goroutine leak: %d after shutdown, %d before start", a, b)
			}
			for _, w := range []string{"shutdown requested by signal", "node stopped"} {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			// --log also writes the same records to a file.
			logFile, err := os.ReadFile(filepath.Join(dir, "logs", "eventstored.log"))
			if err != nil || !strings.Contains(string(logFile), "node stopped") || !strings.Contains(string(logFile), "listening") {
				t.Errorf("log file is missing or incomplete (%v):\n%s", err, logFile)
			}
			if fi, err := os.Stat(filepath.Join(dir, "data")); err != nil || !fi.IsDir() {
				t.Errorf("--db directory was not created: %v", err)
			}
			portsFree(t, addr("127.0.0.1", httpPort))
		})
	}
}

func TestHelpAndVersion(t *testing.T) {
	t.Parallel()
	code, out, _ := runProc(t, t.TempDir(), []string{"--help"})
	if code != 0 {
		t.Fatalf("--help exited %d", code)
	}
	for _, w := range []string{"APPLICATION OPTIONS", "INTERFACE OPTIONS", "CLUSTER OPTIONS", "DATABASE OPTIONS",
		"PROJECTIONS OPTIONS", "AUTHENTICATION OPTIONS", "CERTIFICATE OPTIONS",
		"--ext-http-port <int>", "Default: 2113.", "EVENTSTORE_EXT_HTTP_PORT", "--max-truncation", "[eventstored]"} {
		if !strings.Contains(out, w) {
			t.Errorf("--help lacks %q", w)
		}
	}
	code, out, _ = runProc(t, t.TempDir(), []string{"--version"})
	if code != 0 || !strings.HasPrefix(out, "EventStore version 4.0.3.0 (") {
		t.Fatalf("unexpected --version: %d %q", code, out)
	}
}

// TestMakeRunServesPing runs `make run` in a copy of the repository (so
// ./data lands in a temp dir) and checks GET /ping on external HTTP. The
// ports come from the environment, which the Makefile's command line
// (--db ./data only) leaves in force, so the test never needs 1113/2113.
func TestMakeRunServesPing(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make is required: %v", err)
	}
	t.Parallel()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	copyDir := t.TempDir()
	if err := copyTree(root, copyDir); err != nil {
		t.Fatal(err)
	}
	tcp, httpPort := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1")
	cmd := exec.Command("make", "run")
	cmd.Dir = copyDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EVENTSTORE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "EVENTSTORE_EXT_TCP_PORT="+strconv.Itoa(tcp), "EVENTSTORE_EXT_HTTP_PORT="+strconv.Itoa(httpPort))
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stdout: out, stderr: out, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); p.exitCode = cmd.ProcessState.ExitCode(); close(p.done) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-ctx.Done():
		}
	})
	body := waitHTTP(t, p, "http://"+addr("127.0.0.1", httpPort)+"/ping", 5*time.Minute)
	if !strings.Contains(body, "Ping request successfully handled") {
		t.Fatalf("unexpected /ping body %q", body)
	}
	if fi, err := os.Stat(filepath.Join(copyDir, "data")); err != nil || !fi.IsDir() {
		t.Errorf("make run did not use ./data: %v", err)
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("make run did not stop on SIGTERM; output:\n%s", out)
	}
}

// copyTree copies the repository's files (not .git, bin, data, benchmark
// results or npm trees) so that make can build there.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			switch d.Name() {
			case ".git", "bin", "data", "node_modules", "results":
				if rel != "." {
					return filepath.SkipDir
				}
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}

// TestAdminShutdownExitsCleanly checks that POST /admin/shutdown as admin
// ends the process with exit code 0, like a signal.
func TestAdminShutdownExitsCleanly(t *testing.T) {
	t.Parallel()
	tcp, httpPort := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1")
	p := startProc(t, t.TempDir(), []string{"--mem-db", "--ext-tcp-port", strconv.Itoa(tcp), "--ext-http-port", strconv.Itoa(httpPort)})
	base := "http://" + addr("127.0.0.1", httpPort)
	waitHTTP(t, p, base+"/ping", 30*time.Second)
	req, _ := http.NewRequest("POST", base+"/admin/shutdown", nil)
	req.SetBasicAuth("admin", "changeit")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("unexpected /admin/shutdown status %d", resp.StatusCode)
	}
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("unexpected exit code %d; stderr:\n%s", code, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "shutdown requested over HTTP") {
		t.Errorf("stderr does not say why the node stopped:\n%s", p.stderr)
	}
}

// TestHeartbeatOptionsReachExternalTCP sets a short external heartbeat
// interval and timeout and checks a silent TCP client first receives a
// HeartbeatRequestCommand (0x01) and is then disconnected: the options
// reach the reactor. The one time bound (2.5 s) only separates the
// configured 0.1 s + 0.1 s from the defaults, under which the first
// heartbeat alone takes 2 s and the close at least 3 s.
func TestHeartbeatOptionsReachExternalTCP(t *testing.T) {
	t.Parallel()
	tcp, httpPort := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1")
	p := startProc(t, t.TempDir(), []string{"--mem-db", "--ext-tcp-port", strconv.Itoa(tcp), "--ext-http-port", strconv.Itoa(httpPort),
		"--ext-tcp-heartbeat-interval", "100", "--ext-tcp-heartbeat-timeout", "100"})
	waitHTTP(t, p, "http://"+addr("127.0.0.1", httpPort)+"/ping", 30*time.Second)
	c, err := net.DialTimeout("tcp", addr("127.0.0.1", tcp), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2500 * time.Millisecond))
	// Frame: int32 LE length, then command byte, flags, correlation id.
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(c, hdr); err != nil {
		t.Fatalf("no heartbeat request from a short interval: %v", err)
	}
	if hdr[4] != 0x01 {
		t.Fatalf("unexpected first command 0x%02x; want HeartbeatRequestCommand 0x01", hdr[4])
	}
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("connection was not closed after the heartbeat timeout: %v", err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("unexpected exit code %d", code)
	}
}

// TestRestartRightAfterShutdownWithClients stops a node that has a client
// connected on each external port and starts it again at once on the same
// ports and database, as a supervisor (systemd, Docker) does. The server
// side of each closed connection lingers in TIME_WAIT on the listener's
// port; the new process must bind regardless.
func TestRestartRightAfterShutdownWithClients(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tcp, httpPort := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1")
	args := []string{"--db", filepath.Join(dir, "data"), "--ext-tcp-port", strconv.Itoa(tcp), "--ext-http-port", strconv.Itoa(httpPort)}
	url := "http://" + addr("127.0.0.1", httpPort) + "/ping"
	for round := 0; round < 2; round++ {
		p := startProc(t, dir, args)
		waitHTTP(t, p, url, 30*time.Second)
		c, err := net.DialTimeout("tcp", addr("127.0.0.1", tcp), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		hc := &http.Client{Timeout: 5 * time.Second}
		resp, err := hc.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		if code := p.wait(t, 10*time.Second); code != 0 {
			t.Fatalf("round %d: unexpected exit code %d; stderr:\n%s", round, code, p.stderr)
		}
		// The clients notice the close only after the server is gone, so
		// the server's sockets closed first.
		c.Close()
		hc.CloseIdleConnections()
	}
}

// TestSecondNodeOnSameDbFails starts a node and then a second one on the
// same --db with other ports: the second must fail start-up naming the
// database and leave its ports unbound; the first keeps serving.
func TestSecondNodeOnSameDbFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "data")
	tcp1, http1 := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1")
	p1 := startProc(t, dir, []string{"--db", db, "--ext-tcp-port", strconv.Itoa(tcp1), "--ext-http-port", strconv.Itoa(http1)})
	url1 := "http://" + addr("127.0.0.1", http1) + "/ping"
	waitHTTP(t, p1, url1, 30*time.Second)

	tcp2, http2 := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1")
	code, _, errOut := runProc(t, dir, []string{"--db", db, "--ext-tcp-port", strconv.Itoa(tcp2), "--ext-http-port", strconv.Itoa(http2)})
	if code != 1 {
		t.Fatalf("unexpected exit code %d for a second node on one database; stderr:\n%s", code, errOut)
	}
	for _, w := range []string{"Start-up failed", "cannot open the database in " + db, "locked"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errOut)
		}
	}
	portsFree(t, addr("127.0.0.1", tcp2), addr("127.0.0.1", http2))
	waitHTTP(t, p1, url1, 5*time.Second)
	_ = p1.cmd.Process.Signal(syscall.SIGTERM)
	if code := p1.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("first node exited %d", code)
	}
}

// TestShutdownAnswersParkedLongPoll parks an HTTP long poll (ES-LongPoll:
// 60 on a stream with no events) and sends SIGTERM: the poll must get its
// final answer and the process exit 0 within the 5 s budget, instead of
// shutdown waiting out the poll.
func TestShutdownAnswersParkedLongPoll(t *testing.T) {
	t.Parallel()
	tcp, httpPort := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1")
	p := startProc(t, t.TempDir(), []string{"--mem-db", "--ext-tcp-port", strconv.Itoa(tcp), "--ext-http-port", strconv.Itoa(httpPort)})
	base := "http://" + addr("127.0.0.1", httpPort)
	waitHTTP(t, p, base+"/ping", 30*time.Second)
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("GET", base+"/streams/parked/0/forward/20", nil)
		req.SetBasicAuth("admin", "changeit")
		req.Header.Set("Accept", "application/vnd.eventstore.atom+json")
		req.Header.Set("ES-LongPoll", "60")
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			done <- result{0, err}
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		done <- result{resp.StatusCode, nil}
	}()
	// Wait until the request's connection is up. Whether the handler has
	// parked yet does not matter: without the fix it parks for 60 s either
	// way and the exit below times out.
	deadline := time.Now().Add(10 * time.Second)
	for !hasEstablished(t, p.cmd.Process.Pid, httpPort) {
		if time.Now().After(deadline) {
			t.Fatal("the long poll never reached the server")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 5*time.Second); code != 0 {
		t.Fatalf("unexpected exit code %d; stderr:\n%s", code, p.stderr)
	}
	select {
	case r := <-done:
		if r.err != nil || r.code != 404 {
			t.Fatalf("the parked long poll did not get its final answer (404): %d %v", r.code, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the long poll was never answered")
	}
}

// hasEstablished reports whether pid has an established TCP connection on
// local port.
func hasEstablished(t *testing.T, pid, port int) bool {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return false
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		if link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	for _, file := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, file))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) >= 10 && f[3] == "01" && inodes[f[9]] && strings.HasSuffix(f[1], fmt.Sprintf(":%04X", port)) {
				return true
			}
		}
	}
	return false
}
