package clustertest

import (
	"fmt"
	"math"
	"strings"

	"github.com/anishathalye/porcupine"
)

// The linearizability model of an Event Store stream, for porcupine.
//
// State: the stream's event ids in event-number order (event n is the
// n-th id), kept as one comma-joined string so states compare and hash
// cheaply and a step never shares memory with another state. Operations
// on different streams commute, so histories are partitioned by stream.
//
// Operations (Input → Output):
//
//	append(stream, expected, ids) → Ok(first, last)   the ids became events first..last
//	                              → WrongVersion       expected did not match (never for Any)
//	                              → NoEffect           refused before writing (NotHandled, AccessDenied, ...)
//	                              → Unknown            timeout, connection lost, commit timeout:
//	                                                   applied or not, at one point in time
//	read(stream)                  → ids                a forward read of the whole stream (none = no stream)
//
// Expected versions are Event Store's: Any (-2, always appends),
// NoStream (-1, the stream must be empty), StreamExists (-4, non-empty) or
// an exact number n (the last event's number must be n). Every append in
// a recorded history carries fresh ids, so the idempotent re-append of
// spec §4.5 (same ids, success without a second copy) never arises.
//
// An unknown outcome is modelled the usual porcupine way: the operation
// gets the return time +inf (MaxInt64) and a step that may or may not
// apply it (NondeterministicModel).

// Expected versions (as in client/ and the TCP protocol).
const (
	ExpectedAny          int64 = -2
	ExpectedNoStream     int64 = -1
	ExpectedStreamExists int64 = -4
)

// OpKind is what an operation did.
type OpKind uint8

const (
	OpAppend OpKind = iota
	OpRead
)

// Outcome classifies an append's reply.
type Outcome uint8

const (
	Ok Outcome = iota
	WrongVersion
	NoEffect
	Unknown
)

func (o Outcome) String() string {
	switch o {
	case Ok:
		return "ok"
	case WrongVersion:
		return "wrong-version"
	case NoEffect:
		return "no-effect"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// StreamInput is an operation's input.
type StreamInput struct {
	Kind     OpKind
	Stream   string
	Expected int64    // append
	IDs      []string // append: the events' ids, in order (no commas)
	// Node is the external TCP endpoint that served the op (diagnostics
	// only; the model ignores it).
	Node string
}

// StreamOutput is an operation's result.
type StreamOutput struct {
	Outcome     Outcome  // append
	First, Last int64    // append, Ok: the numbers the events got
	IDs         []string // read: the ids from event 0 on
}

// UnknownReturn is the return time of an operation whose outcome is
// unknown: it may take effect at any time after its call.
const UnknownReturn = math.MaxInt64

func streamIDs(state string) []string {
	if state == "" {
		return nil
	}
	return strings.Split(state, ",")
}

// versionMatches: does an append with expected version exp succeed on a
// stream of n events?
func versionMatches(exp int64, n int) bool {
	switch {
	case exp == ExpectedAny:
		return true
	case exp == ExpectedNoStream:
		return n == 0
	case exp == ExpectedStreamExists:
		return n > 0
	case exp >= 0:
		return int64(n-1) == exp
	}
	return false
}

func appendIDs(state string, ids []string) string {
	if state == "" {
		return strings.Join(ids, ",")
	}
	return state + "," + strings.Join(ids, ",")
}

// streamStep returns the states an operation can lead to from state
// (none: the operation is impossible there).
func streamStep(state string, in StreamInput, out StreamOutput) []string {
	n := len(streamIDs(state))
	switch in.Kind {
	case OpRead:
		if strings.Join(out.IDs, ",") == state {
			return []string{state}
		}
		return nil
	case OpAppend:
		match := versionMatches(in.Expected, n)
		switch out.Outcome {
		case Ok:
			if match && out.First == int64(n) && out.Last == int64(n+len(in.IDs)-1) {
				return []string{appendIDs(state, in.IDs)}
			}
			return nil
		case WrongVersion:
			if !match {
				return []string{state}
			}
			return nil
		case NoEffect:
			return []string{state}
		case Unknown:
			if match {
				return []string{state, appendIDs(state, in.IDs)}
			}
			return []string{state}
		}
	}
	return nil
}

// StreamModel is the porcupine model of Event Store streams.
var StreamModel = porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var order []string
		for _, op := range history {
			s := op.Input.(StreamInput).Stream
			if _, ok := by[s]; !ok {
				order = append(order, s)
			}
			by[s] = append(by[s], op)
		}
		out := make([][]porcupine.Operation, 0, len(order))
		for _, s := range order {
			out = append(out, by[s])
		}
		return out
	},
	Init: func() []interface{} { return []interface{}{""} },
	Step: func(state, input, output interface{}) []interface{} {
		next := streamStep(state.(string), input.(StreamInput), output.(StreamOutput))
		out := make([]interface{}, len(next))
		for i, s := range next {
			out[i] = s
		}
		return out
	},
	Equal: func(a, b interface{}) bool { return a.(string) == b.(string) },
	DescribeOperation: func(input, output interface{}) string {
		in, out := input.(StreamInput), output.(StreamOutput)
		if in.Kind == OpRead {
			return fmt.Sprintf("read(%s) → [%s]", in.Stream, strings.Join(out.IDs, ","))
		}
		if out.Outcome == Ok {
			return fmt.Sprintf("append(%s, exp %d, [%s]) → ok %d..%d", in.Stream, in.Expected, strings.Join(in.IDs, ","), out.First, out.Last)
		}
		return fmt.Sprintf("append(%s, exp %d, [%s]) → %s", in.Stream, in.Expected, strings.Join(in.IDs, ","), out.Outcome)
	},
	DescribeState: func(state interface{}) string { return "[" + state.(string) + "]" },
}
