package tlog

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/eventstored/eventstored/store/vfs"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/recovery/*.txt")

// TestRecoveryScenarios runs the scripts in testdata/recovery. Each block is
// a command, a "----" line and the expected output, ended by a blank line:
//
//	open chunk-size=256      open the log (prints the recovery report)
//	append count=N size=S    append N records of S bytes (prints positions)
//	flush | close | crash    crash = keep only what was synced
//	records                  every record (position, length)
//	files                    the directory listing with sizes
//	cut chunk=C at=O         shrink chunk C's file to header + O data bytes
//	damage chunk=C at=O      flip the data byte at offset O of chunk C
//	set-checkpoint name=N value=V
//	remove file=F
//	truncate pos=P
//
// Run with -rewrite to regenerate the expected output, then review the diff.
func TestRecoveryScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/recovery/*.txt")
	requireNoError(t, err)
	if len(files) == 0 {
		t.Fatal("no scenario files")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runScenario(t, file) })
	}
}

type scenario struct {
	t         *testing.T
	fs        *vfs.MemFS
	l         *Log
	chunkSize int64
	n         int // records appended so far, for payloads
}

func runScenario(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	requireNoError(t, err)
	sc := &scenario{t: t, fs: vfs.NewMem()}
	defer func() {
		if sc.l != nil {
			sc.l.Close()
		}
	}()
	var out bytes.Buffer
	r := bufio.NewScanner(bytes.NewReader(data))
	changed := false
	for r.Scan() {
		line := r.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			out.WriteString(line + "\n")
			continue
		}
		cmd := line
		if !r.Scan() || r.Text() != "----" {
			t.Fatalf("%s: command %q is not followed by ----", file, cmd)
		}
		var want []string
		for r.Scan() && r.Text() != "" {
			want = append(want, r.Text())
		}
		got := strings.TrimRight(sc.do(cmd), "\n")
		if got != strings.Join(want, "\n") {
			if !*rewrite {
				t.Errorf("%s: %s\ngot:\n%s\nwant:\n%s", file, cmd, got, strings.Join(want, "\n"))
			}
			changed = true
		}
		fmt.Fprintf(&out, "%s\n----\n%s\n\n", cmd, got)
	}
	if *rewrite && changed {
		requireNoError(t, os.WriteFile(file, append(bytes.TrimRight(out.Bytes(), "\n"), '\n'), 0o644))
	}
}

func (sc *scenario) args(fields []string) map[string]int64 {
	m := map[string]int64{}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			continue
		}
		m[k] = n
	}
	return m
}

func (sc *scenario) strArg(fields []string, key string) string {
	for _, f := range fields {
		if k, v, ok := strings.Cut(f, "="); ok && k == key {
			return v
		}
	}
	sc.t.Fatalf("missing argument %s", key)
	return ""
}

func (sc *scenario) do(cmd string) string {
	t := sc.t
	fields := strings.Fields(cmd)
	a := sc.args(fields[1:])
	switch fields[0] {
	case "open":
		if cs, ok := a["chunk-size"]; ok {
			sc.chunkSize = cs
		}
		o := testOpts(sc.fs, sc.chunkSize)
		o.SkipVerify = true
		l, err := Open(o)
		if err != nil {
			return "error: " + err.Error()
		}
		sc.l = l
		r := l.Recovery()
		s := fmt.Sprintf("end=%d writer-checkpoint=%d", r.End, r.WriterCheckpoint)
		if r.CutBytes > 0 {
			s += fmt.Sprintf("\ncut pos=%d bytes=%d", r.CutPos, r.CutBytes)
		}
		if len(r.RemovedChunks) > 0 {
			s += "\nremoved " + strings.Join(r.RemovedChunks, " ")
		}
		if r.TruncatedTo >= 0 {
			s += fmt.Sprintf("\ncompleted truncation to %d", r.TruncatedTo)
		}
		return s
	case "append":
		var pos []string
		for i := int64(0); i < a["count"]; i++ {
			p, err := sc.l.Append(payloadFor(sc.n, int(a["size"])))
			if err != nil {
				return "error: " + err.Error()
			}
			sc.n++
			pos = append(pos, strconv.FormatInt(p, 10))
		}
		return "positions " + strings.Join(pos, " ")
	case "flush":
		if err := sc.l.Flush(); err != nil {
			return "error: " + err.Error()
		}
		return fmt.Sprintf("durable=%d", sc.l.Durable())
	case "close":
		err := sc.l.Close()
		sc.l = nil
		if err != nil {
			return "error: " + err.Error()
		}
		return "ok"
	case "crash":
		clone := sc.fs.CrashClone() // what the disk holds at this instant
		if sc.l != nil {
			sc.l.Close() // the old process is gone; its files no longer count
			sc.l = nil
		}
		sc.fs = clone
		return "ok"
	case "records":
		it := sc.l.NewIterator(0)
		defer it.Close()
		var b strings.Builder
		for {
			pos, p, err := it.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return b.String() + "error: " + err.Error()
			}
			fmt.Fprintf(&b, "%d len=%d\n", pos, len(p))
		}
		if b.Len() == 0 {
			return "none"
		}
		return b.String()
	case "files":
		names, err := sc.fs.List("/db")
		requireNoError(t, err)
		sort.Strings(names)
		var b strings.Builder
		for _, n := range names {
			st, err := sc.fs.Stat("/db/" + n)
			requireNoError(t, err)
			fmt.Fprintf(&b, "%s %d\n", n, st.Size())
		}
		return b.String()
	case "cut", "damage":
		f, err := sc.fs.OpenReadWrite("/db/" + chunkFileName(a["chunk"], 0))
		requireNoError(t, err)
		defer f.Close()
		off := HeaderSizeBytes + a["at"]
		if fields[0] == "cut" {
			requireNoError(t, f.Truncate(off))
		} else {
			b := make([]byte, 1)
			requireNoError(t, vfs.ReadFull(f, b, off))
			b[0] ^= 0xFF
			_, err = f.WriteAt(b, off)
			requireNoError(t, err)
		}
		requireNoError(t, f.Sync())
		return "ok"
	case "set-checkpoint":
		c, err := openCheckpoint(sc.fs, "/db/"+sc.strArg(fields[1:], "name")+".chk", sc.strArg(fields[1:], "name"), 0)
		requireNoError(t, err)
		c.Write(a["value"])
		requireNoError(t, c.Flush())
		c.close()
		return "ok"
	case "remove":
		requireNoError(t, sc.fs.Remove("/db/"+sc.strArg(fields[1:], "file")))
		requireNoError(t, sc.fs.SyncDir("/db"))
		return "ok"
	case "truncate":
		if err := sc.l.Truncate(a["pos"]); err != nil {
			return "error: " + err.Error()
		}
		return fmt.Sprintf("durable=%d", sc.l.Durable())
	}
	t.Fatalf("unknown command %q", cmd)
	return ""
}
