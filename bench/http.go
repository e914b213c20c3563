package bench

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// HTTPTarget drives eventstored over the AtomPub HTTP API (spec
// http-api.md §2.3 writes, §2.5 reads, §2.10 $all) with fasthttp: one
// HostClient with one connection per session.
type HTTPTarget struct {
	Addr          string
	Login, Passwd string
	// perStream is set by Prepare, before any session reads it.
	perStream int64
}

func (t *HTTPTarget) Name() string { return "eventstored-http" }
func (t *HTTPTarget) Close() error { return nil }

func (t *HTTPTarget) Dial(ctx context.Context) (Session, error) {
	hc := &fasthttp.HostClient{Addr: t.Addr, MaxConns: 1, ReadTimeout: time.Minute, WriteTimeout: time.Minute,
		MaxIdleConnDuration: time.Hour}
	s := &httpSession{t: t, hc: hc}
	if t.Login != "" {
		s.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(t.Login+":"+t.Passwd))
	}
	// Probe, so an unreachable node fails here with a clear error.
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + t.Addr + "/ping")
	if err := hc.DoTimeout(req, resp, 5*time.Second); err != nil {
		return nil, fmt.Errorf("cannot connect to eventstored HTTP at %s: %w", t.Addr, err)
	}
	return s, nil
}

func (t *HTTPTarget) Prepare(ctx context.Context, cfg *Config, s Session, names []string) error {
	if cfg.Prefill == 0 {
		return nil
	}
	t.perStream = cfg.Prefill / int64(len(names))
	hs := s.(*httpSession)
	w := &Worker{Cfg: cfg, Rng: newRand(1), Payload: make([]byte, cfg.EventSize)}
	for i := range w.Payload {
		w.Payload[i] = 'p'
	}
	for _, name := range names {
		for written := int64(0); written < t.perStream; {
			n := min(t.perStream-written, prefillBatch)
			if err := hs.post(ctx, w, name, int(n), ExpectedAnyText); err != nil {
				return fmt.Errorf("prefill of %s: %w", name, err)
			}
			written += n
		}
	}
	return nil
}

// ExpectedAnyText is ES-ExpectedVersion "any".
const ExpectedAnyText = "-2"

type httpSession struct {
	t    *HTTPTarget
	hc   *fasthttp.HostClient
	auth string // Authorization header value, "" for anonymous
}

func (s *httpSession) Close() error { s.hc.CloseIdleConnections(); return nil }

// httpError is a non-2xx reply.
type httpError struct {
	status int
	body   string
}

func (e *httpError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.status, e.body) }
func (e *httpError) Kind() string {
	switch e.status {
	case 400:
		if strings.Contains(e.body, "Wrong expected") {
			return "wrong_expected_version"
		}
		return "bad_request"
	case 401:
		return "not_authenticated"
	case 404:
		return "not_found"
	case 410:
		return "stream_deleted"
	case 503:
		return "not_ready"
	}
	return "http_" + strconv.Itoa(e.status)
}

func (s *httpSession) do(ctx context.Context, req *fasthttp.Request, resp *fasthttp.Response) error {
	if s.auth != "" {
		req.Header.Set("Authorization", s.auth)
	}
	timeout := time.Minute
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	if err := s.hc.DoTimeout(req, resp, timeout); err != nil {
		return err
	}
	if c := resp.StatusCode(); c < 200 || c > 299 {
		body := string(resp.Body())
		if len(body) > 200 {
			body = body[:200]
		}
		return &httpError{status: c, body: body}
	}
	return nil
}

func (s *httpSession) post(ctx context.Context, w *Worker, stream string, n int, expected string) error {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod("POST")
	req.SetRequestURI("http://" + s.t.Addr + "/streams/" + stream)
	req.Header.SetContentType("application/vnd.eventstore.events+json")
	req.Header.Set("ES-ExpectedVersion", expected)
	b := req.Body()[:0]
	b = append(b, '[')
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"eventId":"`...)
		b = randomGUID(w).AppendText(b)
		b = append(b, `","eventType":"bench","data":{"p":"`...)
		b = append(b, w.Payload...)
		b = append(b, `"}}`...)
	}
	b = append(b, ']')
	req.SetBodyRaw(b)
	return s.do(ctx, req, resp)
}

func (s *httpSession) Write(ctx context.Context, w *Worker) (int, error) {
	idx, expected := w.NextWriteStream()
	n := w.Cfg.EventsPerWrite
	if err := s.post(ctx, w, w.Streams[idx], n, strconv.FormatInt(expected, 10)); err != nil {
		return 0, err
	}
	if w.Cfg.Expected == ExpectExact {
		w.Wrote(idx, expected+int64(n))
	}
	return n, nil
}

// atomFeed is the part of an Atom JSON feed the tool reads.
type atomFeed struct {
	Entries []json.RawMessage `json:"entries"`
	Links   []struct {
		URI      string `json:"uri"`
		Relation string `json:"relation"`
	} `json:"links"`
}

func (s *httpSession) Read(ctx context.Context, w *Worker) (int, error) {
	cfg := w.Cfg
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	base := "http://" + s.t.Addr
	switch cfg.ReadMode {
	case ReadEvent:
		stream := w.Streams[w.Rng.IntN(len(w.Streams))]
		req.SetRequestURI(base + "/streams/" + stream + "/" + strconv.FormatInt(w.Rng.Int64N(s.t.perStream), 10))
		req.Header.Set("Accept", "application/json")
		if err := s.do(ctx, req, resp); err != nil {
			return 0, err
		}
		return 1, nil
	case ReadStream:
		stream := w.Streams[w.Rng.IntN(len(w.Streams))]
		from := int64(0)
		if s.t.perStream > int64(cfg.PageSize) {
			from = w.Rng.Int64N(s.t.perStream - int64(cfg.PageSize) + 1)
		}
		req.SetRequestURI(fmt.Sprintf("%s/streams/%s/%d/forward/%d?embed=body", base, stream, from, cfg.PageSize))
	case ReadAll:
		next, _ := w.Scratch.(string)
		if next == "" {
			next = fmt.Sprintf("%s/streams/$all/%032x/forward/%d?embed=body", base, 0, cfg.PageSize)
		}
		req.SetRequestURI(next)
	default:
		return 0, fmt.Errorf("%w: read mode %q", ErrInvalidConfig, cfg.ReadMode)
	}
	req.Header.Set("Accept", "application/vnd.eventstore.atom+json")
	if err := s.do(ctx, req, resp); err != nil {
		return 0, err
	}
	var feed atomFeed
	if err := json.Unmarshal(resp.Body(), &feed); err != nil {
		return 0, fmt.Errorf("cannot parse the Atom feed: %w", err)
	}
	if cfg.ReadMode == ReadAll {
		w.Scratch = ""
		if len(feed.Entries) > 0 {
			for _, l := range feed.Links {
				if l.Relation == "previous" { // "previous" is the newer page (spec http-api §2.10)
					w.Scratch = l.URI + "?embed=body"
				}
			}
		}
	}
	return len(feed.Entries), nil
}
