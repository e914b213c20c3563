package main

import (
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/eventstored/eventstored/cmd/eventstored/clustertest"
)

// TestClusterValidatesItsFlags: each limit of `esbench cluster` is an
// exit 2 naming the flag, before anything starts.
func TestClusterValidatesItsFlags(t *testing.T) {
	for _, c := range []struct {
		want string
		args []string
	}{
		{"--size 2: want 3..9", []string{"--size", "2"}},
		{"--size 10: want 3..9", []string{"--size", "10"}},
		{"--failovers -1", []string{"--failovers", "-1"}},
		{"--failovers 1001", []string{"--failovers", "1001"}},
		{`--clients: "x" is not a positive count`, []string{"--clients", "16,x"}},
		{`--clients: "0" is not a positive count`, []string{"--clients", "0"}},
		{"nothing to do", []string{"--clients", ""}},
		{"--events-per-write 0 out of range", []string{"--events-per-write", "0"}},
		{"--inflight 0 out of range", []string{"--inflight", "0"}},
		{"--inflight 4097 out of range", []string{"--inflight", "4097"}},
		{"unknown flag: --bogus", []string{"--bogus"}},
		{`unexpected argument "extra"`, []string{"extra"}},
	} {
		code, _, stderr := runArgs(append([]string{"cluster"}, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("esbench cluster %v: exit %d, stderr %q; want exit 2 and %q", c.args, code, stderr, c.want)
		}
	}
	code, _, stderr := runArgs("cluster", "--node", "/nonexistent/eventstored")
	if code != 1 || !strings.Contains(stderr, "/nonexistent/eventstored") {
		t.Errorf("missing binary: exit %d, stderr %q; want exit 1 naming the path", code, stderr)
	}
}

// TestLongestGap: the longest stretch without an acknowledged write,
// counted from 500 ms before the kill to now.
func TestLongestGap(t *testing.T) {
	h := clustertest.NewHistory()
	ack := func(ret time.Duration) {
		h.Add(porcupine.Operation{Input: clustertest.StreamInput{Kind: clustertest.OpAppend, Stream: "s", IDs: []string{"a"}},
			Output: clustertest.StreamOutput{Outcome: clustertest.Ok}, Return: int64(ret)})
	}
	ack(0)                      // before the window: ignored
	ack(900 * time.Millisecond) // window starts at 1 s - 500 ms = 500 ms
	ack(1000 * time.Millisecond)
	ack(2500 * time.Millisecond) // the gap: 1.5 s
	ack(2600 * time.Millisecond)
	time.Sleep(10 * time.Millisecond) // h.Now() is ~10 ms: before every return, so no trailing gap
	if got := longestGap(h, int64(time.Second)); got != 1500*time.Millisecond {
		t.Fatalf("longest gap %v; want 1.5s", got)
	}
}
