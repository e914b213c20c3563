// Package records maps stored events to the TCP protocol's EventRecord.
//
// Reads (node/tcpsvc) and live pushes (node/subscriptions) both use it, so
// the same event always reports the same record and position however it
// reaches a client (spec tcp-client-protocol §4.6 rule 2: catch-up
// subscriptions deduplicate by comparing them). Pure functions, safe from
// any goroutine.
package records

import (
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
