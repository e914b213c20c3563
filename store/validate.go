package store

import (
	"fmt"
)

// MaxEventsPerWrite bounds the events of one write or transaction write. The
// original has no such limit beyond its 64 MiB frame; a frame of minimal
// events (about 30 bytes each) holds roughly two million, so this limit is
// never reached by a valid 4.0.x client request.
const MaxEventsPerWrite = 1 << 21

// ValidateOp applies the BadRequest checks of spec §4.4/§4.5 to op: a
// non-empty stream name, expected versions each command accepts, event ids
// (16 bytes by type, not all zeros), non-empty event types and the event size
// limit. Submit applies it too. The returned error wraps ErrBadRequest and
// its text is suitable for the BadRequest reply.
func ValidateOp(op *Op) error { return validateOp(op, MaxEventSizeBytes) }

func validateOp(op *Op, maxEventSize int) error {
	if op == nil {
		return fmt.Errorf("%w: nil op", ErrBadRequest)
	}
	switch op.Kind {
	case OpWrite:
		if err := validateStream(op.Stream); err != nil {
			return err
		}
		ev := op.ExpectedVersion
		if ev < 0 && ev != ExpectedVersionAny && ev != ExpectedVersionNoStream && ev != ExpectedVersionStreamExists {
			return fmt.Errorf("%w: invalid expected version %d", ErrBadRequest, ev)
		}
		return validateEvents(op.Events, maxEventSize)
	case OpDelete, OpTransactionStart:
		if err := validateStream(op.Stream); err != nil {
			return err
		}
		// -4 (StreamExists) is accepted by WriteEvents only (spec §4.4).
		ev := op.ExpectedVersion
		if ev < 0 && ev != ExpectedVersionAny && ev != ExpectedVersionNoStream {
			return fmt.Errorf("%w: invalid expected version %d", ErrBadRequest, ev)
		}
		if len(op.Events) != 0 {
			return fmt.Errorf("%w: %d events on a delete or transaction start", ErrBadRequest, len(op.Events))
		}
		return nil
	case OpTransactionWrite:
		if op.TransactionID < 0 {
			return fmt.Errorf("%w: invalid transaction id %d", ErrBadRequest, op.TransactionID)
		}
		return validateEvents(op.Events, maxEventSize)
	case OpTransactionCommit:
		if op.TransactionID < 0 {
			return fmt.Errorf("%w: invalid transaction id %d", ErrBadRequest, op.TransactionID)
		}
		if len(op.Events) != 0 {
			return fmt.Errorf("%w: %d events on a transaction commit", ErrBadRequest, len(op.Events))
		}
		return nil
	default:
		return fmt.Errorf("%w: unknown op kind %d", ErrBadRequest, op.Kind)
	}
}

func validateStream(s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty stream name", ErrBadRequest)
	}
	return nil
}

func validateEvents(evs []NewEvent, maxEventSize int) error {
	if len(evs) > MaxEventsPerWrite {
		return fmt.Errorf("%w: %d events in one write (limit %d)", ErrBadRequest, len(evs), MaxEventsPerWrite)
	}
	for i := range evs {
		e := &evs[i]
		if e.ID == ([16]byte{}) {
			return fmt.Errorf("%w: event %d has an empty event id", ErrBadRequest, i)
		}
		if e.Type == "" {
			return fmt.Errorf("%w: event %d has an empty event type", ErrBadRequest, i)
		}
		if size := len(e.Data) + len(e.Metadata) + 2*len(e.Type); size > maxEventSize {
			return fmt.Errorf("%w: event %d is %d bytes (limit %d)", ErrBadRequest, i, size, maxEventSize)
		}
	}
	return nil
}
