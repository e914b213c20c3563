package config

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors; every error Load and Validate return wraps one of them.
var (
	// ErrUnknownOption: a source named an option 4.0.3 does not have.
	ErrUnknownOption = errors.New("config: unknown option")
	// ErrBadValue: a value could not be converted to the option's type.
	ErrBadValue = errors.New("config: bad value")
	// ErrConfigFile: the YAML file is missing, unreadable or malformed.
	ErrConfigFile = errors.New("config: bad configuration file")
	// ErrInvalid: the options parse but do not make a runnable node (§1.6).
	ErrInvalid = errors.New("config: invalid configuration")
)

// Error is an option error. Its message is the text Event Store prints
// (spec §1.5), plus the option and source where 4.0.3 left them out, so an
// operator can find the culprit.
type Error struct {
	kind error
	msg  string
}

func (e *Error) Error() string { return e.msg }

// Unwrap lets errors.Is match the sentinel kind.
func (e *Error) Unwrap() error { return e.kind }

func newError(kind error, format string, args ...any) *Error {
	return &Error{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// isFalse is 4.0.3's bool rule (spec §1.3): false only for "false" (any
// case) or "0"; every other text, including "no" and "off", is true.
func isFalse(s string) bool {
	s = strings.TrimSpace(s)
	return s == "0" || strings.EqualFold(s, "false")
}

// setValue converts text into op's field of o. For list kinds the items of
// a YAML sequence arrive in items (text is then ignored); otherwise text is
// split on commas. The returned error names the value and the .NET type
// name as 4.0.3 does; the caller adds the option and source.
func setValue(op *option, o *Options, text string, items []string) error {
	bad := func() error {
		return fmt.Errorf("The value %s could not be converted to %s", text, op.Kind.typeName())
	}
	trimmed := strings.TrimSpace(text)
	switch p := op.field(o).(type) {
	case *bool:
		*p = !isFalse(text)
	case *int:
		n, err := strconv.ParseInt(trimmed, 10, 32)
		if err != nil {
			return bad()
		}
		*p = int(n)
	case *int64:
		n, err := strconv.ParseInt(trimmed, 10, 64)
		if err != nil {
			return bad()
		}
		*p = n
	case *string:
		*p = text
	case *time.Duration:
		var unit time.Duration
		switch op.Kind {
		case kindMs, kindDoubleMs:
			unit = time.Millisecond
		case kindSec:
			unit = time.Second
		case kindDays:
			unit = 24 * time.Hour
		default:
			panic("BUG: duration field with kind " + op.Kind.typeName())
		}
		if op.Kind == kindDoubleMs {
			f, err := strconv.ParseFloat(trimmed, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > float64(math.MaxInt64/int64(unit)) {
				return bad()
			}
			*p = time.Duration(f * float64(unit))
			break
		}
		n, err := strconv.ParseInt(trimmed, 10, 32)
		if err != nil || n > int64(math.MaxInt64/int64(unit)) {
			return bad()
		}
		*p = time.Duration(n) * unit
	case *netip.Addr:
		if trimmed == "" && op.Default == "" {
			*p = netip.Addr{} // an unset advertise-as address
			break
		}
		// NB: 4.0.3 takes IP literals only, no host names (spec §1.3).
		a, err := netip.ParseAddr(trimmed)
		if err != nil || a.Zone() != "" {
			return bad()
		}
		*p = a.Unmap()
	case *[]string:
		*p = splitList(text, items)
	case *[]netip.AddrPort:
		list := splitList(text, items)
		eps := make([]netip.AddrPort, 0, len(list))
		for _, it := range list {
			ep, err := netip.ParseAddrPort(it)
			if err != nil || ep.Port() == 0 {
				return fmt.Errorf("The value %s could not be converted to %s", it, op.Kind.typeName())
			}
			eps = append(eps, netip.AddrPortFrom(ep.Addr().Unmap(), ep.Port()))
		}
		*p = eps
	case *ProjectionType:
		pt, ok := parseProjectionType(trimmed)
		if !ok {
			return bad()
		}
		*p = pt
	default:
		panic(fmt.Sprintf("BUG: option %s has an unsupported field type %T", op.Name, p))
	}
	return nil
}

// splitList returns the sequence items, or text split on commas; blank
// items are dropped so "a,,b" and a trailing comma do not make empty
// entries.
func splitList(text string, items []string) []string {
	if items == nil {
		items = strings.Split(text, ",")
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}

// parseProjectionType accepts a member name (case-insensitive) or its
// number, like .NET's Enum.Parse (spec §1.3).
func parseProjectionType(s string) (ProjectionType, bool) {
	for _, p := range []ProjectionType{ProjectionsNone, ProjectionsSystem, ProjectionsAll} {
		if strings.EqualFold(s, p.String()) || s == strconv.Itoa(int(p)) {
			return p, true
		}
	}
	return 0, false
}

// formatValue renders op's current value of o in the option's own syntax
// (the inverse of setValue), for --what-if and /info/options.
func formatValue(op *option, o *Options) string {
	switch p := op.field(o).(type) {
	case *bool:
		return strconv.FormatBool(*p)
	case *int:
		return strconv.Itoa(*p)
	case *int64:
		return strconv.FormatInt(*p, 10)
	case *string:
		return *p
	case *time.Duration:
		switch op.Kind {
		case kindMs:
			return strconv.FormatInt(int64(*p/time.Millisecond), 10)
		case kindDoubleMs:
			return strconv.FormatFloat(float64(*p)/float64(time.Millisecond), 'f', -1, 64)
		case kindSec:
			return strconv.FormatInt(int64(*p/time.Second), 10)
		case kindDays:
			return strconv.FormatInt(int64(*p/(24*time.Hour)), 10)
		}
	case *netip.Addr:
		if !p.IsValid() {
			return ""
		}
		return p.String()
	case *[]string:
		return strings.Join(*p, ",")
	case *[]netip.AddrPort:
		s := make([]string, len(*p))
		for i, ep := range *p {
			s[i] = ep.String()
		}
		return strings.Join(s, ",")
	case *ProjectionType:
		return p.String()
	}
	panic("BUG: cannot format option " + op.Name)
}

// Default returns the options with every value at its default. It panics
// if the table holds a default its own parser rejects (a programming
// error that tests catch).
func Default() *Options {
	o := &Options{sources: make([]Source, len(options))}
	for i := range options {
		op := &options[i]
		if err := setValue(op, o, op.Default, nil); err != nil {
			panic("BUG: default of " + op.Name + ": " + err.Error())
		}
	}
	return o
}
