package tlog

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventstored/eventstored/store/vfs"
)

// killWriterEnv, when set, turns the test binary into the writer process
// of TestKilledWriterProcess: it appends to the log in the named directory
// and prints "acked N" after each successful Flush until it is killed.
const killWriterEnv = "TLOG_KILL_WRITER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(killWriterEnv); dir != "" {
		os.Exit(runKillWriter(dir))
	}
	os.Exit(m.Run())
}

func runKillWriter(dir string) int {
	l, err := Open(Options{FS: vfs.Default, Dir: dir, ChunkSizeBytes: 64 << 10, Logger: quietLogger})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	n := 0
	for it := l.NewIterator(0); ; {
		if _, _, err := it.Next(); err != nil {
			break
		}
		n++
	}
	out := bufio.NewWriter(os.Stdout)
	for {
		for i := 0; i < 1+n%37; i++ {
			if _, err := l.Append(indexedPayload(n)); err != nil {
				fmt.Fprintln(out, "error", err)
				out.Flush()
				return 1
			}
			n++
		}
		if err := l.Flush(); err != nil {
			fmt.Fprintln(out, "error", err)
			out.Flush()
			return 1
		}
		fmt.Fprintln(out, "acked", n)
		out.Flush()
	}
}

// TestKilledWriterProcess runs a real writer process on the real disk and
// kills it with SIGKILL at arbitrary moments, several times over the same
// log. After each kill the log must reopen holding, in order and intact,
// every record the writer had reported acknowledged (Flush returned nil)
// and nothing that was not appended. A killed process leaves its page
// cache behind, so this checks the OS-level path (written-but-unsynced
// data, a chunk being created or sealed) rather than power loss, which the
// crash-clone tests cover.
func TestKilledWriterProcess(t *testing.T) {
	kills := 3
	if testing.Short() {
		kills = 1
	}
	killWriterProcess(t, kills)
}

func killWriterProcess(t *testing.T, kills int) {
	dir := t.TempDir()
	acked := 0
	for k := 0; k < kills; k++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), killWriterEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		requireNoError(t, err)
		requireNoError(t, cmd.Start())
		// A reader drains the writer's output all the time, so the writer
		// never blocks on a full pipe and the kill lands wherever it is:
		// inside Append, a roll-over, a write, an fsync, a checkpoint.
		var ackedNow atomic.Int64
		ackedNow.Store(int64(acked))
		lines := make(chan int, 1)
		readDone := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			seen := 0
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) == 2 && f[0] == "acked" {
					n, _ := strconv.Atoi(f[1])
					ackedNow.Store(int64(n))
					seen++
					select {
					case lines <- seen:
					default:
					}
					continue
				}
				readDone <- sc.Text()
				return
			}
			readDone <- ""
		}()
		want := 20 + 37*k
		for seen := 0; seen < want; {
			select {
			case seen = <-lines:
			case msg := <-readDone:
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("writer ended early: %q", msg)
			}
		}
		time.Sleep(time.Duration(k*300) * time.Microsecond) // vary where the kill lands
		requireNoError(t, cmd.Process.Kill())
		if msg := <-readDone; msg != "" {
			t.Fatalf("writer: %s", msg)
		}
		cmd.Wait()
		acked = int(ackedNow.Load())

		l, err := Open(Options{FS: vfs.Default, Dir: dir, ChunkSizeBytes: 64 << 10, Logger: quietLogger, SkipVerify: true})
		requireNoError(t, err)
		it := l.NewIterator(0)
		n := 0
		for {
			_, p, err := it.Next()
			if err == io.EOF {
				break
			}
			requireNoError(t, err)
			i, err := checkIndexedPayload(p)
			if err != nil || i != n {
				t.Fatalf("kill %d: record %d is %d (%v)", k, n, i, err)
			}
			n++
		}
		it.Close()
		requireNoError(t, l.Close())
		if n < acked {
			t.Fatalf("kill %d: %d records survive, %d were acknowledged", k, n, acked)
		}
		t.Logf("kill %d: %d acknowledged, %d survive", k, acked, n)
	}
}
