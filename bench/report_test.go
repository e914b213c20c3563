package bench

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sampleResult(target string, evps float64) *Result {
	r := NewRecorder()
	for i := 1; i <= 1000; i++ {
		r.Record(i, time.Duration(i)*time.Microsecond)
	}
	cfg := Defaults(KindWrite)
	cfg.Target = target
	return &Result{
		Label: cfg.Label(), Target: target, Config: cfg, WindowSeconds: 2,
		Requests: int64(evps * 2), Events: int64(evps * 2), EventsPerSec: evps, RequestsPerSec: evps,
		Latency: Summarize(r.Snapshot()), Series: []float64{evps * 0.9, evps * 1.1}, IntervalSeconds: 1,
	}
}

func TestSummaryLine(t *testing.T) {
	r := sampleResult("eventstored", 123456.7)
	r.Errors = map[string]int64{"timeout": 2, "wrong_expected_version": 1}
	got := r.Summary()
	for _, want := range []string{
		"eventstored write 16 clients × 1 ev/write, 100 B: 123,457 events/s",
		"p50 0.500", "p99 0.990", "max 1.00",
		"3 errors (timeout 2, wrong_expected_version 1)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "\n") {
		t.Errorf("summary is not one line: %q", got)
	}
}

func TestSoakSummaryLine(t *testing.T) {
	r := &Result{Label: "eventstored soak 10 conns", Soak: &SoakResult{Connections: 10, Alive: 9,
		RSSBeforeBytes: 10 << 20, RSSAfterBytes: 10<<20 + 10*20*1024, RSSPerConnBytes: 20 * 1024, IdleSeconds: 5}}
	got := r.Summary()
	for _, want := range []string{"9/10 connections alive after 5 s idle", "20.0 KiB per connection"} {
		if !strings.Contains(got, want) {
			t.Errorf("summary %q lacks %q", got, want)
		}
	}
	r.Soak.RSSAfterBytes = 0
	if got := r.Summary(); !strings.Contains(got, "server RSS unknown") {
		t.Errorf("summary %q should say the RSS is unknown", got)
	}
}

func TestFormatters(t *testing.T) {
	f := func(got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("unexpected format; got %q; want %q", got, want)
		}
	}
	f(fmtRate(0), "0")
	f(fmtRate(999), "999")
	f(fmtRate(1000), "1,000")
	f(fmtRate(1234567.4), "1,234,567")
	f(fmtRate(-1500), "-1,500")
	f(fmtMs(0), "0")
	f(fmtMs(0.1234), "0.123")
	f(fmtMs(12.345), "12.35")
	f(fmtMs(1234.5), "1234")
	f(slug("write 16 clients × 100 events"), "write-16-clients-100-events")
	f(slug("read $all forward"), "read-all-forward")
}

func TestWriteJSONRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "result.json")
	in := sampleResult("redis", 5000)
	in.Config.Password = "secret"
	if err := WriteJSON(path, in); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "secret") {
		t.Fatalf("the JSON result leaks the password")
	}
	var out Result
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.EventsPerSec != 5000 || out.Latency.P99Ms != in.Latency.P99Ms || len(out.Series) != 2 || out.Target != "redis" {
		t.Fatalf("unexpected round trip: %+v", out)
	}
}

func TestWriteJSONReportsUnwritableDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := WriteJSON(filepath.Join(file, "x.json"), 1)
	if err == nil || !strings.Contains(err.Error(), "cannot create") {
		t.Fatalf("unexpected error; got %v; want a 'cannot create' error", err)
	}
}

func TestSuiteMarkdownTable(t *testing.T) {
	es, redis, pg := sampleResult("eventstored", 60000), sampleResult("redis", 20000), sampleResult("postgres", 10000)
	rep := &SuiteReport{Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Node: "bin/eventstored", GoVersion: "go1.26", CPUs: 2,
		PeerNotes: map[string]string{"nats": "skipped: not installed"}, DiskSync: &DiskSync{Samples: 200, P50Ms: 1.25, P99Ms: 3.5},
		Scenarios: []Scenario{
			{Name: "write 16 clients × 1 event", Goal: "≥ 1.5× Redis", Results: []*Result{es, redis, pg},
				Ratios: map[string]float64{"redis": 3, "postgres": 6}, Met: true, Verdict: "met"},
			{Name: "10 idle connections", Goal: "≤ 30 KiB", Results: []*Result{{Label: "soak", Target: "eventstored",
				Soak: &SoakResult{Connections: 10, Alive: 10, RSSAfterBytes: 1, RSSPerConnBytes: 2048}}}, Verdict: "met", Met: true},
			{Name: "read $all forward", Goal: "≥ 1,500,000 events/s", Error: "boom", Verdict: "failed: boom"},
		}}
	var b strings.Builder
	if err := WriteSuiteMarkdown(&b, rep); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"| write 16 clients × 1 event | 60,000 | 0.500 | 0.990 | 0.999 | 20,000 | 3.00 | 10,000 | 6.00 | – | – | ≥ 1.5× Redis | met |",
		"| 10 idle connections | 10/10 alive, 2.0 KiB RSS/conn |",
		"| read $all forward | – | – | – | – |",
		"failed: boom",
		"- nats: skipped: not installed",
		"fdatasync p50 1.250 ms, p99 3.500 ms (200 samples)",
		"## Runs",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestRedisRatioCheck(t *testing.T) {
	check := standardScenarios[0].check     // 1 client: ≥ 1.1× Redis and p50 ≤ 0.3 ms
	es := sampleResult("eventstored", 1000) // p50 0.5 ms
	ok, verdict := check(es, map[string]float64{"redis": 1.2})
	if ok || !strings.Contains(verdict, "p50 0.500 ms > 0.3 ms") || strings.Contains(verdict, "Redis <") {
		t.Fatalf("unexpected verdict %q (ok %v)", verdict, ok)
	}
	ok, verdict = check(es, map[string]float64{})
	if ok || !strings.Contains(verdict, "no Redis result") {
		t.Fatalf("unexpected verdict %q", verdict)
	}
	check = standardScenarios[2].check // 256 clients
	es = sampleResult("eventstored", 300000)
	if ok, verdict := check(es, map[string]float64{"redis": 5}); !ok || verdict != "met" {
		t.Fatalf("unexpected verdict %q", verdict)
	}
	es.Errors = map[string]int64{"timeout": 1}
	if ok, verdict := check(es, map[string]float64{"redis": 5}); ok || !strings.Contains(verdict, "1 errors") {
		t.Fatalf("errors must fail the goal; got %q", verdict)
	}
}

// TestSVGPlotsAreWellFormed renders both plots and parses them as XML.
func TestSVGPlotsAreWellFormed(t *testing.T) {
	rs := []*Result{sampleResult("eventstored", 50000), sampleResult("redis <&>", 20000)}
	for _, p := range []*LinePlot{ThroughputPlot("t & \"x\"", rs), LatencyPlot("l", rs), ThroughputPlot("empty", nil)} {
		var b strings.Builder
		if err := p.WriteSVG(&b); err != nil {
			t.Fatal(err)
		}
		d := xml.NewDecoder(strings.NewReader(b.String()))
		polylines := 0
		for {
			tok, err := d.Token()
			if err != nil {
				if err.Error() != "EOF" {
					t.Fatalf("%s: invalid SVG: %v\n%s", p.Title, err, b.String())
				}
				break
			}
			if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
				polylines++
			}
		}
		if want := len(p.Series); polylines != want {
			t.Fatalf("%s: unexpected polyline count; got %d; want %d", p.Title, polylines, want)
		}
	}
}

func TestNiceTicksCoverRange(t *testing.T) {
	for _, r := range [][2]float64{{0, 1}, {0, 7}, {0, 123456}, {3, 17}, {0, 0}} {
		ticks := niceTicks(r[0], r[1], 5)
		if len(ticks) < 2 || ticks[0].V > r[0] || ticks[len(ticks)-1].V < r[1] {
			t.Errorf("ticks %v do not cover %v", ticks, r)
		}
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tx\nVmPeak:\t  100 kB\nVmRSS:\t    2048 kB\nThreads: 3\n"
	got, err := parseVmRSS(strings.NewReader(status))
	if err != nil || got != 2048*1024 {
		t.Fatalf("unexpected RSS; got %d, %v; want %d", got, err, 2048*1024)
	}
	if _, err := parseVmRSS(strings.NewReader("Name:\tx\n")); err == nil {
		t.Fatal("expected an error without a VmRSS line")
	}
	if _, err := parseVmRSS(strings.NewReader("VmRSS:\t12 MB\n")); err == nil {
		t.Fatal("expected an error for an unknown unit")
	}
	// The real file of this process.
	if n, err := RSSBytes(os.Getpid()); err != nil || n <= 0 {
		t.Fatalf("RSSBytes(self) = %d, %v", n, err)
	}
	if _, err := RSSBytes(1 << 30); err == nil {
		t.Fatal("expected an error for a pid that does not exist")
	}
}

type kindErr struct{}

func (kindErr) Error() string { return "x" }
func (kindErr) Kind() string  { return "not_master" }

func TestErrorKind(t *testing.T) {
	f := func(err error, want string) {
		t.Helper()
		if got := ErrorKind(err); got != want {
			t.Errorf("ErrorKind(%v) = %q; want %q", err, got, want)
		}
	}
	f(kindErr{}, "not_master")
	f(fmt.Errorf("wrapped: %w", kindErr{}), "not_master")
	f(context.DeadlineExceeded, "timeout")
	f(os.ErrDeadlineExceeded, "timeout")
	f(errors.New("boom"), "other")
}

func TestErrorCountsBoundKinds(t *testing.T) {
	var e errorCounts
	for i := 0; i < maxErrorKinds+50; i++ {
		e.add(namedKind(fmt.Sprintf("k%d", i)))
	}
	if len(e.counts) > maxErrorKinds+1 {
		t.Fatalf("error kinds unbounded: %d", len(e.counts))
	}
	if e.counts["other"] == 0 {
		t.Fatal("overflowing kinds should count as other")
	}
}

type namedKind string

func (n namedKind) Error() string { return string(n) }
func (n namedKind) Kind() string  { return string(n) }

func TestDecadeTicks(t *testing.T) {
	ticks := decadeTicks([]PlotSeries{{Y: []float64{0.05, 3, 250, 0, -1}}})
	var got []string
	for _, tk := range ticks {
		got = append(got, tk.Label)
	}
	if want := "0.01 0.1 1 10 100 1000"; strings.Join(got, " ") != want {
		t.Fatalf("unexpected decades %v; want %s", got, want)
	}
	if ticks := decadeTicks(nil); len(ticks) != 2 {
		t.Fatalf("empty series should still give an axis; got %v", ticks)
	}
}

func TestMeasureDiskSync(t *testing.T) {
	d, err := MeasureDiskSync(t.TempDir(), 5)
	if err != nil {
		t.Fatal(err)
	}
	if d.Samples != 5 || d.P50Ms <= 0 || d.P99Ms < d.P50Ms {
		t.Fatalf("unexpected measurement %+v", d)
	}
	if _, err := MeasureDiskSync(filepath.Join(t.TempDir(), "missing"), 1); err == nil {
		t.Fatal("expected an error for a missing directory")
	}
}
