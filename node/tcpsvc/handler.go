package tcpsvc

import (
	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/reactor"
)

// Handler returns the reactor.Handler that serves the external TCP
// interface with s: reactor.NewServer(cfg, svc.Handler()). The reactor
// answers heartbeats and framing errors itself; every other package goes
// to the connection's Session.
func (s *Service) Handler() reactor.Handler { return handler{s} }

type handler struct{ s *Service }

func (h handler) OnOpen(c *reactor.Conn) { c.SetUserData(h.s.Open(c)) }

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
