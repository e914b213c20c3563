package bench

import (
	"math"
	"sync"
	"testing"
	"time"
)

// TestRecorderPercentilesOfKnownDistribution records 1..10,000 µs once
// each and checks every percentile against the exact order statistic
// (HDR keeps 3 significant figures: within 0.1 %).
func TestRecorderPercentilesOfKnownDistribution(t *testing.T) {
	r := NewRecorder()
	for i := 1; i <= 10_000; i++ {
		r.Record(i, time.Duration(i)*time.Microsecond)
	}
	l := Summarize(r.Snapshot())
	if l.Count != 10_000 {
		t.Fatalf("unexpected count; got %d; want 10000", l.Count)
	}
	f := func(name string, got, wantMs float64) {
		t.Helper()
		if math.Abs(got-wantMs) > wantMs*0.001+0.001 {
			t.Errorf("unexpected %s; got %.4f ms; want %.4f ms", name, got, wantMs)
		}
	}
	f("p50", l.P50Ms, 5.0)
	f("p90", l.P90Ms, 9.0)
	f("p99", l.P99Ms, 9.9)
	f("p99.9", l.P999Ms, 9.99)
	f("max", l.MaxMs, 10.0)
	f("mean", l.MeanMs, 5.0005)
	if len(l.Curve) != len(curvePercentiles) {
		t.Fatalf("unexpected curve length; got %d; want %d", len(l.Curve), len(curvePercentiles))
	}
	for i := 1; i < len(l.Curve); i++ {
		if l.Curve[i].Ms < l.Curve[i-1].Ms {
			t.Fatalf("curve not monotonic at %v: %v < %v", l.Curve[i].Percentile, l.Curve[i].Ms, l.Curve[i-1].Ms)
		}
	}
}

func TestRecorderClampsOutOfRangeSamples(t *testing.T) {
	r := NewRecorder()
	r.Record(0, 0)                 // below 1 µs
	r.Record(1, 2*time.Hour)       // above 60 s
	r.Record(2, -time.Millisecond) // clock went backwards
	l := Summarize(r.Snapshot())
	if l.Count != 3 {
		t.Fatalf("unexpected count; got %d; want 3 (no sample may be dropped)", l.Count)
	}
	if l.MaxMs < 59_000 || l.MaxMs > 61_000 {
		t.Fatalf("unexpected max; got %v ms; want about 60,000 ms", l.MaxMs)
	}
	if l.P50Ms != 0.001 {
		t.Fatalf("unexpected p50; got %v ms; want 0.001 ms", l.P50Ms)
	}
}

func TestRecorderConcurrentWorkersAndReset(t *testing.T) {
	r := NewRecorder()
	var wg sync.WaitGroup
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				r.Record(w, time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if got := r.Snapshot().TotalCount(); got != 64_000 {
		t.Fatalf("unexpected count; got %d; want 64000", got)
	}
	r.Reset()
	if got := r.Snapshot().TotalCount(); got != 0 {
		t.Fatalf("unexpected count after Reset; got %d; want 0", got)
	}
}

func TestSummarizeEmpty(t *testing.T) {
	l := Summarize(NewRecorder().Snapshot())
	if l.Count != 0 || l.P50Ms != 0 || l.Curve != nil {
		t.Fatalf("unexpected summary of an empty histogram: %+v", l)
	}
}
