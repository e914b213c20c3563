package httpfront

import (
	"encoding/json"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Node routes: /ping, /info (spec http-api §4.1–4.2), /stats (§4.3),
// /gossip (§4.5, cluster §3.4), /admin (§4.7), /health/* and /metrics (our
// additions).

// msgTypeId values (spec Appendix C): fixed per message kind.
const (
	msgTypePing       = 36
	msgTypeUserResult = 50
)

const pingText = "Ping request successfully handled"

func (h *Handler) ping(r *request) {
	switch r.media {
	case mtTextPlain:
		r.reply(fasthttp.StatusOK, "", r.media, []byte("Text: "+pingText))
	case mtTextXML, mtAppXML:
		r.reply(fasthttp.StatusOK, "", r.media, []byte(xmlHeader+`<TextMessage xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><Text>`+pingText+`</Text></TextMessage>`))
	default:
		var w jw
		w.reset(r.buf[:0])
		w.obj()
		w.kStr("text", pingText)
		w.kInt("msgTypeId", msgTypePing)
		w.endObj()
		r.buf = w.b
		r.reply(fasthttp.StatusOK, "", r.media, r.buf)
	}
}

// info: the body is always JSON, labelled with the negotiated type (quirk
// of §4.2).
func (h *Handler) info(r *request) {
	var w jw
	w.reset(r.buf[:0])
	w.obj()
	w.kStr("esVersion", h.d.Version)
	w.kStr("state", h.infoState())
	w.kStr("projectionsMode", h.d.Options.RunProjections)
	w.endObj()
	r.buf = w.b
	r.reply(fasthttp.StatusOK, "", r.media, r.buf)
}

func (h *Handler) healthLive(r *request) {
	r.reply(fasthttp.StatusOK, "", mtTextPlain, []byte("live"))
}

// healthReady answers 200 when a master is known and this node is caught
// up; for a single node: the store is open, its writer healthy and the
// user store loaded.
func (h *Handler) healthReady(r *request) {
	switch {
	case h.d.DB == nil:
		r.reply(fasthttp.StatusServiceUnavailable, "Not ready", mtTextPlain, []byte("store not open"))
	case h.d.DB.Err() != nil:
		r.reply(fasthttp.StatusServiceUnavailable, "Not ready", mtTextPlain, []byte("writer failed: "+h.d.DB.Err().Error()))
	case !h.d.Auth.Ready():
		r.reply(fasthttp.StatusServiceUnavailable, "Not ready", mtTextPlain, []byte("user store not loaded"))
	case !h.clusterReady():
		r.reply(fasthttp.StatusServiceUnavailable, "Not ready", mtTextPlain, []byte("node state "+h.infoState()))
	default:
		r.reply(fasthttp.StatusOK, "", mtTextPlain, []byte("ready"))
	}
}

// ---- admin ----

func (h *Handler) adminShutdown(r *request) {
	if !r.user.IsAdminOrOps() {
		r.status(fasthttp.StatusUnauthorized, "Unauthorized")
		return
	}
	r.reply(fasthttp.StatusOK, "", r.media, nil)
	if h.d.Shutdown != nil {
		h.shutdownOnce.Do(func() {
			h.log.Info("shutdown requested over HTTP", "user", r.user.Name())
			// After the reply is flushed: the handler returns first.
			go func() {
				time.Sleep(50 * time.Millisecond)
				h.d.Shutdown()
			}()
		})
	}
}

func (h *Handler) adminScavenge(r *request) {
	if !r.user.IsAdminOrOps() {
		r.status(fasthttp.StatusUnauthorized, "Unauthorized")
		return
	}
	if h.d.Scavenge == nil {
		h.log.Info("scavenge requested over HTTP; scavenging is not available in this build", "user", r.user.Name())
	} else if err := h.d.Scavenge(); err != nil {
		h.log.Warn("scavenge failed to start", "err", err)
		r.status(fasthttp.StatusInternalServerError, "Internal Server Error")
		return
	}
	r.reply(fasthttp.StatusOK, "", r.media, nil)
}

// ---- gossip ----

// GossipSelf is this node's advertised endpoints (cluster §2.4).
type GossipSelf struct {
	InternalTCPIP, ExternalTCPIP, InternalHTTPIP, ExternalHTTPIP string
	InternalTCPPort, InternalSecureTCPPort, ExternalTCPPort      int
	ExternalSecureTCPPort, InternalHTTPPort, ExternalHTTPPort    int
	NodePriority                                                 int
}

func (h *Handler) gossip(r *request) {
	g := &h.d.Gossip
	f := h.storeFigures()
	var w jw
	w.reset(r.buf[:0])
	w.obj()
	w.key("members")
	w.arr()
	w.obj()
	w.key("instanceId")
	w.guid(&h.d.InstanceID)
	w.key("timeStamp")
	w.time(time.Now().UnixNano())
	w.kStr("state", "Master")
	w.kBool("isAlive", true)
	w.kStr("internalTcpIp", g.InternalTCPIP)
	w.kInt("internalTcpPort", int64(g.InternalTCPPort))
	w.kInt("internalSecureTcpPort", int64(g.InternalSecureTCPPort))
	w.kStr("externalTcpIp", g.ExternalTCPIP)
	w.kInt("externalTcpPort", int64(g.ExternalTCPPort))
	w.kInt("externalSecureTcpPort", int64(g.ExternalSecureTCPPort))
	w.kStr("internalHttpIp", g.InternalHTTPIP)
	w.kInt("internalHttpPort", int64(g.InternalHTTPPort))
	w.kStr("externalHttpIp", g.ExternalHTTPIP)
	w.kInt("externalHttpPort", int64(g.ExternalHTTPPort))
	w.kInt("lastCommitPosition", f.LastCommitPosition)
	w.kInt("writerCheckpoint", f.DurablePosition)
	w.kInt("chaserCheckpoint", f.DurablePosition)
	w.kInt("epochPosition", -1)
	w.kInt("epochNumber", -1)
	w.key("epochId")
	var zero [16]byte
	w.guid(&zero)
	w.kInt("nodePriority", int64(g.NodePriority))
	w.endObj()
	w.endArr()
	w.kStr("serverIp", g.InternalHTTPIP)
	w.kInt("serverPort", int64(g.InternalHTTPPort))
	w.endObj()
	r.buf = w.b
	r.reply(fasthttp.StatusOK, "", r.media, r.buf)
	r.ctx.Response.Header.SetBytesKV(hdrCacheControl, ccRevalidate)
	r.ctx.Response.Header.SetBytesKV(hdrVary, valAccept)
}

func (h *Handler) storeFigures() StoreFigures {
	if h.d.StoreFigures != nil {
		return h.d.StoreFigures()
	}
	f := StoreFigures{LastCommitPosition: -1}
	if h.d.DB != nil {
		f.LastCommitPosition = h.d.DB.LastCommitPosition()
	}
	return f
}

// ---- stats ----

// statsCache keeps the last computed stats for one second (§4.3: "the node
// recomputes the values at most once per second").
type statsCache struct {
	mu   sync.Mutex
	at   time.Time
	flat []statKV
	cpu  cpuSample
}

type statKV struct {
	key string
	val any // int64, float64, string, bool, nil
}

type cpuSample struct {
	at   time.Time
	cpuS float64
}

func (h *Handler) collectStats() []statKV {
	c := &h.statsC
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if c.flat != nil && now.Sub(c.at) < time.Second {
		return c.flat
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	f := h.storeFigures()
	cpuS := processCPUSeconds()
	cpuPct := 0.0
	if !c.cpu.at.IsZero() {
		if dt := now.Sub(c.cpu.at).Seconds(); dt > 0 {
			cpuPct = (cpuS - c.cpu.cpuS) / dt * 100
		}
	}
	c.cpu = cpuSample{at: now, cpuS: cpuS}
	tcp := 0
	if h.d.Counters.TCPConnections != nil {
		for _, n := range h.d.Counters.TCPConnections() {
			tcp += n
		}
	}
	var kv []statKV
	add := func(k string, v any) { kv = append(kv, statKV{k, v}) }
	add("proc-startTime", string(appendTime(nil, h.d.StartTime.UnixNano())))
	add("proc-id", int64(os.Getpid()))
	add("proc-mem", int64(ms.Sys))
	add("proc-cpu", cpuPct)
	add("proc-cpuScaled", cpuPct/float64(runtime.NumCPU()))
	add("proc-threadsCount", int64(runtime.NumGoroutine()))
	add("proc-contentionsRate", 0.0)
	add("proc-thrownExceptionsRate", 0.0)
	add("proc-gc-allocationSpeed", 0.0)
	add("proc-gc-gen0ItemsCount", int64(ms.NumGC))
	add("proc-gc-gen0Size", int64(ms.HeapAlloc))
	add("proc-gc-gen1ItemsCount", int64(0))
	add("proc-gc-gen1Size", int64(0))
	add("proc-gc-gen2ItemsCount", int64(0))
	add("proc-gc-gen2Size", int64(0))
	add("proc-gc-largeHeapSize", int64(0))
	add("proc-gc-timeInGc", ms.GCCPUFraction*100)
	add("proc-gc-totalBytesInHeaps", int64(ms.HeapSys))
	add("proc-diskIo-readBytes", int64(0))
	add("proc-diskIo-writtenBytes", int64(f.BytesWritten))
	add("proc-diskIo-readOps", int64(0))
	add("proc-diskIo-writeOps", int64(f.Fsyncs))
	add("proc-tcp-connections", int64(tcp))
	add("proc-tcp-receivingSpeed", 0.0)
	add("proc-tcp-sendingSpeed", 0.0)
	add("proc-tcp-inSend", int64(0))
	add("proc-tcp-measureTime", "00:00:01")
	add("proc-tcp-pendingReceived", int64(0))
	add("proc-tcp-pendingSend", int64(0))
	add("proc-tcp-receivedBytesSinceLastRun", int64(0))
	add("proc-tcp-receivedBytesTotal", int64(0))
	add("proc-tcp-sentBytesSinceLastRun", int64(0))
	add("proc-tcp-sentBytesTotal", int64(0))
	add("sys-cpu", cpuPct)
	add("sys-freeMem", systemFreeMem())
	add("es-checksum", f.DurablePosition)
	add("es-checksumNonFlushed", f.DurablePosition)
	q := "es-queue-StorageWriterQueue-"
	add(q+"queueName", "StorageWriterQueue")
	add(q+"groupName", "")
	add(q+"avgItemsPerSecond", int64(0))
	add(q+"avgProcessingTime", 0.0)
	add(q+"currentIdleTime", nil)
	add(q+"currentItemProcessingTime", nil)
	add(q+"idleTimePercent", 0.0)
	add(q+"length", int64(f.QueueLen))
	add(q+"lengthCurrentTryPeak", int64(f.QueueLen))
	add(q+"lengthLifetimePeak", int64(f.QueueMax))
	add(q+"totalItemsProcessed", int64(f.EventsWritten))
	add(q+"inProgressMessage", "<none>")
	add(q+"lastProcessedMessage", "WritePrepares")
	hq := "es-queue-HttpRequests-"
	add(hq+"queueName", "HttpRequests")
	add(hq+"groupName", "")
	add(hq+"length", h.inflight.Load())
	add("es-writer-lastFlushSize", int64(0))
	add("es-writer-lastFlushDelayMs", 0.0)
	add("es-writer-meanFlushSize", int64(0))
	add("es-writer-meanFlushDelayMs", 0.0)
	add("es-writer-maxFlushSize", int64(0))
	add("es-writer-maxFlushDelayMs", 0.0)
	add("es-writer-queuedFlushMessages", int64(f.QueueLen))
	add("es-readIndex-cachedRecord", int64(h.cache.len()))
	add("es-readIndex-notCachedRecord", int64(0))
	add("es-readIndex-cachedStreamInfo", int64(0))
	add("es-readIndex-notCachedStreamInfo", int64(0))
	add("es-readIndex-cachedTransInfo", int64(0))
	add("es-readIndex-notCachedTransInfo", int64(0))
	// Requests a replica relays to the master: client TCP writes through
	// the forwarder (spec cluster-and-options §7.1), HTTP through the proxy
	// (§7.3). Zero on a single node.
	var fw ForwardingFigures
	if h.d.Counters.Forwarding != nil {
		fw = h.d.Counters.Forwarding()
	}
	add("es-forwarding-tcp-forwarded", int64(fw.Forwarded))
	add("es-forwarding-tcp-timedOut", int64(fw.TimedOut))
	add("es-forwarding-tcp-tooBusy", int64(fw.TooBusy))
	add("es-forwarding-tcp-notReady", int64(fw.NotReady))
	add("es-forwarding-tcp-inFlight", int64(fw.InFlight))
	px := h.metrics.proxyFigures()
	add("es-forwarding-http-proxied", int64(px.Proxied))
	add("es-forwarding-http-errors", int64(px.Errors))
	add("es-forwarding-http-timeouts", int64(px.Timeouts))
	add("es-forwarding-http-inFlight", px.InFlight)
	c.flat, c.at = kv, now
	return kv
}

// statNode is the grouped form: keys split at '-', parts camel-cased.
type statNode struct {
	name     string
	val      any
	leaf     bool
	children []*statNode
}

func (n *statNode) child(name string) *statNode {
	for _, c := range n.children {
		if c.name == name {
			return c
		}
	}
	c := &statNode{name: name}
	n.children = append(n.children, c)
	return c
}

// camel lowers the first character (§1.4: "MainQueue" → "mainQueue").
func camel(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}

func groupStats(flat []statKV) *statNode {
	root := &statNode{}
	for _, kv := range flat {
		n := root
		for _, p := range strings.Split(kv.key, "-") {
			n = n.child(camel(p))
		}
		n.val, n.leaf = kv.val, true
	}
	return root
}

func writeStatValue(w *jw, v any) {
	switch x := v.(type) {
	case int64:
		w.int(x)
	case float64:
		w.float(x)
	case string:
		w.str(x)
	case bool:
		w.boolean(x)
	}
}

func writeStatNode(w *jw, n *statNode) {
	w.obj()
	for _, c := range n.children {
		if c.leaf && c.val == nil {
			continue // nulls are omitted (§1.4)
		}
		w.key(c.name)
		if c.leaf {
			writeStatValue(w, c.val)
		} else {
			writeStatNode(w, c)
		}
	}
	w.endObj()
}

func (h *Handler) stats(r *request) {
	flat := h.collectStats()
	group := true
	if v, _ := r.queryArg("group"); equalFoldString(v, "false") {
		group = false
	}
	path := strings.Trim(string(r.mr.tail), "/")
	var w jw
	w.reset(r.buf[:0])
	switch {
	case !group && path != "":
		r.status(fasthttp.StatusBadRequest, reasonStatsNoGroup)
		return
	case !group:
		w.obj()
		for _, kv := range flat {
			if kv.val == nil {
				continue
			}
			w.key(kv.key)
			writeStatValue(&w, kv.val)
		}
		w.endObj()
	default:
		n := groupStats(flat)
		if path != "" {
			for _, p := range strings.Split(path, "/") {
				var next *statNode
				for _, c := range n.children {
					if c.name == p {
						next = c
					}
				}
				if next == nil || next.leaf {
					r.status(fasthttp.StatusNotFound, "Not Found")
					return
				}
				n = next
			}
		}
		writeStatNode(&w, n)
	}
	r.buf = w.b
	r.reply(fasthttp.StatusOK, "", mtJSON, r.buf)
	if r.media != mtJSON {
		// XML forms are not usable in the original; JSON is served (§4.3).
		r.ctx.Response.Header.SetContentTypeBytes(contentTypes[mtJSON])
	}
	r.ctx.Response.Header.SetBytesKV(hdrCacheControl, ccStats)
	r.ctx.Response.Header.SetBytesKV(hdrVary, valAccept)
}

// processCPUSeconds reads the process CPU time from /proc (Linux); 0
// elsewhere.
func processCPUSeconds() float64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

func systemFreeMem() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "MemAvailable:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// infoOptions serves GET /info/options to admins (spec §4.2).
func (h *Handler) infoOptions(r *request) {
	if !r.user.IsAdmin() {
		r.status(fasthttp.StatusUnauthorized, "Unauthorized")
		return
	}
	var v any = []struct{}{}
	if h.d.InfoOptions != nil {
		v = h.d.InfoOptions()
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		r.status(fasthttp.StatusInternalServerError, "Internal Server Error")
		return
	}
	r.reply(fasthttp.StatusOK, "", mtJSON, b)
}

// histogram: histograms are not collected (EnableHistograms is not
// supported), so every name is unknown (spec §4.4).
func (h *Handler) histogram(r *request) {
	r.status(fasthttp.StatusNotFound, "Not found")
}

// redirectWeb answers GET / and /web with 302 to the admin UI (§4.10).
func (h *Handler) redirectWeb(r *request) {
	r.tmp = append(append(r.tmp[:0], r.base...), "/web/index.html"...)
	r.ctx.Response.Header.SetBytesKV(hdrLocation, r.tmp)
	r.reply(fasthttp.StatusFound, "Found", mtTextPlain, []byte("Moved"))
}

// webFile: the admin UI's static files are not bundled in this build.
func (h *Handler) webFile(r *request) {
	r.reply(fasthttp.StatusNotFound, "Not Found", mtTextPlain, []byte("Not Found"))
}

// subsystems lists the enabled subsystems (§4.10).
func (h *Handler) subsystems(r *request) {
	body := []byte("[]")
	if h.d.Options.RunProjections == "System" || h.d.Options.RunProjections == "All" {
		body = []byte("[\n  \"Projections\"\n]")
	}
	r.reply(fasthttp.StatusOK, "", mtJSON, body)
}

// statsTCP serves GET /stats/tcp (§4.3) from Deps.TCPConnectionStats.
func (h *Handler) statsTCP(r *request) {
	var v any = []struct{}{}
	if h.d.TCPConnectionStats != nil {
		v = h.d.TCPConnectionStats()
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		r.status(fasthttp.StatusInternalServerError, "Internal Server Error")
		return
	}
	r.reply(fasthttp.StatusOK, "", mtJSON, b)
	r.ctx.Response.Header.SetBytesKV(hdrCacheControl, ccStats)
	r.ctx.Response.Header.SetBytesKV(hdrVary, valAccept)
}

// statsReplication serves GET /stats/replication: a single node has no
// replicas subscribed (§4.3).
func (h *Handler) statsReplication(r *request) {
	r.reply(fasthttp.StatusOK, "", mtJSON, []byte("[]"))
	r.ctx.Response.Header.SetBytesKV(hdrCacheControl, ccStats)
	r.ctx.Response.Header.SetBytesKV(hdrVary, valAccept)
}
