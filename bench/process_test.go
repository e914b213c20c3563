package bench

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStartPeerMapsExitCodes(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "missing.sh", `echo "missing.sh: redis-server not found" >&2; exit 3`)
	writeScript(t, dir, "broken.sh", `echo "cannot bind" >&2; exit 1`)
	writeScript(t, dir, "fine.sh", `[ "$1" = start ] && [ -d "$2" ] && [ "$3" -gt 0 ] && touch "$2/started"; [ "$1" = stop ] && touch "$2/../stopped-$(basename "$2")"; exit 0`)

	_, err := StartPeer(context.Background(), dir, "missing")
	if !errors.Is(err, ErrPeerMissing) || !strings.Contains(err.Error(), "redis-server not found") {
		t.Fatalf("exit 3: unexpected error %v; want ErrPeerMissing with the script's message", err)
	}
	_, err = StartPeer(context.Background(), dir, "broken")
	if err == nil || errors.Is(err, ErrPeerMissing) || !strings.Contains(err.Error(), "cannot bind") {
		t.Fatalf("exit 1: unexpected error %v; want a start failure with the script's output", err)
	}
	p, err := StartPeer(context.Background(), dir, "fine")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(p.Dir, "started")); err != nil {
		t.Fatalf("the script did not get start DIR PORT: %v", err)
	}
	p.Stop()
	if _, err := os.Stat(p.Dir); !os.IsNotExist(err) {
		t.Fatalf("Stop left the data dir: %v", err)
	}
}

func TestStartNodeReportsAnEarlyExitWithItsLog(t *testing.T) {
	bin := writeScript(t, t.TempDir(), "eventstored", `echo "fatal: cannot open the database" >&2; exit 4`)
	_, err := StartNode(context.Background(), bin)
	if err == nil || !strings.Contains(err.Error(), "exited during start-up") || !strings.Contains(err.Error(), "cannot open the database") {
		t.Fatalf("unexpected error %v; want the exit and the log tail", err)
	}
	_, err = StartNode(context.Background(), filepath.Join(t.TempDir(), "absent"))
	if err == nil || !strings.Contains(err.Error(), "make build") {
		t.Fatalf("unexpected error %v", err)
	}
}
