package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/eventstored/eventstored/codec"
)

// Client is a connection to an eventstored (or Event Store 4.0.x) node over
// the external TCP protocol. All methods are safe for concurrent use; many
// operations may be in flight at once on the one connection (pipelining),
// each matched to its reply by correlation id.
type Client struct {
	addr string
	opts Options
	dial func(context.Context) (net.Conn, error)

	mu        sync.Mutex
	cur       *conn         // nil while (re)connecting
	ready     chan struct{} // closed when cur is set or the client gives up
	fatal     error         // set when the client will not connect again
	closed    bool
	reconnect sync.WaitGroup
}

// Dial connects to addr (host:port of the external TCP interface) and
// performs the handshake: Authenticate if opts.Credentials is set (a
// rejection fails Dial with a *NotAuthenticatedError), then IdentifyClient,
// waiting for ClientIdentified (spec §4.1).
func Dial(ctx context.Context, addr string, opts Options) (*Client, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: o.DialTimeout}
	return dialWith(ctx, addr, o, func(ctx context.Context) (net.Conn, error) {
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, &dialError{err: err}
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		return nc, nil
	})
}

// dialWith is Dial over any transport (the seam tests use for in-memory
// pipes); dial is called for the first connection and every reconnection.
// REQUIRES: o has its defaults.
func dialWith(ctx context.Context, addr string, o Options, dial func(context.Context) (net.Conn, error)) (*Client, error) {
	if o.ConnectionName == "" {
		g := codec.NewGUID()
		o.ConnectionName = "eventstored-go-" + g.String()[:8]
	}
	c := &Client{addr: addr, opts: o, dial: dial, ready: make(chan struct{})}
	cn, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	if !c.install(cn) {
		cn.close()
		return nil, connectionError(errors.New("dropped right after the handshake"))
	}
	return c, nil
}

// install makes cn the live connection unless the client was closed or cn
// already died (then connClosed, which ran while cn was not yet c.cur,
// ignored it). On false the caller closes cn and treats the attempt as
// failed.
func (c *Client) install(cn *conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	select {
	case <-cn.closed:
		return false
	default:
	}
	c.cur = cn
	close(c.ready)
	return true
}

// connect opens a TCP connection and runs the handshake.
func (c *Client) connect(ctx context.Context) (*conn, error) {
	nc, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	cn := newConn(nc, &c.opts, c.connClosed)
	hctx, cancel := context.WithTimeout(ctx, c.opts.OperationTimeout)
	defer cancel()
	if err := c.handshake(hctx, cn); err != nil {
		cn.close() // connClosed ignores it: it is not c.cur
		return nil, fmt.Errorf("handshake with %s failed: %w", c.addr, err)
	}
	return cn, nil
}

func (c *Client) handshake(ctx context.Context, cn *conn) error {
	if cr := c.opts.Credentials; cr != nil {
		cl := acquireCall()
		defer releaseCall(cl)
		if err := c.roundTrip(&opCtx{ctx: ctx}, cn, cl, codec.Authenticate, cr, nil); err != nil {
			return err
		}
		switch cl.cmd {
		case codec.Authenticated:
		case codec.NotAuthenticated:
			p, _ := codec.DecodePackage(cl.reply)
			return &NotAuthenticatedError{Reason: string(p.Payload)}
		default:
			return replyError("authenticate", cl)
		}
	}
	cl := acquireCall()
	defer releaseCall(cl)
	id := codec.IdentifyClient{Version: codec.ClientVersionV2, ConnectionName: c.opts.ConnectionName}
	cl.payload = codec.AppendIdentifyClient(cl.payload[:0], &id)
	if err := c.roundTrip(&opCtx{ctx: ctx}, cn, cl, codec.IdentifyClientCommand, nil, cl.payload); err != nil {
		return err
	}
	if cl.cmd != codec.ClientIdentifiedCommand {
		return replyError("identify client", cl)
	}
	return nil
}

// connClosed runs when a connection fails, on the failing goroutine. It
// only swaps state under c.mu and starts the reconnect goroutine, so it
// never blocks; once it returns no new operation picks the dead conn.
func (c *Client) connClosed(cn *conn, cause error) {
	c.mu.Lock()
	if c.cur != cn || c.closed {
		c.mu.Unlock()
		return
	}
	c.cur = nil
	c.ready = make(chan struct{})
	if !c.opts.Reconnect {
		c.fatal = connectionError(cause)
		close(c.ready)
		c.mu.Unlock()
		return
	}
	c.reconnect.Add(1)
	c.mu.Unlock()
	slog.Warn("connection lost; reconnecting", "addr", c.addr, "cause", cause)
	go c.reconnectLoop(cause)
}

func (c *Client) reconnectLoop(cause error) {
	defer c.reconnect.Done()
	var err error = cause
	for attempt := 1; attempt <= c.opts.MaxReconnections; attempt++ {
		time.Sleep(c.opts.ReconnectionDelay)
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return
		}
		var cn *conn
		cn, err = c.connect(context.Background())
		if err != nil {
			slog.Warn("reconnect failed", "addr", c.addr, "attempt", attempt, "err", err)
			continue
		}
		if !c.install(cn) {
			cn.close()
			c.mu.Lock()
			closed = c.closed
			c.mu.Unlock()
			if closed {
				return
			}
			err = errors.New("dropped right after the handshake")
			continue
		}
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return // Close already released the waiters
	}
	c.fatal = connectionError(fmt.Errorf("gave up after %d reconnections: %v", c.opts.MaxReconnections, err))
	close(c.ready)
}

// Close closes the connection. Operations in flight fail with
// ErrConnectionClosed; later ones with ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	cn := c.cur
	c.cur = nil
	select {
	case <-c.ready:
	default:
		close(c.ready)
	}
	c.mu.Unlock()
	if cn != nil {
		cn.close()
	}
	c.reconnect.Wait()
	return nil
}

// conn returns the live connection, waiting while the client reconnects.
func (c *Client) conn(ctx context.Context) (*conn, error) {
	for {
		cn, ready, err := c.current()
		if cn != nil || err != nil {
			return cn, err
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, ctxError(ctx, "waiting for the connection")
		}
	}
}

func ctxError(ctx context.Context, op string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return timeoutError(op)
	}
	return ctx.Err()
}

// opCtx is the context of one operation. When the caller's context has no
// deadline, Options.OperationTimeout gives the operation one without a
// timer per operation: the request carries the deadline while it is
// pending and the connection's sweep fails it once it passes (conn.sweep);
// only the waits outside a pending request (a reconnection, a free
// in-flight slot, a retry delay) derive a context with that deadline, the
// first time one is needed.
type opCtx struct {
	ctx      context.Context // the caller's
	deadline int64           // unix nanos; 0: ctx bounds the operation
	wait     context.Context // ctx with the deadline, once needed
	cancel   context.CancelFunc
}

func (o *opCtx) waitCtx() context.Context {
	if o.deadline == 0 {
		return o.ctx
	}
	if o.wait == nil {
		o.wait, o.cancel = context.WithDeadline(o.ctx, time.Unix(0, o.deadline))
	}
	return o.wait
}

func (o *opCtx) release() {
	if o.cancel != nil {
		o.cancel()
	}
}

// do sends one request and waits for its reply, which is left in cl.
func (c *Client) do(ctx context.Context, cmd codec.Command, cl *call, payload []byte) error {
	o := opCtx{ctx: ctx}
	if _, ok := ctx.Deadline(); !ok && c.opts.OperationTimeout > 0 {
		o.deadline = time.Now().Add(c.opts.OperationTimeout).UnixNano()
	}
	defer o.release()
	for attempt := 0; ; attempt++ {
		cn, err := c.connNow()
		if cn == nil && err == nil {
			cn, err = c.conn(o.waitCtx())
		}
		if err != nil {
			return err
		}
		if err := c.roundTrip(&o, cn, cl, cmd, credentialsFrom(ctx), payload); err != nil {
			// The connection dropped with the request in flight: with
			// Reconnect, send it again on the next connection, as the
			// official clients do (writes carry their event ids, so a
			// write that did land is answered as an idempotent success,
			// spec §4.5).
			if c.opts.Reconnect && attempt < c.opts.MaxRetries && errors.Is(err, ErrConnectionClosed) && o.waitCtx().Err() == nil {
				continue
			}
			return err
		}
		// NotHandled NotReady/TooBusy: retry later, as both official
		// clients do (spec §2.2); the payload is unchanged in cl.
		if cl.cmd != codec.NotHandledCommand || attempt >= c.opts.MaxRetries || !retryableNotHandled(cl) {
			return nil
		}
		t := time.NewTimer(c.opts.RetryDelay)
		wctx := o.waitCtx()
		select {
		case <-t.C:
		case <-wctx.Done():
			t.Stop()
			return ctxError(wctx, cmd.String())
		}
	}
}

// connNow returns the live connection, or an error if there will be none,
// or neither while the client reconnects (conn waits for that).
func (c *Client) connNow() (*conn, error) {
	cn, _, err := c.current()
	return cn, err
}

// current returns, read together, the live connection or the error that
// there will be none (closed, or given up), and ready: closed once either
// changes while both are nil (the client reconnects).
func (c *Client) current() (*conn, chan struct{}, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return nil, c.ready, &kindError{"closed", ErrClosed}
	case c.cur != nil:
		return c.cur, c.ready, nil
	}
	return nil, c.ready, c.fatal
}

func retryableNotHandled(cl *call) bool {
	p, err := codec.DecodePackage(cl.reply)
	if err != nil {
		return false
	}
	var nh codec.NotHandled
	if codec.DecodeNotHandled(p.Payload, &nh) != nil {
		return false
	}
	return nh.Reason == codec.NotHandledNotReady || nh.Reason == codec.NotHandledTooBusy
}

// roundTrip sends a request on cn and waits for the reply, the end of the
// operation's context or deadline, or the connection's failure.
func (c *Client) roundTrip(o *opCtx, cn *conn, cl *call, cmd codec.Command, creds *Credentials, payload []byte) error {
	select {
	case cn.slots <- struct{}{}:
	default:
		wctx := o.waitCtx()
		select {
		case cn.slots <- struct{}{}:
		case <-wctx.Done():
			return ctxError(wctx, cmd.String())
		}
	}
	defer func() { <-cn.slots }()
	cl.deadline, cl.reqCmd = o.deadline, cmd
	if err := cn.register(cl); err != nil {
		return err
	}
	if err := cn.send(cmd, &cl.id, creds, payload, true); err != nil {
		if !cn.unregister(cl) {
			<-cl.done
		}
		return err
	}
	select {
	case <-cl.done:
		return cl.err // the sweep's timeout error once cl.deadline passed
	case <-o.ctx.Done():
		if !cn.unregister(cl) {
			<-cl.done // the reply raced the deadline; drain it so cl can be reused
		}
		return ctxError(o.ctx, cmd.String())
	}
}

type credsKey struct{}

// WithCredentials returns a context whose operations carry creds in their
// packages (spec §4.3 "per package"), overriding the connection default.
func WithCredentials(ctx context.Context, creds Credentials) context.Context {
	return context.WithValue(ctx, credsKey{}, &creds)
}

func credentialsFrom(ctx context.Context) *Credentials {
	if v, ok := ctx.Value(credsKey{}).(*Credentials); ok {
		return v
	}
	return nil
}

// replyError turns a generic reply (NotHandled, NotAuthenticated,
// BadRequest) or an unexpected command into an error.
func replyError(op string, cl *call) error {
	p, err := codec.DecodePackage(cl.reply)
	if err != nil {
		return unexpected(op, err)
	}
	switch p.Command {
	case codec.NotAuthenticated:
		return &NotAuthenticatedError{Reason: string(p.Payload)}
	case codec.BadRequest:
		return &BadRequestError{Text: string(p.Payload)}
	case codec.NotHandledCommand:
		var nh codec.NotHandled
		if err := codec.DecodeNotHandled(p.Payload, &nh); err != nil {
			return unexpected(op, err)
		}
		e := &NotHandledError{Reason: nh.Reason}
		if nh.Reason == codec.NotHandledNotMaster && len(nh.AdditionalInfo) > 0 {
			var mi codec.MasterInfo
			if codec.DecodeMasterInfo(nh.AdditionalInfo, &mi) == nil {
				e.Master = &MasterInfo{
					ExternalTCPAddress: strings.Clone(mi.ExternalTCPAddress), ExternalTCPPort: mi.ExternalTCPPort,
					ExternalHTTPAddress: strings.Clone(mi.ExternalHTTPAddress), ExternalHTTPPort: mi.ExternalHTTPPort,
				}
			}
		}
		return e
	}
	return unexpected(op, "reply command "+p.Command.String())
}
