package clustertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "clustertest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath, err = Build(dir, false)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startCluster prepares and starts a cluster in t.TempDir(); on failure
// the tail of every node's log is printed; at the end every node is killed.
func startCluster(t *testing.T, cfg Config) *Cluster {
	t.Helper()
	cfg.Bin = binPath
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		var tail string
		if t.Failed() {
			tail = c.Logs(150)
			// Stacks of every running node into its log (kept below), for a hang.
			for _, n := range c.Nodes {
				_ = n.Dump()
			}
		}
		c.Close()
		if t.Failed() {
			t.Logf("node logs:\n%s", tail)
			// Whole logs outlive t.TempDir() for a look afterwards.
			keep, err := os.MkdirTemp("", "clustertest-logs-"+strings.ReplaceAll(t.Name(), "/", "_")+"-")
			if err == nil {
				for _, n := range c.Nodes {
					b, _ := os.ReadFile(n.LogPath)
					_ = os.WriteFile(filepath.Join(keep, filepath.Base(n.LogPath)), b, 0o644)
				}
				t.Logf("whole node logs kept in %s", keep)
			}
		}
	})
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	return c
}

func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
