package tcpsvc

import (
	"context"
	"time"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/reactor"
	"github.com/panjf2000/gnet/v2"
)

// gnetShim is a minimal gnet handler for the interop test until the
// reactor's Handler lands on this branch: it splits frames, hands
// packages to the service and writes replies with AsyncWrite.
// TODO(tcpsvc): replace with reactor.NewServer(cfg, svc.Handler()).
type gnetShim struct {
	gnet.BuiltinEventEngine
	svc *Service
}

type shimConn struct{ c gnet.Conn }

func (s shimConn) Send(frame []byte) error {
	return s.c.AsyncWrite(append([]byte(nil), frame...), nil)
}

type shimState struct {
	sess *Session
	acc  []byte
}

func (h *gnetShim) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(&shimState{sess: h.svc.Open(shimConn{c})})
	return nil, gnet.None
}

func (h *gnetShim) OnClose(c gnet.Conn, err error) gnet.Action {
	if st, ok := c.Context().(*shimState); ok {
		st.sess.Close()
	}
	return gnet.None
}

// OnTraffic accumulates bytes in its own buffer (copying what gnet hands
// over) and serves every whole frame.
func (h *gnetShim) OnTraffic(c gnet.Conn) gnet.Action {
	st := c.Context().(*shimState)
	in, _ := c.Next(-1)
	st.acc = append(st.acc, in...)
	consumed := 0
	for {
		pkg, n, err := codec.SplitFrame(st.acc[consumed:])
		if err != nil {
			return gnet.Close
		}
		if n == 0 {
			break
		}
		p, err := codec.DecodePackage(pkg)
		if err != nil {
			return gnet.Close
		}
		st.sess.Handle(&p)
		consumed += n
	}
	st.acc = append(st.acc[:0], st.acc[consumed:]...)
	return gnet.None
}

func listen(addr string, svc *Service) (stop func(), err error) {
	srv := reactor.NewServer(reactor.Config{Name: "external TCP", Addr: addr, Logger: quietLogger(), NumEventLoops: 2}, &gnetShim{svc: svc})
	if err := srv.Start(); err != nil {
		return nil, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
	}, nil
}
