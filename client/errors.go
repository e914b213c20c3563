package client

import (
	"errors"
	"fmt"

	"github.com/eventstored/eventstored/codec"
)

// Sentinel errors. Every error an operation returns either is one of these
// or wraps one (test with errors.Is); the typed errors below carry the
// details (errors.As).
var (
	ErrWrongExpectedVersion = errors.New("wrong expected version")
	ErrStreamDeleted        = errors.New("stream deleted")
	ErrAccessDenied         = errors.New("access denied")
	ErrNotAuthenticated     = errors.New("not authenticated")
	ErrNotHandled           = errors.New("not handled")
	ErrBadRequest           = errors.New("bad request")
	ErrInvalidTransaction   = errors.New("invalid transaction")
	// ErrServerTimeout: the server answered PrepareTimeout, CommitTimeout or
	// ForwardTimeout. The write may or may not have happened; retrying with
	// the same event ids is safe (spec §4.5).
	ErrServerTimeout = errors.New("server timeout")
	// ErrServerError: a read answered with result Error.
	ErrServerError = errors.New("server error")
	// ErrTimeout: no reply within the operation timeout.
	ErrTimeout = errors.New("operation timed out")
	// ErrConnectionClosed: the connection dropped while the operation was
	// in flight, or could not be (re)established.
	ErrConnectionClosed = errors.New("connection closed")
	// ErrClosed: the Client was closed.
	ErrClosed = errors.New("client closed")
	// ErrUnexpectedReply: the server answered with a command or result this
	// operation cannot take (a protocol violation).
	ErrUnexpectedReply = errors.New("unexpected reply")
	// ErrInvalidArgument: the request was refused locally, before sending.
	ErrInvalidArgument = errors.New("invalid argument")
)

// WrongExpectedVersionError is returned when a write's expected version
// does not match (spec §4.4).
type WrongExpectedVersionError struct {
	Stream          string
	ExpectedVersion int64
	// CurrentVersion is the stream's last event number as the server
	// reported it (-1: no events).
	CurrentVersion int64
}

func (e *WrongExpectedVersionError) Error() string {
	return fmt.Sprintf("wrong expected version on stream %q: expected %d, current %d", e.Stream, e.ExpectedVersion, e.CurrentVersion)
}
func (e *WrongExpectedVersionError) Is(t error) bool { return t == ErrWrongExpectedVersion }
func (e *WrongExpectedVersionError) Kind() string    { return "wrong_expected_version" }

// StreamDeletedError: the stream is hard-deleted (or soft-deleted and the
// write expected it to exist).
type StreamDeletedError struct{ Stream string }

func (e *StreamDeletedError) Error() string   { return fmt.Sprintf("stream %q is deleted", e.Stream) }
func (e *StreamDeletedError) Is(t error) bool { return t == ErrStreamDeleted }
func (e *StreamDeletedError) Kind() string    { return "stream_deleted" }

// AccessDeniedError: the (default or given) user lacks the permission.
type AccessDeniedError struct {
	Stream    string
	Operation string // "write", "read", "delete", …
}

func (e *AccessDeniedError) Error() string {
	return fmt.Sprintf("access denied: %s on stream %q", e.Operation, e.Stream)
}
func (e *AccessDeniedError) Is(t error) bool { return t == ErrAccessDenied }
func (e *AccessDeniedError) Kind() string    { return "access_denied" }

// NotAuthenticatedError: the credentials were rejected (spec §4.3).
type NotAuthenticatedError struct{ Reason string }

func (e *NotAuthenticatedError) Error() string   { return "not authenticated: " + e.Reason }
func (e *NotAuthenticatedError) Is(t error) bool { return t == ErrNotAuthenticated }
func (e *NotAuthenticatedError) Kind() string    { return "not_authenticated" }

// MasterInfo is the master's endpoints carried by NotHandled{NotMaster}.
type MasterInfo struct {
	ExternalTCPAddress  string
	ExternalTCPPort     int32
	ExternalHTTPAddress string
	ExternalHTTPPort    int32
}

// NotHandledError: the node did not handle the request (spec §2.2).
type NotHandledError struct {
	Reason codec.NotHandledReason
	// Master is set for NotMaster.
	Master *MasterInfo
}

func (e *NotHandledError) Error() string {
	switch e.Reason {
	case codec.NotHandledNotReady:
		return "not handled: node not ready"
	case codec.NotHandledTooBusy:
		return "not handled: node too busy"
	case codec.NotHandledNotMaster:
		if e.Master != nil {
			return fmt.Sprintf("not handled: not master (master at %s:%d)", e.Master.ExternalTCPAddress, e.Master.ExternalTCPPort)
		}
		return "not handled: not master"
	}
	return fmt.Sprintf("not handled: reason %d", e.Reason)
}
func (e *NotHandledError) Is(t error) bool { return t == ErrNotHandled }
func (e *NotHandledError) Kind() string {
	switch e.Reason {
	case codec.NotHandledNotReady:
		return "not_ready"
	case codec.NotHandledTooBusy:
		return "too_busy"
	case codec.NotHandledNotMaster:
		return "not_master"
	}
	return "not_handled"
}

// BadRequestError: the server refused the request as malformed.
type BadRequestError struct{ Text string }

func (e *BadRequestError) Error() string   { return "bad request: " + e.Text }
func (e *BadRequestError) Is(t error) bool { return t == ErrBadRequest }
func (e *BadRequestError) Kind() string    { return "bad_request" }

// ServerTimeoutError: PrepareTimeout, CommitTimeout or ForwardTimeout.
type ServerTimeoutError struct {
	Result  codec.OperationResult
	Message string
}

func (e *ServerTimeoutError) Error() string {
	names := map[codec.OperationResult]string{codec.OperationPrepareTimeout: "prepare timeout",
		codec.OperationCommitTimeout: "commit timeout", codec.OperationForwardTimeout: "forward timeout"}
	return "server " + names[e.Result]
}
func (e *ServerTimeoutError) Is(t error) bool { return t == ErrServerTimeout }
func (e *ServerTimeoutError) Kind() string    { return "server_timeout" }

// ServerError: a read failed on the server with result Error.
type ServerError struct{ Text string }

func (e *ServerError) Error() string   { return "server error: " + e.Text }
func (e *ServerError) Is(t error) bool { return t == ErrServerError }
func (e *ServerError) Kind() string    { return "server_error" }

// kindError tags a sentinel-wrapping error with a kind for reports.
type kindError struct {
	kind string
	err  error
}

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }
func (e *kindError) Kind() string  { return e.kind }

func timeoutError(op string) error {
	return &kindError{"timeout", fmt.Errorf("%s: %w", op, ErrTimeout)}
}

func connectionError(cause error) error {
	if cause == nil {
		return &kindError{"connection", ErrConnectionClosed}
	}
	return &kindError{"connection", fmt.Errorf("%w: %v", ErrConnectionClosed, cause)}
}

func unexpected(op string, what any) error {
	return &kindError{"unexpected_reply", fmt.Errorf("%s: %w: %v", op, ErrUnexpectedReply, what)}
}

func invalidArg(format string, args ...any) error {
	return &kindError{"invalid_argument", fmt.Errorf("%w: %s", ErrInvalidArgument, fmt.Sprintf(format, args...))}
}

// operationError maps a non-success OperationResult to its error.
func operationError(r codec.OperationResult, stream string, expected, current int64, op string) error {
	switch r {
	case codec.OperationWrongExpectedVersion:
		return &WrongExpectedVersionError{Stream: stream, ExpectedVersion: expected, CurrentVersion: current}
	case codec.OperationStreamDeleted:
		return &StreamDeletedError{Stream: stream}
	case codec.OperationAccessDenied:
		return &AccessDeniedError{Stream: stream, Operation: op}
	case codec.OperationInvalidTransaction:
		return &kindError{"invalid_transaction", ErrInvalidTransaction}
	case codec.OperationPrepareTimeout, codec.OperationCommitTimeout, codec.OperationForwardTimeout:
		return &ServerTimeoutError{Result: r}
	}
	return unexpected(op, fmt.Sprintf("operation result %d", r))
}

// dialError: the TCP connect failed. Its text is the dialer's own (which
// names the address); it matches ErrConnectionClosed.
type dialError struct{ err error }

func (e *dialError) Error() string   { return e.err.Error() }
func (e *dialError) Unwrap() error   { return e.err }
func (e *dialError) Is(t error) bool { return t == ErrConnectionClosed }
func (e *dialError) Kind() string    { return "connection" }
