package httpfront

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// Metrics is the node's Prometheus registry as far as the HTTP front sees
// it: request counters of its own plus collectors that read the store and
// the connection counters at scrape time. One Metrics may be shared by the
// external and internal handlers.
type Metrics struct {
	reg          *prometheus.Registry
	httpRequests prometheus.Counter
	httpProxied  prometheus.Counter
	// HTTP proxy failures (connect, timeout, too-large reply: 500 to the
	// client), of which timeouts, and proxied requests waiting on the master.
	httpProxyErrors   prometheus.Counter
	httpProxyTimeouts prometheus.Counter
	httpProxyInFlight prometheus.Gauge
	reads             prometheus.Counter
	readsCached       prometheus.Counter
	writes            prometheus.Counter
	handler           fasthttp.RequestHandler

	mu       sync.Mutex
	figures  func() StoreFigures
	counters Counters
}

// StoreFigures are the storage counters /metrics and /stats report; the
// store adapter fills them from store.DB.Stats.
type StoreFigures struct {
	QueueLen, QueueMax int
	EventsWritten      uint64
	BytesWritten       uint64
	Fsyncs             uint64
	// FsyncBucketsNs are cumulative-free bucket counts: FsyncBuckets[i]
	// counts flushes that took at most FsyncBoundsNs[i]; the last bucket
	// (len(FsyncBoundsNs)) is unbounded.
	FsyncBoundsNs      []int64
	FsyncBuckets       []uint64
	LastCommitPosition int64
	DurablePosition    int64
	ChunkCount         int
	WriterFailed       bool
}

// httpCounter is a counter of the node's HTTP front (eventstored_http_*).
func httpCounter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "eventstored", Subsystem: "http", Name: name, Help: help})
}

// NewMetrics creates the metrics on a new registry (reg nil) or on reg.
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{reg: reg}
	m.httpRequests = httpCounter("requests_total", "HTTP requests received.")
	m.reads = httpCounter("reads_total", "Store reads made for HTTP requests.")
	m.readsCached = httpCounter("reads_cached_total", "Single-event HTTP reads answered from the response cache.")
	m.writes = httpCounter("writes_total", "HTTP writes that reached a store result.")
	m.httpProxied = httpCounter("proxied_total", "HTTP requests a follower relayed to the master (spec cluster-and-options §7.3).")
	m.httpProxyErrors = httpCounter("proxy_errors_total", "HTTP requests a follower failed to relay to the master (answered 500), timeouts included.")
	m.httpProxyTimeouts = httpCounter("proxy_timeouts_total", "HTTP requests whose relay to the master timed out.")
	m.httpProxyInFlight = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "eventstored", Subsystem: "http",
		Name: "proxies_in_flight", Help: "HTTP requests being relayed to the master now."})
	reg.MustRegister(m.httpRequests, m.httpProxied, m.httpProxyErrors, m.httpProxyTimeouts, m.httpProxyInFlight,
		m.reads, m.readsCached, m.writes, storeCollector{m})
	m.handler = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return m
}

// Registry returns the registry, for other components to register on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) attach(figures func() StoreFigures, c Counters) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if figures != nil {
		m.figures = figures
	}
	if c.TCPConnections != nil {
		m.counters.TCPConnections = c.TCPConnections
	}
	if c.HTTPConnections != nil {
		m.counters.HTTPConnections = c.HTTPConnections
	}
	if c.Forwarding != nil {
		m.counters.Forwarding = c.Forwarding
	}
}

// ForwardingFigures are the TCP forwarder's counters (a replica's client
// writes sent to the master, spec cluster-and-options §7.1), fed through
// Counters.Forwarding.
type ForwardingFigures struct {
	Forwarded uint64 // sent to the master
	TimedOut  uint64 // completed with ForwardTimeout
	TooBusy   uint64 // refused: the in-flight limit was reached
	NotReady  uint64 // refused: no connection to the master
	InFlight  int    // waiting for the master's reply now
}

// ProxyFigures are the HTTP proxy's counters, for /stats.
type ProxyFigures struct {
	Proxied, Errors, Timeouts uint64
	InFlight                  int64
}

// proxyFigures reads the proxy metrics back (at most once a second, for
// /stats).
func (m *Metrics) proxyFigures() ProxyFigures {
	return ProxyFigures{
		Proxied:  uint64(metricValue(m.httpProxied)),
		Errors:   uint64(metricValue(m.httpProxyErrors)),
		Timeouts: uint64(metricValue(m.httpProxyTimeouts)),
		InFlight: int64(metricValue(m.httpProxyInFlight)),
	}
}

// metricValue reads a counter's or a gauge's current value (0 if it cannot).
func metricValue(c prometheus.Metric) float64 {
	var d dto.Metric
	if c.Write(&d) != nil {
		return 0
	}
	if d.Counter != nil {
		return d.GetCounter().GetValue()
	}
	return d.GetGauge().GetValue()
}

var (
	descEventsWritten = prometheus.NewDesc("eventstored_store_events_written_total", "Events written to the log.", nil, nil)
	descBytesWritten  = prometheus.NewDesc("eventstored_store_bytes_written_total", "Bytes appended to the log.", nil, nil)
	descQueueLen      = prometheus.NewDesc("eventstored_store_writer_queue_length", "Ops waiting for the storage writer.", nil, nil)
	descQueueMax      = prometheus.NewDesc("eventstored_store_writer_queue_max", "Bound of the storage writer queue.", nil, nil)
	descFsync         = prometheus.NewDesc("eventstored_store_fsync_seconds", "Latency of log flushes (fsync).", nil, nil)
	descLastCommit    = prometheus.NewDesc("eventstored_store_last_commit_position", "Last commit position readable in $all.", nil, nil)
	descChunks        = prometheus.NewDesc("eventstored_store_chunks", "Transaction log chunks.", nil, nil)
	descWriterFailed  = prometheus.NewDesc("eventstored_store_writer_failed", "1 when the writer latched a failure.", nil, nil)
	descConnections   = prometheus.NewDesc("eventstored_connections", "Open client connections per interface.", []string{"interface"}, nil)

	descFwdForwarded = prometheus.NewDesc("eventstored_tcp_forwarded_total", "Client TCP writes a replica forwarded to the master.", nil, nil)
	descFwdTimedOut  = prometheus.NewDesc("eventstored_tcp_forward_timeouts_total", "Forwarded TCP writes completed with ForwardTimeout.", nil, nil)
	descFwdTooBusy   = prometheus.NewDesc("eventstored_tcp_forward_too_busy_total", "TCP writes not forwarded: in-flight limit reached (NotHandled TooBusy).", nil, nil)
	descFwdNotReady  = prometheus.NewDesc("eventstored_tcp_forward_not_ready_total", "TCP writes not forwarded: no connection to the master (NotHandled NotReady).", nil, nil)
	descFwdInFlight  = prometheus.NewDesc("eventstored_tcp_forwards_in_flight", "Forwarded TCP writes waiting for the master's reply.", nil, nil)
)

// storeCollector reads the store and connection figures at scrape time.
type storeCollector struct{ m *Metrics }

func (c storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEventsWritten, descBytesWritten, descQueueLen, descQueueMax, descFsync,
		descLastCommit, descChunks, descWriterFailed, descConnections,
		descFwdForwarded, descFwdTimedOut, descFwdTooBusy, descFwdNotReady, descFwdInFlight} {
		ch <- d
	}
}

func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	figures, counters := c.m.figures, c.m.counters
	c.m.mu.Unlock()
	if figures != nil {
		f := figures()
		ch <- prometheus.MustNewConstMetric(descEventsWritten, prometheus.CounterValue, float64(f.EventsWritten))
		ch <- prometheus.MustNewConstMetric(descBytesWritten, prometheus.CounterValue, float64(f.BytesWritten))
		ch <- prometheus.MustNewConstMetric(descQueueLen, prometheus.GaugeValue, float64(f.QueueLen))
		ch <- prometheus.MustNewConstMetric(descQueueMax, prometheus.GaugeValue, float64(f.QueueMax))
		ch <- prometheus.MustNewConstMetric(descLastCommit, prometheus.GaugeValue, float64(f.LastCommitPosition))
		ch <- prometheus.MustNewConstMetric(descChunks, prometheus.GaugeValue, float64(f.ChunkCount))
		failed := 0.0
		if f.WriterFailed {
			failed = 1
		}
		ch <- prometheus.MustNewConstMetric(descWriterFailed, prometheus.GaugeValue, failed)
		// The store keeps per-bucket counts; Prometheus wants cumulative
		// ones. The sum is estimated from bucket upper bounds (the store
		// does not keep the exact total).
		buckets := make(map[float64]uint64, len(f.FsyncBoundsNs))
		var cum, count uint64
		var sum float64
		for i, b := range f.FsyncBoundsNs {
			if i < len(f.FsyncBuckets) {
				cum += f.FsyncBuckets[i]
				sum += float64(f.FsyncBuckets[i]) * float64(b) / 1e9
			}
			buckets[float64(b)/1e9] = cum
		}
		count = cum
		if n := len(f.FsyncBoundsNs); n < len(f.FsyncBuckets) {
			count += f.FsyncBuckets[n]
			if n > 0 {
				sum += float64(f.FsyncBuckets[n]) * float64(f.FsyncBoundsNs[n-1]) / 1e9
			}
		}
		ch <- prometheus.MustNewConstHistogram(descFsync, count, sum, buckets)
	}
	if counters.TCPConnections != nil {
		for name, n := range counters.TCPConnections() {
			ch <- prometheus.MustNewConstMetric(descConnections, prometheus.GaugeValue, float64(n), name)
		}
	}
	if counters.HTTPConnections != nil {
		for name, n := range counters.HTTPConnections() {
			ch <- prometheus.MustNewConstMetric(descConnections, prometheus.GaugeValue, float64(n), name)
		}
	}
	if counters.Forwarding != nil {
		f := counters.Forwarding()
		ch <- prometheus.MustNewConstMetric(descFwdForwarded, prometheus.CounterValue, float64(f.Forwarded))
		ch <- prometheus.MustNewConstMetric(descFwdTimedOut, prometheus.CounterValue, float64(f.TimedOut))
		ch <- prometheus.MustNewConstMetric(descFwdTooBusy, prometheus.CounterValue, float64(f.TooBusy))
		ch <- prometheus.MustNewConstMetric(descFwdNotReady, prometheus.CounterValue, float64(f.NotReady))
		ch <- prometheus.MustNewConstMetric(descFwdInFlight, prometheus.GaugeValue, float64(f.InFlight))
	}
}

// serveMetrics answers GET /metrics in the Prometheus text format.
func (h *Handler) serveMetrics(r *request) {
	h.metrics.handler(r.ctx)
}
