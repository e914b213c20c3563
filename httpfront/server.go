package httpfront

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/valyala/fasthttp"
)

// Config describes one HTTP listener.
type Config struct {
	// Name of the interface for logs and errors, e.g. "external HTTP".
	Name   string
	Addr   string
	Logger *slog.Logger
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
	return &Server{cfg: cfg, srv: &fasthttp.Server{Handler: h, Name: "EventStore", NoDefaultServerHeader: true}, done: make(chan error, 1)}
}

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
	return s.srv.ShutdownWithContext(ctx)
}
