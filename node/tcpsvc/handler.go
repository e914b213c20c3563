package tcpsvc

import (
	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/reactor"
)

// Handler returns the reactor.Handler that serves the external TCP
// interface with s: reactor.NewServer(cfg, svc.Handler()). The reactor
// answers heartbeats and framing errors itself; every other package goes
// to the connection's Session.
func (s *Service) Handler() reactor.Handler { return handler{s: s} }

// InternalHandler is Handler for the internal TCP listener, where other
// nodes' forwarders send the writes they forward: a write arriving there
// is never forwarded again (see admit).
func (s *Service) InternalHandler() reactor.Handler { return handler{s: s, internal: true} }

type handler struct {
	s        *Service
	internal bool
}

func (h handler) OnOpen(c *reactor.Conn) {
	ss := h.s.Open(c)
	ss.internal = h.internal
	c.SetUserData(ss)
}

func (h handler) OnPackage(c *reactor.Conn, p *codec.Package) {
	c.UserData().(*Session).Handle(p)
}

func (h handler) OnClose(c *reactor.Conn, err error) {
	if ss, ok := c.UserData().(*Session); ok {
		ss.Close()
		if err != nil {
			h.s.log.Debug("client connection closed", "client", ss.ClientName(), "remote", c.RemoteAddr(), "err", err)
		}
	}
}
