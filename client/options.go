package client

import (
	"errors"
	"fmt"
	"time"
)

// Credentials are a login and password, at most 255 bytes each once UTF-8
// encoded (spec §1.6).
type Credentials struct {
	Login    string
	Password string
}

// Options configure a Client. Zero values take the defaults of the
// official 4.0.x clients (spec Appendix B), given in each field's comment.
type Options struct {
	// Credentials, if set, are sent with Authenticate during the handshake
	// and become the connection's default user (spec §4.3).
	Credentials *Credentials
	// ConnectionName is sent in IdentifyClient; default "eventstored-go-<random>".
	ConnectionName string
	// HeartbeatInterval: send a HeartbeatRequest after this long without
	// receiving anything (default 750 ms).
	HeartbeatInterval time.Duration
	// HeartbeatTimeout: close the connection if still nothing has been
	// received this long after the heartbeat request (default 1,500 ms).
	HeartbeatTimeout time.Duration
	// OperationTimeout bounds each operation whose context has no earlier
	// deadline, and the handshake (default 7 s).
	OperationTimeout time.Duration
	// DialTimeout bounds the TCP connect (default 5 s).
	DialTimeout time.Duration
	// Reconnect makes the client reconnect after the connection drops,
	// up to MaxReconnections times ReconnectionDelay apart. Operations in
	// flight when the connection drops are sent again on the new
	// connection (up to MaxRetries times); operations issued while
	// reconnecting wait for it. Without Reconnect they fail with
	// ErrConnectionClosed.
	Reconnect         bool
	MaxReconnections  int           // default 10
	ReconnectionDelay time.Duration // default 100 ms
	// MaxRetries is how often an operation answered NotHandled NotReady
	// or TooBusy is sent again, RetryDelay apart, and (with Reconnect) how
	// often one cut off by a dropped connection is resent (defaults 10 and
	// 100 ms; negative MaxRetries: never). Other outcomes are never
	// retried.
	MaxRetries int
	RetryDelay time.Duration
	// MaxInFlight bounds the requests outstanding on the connection;
	// further requests wait for a slot (default 5,000).
	MaxInFlight int
	// RequireMaster is sent with every request that has the field
	// (default false: a single node is always the master; the official
	// clients default to true, which only matters in a cluster).
	RequireMaster bool
}

// Limits on options, chosen so that a typo cannot ask for something absurd.
const (
	maxInFlightLimit = 1 << 20
	minHeartbeat     = 10 * time.Millisecond
)

// ErrInvalidOptions wraps every option validation error.
var ErrInvalidOptions = errors.New("client: invalid options")

func (o *Options) withDefaults() (Options, error) {
	r := *o
	if r.HeartbeatInterval == 0 {
		r.HeartbeatInterval = 750 * time.Millisecond
	}
	if r.HeartbeatTimeout == 0 {
		r.HeartbeatTimeout = 1500 * time.Millisecond
	}
	if r.OperationTimeout == 0 {
		r.OperationTimeout = 7 * time.Second
	}
	if r.DialTimeout == 0 {
		r.DialTimeout = 5 * time.Second
	}
	if r.MaxReconnections == 0 {
		r.MaxReconnections = 10
	}
	if r.ReconnectionDelay == 0 {
		r.ReconnectionDelay = 100 * time.Millisecond
	}
	if r.MaxRetries == 0 {
		r.MaxRetries = 10
	} else if r.MaxRetries < 0 {
		r.MaxRetries = 0
	}
	if r.RetryDelay == 0 {
		r.RetryDelay = 100 * time.Millisecond
	}
	if r.MaxInFlight == 0 {
		r.MaxInFlight = 5000
	}
	bad := func(format string, args ...any) (Options, error) {
		return Options{}, fmt.Errorf("%w: %s", ErrInvalidOptions, fmt.Sprintf(format, args...))
	}
	switch {
	case r.HeartbeatInterval < minHeartbeat || r.HeartbeatTimeout < minHeartbeat:
		return bad("heartbeat interval and timeout must be at least %v", minHeartbeat)
	case r.OperationTimeout < 0 || r.DialTimeout < 0 || r.ReconnectionDelay < 0 || r.RetryDelay < 0:
		return bad("timeouts and delays must not be negative")
	case r.MaxInFlight < 1 || r.MaxInFlight > maxInFlightLimit:
		return bad("MaxInFlight %d out of range 1..%d", r.MaxInFlight, maxInFlightLimit)
	case r.MaxReconnections < 0:
		return bad("MaxReconnections %d is negative", r.MaxReconnections)
	}
	if r.Credentials != nil && (len(r.Credentials.Login) > 255 || len(r.Credentials.Password) > 255) {
		return bad("login and password must be at most 255 bytes each")
	}
	return r, nil
}
