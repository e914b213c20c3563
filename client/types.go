package client

import (
	"time"

	"github.com/eventstored/eventstored/codec"
)

// Expected version values (spec §4.4).
const (
	ExpectedAny          int64 = -2
	ExpectedNoStream     int64 = -1
	ExpectedStreamExists int64 = -4
)

// MaxReadCount is the largest page a read may ask for (spec §4.10).
const MaxReadCount = 4096

// GUID is a 16-byte id in .NET byte order, exactly as on the wire.
type GUID = codec.GUID

// NewGUID returns a random (version 4) GUID.
func NewGUID() GUID { return codec.NewGUID() }

// EventData is an event to write. The client reads the slices while the
// operation runs and keeps nothing afterwards.
type EventData struct {
	ID       GUID // must not be zero; NewGUID gives a fresh one
	Type     string
	IsJSON   bool
	Data     []byte
	Metadata []byte
}

// Position is a position in $all (spec §4.6).
type Position struct {
	Commit, Prepare int64
}

// Less reports whether p orders strictly before q (lexicographically).
func (p Position) Less(q Position) bool {
	return p.Commit < q.Commit || (p.Commit == q.Commit && p.Prepare < q.Prepare)
}

var (
	// PositionStart precedes every event.
	PositionStart = Position{0, 0}
	// PositionEnd is the end of $all.
	PositionEnd = Position{-1, -1}
)

// WriteResult is the outcome of a successful write or commit.
type WriteResult struct {
	// NextExpectedVersion is the stream's last event number after the
	// write (the expected version for the next write).
	NextExpectedVersion int64
	FirstEventNumber    int64
	// Position of the write; (-1,-1) for an idempotent success.
	Position Position
}

// DeleteResult is the outcome of a successful delete.
type DeleteResult struct {
	Position Position
}

// RecordedEvent is a stored event. Strings and slices are owned by the
// caller (they stay valid and are never reused by the client).
type RecordedEvent struct {
	Stream   string
	Number   int64
	ID       GUID
	Type     string
	IsJSON   bool
	Data     []byte
	Metadata []byte
	Created  time.Time
}

// ResolvedEvent is one entry of a read. Event is the event (or the link's
// target when a link was resolved); Link is the link record when the entry
// came from resolving a link. Either may be nil (spec §3.2).
type ResolvedEvent struct {
	Event *RecordedEvent
	Link  *RecordedEvent
	// Position is set for $all reads (the original record's position).
	Position Position
}

// OriginalEvent is the record that was read: the link if there is one.
func (r *ResolvedEvent) OriginalEvent() *RecordedEvent {
	if r.Link != nil {
		return r.Link
	}
	return r.Event
}

// ReadStatus is the outcome of a read that is not an error.
type ReadStatus uint8

const (
	ReadSuccess ReadStatus = iota
	// ReadNotFound: ReadEvent of a number outside the visible range.
	ReadNotFound
	// ReadNoStream: the stream has no events or is soft-deleted.
	ReadNoStream
	// ReadStreamDeleted: the stream is hard-deleted.
	ReadStreamDeleted
)

func (s ReadStatus) String() string {
	return [...]string{"Success", "NotFound", "NoStream", "StreamDeleted"}[s]
}

// EventReadResult is the outcome of ReadEvent.
type EventReadResult struct {
	Status ReadStatus
	Stream string
	Number int64
	// Event is set for ReadSuccess (and may be empty for a metastream
	// whose stream exists but has no metadata, spec §4.9).
	Event *ResolvedEvent
}

// StreamSlice is one page of a stream read.
type StreamSlice struct {
	Status          ReadStatus // ReadSuccess, ReadNoStream or ReadStreamDeleted
	Stream          string
	FromEventNumber int64
	Events          []ResolvedEvent
	NextEventNumber int64
	LastEventNumber int64
	IsEndOfStream   bool
}

// AllSlice is one page of a $all read. An empty page is the end of $all
// (spec §4.10).
type AllSlice struct {
	From   Position
	Next   Position
	Events []ResolvedEvent
}

// IsEndOfStream reports whether this page is the end of $all.
func (s *AllSlice) IsEndOfStream() bool { return len(s.Events) == 0 }

// StreamMetadataResult is the raw metadata of a stream.
type StreamMetadataResult struct {
	Stream    string
	IsDeleted bool
	// MetaVersion is the event number of the metadata event in $$stream
	// (-1 when there is none).
	MetaVersion int64
	// Data is the metadata JSON (nil when there is none).
	Data []byte
}

// ticksAtUnixEpoch is .NET DateTime ticks (100 ns since 0001-01-01) at the
// Unix epoch (spec §3.2, EventRecord.created).
const ticksAtUnixEpoch = 621355968000000000

func createdTime(r *codec.EventRecord) time.Time {
	if r.CreatedEpoch != 0 {
		return time.UnixMilli(r.CreatedEpoch).UTC()
	}
	if r.Created != 0 {
		ticks := r.Created & (1<<62 - 1) // strip the DateTimeKind bits (62, 63)
		return time.Unix(0, (ticks-ticksAtUnixEpoch)*100).UTC()
	}
	return time.Time{}
}
