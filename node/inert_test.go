package node

import (
	"log/slog"
	"strings"
	"testing"
)

// --max-truncation bounds what consensus may cut when a node rejoins
// (state_cluster.go → consensus.TlogDiskOptions.MaxTruncationBytes): it
// must not be reported as an option without effect.
func TestMaxTruncationIsNotInert(t *testing.T) {
	for _, io := range inertOptions {
		if io.name == "MaxTruncation" {
			t.Fatalf("MaxTruncation is listed as inert: %s", io.why)
		}
	}
	o := testOptions(t, "--max-truncation", "1")
	var buf syncBuf
	if _, err := New(o, WithLogger(slog.New(slog.NewTextHandler(&buf, nil)))); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); strings.Contains(out, "has no effect") {
		t.Errorf("an option reported as inert:\n%s", out)
	}
}
