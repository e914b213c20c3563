package store

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The process-level crash test: the test binary re-executes itself as a
// child (TestMain → runCrashChild, switched on by environment variables) that
// opens a DB on a directory and writes from several goroutines to many
// streams, printing each acknowledged event as "stream number id" on stdout.
// The parent SIGKILLs the child at a random moment, reopens the directory
// and checks that every acknowledged event is read back exactly once and in
// order, by stream reads and in $all. Rounds reuse the directory, so each
// round also recovers from the previous kill.

const (
	envCrashDir    = "STORE_CRASH_CHILD_DIR"
	envCrashSeed   = "STORE_CRASH_CHILD_SEED"
	envCrashEvents = "STORE_CRASH_CHILD_EVENTS"
	envCrashQuiet  = "STORE_CRASH_CHILD_QUIET"
)

// TestMain runs the crash child instead of the tests when the environment
// switch is set.
func TestMain(m *testing.M) {
	if dir := os.Getenv(envCrashDir); dir != "" {
		runCrashChild(dir)
		return
	}
	os.Exit(m.Run())
}

// runCrashChild writes until killed (or until the event limit), printing
// each acknowledged event; it never returns normally.
func runCrashChild(dir string) {
	seed, _ := strconv.ParseUint(os.Getenv(envCrashSeed), 10, 64)
	limit, _ := strconv.Atoi(os.Getenv(envCrashEvents)) // 0 = until killed
	quiet := os.Getenv(envCrashQuiet) != ""
	opts := Options{Dir: dir, ChunkSizeBytes: 1 << 20, Logger: testLogger, IndexMemTableMax: 20_000}
	if quiet {
		opts.ChunkSizeBytes, opts.IndexMemTableMax = 0, 0 // production defaults
	}
	db, err := Open(opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "child: open: %v\n", err)
		os.Exit(2)
	}
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var written atomicCounter
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(g)))
			for i := 0; limit == 0 || written.load() < limit; i++ {
				stream := fmt.Sprintf("c%d-%d", g, rng.IntN(16))
				n := 1 + rng.IntN(5)
				if quiet {
					n = 100
				}
				events := make([]NewEvent, n)
				for k := range events {
					events[k] = NewEvent{ID: randomID(), Type: "crash", Data: make([]byte, rng.IntN(200))}
				}
				op := &Op{Kind: OpWrite, Stream: stream, ExpectedVersion: ExpectedVersionAny, Events: events}
				if err := db.Do(context.Background(), op); err != nil || op.Result.Status != OpSuccess {
					fmt.Fprintf(os.Stderr, "child: write: %v %d\n", err, op.Result.Status)
					os.Exit(3)
				}
				written.add(n)
				if quiet {
					continue
				}
				mu.Lock()
				for k := range events {
					fmt.Fprintf(out, "%s %d %s\n", stream, op.Result.FirstEventNumber+int64(k), hex.EncodeToString(events[k].ID[:]))
				}
				// Flush while holding the lock: a line on stdout is an
				// acknowledged event; the kill may cut the last line.
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	fmt.Fprintln(out, "DONE")
	out.Flush()
	mu.Unlock()
	// Exit without Close: the parent kills us anyway in the restart test.
	select {}
}

type atomicCounter struct {
	mu sync.Mutex
	n  int
}

func (c *atomicCounter) add(n int) { c.mu.Lock(); c.n += n; c.mu.Unlock() }
func (c *atomicCounter) load() int { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

// ackedEvents is stream → event number → id.
type ackedEvents map[string]map[int64][16]byte

func (a ackedEvents) parse(t testing.TB, line string) {
	f := strings.Fields(line)
	if len(f) != 3 {
		return // the kill cut this line
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	b, err2 := hex.DecodeString(f[2])
	if err != nil || err2 != nil || len(b) != 16 {
		return
	}
	var id [16]byte
	copy(id[:], b)
	if a[f[0]] == nil {
		a[f[0]] = map[int64][16]byte{}
	}
	if old, ok := a[f[0]][n]; ok && old != id {
		t.Fatalf("child acknowledged two ids for %s/%d", f[0], n)
	}
	a[f[0]][n] = id
}

// verifyAckedNumbers checks every acknowledged (stream, number, id) is read
// back, each stream in order, and each id exactly once in $all.
func verifyAckedNumbers(t testing.TB, db *DB, acked ackedEvents) {
	t.Helper()
	rd := db.NewReader()
	defer rd.Close()
	total := 0
	for stream, want := range acked {
		got := map[int64][16]byte{}
		prev := int64(-1)
		for from := int64(0); ; {
			s := rd.ReadStreamForward(stream, from, 4096, false)
			if s.Status != ReadSuccess {
				t.Fatalf("stream %s: status %d", stream, s.Status)
			}
			for _, e := range s.Events {
				if e.Event.Number != prev+1 {
					t.Fatalf("stream %s: event %d follows %d", stream, e.Event.Number, prev)
				}
				prev = e.Event.Number
				got[e.Event.Number] = e.Event.ID
			}
			if s.IsEndOfStream {
				break
			}
			from = s.NextEventNumber
		}
		for n, id := range want {
			if got[n] != id {
				t.Fatalf("stream %s: acknowledged event %d (%x) reads back as %x", stream, n, id, got[n])
			}
			total++
		}
	}
	seen := map[[16]byte]int{}
	last := map[string]int64{}
	for from := PositionStart; ; {
		a := rd.ReadAllForward(from, 4096, false)
		if a.Status != ReadSuccess {
			t.Fatalf("$all: status %d", a.Status)
		}
		if len(a.Events) == 0 {
			break
		}
		for _, e := range a.Events {
			seen[e.Event.ID]++
			if l, ok := last[e.Event.Stream]; ok && e.Event.Number != l+1 {
				t.Fatalf("$all: %s event %d follows %d", e.Event.Stream, e.Event.Number, l)
			}
			last[strings.Clone(e.Event.Stream)] = e.Event.Number
		}
		from = a.Next
	}
	for stream, want := range acked {
		for n, id := range want {
			if seen[id] != 1 {
				t.Fatalf("$all: acknowledged %s/%d seen %d times", stream, n, seen[id])
			}
		}
	}
	t.Logf("verified %d acknowledged events in %d streams", total, len(acked))
}

// startCrashChild runs the child on dir and returns it with its stdout.
func startCrashChild(t testing.TB, dir string, seed uint64, events int, quiet bool) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.count=1")
	cmd.Env = append(os.Environ(), envCrashDir+"="+dir, envCrashSeed+"="+strconv.FormatUint(seed, 10),
		envCrashEvents+"="+strconv.Itoa(events))
	if quiet {
		cmd.Env = append(cmd.Env, envCrashQuiet+"=1")
	}
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	requireNoError(t, err)
	requireNoError(t, cmd.Start())
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	return cmd, sc
}

func runCrashRounds(t *testing.T, rounds int) {
	dir := t.TempDir()
	acked := ackedEvents{}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for round := 0; round < rounds; round++ {
		seed := rng.Uint64()
		cmd, sc := startCrashChild(t, dir, seed, 0, false)
		// Kill after a random number of acknowledged events: the moment is
		// random with respect to the writer's group commits.
		killAfter := 200 + rng.IntN(3000)
		lines := 0
		for sc.Scan() {
			acked.parse(t, sc.Text())
			lines++
			if lines == killAfter {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatalf("kill: %v", err)
				}
			}
		}
		_ = cmd.Wait()
		if lines < killAfter {
			t.Fatalf("round %d: the child stopped after %d lines before the kill (seed %d)", round, lines, seed)
		}
		db, err := Open(Options{Dir: dir, ChunkSizeBytes: 1 << 20, Logger: testLogger})
		if err != nil {
			t.Fatalf("round %d (seed %d): reopen after SIGKILL: %v", round, seed, err)
		}
		verifyAckedNumbers(t, db, acked)
		requireNoError(t, db.Close())
	}
}

func TestProcessCrashNeverLosesAcknowledgedWrites(t *testing.T) {
	runCrashRounds(t, 3)
}
