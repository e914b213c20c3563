package main

import (
	"context"
	"net"
	"strings"
	"testing"
)

func runArgs(args ...string) (int, string, string) {
	var out, errb strings.Builder
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestBadUsageExitsTwoWithAClearMessage(t *testing.T) {
	f := func(wantInStderr string, args ...string) {
		t.Helper()
		code, _, stderr := runArgs(args...)
		if code != 2 {
			t.Fatalf("esbench %v: unexpected exit code %d; want 2 (stderr %q)", args, code, stderr)
		}
		if !strings.Contains(stderr, wantInStderr) {
			t.Fatalf("esbench %v: stderr %q lacks %q", args, stderr, wantInStderr)
		}
	}
	f("usage: esbench")
	f(`unknown command "flood"`, "flood")
	f("unknown flag: --bogus", "write", "--bogus")
	f("--clients 0 out of range", "write", "--clients", "0")
	f(`--read "index" is not event, stream or all`, "read", "--read", "index")
	f("--events-per-write 0 out of range", "write", "--events-per-write=0")
	f(`--target "mysql"`, "write", "--target", "mysql")
	f("--addr", "write", "--addr", "nohost")
	f(`unexpected argument "extra"`, "write", "extra")
	f("not both", "write", "--start-node", "x", "--start-peer")
	f(`unknown peer "mysql"`, "suite", "--peers", "mysql")
	f("--duration must be positive", "suite", "--duration", "0s")
}

func TestUnreachableServerExitsOneWithAClearError(t *testing.T) {
	// A port that was free a moment ago: nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, args := range [][]string{
		{"write", "--addr", addr, "--duration", "1s", "--no-progress"},
		{"read", "--addr", addr, "--duration", "1s", "--no-progress"},
		{"soak", "--addr", addr, "--clients", "3", "--duration", "1s", "--no-progress"},
		{"write", "--target", "eventstored-http", "--addr", addr, "--duration", "1s", "--no-progress"},
	} {
		code, _, stderr := runArgs(args...)
		if code != 1 {
			t.Fatalf("esbench %v: unexpected exit code %d; want 1 (stderr %q)", args, code, stderr)
		}
		if !strings.Contains(stderr, "connect") || !strings.Contains(stderr, addr) {
			t.Fatalf("esbench %v: stderr %q should say it cannot connect to %s", args, stderr, addr)
		}
	}
}

func TestSubscribeValidatesItsFlags(t *testing.T) {
	code, _, stderr := runArgs("subscribe", "--target", "eventstored-http")
	if code != 2 || !strings.Contains(stderr, "over TCP") {
		t.Fatalf("unexpected result %d %q", code, stderr)
	}
	code, _, stderr = runArgs("subscribe", "--rate", "-1")
	if code != 2 || !strings.Contains(stderr, "--rate") {
		t.Fatalf("unexpected result %d %q", code, stderr)
	}
}

func TestMissingNodeBinaryIsAClearError(t *testing.T) {
	code, _, stderr := runArgs("write", "--start-node", t.TempDir()+"/no-such-binary", "--duration", "1s")
	if code != 1 || !strings.Contains(stderr, "no-such-binary") || !strings.Contains(stderr, "make build") {
		t.Fatalf("unexpected result %d %q", code, stderr)
	}
}
