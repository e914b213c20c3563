package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
)

// A small SVG line-plot writer. The plots are simple (a few lines, linear
// axes), so a plotting library with its font and image dependencies would
// add more than it gives.

// PlotSeries is one named line.
type PlotSeries struct {
	Name string
	X, Y []float64
}

// Tick is an axis tick at value V labelled Label.
type Tick struct {
	V     float64
	Label string
}

// LinePlot describes one chart.
type LinePlot struct {
	Title, XLabel, YLabel string
	Series                []PlotSeries
	// XTicks replaces the automatic ticks of the x axis when set (used for
	// the percentile axis, whose positions are not the labels).
	XTicks []Tick
	// YLog draws the y axis in decades (latencies span 0.1 ms to seconds).
	YLog bool
}

const (
	svgWidth, svgHeight = 760, 420
	padLeft, padRight   = 80, 180
	padTop, padBottom   = 40, 50
)

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"}

// WriteSVG renders p. Empty or non-finite points are skipped; a plot with no
// points still renders its axes, so the report never has a broken image.
func (p *LinePlot) WriteSVG(w io.Writer) error {
	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymax := 0.0
	for _, s := range p.Series {
		for i := range s.X {
			if i >= len(s.Y) || !finite(s.X[i]) || !finite(s.Y[i]) {
				continue
			}
			xmin, xmax = math.Min(xmin, s.X[i]), math.Max(xmax, s.X[i])
			ymax = math.Max(ymax, s.Y[i])
		}
	}
	if math.IsInf(xmin, 1) {
		xmin, xmax = 0, 1
	}
	if xmax == xmin {
		xmax = xmin + 1
	}
	for _, t := range p.XTicks {
		xmin, xmax = math.Min(xmin, t.V), math.Max(xmax, t.V)
	}
	plotW := float64(svgWidth - padLeft - padRight)
	plotH := float64(svgHeight - padTop - padBottom)
	px := func(x float64) float64 { return padLeft + (x-xmin)/(xmax-xmin)*plotW }
	var yTicks []Tick
	var py func(float64) float64
	if p.YLog {
		yTicks = decadeTicks(p.Series)
		lo, hi := math.Log10(yTicks[0].V), math.Log10(yTicks[len(yTicks)-1].V)
		py = func(y float64) float64 {
			y = math.Max(y, yTicks[0].V)
			return padTop + plotH - (math.Log10(y)-lo)/(hi-lo)*plotH
		}
	} else {
		yTicks = niceTicks(0, ymax, 5)
		ytop := yTicks[len(yTicks)-1].V
		py = func(y float64) float64 { return padTop + plotH - y/ytop*plotH }
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, svgHeight, svgWidth, svgHeight)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", padLeft, html.EscapeString(p.Title))
	// Axes and grid.
	for _, t := range yTicks {
		y := py(t.V)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", padLeft, y, padLeft+plotW, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", padLeft-6, y+4, html.EscapeString(t.Label))
	}
	xTicks := p.XTicks
	if xTicks == nil {
		xTicks = niceTicks(xmin, xmax, 6)
	}
	for _, t := range xTicks {
		if t.V < xmin || t.V > xmax {
			continue
		}
		x := px(t.V)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", x, padTop, x, padTop+plotH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, padTop+plotH+16, html.EscapeString(t.Label))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%.1f" fill="none" stroke="#444"/>`+"\n", padLeft, padTop, plotW, plotH)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", padLeft+plotW/2, svgHeight-10, html.EscapeString(p.XLabel))
	fmt.Fprintf(&b, `<text x="16" y="%.1f" text-anchor="middle" transform="rotate(-90 16 %.1f)">%s</text>`+"\n",
		padTop+plotH/2, padTop+plotH/2, html.EscapeString(p.YLabel))
	// Lines and legend.
	for i, s := range p.Series {
		color := palette[i%len(palette)]
		var pts []string
		for j := range s.X {
			if j >= len(s.Y) || !finite(s.X[j]) || !finite(s.Y[j]) {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(s.X[j]), py(s.Y[j])))
		}
		if len(pts) > 0 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", color, strings.Join(pts, " "))
		}
		ly := padTop + 10 + i*18
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="3"/>`+"\n",
			padLeft+plotW+12, ly, padLeft+plotW+30, ly, color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>`+"\n", padLeft+plotW+36, ly+4, html.EscapeString(s.Name))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// decadeTicks returns powers of ten covering the positive y values of
// series (at least two decades; values ≤ 0 are drawn at the bottom).
func decadeTicks(series []PlotSeries) []Tick {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, y := range s.Y {
			if finite(y) && y > 0 {
				lo, hi = math.Min(lo, y), math.Max(hi, y)
			}
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 1, 10
	}
	a, b := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if b <= a {
		b = a + 1
	}
	var ticks []Tick
	for e := a; e <= b; e++ {
		v := math.Pow(10, e)
		ticks = append(ticks, Tick{V: v, Label: trimZeros(strconv.FormatFloat(v, 'f', -1, 64))})
	}
	return ticks
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// niceTicks returns about n ticks at round values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []Tick {
	if !(hi > lo) {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	start := math.Floor(lo/step) * step
	var ticks []Tick
	for v := start; v <= hi+step*0.999; v += step {
		ticks = append(ticks, Tick{V: v, Label: tickLabel(v)})
	}
	return ticks
}

func tickLabel(v float64) string {
	av := math.Abs(v)
	switch {
	case av >= 1e6:
		return trimZeros(fmt.Sprintf("%.2f", v/1e6)) + "M"
	case av >= 1e3:
		return trimZeros(fmt.Sprintf("%.2f", v/1e3)) + "k"
	case av == 0:
		return "0"
	case av < 1:
		return trimZeros(fmt.Sprintf("%.3f", v))
	default:
		return trimZeros(fmt.Sprintf("%.2f", v))
	}
}

func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// nines maps a percentile to the "number of nines" axis used by latency
// plots: 0 → 0, 90 → 1, 99 → 2, 99.9 → 3. 100 has no finite position and is
// drawn one step beyond the largest finite percentile plotted (5 nines).
func nines(p float64) float64 {
	if p >= 100 {
		return 5.5
	}
	return -math.Log10(1 - p/100)
}

var ninesTicks = []Tick{{0, "0%"}, {nines(90), "90%"}, {nines(99), "99%"}, {nines(99.9), "99.9%"},
	{nines(99.99), "99.99%"}, {nines(99.999), "99.999%"}, {nines(100), "max"}}

// ThroughputPlot draws events/s over time for each result.
func ThroughputPlot(title string, results []*Result) *LinePlot {
	p := &LinePlot{Title: title, XLabel: "seconds into the measured window", YLabel: "events/s"}
	for _, r := range results {
		s := PlotSeries{Name: r.Target}
		for i, v := range r.Series {
			s.X = append(s.X, float64(i+1)*r.IntervalSeconds)
			s.Y = append(s.Y, v)
		}
		p.Series = append(p.Series, s)
	}
	return p
}

// LatencyPlot draws the latency percentile distribution of each result.
func LatencyPlot(title string, results []*Result) *LinePlot {
	p := &LinePlot{Title: title, XLabel: "percentile", YLabel: "latency (ms, log scale)", XTicks: ninesTicks, YLog: true}
	for _, r := range results {
		s := PlotSeries{Name: r.Target}
		for _, c := range r.Latency.Curve {
			s.X = append(s.X, nines(c.Percentile))
			s.Y = append(s.Y, c.Ms)
		}
		p.Series = append(p.Series, s)
	}
	return p
}
