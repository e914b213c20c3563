package bench

import (
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Latency histogram bounds. Values are recorded in microseconds: 1 µs is
// below anything a loopback round trip can show, and 60 s is far above the
// client's operation timeout (7 s, spec Appendix B), so no sample is ever
// clamped in practice. Three significant figures keep every percentile
// within 0.1 % of the true sample.
const (
	latencyMinMicros   = 1
	latencyMaxMicros   = 60_000_000
	latencySigFigures  = 3
	recorderShardCount = 16
)

// Recorder collects latencies from many goroutines. hdrhistogram's
// Histogram is not concurrency-safe, so samples go to one of a fixed number
// of mutex-guarded shards chosen by the caller's worker index: with closed
// loop workers each waiting a network round trip between samples, the
// mutexes are practically uncontended, and memory stays fixed (16 shards of
// ~140 KiB) however many workers run.
//
// Record and Snapshot are safe for concurrent use.
type Recorder struct {
	shards [recorderShardCount]recorderShard
}

type recorderShard struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
	_  [40]byte // keep neighbouring shards' mutexes off one cache line
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder {
	r := &Recorder{}
	for i := range r.shards {
		r.shards[i].h = hdrhistogram.New(latencyMinMicros, latencyMaxMicros, latencySigFigures)
	}
	return r
}

// Record adds one latency sample for worker w. Samples below 1 µs count as
// 1 µs and samples above 60 s as 60 s, so a stuck request still shows up as
// the maximum instead of vanishing.
func (r *Recorder) Record(w int, d time.Duration) {
	us := d.Microseconds()
	if us < latencyMinMicros {
		us = latencyMinMicros
	} else if us > latencyMaxMicros {
		us = latencyMaxMicros
	}
	s := &r.shards[uint(w)%recorderShardCount]
	s.mu.Lock()
	_ = s.h.RecordValue(us) // cannot fail: us is clamped into the trackable range
	s.mu.Unlock()
}

// Snapshot merges the shards into one new histogram. The recorder keeps
// accumulating afterwards.
func (r *Recorder) Snapshot() *hdrhistogram.Histogram {
	out := hdrhistogram.New(latencyMinMicros, latencyMaxMicros, latencySigFigures)
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		out.Merge(s.h)
		s.mu.Unlock()
	}
	return out
}

// Reset forgets every sample (used at the end of the warm-up).
func (r *Recorder) Reset() {
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		s.h.Reset()
		s.mu.Unlock()
	}
}

// Latency is the summary of a latency histogram, in milliseconds, as it is
// written to the JSON result.
type Latency struct {
	Count  int64   `json:"count"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p99_9_ms"`
	MaxMs  float64 `json:"max_ms"`
	// Curve is the percentile distribution (percentile → latency) used for
	// the latency plot; it is kept in the JSON so plots can be redrawn.
	Curve []CurvePoint `json:"curve,omitempty"`
}

// CurvePoint is one point of a percentile distribution.
type CurvePoint struct {
	Percentile float64 `json:"percentile"`
	Ms         float64 `json:"ms"`
}

// curvePercentiles are the points of the latency plot: dense towards the
// tail, where the interesting behaviour is, like HdrHistogram's own plots.
var curvePercentiles = []float64{0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100}

// Summarize turns a histogram of microsecond samples into a Latency.
// An empty histogram gives the zero Latency.
func Summarize(h *hdrhistogram.Histogram) Latency {
	n := h.TotalCount()
	if n == 0 {
		return Latency{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	l := Latency{
		Count:  n,
		MeanMs: h.Mean() / 1000,
		P50Ms:  ms(h.ValueAtPercentile(50)),
		P90Ms:  ms(h.ValueAtPercentile(90)),
		P99Ms:  ms(h.ValueAtPercentile(99)),
		P999Ms: ms(h.ValueAtPercentile(99.9)),
		MaxMs:  ms(h.Max()),
	}
	for _, p := range curvePercentiles {
		v := h.ValueAtPercentile(p)
		if p == 100 {
			v = h.Max()
		}
		l.Curve = append(l.Curve, CurvePoint{Percentile: p, Ms: ms(v)})
	}
	return l
}
