package bench

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// Field 2 may hold spaces and parentheses; utime 150 and stime 25
	// ticks are fields 14 and 15.
	line := "4242 (event (s) d) S 1 4242 4242 0 -1 4194560 2000 0 0 0 150 25 0 0 20 0 9 0 100 200000 3000 18446744073709551615\n"
	got, err := parseStatCPU([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if want := 175 * 10 * time.Millisecond; got != want {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"", "4242 no-parens S 1", "4242 (x) S 1 2 3", "4242 (x) S 1 4242 4242 0 -1 4194560 2000 0 0 0 x 25 0"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestProcessCPUOfThisProcessGrows(t *testing.T) {
	before, err := ProcessCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until the 10 ms tick moves; bounded so a broken reader fails.
	deadline := time.Now().Add(5 * time.Second)
	x := 0
	for time.Now().Before(deadline) {
		for i := 0; i < 1e6; i++ {
			x += i
		}
		if now, _ := ProcessCPU(os.Getpid()); now > before {
			return
		}
	}
	t.Fatalf("CPU time did not move from %v after 5 s of work (%d)", before, x)
}
