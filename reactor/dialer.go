package reactor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"
)

// Dialer opens outgoing connections (a replica's connection to the
// master, a node's connections to its peers over internal TCP) and serves
// them exactly like accepted ones: on gnet event loops of its own, with
// the same framing, limits, heartbeats (cfg's interval and timeout) and
// Handler callbacks. cfg.Addr is unused. Start, Dial and Stop may be
// called from any goroutine.
type Dialer struct {
	srv  *Server
	mu   sync.Mutex
	cli  *gnet.Client
	stop bool
}

// ErrDialerStopped: Dial after Stop (or before Start).
var ErrDialerStopped = errors.New("reactor: dialer not running")

// NewDialer returns a dialer whose connections are served with h.
func NewDialer(cfg Config, h Handler) *Dialer {
	return &Dialer{srv: NewServer(cfg, h)}
}

// Start starts the dialer's event loops.
func (d *Dialer) Start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cli != nil || d.stop {
		return ErrDialerStopped
	}
	s := d.srv
	s.start = s.cfg.Now()
	opts := []gnet.Option{
		gnet.WithMulticore(true),
		gnet.WithTicker(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(gnetLogger{s.cfg.Logger}),
	}
	if s.cfg.NumEventLoops > 0 {
		opts = append(opts, gnet.WithNumEventLoop(s.cfg.NumEventLoops))
	}
	cli, err := gnet.NewClient(s, opts...)
	if err != nil {
		return fmt.Errorf("%s dialer: %w", s.cfg.Name, err)
	}
	if err := cli.Start(); err != nil {
		return fmt.Errorf("%s dialer: %w", s.cfg.Name, err)
	}
	d.cli = cli
	return nil
}

// Dial connects to addr ("ip:port") and returns the connection once the
// handler's OnOpen has run. The context bounds the TCP connect only.
func (d *Dialer) Dial(ctx context.Context, addr string) (*Conn, error) {
	d.mu.Lock()
	cli := d.cli
	stopped := d.stop
	d.mu.Unlock()
	if cli == nil || stopped {
		return nil, ErrDialerStopped
	}
	var nd net.Dialer
	nc, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot connect to %s: %w", d.srv.cfg.Name, addr, err)
	}
	// EnrollContext duplicates the descriptor into an event loop, closes
	// nc and returns after OnOpen ran there; OnOpen leaves the Conn in
	// slot (the gnet.Conn itself belongs to the loop from now on).
	slot := &dialSlot{}
	if _, err := cli.EnrollContext(nc, slot); err != nil {
		return nil, fmt.Errorf("%s: cannot serve the connection to %s: %w", d.srv.cfg.Name, addr, err)
	}
	c := slot.c.Load()
	if c == nil {
		return nil, fmt.Errorf("%s: connection to %s closed while opening", d.srv.cfg.Name, addr)
	}
	return c, nil
}

// dialSlot is the gnet context of a connection being dialed until
// OnOpen replaces it with the Conn.
type dialSlot struct{ c atomic.Pointer[Conn] }

// Stop closes every dialed connection and stops the event loops.
func (d *Dialer) Stop() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stop {
		return nil
	}
	d.stop = true
	if d.cli == nil {
		return nil
	}
	return d.cli.Stop()
}

// Stats returns the dialer's counters (ConnectionsAccepted counts dials).
func (d *Dialer) Stats() Stats { return d.srv.Stats() }
