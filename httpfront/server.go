package httpfront

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// Config describes one HTTP listener.
type Config struct {
	// Name of the interface for logs and errors, e.g. "external HTTP".
	Name   string
	Addr   string
	Logger *slog.Logger
	// MaxRequestBodySize bounds a request body (default 16 MiB: four of
	// the HTTP API's 4 MiB events); larger bodies get 413.
	MaxRequestBodySize int
	// ReadBufferSize bounds the request line plus headers (default 16 KiB);
	// larger headers get 431.
	ReadBufferSize int
	// IdleTimeout closes keep-alive connections idle this long (default
	// 5 minutes).
	IdleTimeout time.Duration
	// Concurrency bounds the connections served at once (default 10,000).
	Concurrency int
	// ReadTimeout bounds reading one request, WriteTimeout writing one
	// response (defaults 60 s), so slow peers cannot hold connections.
	ReadTimeout, WriteTimeout time.Duration
	// OnStop runs once the server has stopped serving (the handler's
	// Close: connections it holds to other nodes).
	OnStop func()
}

// Server is one fasthttp server bound to one address.
type Server struct {
	cfg  Config
	srv  *fasthttp.Server
	ln   net.Listener
	done chan error
}

// NewServer returns a server for cfg with the given request handler.
func NewServer(cfg Config, h fasthttp.RequestHandler) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Server{cfg: cfg, srv: newFastHTTPServer(cfg, h), done: make(chan error, 1)}
}

// Defaults of Config (chosen; the original had no such limits).
const (
	DefaultMaxRequestBodySize = 16 << 20
	DefaultReadBufferSize     = 16 << 10
	DefaultIdleTimeout        = 5 * time.Minute
	DefaultConcurrency        = 10_000
	DefaultReadWriteTimeout   = 60 * time.Second
)

func newFastHTTPServer(cfg Config, h fasthttp.RequestHandler) *fasthttp.Server {
	if cfg.MaxRequestBodySize <= 0 {
		cfg.MaxRequestBodySize = DefaultMaxRequestBodySize
	}
	if cfg.ReadBufferSize <= 0 {
		cfg.ReadBufferSize = DefaultReadBufferSize
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadWriteTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultReadWriteTimeout
	}
	return &fasthttp.Server{
		Handler:               h,
		Name:                  "EventStore",
		NoDefaultServerHeader: true,
		NoDefaultDate:         false,
		MaxRequestBodySize:    cfg.MaxRequestBodySize,
		ReadBufferSize:        cfg.ReadBufferSize,
		IdleTimeout:           cfg.IdleTimeout,
		Concurrency:           cfg.Concurrency,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		// Bodies are decompressed and parsed by the handlers; forms and
		// multipart are never used.
		DisablePreParseMultipartForm: true,
		ErrorHandler:                 errorHandler,
		Logger:                       fasthttpLogger{},
	}
}

// errorHandler answers requests fasthttp could not read: an oversized body
// gets 413 with the CORS headers every reply carries; headers too large
// get 431; anything else 400.
func errorHandler(ctx *fasthttp.RequestCtx, err error) {
	setCORS(ctx, nil)
	var tooBig *fasthttp.ErrSmallBuffer
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		statusOnly(ctx, fasthttp.StatusRequestEntityTooLarge, "Request body too large")
	case errors.As(err, &tooBig):
		statusOnly(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge, "Request headers too large")
	default:
		statusOnly(ctx, fasthttp.StatusBadRequest, "Bad Request")
	}
	ctx.SetConnectionClose()
}

// fasthttpLogger routes fasthttp's own messages (connection errors) to slog
// at debug level.
type fasthttpLogger struct{}

func (fasthttpLogger) Printf(format string, args ...any) {
	slog.Debug(fmt.Sprintf(format, args...), "component", "fasthttp")
}

// Port returns the bound TCP port (after Start), for listeners started on
// port 0.
func (s *Server) Port() int {
	if s.ln == nil {
		return 0
	}
	if a, ok := s.ln.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// Connections returns the number of open connections.
func (s *Server) Connections() int { return int(s.srv.GetOpenConnectionsCount()) }

// Start binds the listener and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s %s: %w", s.cfg.Name, s.cfg.Addr, err)
	}
	s.ln = ln
	go func() { s.done <- s.srv.Serve(ln) }()
	s.cfg.Logger.Info("listening", "interface", s.cfg.Name, "addr", s.cfg.Addr)
	return nil
}

// Stop stops accepting, waits for in-flight requests until ctx is done.
func (s *Server) Stop(ctx context.Context) error {
	if s.ln == nil {
		return nil
	}
	err := s.srv.ShutdownWithContext(ctx)
	// NB: fasthttp closes only the listeners Serve has registered. When
	// Stop follows Start closely (a later listener failed to bind), the
	// Serve goroutine may not have registered ln yet and would then accept
	// for ever; closing ln here ends Serve in either order.
	_ = s.ln.Close()
	select {
	case <-s.done:
	case <-ctx.Done():
	}
	if s.cfg.OnStop != nil {
		s.cfg.OnStop()
	}
	return err
}
