package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Result is the outcome of one run, as written to JSON.
type Result struct {
	Label          string    `json:"label"`
	Target         string    `json:"target"`
	Config         Config    `json:"config"`
	Started        time.Time `json:"started"`
	WindowSeconds  float64   `json:"window_seconds"`
	Requests       int64     `json:"requests"`
	Events         int64     `json:"events"`
	EventsPerSec   float64   `json:"events_per_sec"`
	RequestsPerSec float64   `json:"requests_per_sec"`
	// Mixed runs only: EventsPerSec split into events read and written.
	ReadEventsPerSec  float64 `json:"read_events_per_sec,omitempty"`
	WriteEventsPerSec float64 `json:"write_events_per_sec,omitempty"`
	Latency           Latency `json:"latency"`
	// WriteLatency (subscribe runs only) is write sent → acknowledged,
	// that is durable: the part of Latency spent before a push can start.
	WriteLatency    *Latency          `json:"write_latency,omitempty"`
	Series          []float64         `json:"events_per_sec_series"`
	IntervalSeconds float64           `json:"interval_seconds"`
	Errors          map[string]int64  `json:"errors,omitempty"`
	ErrorSamples    map[string]string `json:"error_samples,omitempty"`
	Soak            *SoakResult       `json:"soak,omitempty"`
	// CPU time used over the window (user + system, /proc/<pid>/stat, 10 ms
	// resolution) by the server (when Config.ServerPID is known) and by
	// this tool, in total and per completed request.
	ServerCPUSeconds      float64 `json:"server_cpu_seconds,omitempty"`
	ServerCPUPerRequestUs float64 `json:"server_cpu_per_request_us,omitempty"`
	ToolCPUSeconds        float64 `json:"tool_cpu_seconds,omitempty"`
	ToolCPUPerRequestUs   float64 `json:"tool_cpu_per_request_us,omitempty"`
}

// SoakResult is the outcome of the connection soak.
type SoakResult struct {
	Connections int `json:"connections"`
	// Alive is how many connections answered a ping after idling for the
	// whole window (so heartbeats kept them open).
	Alive int `json:"alive"`
	// RSS figures of the server process, 0 when unknown (the tool did not
	// start the node and no --pid was given).
	RSSBeforeBytes int64 `json:"rss_before_bytes"`
	RSSAfterBytes  int64 `json:"rss_after_bytes"`
	// RSSPerConnBytes = (after − before) / connections.
	RSSPerConnBytes float64 `json:"rss_per_conn_bytes"`
	IdleSeconds     float64 `json:"idle_seconds"`
}

// ErrorTotal is the number of failed requests in the window.
func (r *Result) ErrorTotal() int64 {
	var n int64
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// Summary is the one-line summary printed after a run.
func (r *Result) Summary() string {
	if r.Soak != nil {
		s := r.Soak
		rss := "server RSS unknown (give --pid or let the tool start the node)"
		if s.RSSAfterBytes > 0 {
			rss = fmt.Sprintf("server RSS %.1f → %.1f MiB, %.1f KiB per connection",
				float64(s.RSSBeforeBytes)/(1<<20), float64(s.RSSAfterBytes)/(1<<20), s.RSSPerConnBytes/1024)
		}
		return fmt.Sprintf("%s: %d/%d connections alive after %.0f s idle; handshake p50 %.2f ms p99 %.2f ms; %s",
			r.Label, s.Alive, s.Connections, s.IdleSeconds, r.Latency.P50Ms, r.Latency.P99Ms, rss)
	}
	l := r.Latency
	s := fmt.Sprintf("%s: %s events/s (%s req/s) over %.1f s; latency ms p50 %s p90 %s p99 %s p99.9 %s max %s",
		r.Label, fmtRate(r.EventsPerSec), fmtRate(r.RequestsPerSec), r.WindowSeconds,
		fmtMs(l.P50Ms), fmtMs(l.P90Ms), fmtMs(l.P99Ms), fmtMs(l.P999Ms), fmtMs(l.MaxMs))
	if w := r.WriteLatency; w != nil {
		s += fmt.Sprintf("; write ack p50 %s p99 %s", fmtMs(w.P50Ms), fmtMs(w.P99Ms))
	}
	if r.Config.Kind == KindMixed {
		s += fmt.Sprintf("; read %s events/s, wrote %s events/s", fmtRate(r.ReadEventsPerSec), fmtRate(r.WriteEventsPerSec))
	}
	if r.ServerCPUSeconds > 0 {
		s += fmt.Sprintf("; server CPU %.2f cores, %.1f µs/request", r.ServerCPUSeconds/r.WindowSeconds, r.ServerCPUPerRequestUs)
	}
	if r.ToolCPUSeconds > 0 {
		s += fmt.Sprintf("; tool CPU %.2f cores, %.1f µs/request", r.ToolCPUSeconds/r.WindowSeconds, r.ToolCPUPerRequestUs)
	}
	if n := r.ErrorTotal(); n > 0 {
		s += fmt.Sprintf("; %d errors (%s)", n, formatErrors(r.Errors))
	}
	return s
}

func formatErrors(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// fmtRate prints a rate with thousands separators and no decimals.
func fmtRate(v float64) string {
	if v < 0 {
		return "-" + fmtRate(-v)
	}
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// fmtMs prints a millisecond figure with precision that suits its size.
func fmtMs(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 1:
		return fmt.Sprintf("%.3f", v)
	case v < 100:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// WriteJSON writes v, indented, to path, creating its directory.
func WriteJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("cannot create %s: %w", filepath.Dir(path), err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return nil
}

// WriteMarkdownRuns writes a table of independent runs (one row each).
func WriteMarkdownRuns(w io.Writer, results []*Result) error {
	var b strings.Builder
	b.WriteString("| run | events/s | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range results {
		errs := "0"
		if n := r.ErrorTotal(); n > 0 {
			errs = fmt.Sprintf("%d (%s)", n, formatErrors(r.Errors))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			mdEscape(r.Label), fmtRate(r.EventsPerSec), fmtRate(r.RequestsPerSec),
			fmtMs(r.Latency.P50Ms), fmtMs(r.Latency.P90Ms), fmtMs(r.Latency.P99Ms),
			fmtMs(r.Latency.P999Ms), fmtMs(r.Latency.MaxMs), errs)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
