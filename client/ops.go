package client

import (
	"context"
	"strings"
	"unsafe"

	"github.com/eventstored/eventstored/codec"
)

// decodeReply checks that cl holds a reply of command want and returns its
// payload; any other command becomes the matching error (replyError).
func decodeReply(op string, cl *call, want codec.Command) ([]byte, error) {
	if cl.cmd != want {
		return nil, replyError(op, cl)
	}
	p, err := codec.DecodePackage(cl.reply)
	if err != nil {
		return nil, unexpected(op, err)
	}
	return p.Payload, nil
}

func (c *Client) encodeEvents(cl *call, events []EventData) ([]codec.NewEvent, error) {
	evs := cl.events[:0]
	for i := range events {
		e := &events[i]
		if e.ID.IsZero() {
			return nil, invalidArg("event %d has a zero id", i)
		}
		if e.Type == "" {
			return nil, invalidArg("event %d has an empty type", i)
		}
		ne := codec.NewEvent{EventID: e.ID[:], EventType: e.Type, Data: e.Data, Metadata: e.Metadata}
		if e.IsJSON {
			ne.DataContentType = 1
		}
		if ne.Data == nil {
			ne.Data = []byte{}
		}
		evs = append(evs, ne)
	}
	cl.events = evs
	return evs, nil
}

// AppendToStream writes events to stream atomically, checking
// expectedVersion (≥ 0, ExpectedAny, ExpectedNoStream or
// ExpectedStreamExists). A retry with the same event ids is idempotent
// (spec §4.5). Failures: *WrongExpectedVersionError, *StreamDeletedError,
// *AccessDeniedError, *NotAuthenticatedError, *NotHandledError,
// *BadRequestError, *ServerTimeoutError, or a timeout/connection error.
//
// In steady state this allocates nothing: requests are encoded into pooled
// buffers with the codec's Append functions.
func (c *Client) AppendToStream(ctx context.Context, stream string, expectedVersion int64, events ...EventData) (WriteResult, error) {
	if stream == "" {
		return WriteResult{}, invalidArg("empty stream name")
	}
	cl := acquireCall()
	defer releaseCall(cl)
	evs, err := c.encodeEvents(cl, events)
	if err != nil {
		return WriteResult{}, err
	}
	m := codec.WriteEvents{EventStreamID: stream, ExpectedVersion: expectedVersion, Events: evs, RequireMaster: c.opts.RequireMaster}
	cl.payload = codec.AppendWriteEvents(cl.payload[:0], &m)
	if err := c.do(ctx, codec.WriteEventsCommand, cl, cl.payload); err != nil {
		return WriteResult{}, err
	}
	payload, err := decodeReply("append", cl, codec.WriteEventsCompletedCommand)
	if err != nil {
		return WriteResult{}, err
	}
	var r codec.WriteEventsCompleted
	if err := codec.DecodeWriteEventsCompleted(payload, &r); err != nil {
		return WriteResult{}, unexpected("append", err)
	}
	if r.Result != codec.OperationSuccess {
		return WriteResult{}, operationError(r.Result, stream, expectedVersion, r.CurrentVersion, "write")
	}
	return WriteResult{NextExpectedVersion: r.LastEventNumber, FirstEventNumber: r.FirstEventNumber,
		Position: Position{r.CommitPosition, r.PreparePosition}}, nil
}

// DeleteStream deletes stream: soft (recreatable) or hard (tombstone)
// (spec §4.8).
func (c *Client) DeleteStream(ctx context.Context, stream string, expectedVersion int64, hard bool) (DeleteResult, error) {
	if stream == "" {
		return DeleteResult{}, invalidArg("empty stream name")
	}
	cl := acquireCall()
	defer releaseCall(cl)
	m := codec.DeleteStream{EventStreamID: stream, ExpectedVersion: expectedVersion, RequireMaster: c.opts.RequireMaster, HardDelete: hard}
	cl.payload = codec.AppendDeleteStream(cl.payload[:0], &m)
	if err := c.do(ctx, codec.DeleteStreamCommand, cl, cl.payload); err != nil {
		return DeleteResult{}, err
	}
	payload, err := decodeReply("delete", cl, codec.DeleteStreamCompletedCommand)
	if err != nil {
		return DeleteResult{}, err
	}
	var r codec.DeleteStreamCompleted
	if err := codec.DecodeDeleteStreamCompleted(payload, &r); err != nil {
		return DeleteResult{}, unexpected("delete", err)
	}
	if r.Result != codec.OperationSuccess {
		// The delete reply carries no current version (spec §3.3).
		return DeleteResult{}, operationError(r.Result, stream, expectedVersion, -1, "delete")
	}
	return DeleteResult{Position: Position{r.CommitPosition, r.PreparePosition}}, nil
}

// ReadEvent reads one event (eventNumber -1: the last one).
func (c *Client) ReadEvent(ctx context.Context, stream string, eventNumber int64, resolveLinks bool) (EventReadResult, error) {
	if stream == "" {
		return EventReadResult{}, invalidArg("empty stream name")
	}
	if eventNumber < -1 {
		return EventReadResult{}, invalidArg("event number %d < -1", eventNumber)
	}
	cl := acquireCall()
	defer releaseCall(cl)
	m := codec.ReadEvent{EventStreamID: stream, EventNumber: eventNumber, ResolveLinkTos: resolveLinks, RequireMaster: c.opts.RequireMaster}
	cl.payload = codec.AppendReadEvent(cl.payload[:0], &m)
	if err := c.do(ctx, codec.ReadEventCommand, cl, cl.payload); err != nil {
		return EventReadResult{}, err
	}
	payload, err := decodeReply("read event", cl, codec.ReadEventCompletedCommand)
	if err != nil {
		return EventReadResult{}, err
	}
	var r codec.ReadEventCompleted
	if err := codec.DecodeReadEventCompleted(payload, &r); err != nil {
		return EventReadResult{}, unexpected("read event", err)
	}
	res := EventReadResult{Stream: stream, Number: eventNumber}
	switch r.Result {
	case codec.ReadEventSuccess:
		res.Status = ReadSuccess
		a := newArena(len(payload))
		ev := &ResolvedEvent{}
		if r.Event.HasEvent {
			ev.Event = a.record(&r.Event.Event, "")
		}
		if r.Event.HasLink {
			ev.Link = a.record(&r.Event.Link, "")
		}
		res.Event = ev
		if o := ev.OriginalEvent(); o != nil {
			res.Number = o.Number
		}
	case codec.ReadEventNotFound:
		res.Status = ReadNotFound
	case codec.ReadEventNoStream:
		res.Status = ReadNoStream
	case codec.ReadEventStreamDeleted:
		res.Status = ReadStreamDeleted
	case codec.ReadEventAccessDenied:
		return EventReadResult{}, &AccessDeniedError{Stream: stream, Operation: "read"}
	case codec.ReadEventError:
		return EventReadResult{}, &ServerError{Text: strings.Clone(r.Error)}
	default:
		return EventReadResult{}, unexpected("read event", r.Result)
	}
	return res, nil
}

// ReadStreamRaw reads one page of stream and passes the decoded reply to
// fn. The message and everything it points to are views into a buffer the
// client reuses: valid only until fn returns. This is the allocation-free
// path of the load tool; most callers want ReadStreamForward/Backward.
// Result values other than Success are passed to fn as they are.
func (c *Client) ReadStreamRaw(ctx context.Context, forward bool, stream string, from int64, count int, resolveLinks bool,
	fn func(*codec.ReadStreamEventsCompleted) error) error {
	if stream == "" {
		return invalidArg("empty stream name")
	}
	if count < 1 || count > MaxReadCount {
		return invalidArg("count %d out of range 1..%d", count, MaxReadCount)
	}
	cmd, want := codec.ReadStreamEventsForwardCommand, codec.ReadStreamEventsForwardCompletedCommand
	if !forward {
		cmd, want = codec.ReadStreamEventsBackwardCommand, codec.ReadStreamEventsBackwardCompletedCommand
	}
	cl := acquireCall()
	defer releaseCall(cl)
	m := codec.ReadStreamEvents{EventStreamID: stream, FromEventNumber: from, MaxCount: int32(count), ResolveLinkTos: resolveLinks, RequireMaster: c.opts.RequireMaster}
	cl.payload = codec.AppendReadStreamEvents(cl.payload[:0], &m)
	if err := c.do(ctx, cmd, cl, cl.payload); err != nil {
		return err
	}
	payload, err := decodeReply("read stream", cl, want)
	if err != nil {
		return err
	}
	r := &cl.readStream
	if err := codec.DecodeReadStreamEventsCompleted(payload, r); err != nil {
		return unexpected("read stream", err)
	}
	return fn(r)
}

// ReadStreamForward reads up to count events of stream from number from
// upwards.
func (c *Client) ReadStreamForward(ctx context.Context, stream string, from int64, count int, resolveLinks bool) (*StreamSlice, error) {
	return c.readStream(ctx, true, stream, from, count, resolveLinks)
}

// ReadStreamBackward reads up to count events of stream from number from
// (-1: the end) downwards.
func (c *Client) ReadStreamBackward(ctx context.Context, stream string, from int64, count int, resolveLinks bool) (*StreamSlice, error) {
	return c.readStream(ctx, false, stream, from, count, resolveLinks)
}

func (c *Client) readStream(ctx context.Context, forward bool, stream string, from int64, count int, resolve bool) (*StreamSlice, error) {
	var out *StreamSlice
	err := c.ReadStreamRaw(ctx, forward, stream, from, count, resolve, func(r *codec.ReadStreamEventsCompleted) error {
		s := &StreamSlice{Stream: stream, FromEventNumber: from, NextEventNumber: r.NextEventNumber,
			LastEventNumber: r.LastEventNumber, IsEndOfStream: r.IsEndOfStream}
		switch r.Result {
		case codec.ReadStreamSuccess:
			s.Status = ReadSuccess
		case codec.ReadStreamNoStream:
			s.Status = ReadNoStream
		case codec.ReadStreamStreamDeleted:
			s.Status = ReadStreamDeleted
		case codec.ReadStreamAccessDenied:
			return &AccessDeniedError{Stream: stream, Operation: "read"}
		case codec.ReadStreamError:
			return &ServerError{Text: strings.Clone(r.Error)}
		default:
			return unexpected("read stream", r.Result)
		}
		if len(r.Events) > 0 {
			size := 0
			for i := range r.Events {
				size += recordSize(&r.Events[i].Event) + recordSize(&r.Events[i].Link)
			}
			a := newArena(size)
			recs := make([]RecordedEvent, 0, 2*len(r.Events))
			s.Events = make([]ResolvedEvent, len(r.Events))
			for i := range r.Events {
				e := &r.Events[i]
				if e.HasEvent {
					recs = append(recs, RecordedEvent{})
					a.fill(&recs[len(recs)-1], &e.Event, stream)
					s.Events[i].Event = &recs[len(recs)-1]
				}
				if e.HasLink {
					recs = append(recs, RecordedEvent{})
					a.fill(&recs[len(recs)-1], &e.Link, stream)
					s.Events[i].Link = &recs[len(recs)-1]
				}
			}
		}
		out = s
		return nil
	})
	return out, err
}

// ReadAllRaw reads one page of $all and passes the decoded reply to fn
// (views valid only until fn returns, as for ReadStreamRaw).
func (c *Client) ReadAllRaw(ctx context.Context, forward bool, from Position, count int, resolveLinks bool,
	fn func(*codec.ReadAllEventsCompleted) error) error {
	if count < 1 || count > MaxReadCount {
		return invalidArg("count %d out of range 1..%d", count, MaxReadCount)
	}
	cmd, want := codec.ReadAllEventsForwardCommand, codec.ReadAllEventsForwardCompletedCommand
	if !forward {
		cmd, want = codec.ReadAllEventsBackwardCommand, codec.ReadAllEventsBackwardCompletedCommand
	}
	cl := acquireCall()
	defer releaseCall(cl)
	m := codec.ReadAllEvents{CommitPosition: from.Commit, PreparePosition: from.Prepare, MaxCount: int32(count), ResolveLinkTos: resolveLinks, RequireMaster: c.opts.RequireMaster}
	cl.payload = codec.AppendReadAllEvents(cl.payload[:0], &m)
	if err := c.do(ctx, cmd, cl, cl.payload); err != nil {
		return err
	}
	payload, err := decodeReply("read all", cl, want)
	if err != nil {
		return err
	}
	r := &cl.readAll
	if err := codec.DecodeReadAllEventsCompleted(payload, r); err != nil {
		return unexpected("read all", err)
	}
	return fn(r)
}

// ReadAllForward reads up to count events of $all from position from
// (inclusive). An empty page means the end of $all.
func (c *Client) ReadAllForward(ctx context.Context, from Position, count int, resolveLinks bool) (*AllSlice, error) {
	return c.readAll(ctx, true, from, count, resolveLinks)
}

// ReadAllBackward reads up to count events of $all below position from
// (PositionEnd: from the end).
func (c *Client) ReadAllBackward(ctx context.Context, from Position, count int, resolveLinks bool) (*AllSlice, error) {
	return c.readAll(ctx, false, from, count, resolveLinks)
}

func (c *Client) readAll(ctx context.Context, forward bool, from Position, count int, resolve bool) (*AllSlice, error) {
	var out *AllSlice
	err := c.ReadAllRaw(ctx, forward, from, count, resolve, func(r *codec.ReadAllEventsCompleted) error {
		switch r.Result {
		case codec.ReadAllSuccess:
		case codec.ReadAllAccessDenied:
			return &AccessDeniedError{Stream: "$all", Operation: "read"}
		case codec.ReadAllError:
			return &ServerError{Text: strings.Clone(r.Error)}
		default:
			return unexpected("read all", r.Result)
		}
		s := &AllSlice{From: Position{r.CommitPosition, r.PreparePosition}, Next: Position{r.NextCommitPosition, r.NextPreparePosition}}
		if len(r.Events) > 0 {
			size := 0
			for i := range r.Events {
				size += recordSize(&r.Events[i].Event) + recordSize(&r.Events[i].Link)
			}
			a := newArena(size)
			recs := make([]RecordedEvent, 0, 2*len(r.Events))
			s.Events = make([]ResolvedEvent, len(r.Events))
			for i := range r.Events {
				e := &r.Events[i]
				s.Events[i].Position = Position{e.CommitPosition, e.PreparePosition}
				if e.HasEvent {
					recs = append(recs, RecordedEvent{})
					a.fill(&recs[len(recs)-1], &e.Event, "")
					s.Events[i].Event = &recs[len(recs)-1]
				}
				if e.HasLink {
					recs = append(recs, RecordedEvent{})
					a.fill(&recs[len(recs)-1], &e.Link, "")
					s.Events[i].Link = &recs[len(recs)-1]
				}
			}
		}
		out = s
		return nil
	})
	return out, err
}

// MetastreamOf is the name of stream's metadata stream (spec §4.4).
func MetastreamOf(stream string) string { return "$$" + stream }

// SetStreamMetadataRaw writes metadata JSON for stream as a $metadata event
// of $$stream, checking expectedMetaVersion against the metastream.
func (c *Client) SetStreamMetadataRaw(ctx context.Context, stream string, expectedMetaVersion int64, metadataJSON []byte) (WriteResult, error) {
	if stream == "" {
		return WriteResult{}, invalidArg("empty stream name")
	}
	if strings.HasPrefix(stream, "$$") {
		return WriteResult{}, invalidArg("cannot set metadata of metastream %q", stream)
	}
	return c.AppendToStream(ctx, MetastreamOf(stream), expectedMetaVersion,
		EventData{ID: NewGUID(), Type: "$metadata", IsJSON: true, Data: metadataJSON})
}

// GetStreamMetadataRaw reads the metadata of stream: ReadEvent($$stream, -1)
// as the official clients do (spec §4.9).
func (c *Client) GetStreamMetadataRaw(ctx context.Context, stream string) (StreamMetadataResult, error) {
	if stream == "" {
		return StreamMetadataResult{}, invalidArg("empty stream name")
	}
	r, err := c.ReadEvent(ctx, MetastreamOf(stream), -1, false)
	if err != nil {
		return StreamMetadataResult{}, err
	}
	res := StreamMetadataResult{Stream: stream, MetaVersion: -1}
	switch r.Status {
	case ReadSuccess:
		if r.Event != nil && r.Event.Event != nil {
			res.MetaVersion = r.Event.Event.Number
			res.Data = r.Event.Event.Data
		}
	case ReadStreamDeleted:
		res.IsDeleted = true
		res.MetaVersion = 1<<63 - 1
	}
	return res, nil
}

// Transaction is an explicit transaction (spec §4.7). Its methods may be
// called from any goroutine, and it may be continued from another Client
// with ContinueTransaction.
type Transaction struct {
	c               *Client
	ID              int64
	Stream          string
	expectedVersion int64
}

// StartTransaction starts a transaction on stream; expectedVersion is
// checked at commit time.
func (c *Client) StartTransaction(ctx context.Context, stream string, expectedVersion int64) (*Transaction, error) {
	if stream == "" {
		return nil, invalidArg("empty stream name")
	}
	cl := acquireCall()
	defer releaseCall(cl)
	m := codec.TransactionStart{EventStreamID: stream, ExpectedVersion: expectedVersion, RequireMaster: c.opts.RequireMaster}
	cl.payload = codec.AppendTransactionStart(cl.payload[:0], &m)
	if err := c.do(ctx, codec.TransactionStartCommand, cl, cl.payload); err != nil {
		return nil, err
	}
	payload, err := decodeReply("start transaction", cl, codec.TransactionStartCompletedCommand)
	if err != nil {
		return nil, err
	}
	var r codec.TransactionStartCompleted
	if err := codec.DecodeTransactionStartCompleted(payload, &r); err != nil {
		return nil, unexpected("start transaction", err)
	}
	if r.Result != codec.OperationSuccess {
		return nil, operationError(r.Result, stream, expectedVersion, -1, "write")
	}
	return &Transaction{c: c, ID: r.TransactionID, Stream: stream, expectedVersion: expectedVersion}, nil
}

// ContinueTransaction returns a handle on a transaction started elsewhere
// (purely client-side, as in the official clients).
func (c *Client) ContinueTransaction(id int64, stream string) *Transaction {
	return &Transaction{c: c, ID: id, Stream: stream, expectedVersion: ExpectedAny}
}

// Write adds events to the transaction; they become visible on Commit.
func (t *Transaction) Write(ctx context.Context, events ...EventData) error {
	cl := acquireCall()
	defer releaseCall(cl)
	evs, err := t.c.encodeEvents(cl, events)
	if err != nil {
		return err
	}
	m := codec.TransactionWrite{TransactionID: t.ID, Events: evs, RequireMaster: t.c.opts.RequireMaster}
	cl.payload = codec.AppendTransactionWrite(cl.payload[:0], &m)
	if err := t.c.do(ctx, codec.TransactionWriteCommand, cl, cl.payload); err != nil {
		return err
	}
	payload, err := decodeReply("transaction write", cl, codec.TransactionWriteCompletedCommand)
	if err != nil {
		return err
	}
	var r codec.TransactionWriteCompleted
	if err := codec.DecodeTransactionWriteCompleted(payload, &r); err != nil {
		return unexpected("transaction write", err)
	}
	if r.Result != codec.OperationSuccess {
		return operationError(r.Result, t.Stream, t.expectedVersion, -1, "write")
	}
	return nil
}

// Commit commits the transaction, applying the expected version given at
// start.
func (t *Transaction) Commit(ctx context.Context) (WriteResult, error) {
	cl := acquireCall()
	defer releaseCall(cl)
	m := codec.TransactionCommit{TransactionID: t.ID, RequireMaster: t.c.opts.RequireMaster}
	cl.payload = codec.AppendTransactionCommit(cl.payload[:0], &m)
	if err := t.c.do(ctx, codec.TransactionCommitCommand, cl, cl.payload); err != nil {
		return WriteResult{}, err
	}
	payload, err := decodeReply("transaction commit", cl, codec.TransactionCommitCompletedCommand)
	if err != nil {
		return WriteResult{}, err
	}
	var r codec.TransactionCommitCompleted
	if err := codec.DecodeTransactionCommitCompleted(payload, &r); err != nil {
		return WriteResult{}, unexpected("transaction commit", err)
	}
	if r.Result != codec.OperationSuccess {
		return WriteResult{}, operationError(r.Result, t.Stream, t.expectedVersion, -1, "write")
	}
	return WriteResult{NextExpectedVersion: r.LastEventNumber, FirstEventNumber: r.FirstEventNumber,
		Position: Position{r.CommitPosition, r.PreparePosition}}, nil
}

// Ping sends a Ping and waits for the Pong.
func (c *Client) Ping(ctx context.Context) error {
	cl := acquireCall()
	defer releaseCall(cl)
	if err := c.do(ctx, codec.Ping, cl, nil); err != nil {
		return err
	}
	if cl.cmd != codec.Pong {
		return replyError("ping", cl)
	}
	return nil
}

// arena copies the variable-length parts of decoded records into one
// allocation, so a page of events costs a handful of allocations instead
// of several per event. Strings point into the arena, which is never
// written again once a piece is handed out.
type arena struct{ buf []byte }

func newArena(size int) *arena { return &arena{buf: make([]byte, 0, size)} }

func (a *arena) bytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return a.buf[start:len(a.buf):len(a.buf)]
}

func (a *arena) str(s string) string {
	if s == "" {
		return ""
	}
	start := len(a.buf)
	a.buf = append(a.buf, s...)
	// NB: safe because the arena's bytes are never modified after append
	// and the arena was sized up front, so append never reallocates.
	return unsafe.String(&a.buf[start], len(s))
}

func recordSize(r *codec.EventRecord) int {
	return len(r.EventStreamID) + len(r.EventType) + len(r.Data) + len(r.Metadata)
}

func (a *arena) record(r *codec.EventRecord, stream string) *RecordedEvent {
	if cap(a.buf)-len(a.buf) < recordSize(r) {
		a.buf = make([]byte, 0, recordSize(r))
	}
	out := &RecordedEvent{}
	a.fill(out, r, stream)
	return out
}

// fill copies r into out. When r's stream equals stream, the caller's
// string is shared instead of copied.
func (a *arena) fill(out *RecordedEvent, r *codec.EventRecord, stream string) {
	if r.EventStreamID == stream {
		out.Stream = stream
	} else {
		out.Stream = a.str(r.EventStreamID)
	}
	out.Number = r.EventNumber
	copy(out.ID[:], r.EventID)
	out.Type = a.str(r.EventType)
	out.IsJSON = r.DataContentType == 1
	out.Data = a.bytes(r.Data)
	out.Metadata = a.bytes(r.Metadata)
	out.Created = createdTime(r)
}
