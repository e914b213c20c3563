package reactor

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eventstored/eventstored/codec"
)

// The many-connections test runs its clients in a child process (this test
// binary, re-executed with loadClientEnv set) so that the server process's
// heap and RSS growth measure the server alone.

const loadClientEnv = "REACTOR_LOAD_CLIENT" // "addr,conns,seconds"

func TestMain(m *testing.M) {
	if spec := os.Getenv(loadClientEnv); spec != "" {
		os.Exit(runLoadClient(spec))
	}
	os.Exit(m.Run())
}

func raiseFileLimit() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}

// runLoadClient opens the connections, identifies each, prints "ready",
// answers heartbeat requests for the given time, prints "alive N" with the
// number of connections the server never closed, and exits.
func runLoadClient(spec string) int {
	raiseFileLimit()
	parts := strings.Split(spec, ",")
	addr := parts[0]
	n, _ := strconv.Atoi(parts[1])
	secs, _ := strconv.Atoi(parts[2])
	var (
		ready, closed, heartbeats atomic.Int64
		wg                        sync.WaitGroup
		conns                     = make([]net.Conn, n)
		stop                      = make(chan struct{})
	)
	for i := 0; i < n; i++ {
		var nc net.Conn
		var err error
		for try := 0; try < 50; try++ {
			if nc, err = net.DialTimeout("tcp", addr, 10*time.Second); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			fmt.Println("error dial", i, err)
			return 1
		}
		conns[i] = nc
		wg.Add(1)
		go func(nc net.Conn) {
			defer wg.Done()
			id := codec.NewGUID()
			var out []byte
			out = codec.AppendMessageFrame(out, codec.IdentifyClientCommand, &id,
				&codec.IdentifyClient{Version: 1, ConnectionName: "load"}, codec.AppendIdentifyClient)
			if _, err := nc.Write(out); err != nil {
				closed.Add(1)
				return
			}
			br := bufio.NewReaderSize(nc, 512)
			var hdr [4]byte
			body := make([]byte, 64)
			for {
				if _, err := io.ReadFull(br, hdr[:]); err != nil {
					select {
					case <-stop:
					default:
						closed.Add(1)
					}
					return
				}
				size := int(binary.LittleEndian.Uint32(hdr[:]))
				if size > len(body) {
					body = make([]byte, size)
				}
				if _, err := io.ReadFull(br, body[:size]); err != nil {
					closed.Add(1)
					return
				}
				p, err := codec.DecodePackage(body[:size])
				if err != nil {
					closed.Add(1)
					return
				}
				switch p.Command {
				case codec.ClientIdentifiedCommand:
					ready.Add(1)
				case codec.HeartbeatRequestCommand:
					heartbeats.Add(1)
					out = codec.AppendFrame(out[:0], codec.HeartbeatResponseCommand, &p.CorrelationID, nil)
					if _, err := nc.Write(out); err != nil {
						closed.Add(1)
						return
					}
				}
			}
		}(nc)
	}
	deadline := time.Now().Add(60 * time.Second)
	for ready.Load() < int64(n) {
		if time.Now().After(deadline) {
			fmt.Println("error only", ready.Load(), "identified")
			return 1
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("ready")
	time.Sleep(time.Duration(secs) * time.Second)
	fmt.Println("alive", int64(n)-closed.Load(), "heartbeats", heartbeats.Load())
	close(stop)
	for _, nc := range conns {
		nc.Close()
	}
	wg.Wait()
	return 0
}

func rssBytes() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func heapBytes() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

// manyConnections opens conns client connections from a child process,
// each completing an IdentifyClient handshake, keeps them alive through
// server heartbeats (the client answers them) for the given time, and
// reports the server's heap and RSS growth per connection.
func manyConnections(t *testing.T, conns, seconds int, interval, timeout time.Duration) {
	raiseFileLimit()
	h := newTestHandler()
	s := startServer(t, Config{HeartbeatInterval: interval, HeartbeatTimeout: timeout}, h)
	heap0, rss0 := heapBytes(), rssBytes()

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d,%d", loadClientEnv, s.Addr(), conns, seconds))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	next := func() string {
		if !lines.Scan() {
			t.Fatalf("load client ended early: %v\n%s", lines.Err(), stderr.String())
		}
		return lines.Text()
	}
	if l := next(); l != "ready" {
		t.Fatalf("load client: %s", l)
	}
	checkFor(t, 30*time.Second, 10*time.Millisecond, func() error {
		if got := s.Stats().ConnectionsOpen; got != int64(conns) {
			return fmt.Errorf("server has %d connections open; want %d", got, conns)
		}
		return nil
	})
	heap1, rss1 := heapBytes(), rssBytes()
	l := next()
	var alive, hbs int
	if _, err := fmt.Sscanf(l, "alive %d heartbeats %d", &alive, &hbs); err != nil {
		t.Fatalf("load client: %s", l)
	}
	st := s.Stats()
	heapPer := float64(int64(heap1)-int64(heap0)) / float64(conns)
	rssPer := float64(int64(rss1)-int64(rss0)) / float64(conns)
	t.Logf("%d connections for %d s: heap+stacks growth %.1f KiB/conn, RSS growth %.1f KiB/conn, heartbeat requests answered %d, server stats %+v",
		conns, seconds, heapPer/1024, rssPer/1024, hbs, st)
	if alive != conns || st.HeartbeatTimeouts != 0 {
		t.Fatalf("%d of %d connections survived; %d heartbeat timeouts", alive, conns, st.HeartbeatTimeouts)
	}
	if hbs == 0 {
		t.Fatal("no heartbeat requests reached the clients: the test did not exercise heartbeats")
	}
	if rssPer > 30*1024 {
		t.Fatalf("RSS growth %.1f KiB per connection; target ≤ 30 KiB", rssPer/1024)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("load client: %v\n%s", err, stderr.String())
	}
	checkFor(t, 30*time.Second, 10*time.Millisecond, func() error {
		if got := s.Stats().ConnectionsOpen; got != 0 {
			return fmt.Errorf("%d connections still open after the clients left", got)
		}
		return nil
	})
}

func TestThousandConnectionsStayAliveThroughHeartbeats(t *testing.T) {
	manyConnections(t, 1000, 3, 500*time.Millisecond, 500*time.Millisecond)
}
