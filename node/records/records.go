// Package records maps stored events to the TCP protocol's EventRecord.
//
// Reads (node/tcpsvc) and live pushes (node/subscriptions) both use it, so
// the same event always reports the same record and position however it
// reaches a client (spec tcp-client-protocol §4.6 rule 2: catch-up
// subscriptions deduplicate by comparing them). Pure functions, safe from
// any goroutine.
package records

import (
	"math"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/store"
)

// TicksAtUnixEpoch is 1970-01-01 in .NET ticks (100 ns since 0001-01-01),
// for EventRecord.created (spec §3.2).
const TicksAtUnixEpoch = 621355968000000000

// FillEventRecord makes dst a view of src (no copies): data content type 1
// for JSON, metadata content type equal to it (as the original sets it),
// created in .NET ticks and created_epoch in Unix milliseconds.
// REQUIRES: src's slices and strings stay unchanged until dst is encoded.
func FillEventRecord(dst *codec.EventRecord, src *store.EventRecord) {
	ct := int32(0)
	if src.IsJSON {
		ct = 1
	}
	*dst = codec.EventRecord{
		EventStreamID:       src.Stream,
		EventNumber:         src.Number,
		EventID:             src.ID[:],
		EventType:           src.Type,
		DataContentType:     ct,
		MetadataContentType: ct,
		Data:                src.Data,
		Metadata:            src.Metadata,
		Created:             src.CreatedUnixNano/100 + TicksAtUnixEpoch,
		CreatedEpoch:        src.CreatedUnixNano / 1e6,
	}
}

// V1EventNumber converts an event number for a client that identified
// with protocol version 0 (spec tcp-client-protocol §4.14,
// StreamVersionConverter in 4.0.3): the hard-delete number (int64 max)
// becomes int32 max, others are truncated to 32 bits.
func V1EventNumber(n int64) int64 {
	if n == store.EventNumberDeletedStream {
		return math.MaxInt32
	}
	return int64(int32(n))
}

// ToV1 converts the event numbers of a pushed or read event for a V1
// client in place; it reports whether anything changed.
func ToV1(e *codec.ResolvedEvent) bool {
	changed := false
	if n := V1EventNumber(e.Event.EventNumber); n != e.Event.EventNumber {
		e.Event.EventNumber, changed = n, true
	}
	if n := V1EventNumber(e.Link.EventNumber); n != e.Link.EventNumber {
		e.Link.EventNumber, changed = n, true
	}
	return changed
}
