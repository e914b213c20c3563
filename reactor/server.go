package reactor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// Config describes one TCP listener (ext TCP or int TCP).
type Config struct {
	// Name of the interface for logs and errors, e.g. "external TCP".
	Name string
	// Addr is host:port to bind.
	Addr   string
	Logger *slog.Logger
	// NumEventLoops is the number of gnet loops; 0 means one per CPU.
	NumEventLoops int
}

// Server is one gnet engine bound to one address.
// Start and Stop may be called from any goroutine, once each.
type Server struct {
	cfg     Config
	handler gnet.EventHandler
	eng     gnet.Engine
	booted  chan struct{}
	done    chan error
	once    sync.Once
}

// NewServer returns a server that will serve cfg.Addr with the given gnet
// event handler once started.
func NewServer(cfg Config, h gnet.EventHandler) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Server{cfg: cfg, handler: h, booted: make(chan struct{}), done: make(chan error, 1)}
}

type bootWatcher struct {
	gnet.EventHandler
	s *Server
}

func (b bootWatcher) OnBoot(eng gnet.Engine) gnet.Action {
	b.s.eng = eng
	a := b.EventHandler.OnBoot(eng)
	close(b.s.booted)
	return a
}

// ErrAddrInUse wraps the bind error for a taken port.
var ErrAddrInUse = errors.New("address already in use")

// Start binds the listener and returns once it accepts connections, or the
// bind error naming the interface, address and port.
func (s *Server) Start() error {
	go func() {
		opts := []gnet.Option{
			gnet.WithMulticore(true),
			gnet.WithTicker(true),
			gnet.WithReusePort(false),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		}
		if s.cfg.NumEventLoops > 0 {
			opts = append(opts, gnet.WithNumEventLoop(s.cfg.NumEventLoops))
		}
		s.done <- gnet.Run(bootWatcher{s.handler, s}, "tcp://"+s.cfg.Addr, opts...)
	}()
	select {
	case <-s.booted:
		s.cfg.Logger.Info("listening", "interface", s.cfg.Name, "addr", s.cfg.Addr)
		return nil
	case err := <-s.done:
		if err == nil {
			err = errors.New("engine stopped during start-up")
		}
		return fmt.Errorf("cannot listen on %s %s: %w", s.cfg.Name, s.cfg.Addr, err)
	}
}

// Stop closes the listener and every connection, waiting at most until ctx
// is done.
func (s *Server) Stop(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		select {
		case <-s.booted:
		default:
			return
		}
		err = s.eng.Stop(ctx)
		select {
		case <-s.done:
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	})
	return err
}
