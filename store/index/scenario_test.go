package index

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventstored/eventstored/store/vfs"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/*.txt scenarios")

// TestScenarios runs testdata/*.txt: each file is a series of commands
// (one per block, ending in a line "----") followed by the expected trace;
// -rewrite regenerates the traces, which are reviewed as a diff. The
// Lines starting with # are comments. The commands drive one index on the in-memory FS, waiting for the background
// flushes and merges after each one so that traces are deterministic:
//
//	open memtable=N fanin=N maxtables=N   (re)open the index with these options
//	add hash=H from=N count=N             add count events of hash H, one Add each
//	close                                 close the index (writes the memtable)
//	crash                                 replace the FS by its crash clone and reopen
//	get hash=H n=N | last hash=H          print the candidates
//	state                                 print tables, checkpoint and files
func TestScenarios(t *testing.T) {
	files, err := os.ReadDir("testdata")
	requireNoError(t, err)
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), ".txt") {
			continue
		}
		t.Run(f.Name(), func(t *testing.T) { runScenario(t, "testdata/"+f.Name()) })
	}
}

type scenario struct {
	t    *testing.T
	fs   *vfs.MemFS
	opts Options
	ix   *Index
	pos  int64
}

func runScenario(t *testing.T, path string) {
	raw, err := os.ReadFile(path)
	requireNoError(t, err)
	s := &scenario{t: t, fs: newMemFS()}
	defer func() {
		if s.ix != nil {
			s.ix.Close()
		}
	}()
	var out strings.Builder
	blocks := strings.Split(string(raw), "\n\n")
	for _, blk := range blocks {
		blk = strings.TrimSpace(blk)
		if blk == "" {
			continue
		}
		cmd, want, _ := strings.Cut(blk, "\n----")
		var comments []string
		for strings.HasPrefix(cmd, "#") {
			var line string
			line, cmd, _ = strings.Cut(cmd, "\n")
			comments = append(comments, line)
		}
		for _, c := range comments {
			out.WriteString(c + "\n")
		}
		if strings.TrimSpace(cmd) == "" {
			out.WriteString("\n")
			continue
		}
		got := s.run(strings.TrimSpace(cmd))
		out.WriteString(strings.TrimSpace(cmd) + "\n----\n" + got + "\n\n")
		if !*rewrite && strings.TrimSpace(want) != strings.TrimSpace(got) {
			t.Fatalf("%s: unexpected output of\n%s\ngot:\n%s\nwant:\n%s", path, cmd, got, strings.TrimSpace(want))
		}
	}
	if *rewrite {
		requireNoError(t, os.WriteFile(path, []byte(out.String()), 0o644))
	}
}

func args(fields []string) map[string]int64 {
	m := map[string]int64{}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		n, _ := strconv.ParseInt(v, 10, 64)
		m[k] = n
	}
	return m
}

func (s *scenario) run(cmd string) string {
	t := s.t
	fields := strings.Fields(cmd)
	a := args(fields[1:])
	switch fields[0] {
	case "open":
		s.opts = Options{FS: s.fs, Dir: "/s", MemTableMaxEntries: int(a["memtable"]), MergeFanIn: int(a["fanin"]), MaxTables: int(a["maxtables"])}
		return s.reopen()
	case "add":
		for i := int64(0); i < a["count"]; i++ {
			s.pos += 100
			requireNoError(t, s.ix.Add([]Entry{{Hash: uint64(a["hash"]), Number: a["from"] + i, Pos: s.pos}}, s.pos+100))
			s.waitIdle() // one event at a time keeps flushes and merges in one order
		}
		return s.state()
	case "close":
		requireNoError(t, s.ix.Close())
		s.ix = nil
		return s.state()
	case "crash":
		s.fs = s.fs.CrashClone()
		s.opts.FS = s.fs
		s.ix.Close() // the original FS is abandoned; its index stops
		return s.reopen()
	case "get":
		var ps []string
		s.ix.Get(uint64(a["hash"]), a["n"], func(p int64) bool { ps = append(ps, fmt.Sprint(p)); return true })
		return "positions: " + strings.Join(ps, " ")
	case "last":
		var es []string
		s.ix.Last(uint64(a["hash"]), func(e Entry) bool { es = append(es, fmt.Sprintf("%d@%d", e.Number, e.Pos)); return len(es) < 3 })
		return "last: " + strings.Join(es, " ")
	case "state":
		return s.state()
	}
	t.Fatalf("unknown scenario command %q", cmd)
	return ""
}

func (s *scenario) reopen() string {
	if s.ix != nil && !s.ix.closing.Load() {
		requireNoError(s.t, s.ix.Close())
	}
	ix, err := Open(s.opts)
	if err != nil {
		s.ix = nil
		return "error: " + err.Error()
	}
	s.ix = ix
	s.waitIdle()
	return s.state()
}

// waitIdle waits until nothing is frozen, no merge runs and none is due.
func (s *scenario) waitIdle() {
	checkFor(s.t, 10*time.Second, time.Millisecond, func() error {
		s.ix.mu.Lock()
		defer s.ix.mu.Unlock()
		if in, _ := s.ix.pickMergeLocked(); len(s.ix.frozen) > 0 || s.ix.mergesRunning > 0 || in != nil {
			return fmt.Errorf("background work pending")
		}
		return nil
	})
}

func (s *scenario) state() string {
	var b strings.Builder
	if s.ix != nil {
		v := s.ix.acquire()
		fmt.Fprintf(&b, "memtable: %d entries\n", v.mem.len())
		for _, t := range v.tables {
			fmt.Fprintf(&b, "table seq=%d level=%d entries=%d upTo=%d\n", t.seq, t.level, t.count, t.upTo)
		}
		v.release()
		fmt.Fprintf(&b, "checkpoint: %d\n", s.ix.CheckpointPos())
	}
	names, _ := s.fs.List("/s")
	fmt.Fprintf(&b, "files: %s", strings.Join(names, " "))
	return b.String()
}
