package client

import (
	"context"
	"errors"
	"strconv"

	"github.com/eventstored/eventstored/codec"
)

// Persistent subscriptions (spec tcp-client-protocol §3.6, §5).

// Errors of the persistent subscription management calls.
var (
	ErrGroupExists   = errors.New("persistent subscription group already exists")
	ErrGroupNotFound = errors.New("persistent subscription group does not exist")
)

// PersistentSettings are a group's settings; DefaultPersistentSettings
// gives the .NET client's defaults (spec §5.2).
type PersistentSettings struct {
	ResolveLinkTos        bool
	StartFrom             int64 // -1: only new events
	MessageTimeoutMs      int32
	MaxRetryCount         int32
	LiveBufferSize        int32
	ReadBatchSize         int32
	HistoryBufferSize     int32
	CheckPointAfterMs     int32
	MinCheckPointCount    int32
	MaxCheckPointCount    int32
	MaxSubscriberCount    int32
	NamedConsumerStrategy string // RoundRobin, DispatchToSingle, Pinned
}

// DefaultPersistentSettings returns the .NET client's defaults.
func DefaultPersistentSettings() PersistentSettings {
	return PersistentSettings{StartFrom: -1, MessageTimeoutMs: 30000, MaxRetryCount: 10, LiveBufferSize: 500,
		ReadBatchSize: 20, HistoryBufferSize: 500, CheckPointAfterMs: 2000, MinCheckPointCount: 10,
		MaxCheckPointCount: 1000, NamedConsumerStrategy: "RoundRobin"}
}

// CreatePersistentSubscription creates group on stream.
func (c *Client) CreatePersistentSubscription(ctx context.Context, stream, group string, s PersistentSettings) error {
	return c.managePersistent(ctx, codec.CreatePersistentSubscriptionCommand, stream, group, &s)
}

// UpdatePersistentSubscription changes a group's settings (its consumers
// are dropped).
func (c *Client) UpdatePersistentSubscription(ctx context.Context, stream, group string, s PersistentSettings) error {
	return c.managePersistent(ctx, codec.UpdatePersistentSubscriptionCommand, stream, group, &s)
}

// DeletePersistentSubscription deletes a group.
func (c *Client) DeletePersistentSubscription(ctx context.Context, stream, group string) error {
	return c.managePersistent(ctx, codec.DeletePersistentSubscriptionCommand, stream, group, nil)
}

func (c *Client) managePersistent(ctx context.Context, cmd codec.Command, stream, group string, s *PersistentSettings) error {
	cl := acquireCall()
	defer releaseCall(cl)
	if s != nil {
		m := codec.CreatePersistentSubscription{SubscriptionGroupName: group, EventStreamID: stream,
			ResolveLinkTos: s.ResolveLinkTos, StartFrom: s.StartFrom, MessageTimeoutMilliseconds: s.MessageTimeoutMs,
			LiveBufferSize: s.LiveBufferSize, ReadBatchSize: s.ReadBatchSize, BufferSize: s.HistoryBufferSize,
			MaxRetryCount: s.MaxRetryCount, PreferRoundRobin: s.NamedConsumerStrategy == "RoundRobin",
			CheckpointAfterTime: s.CheckPointAfterMs, CheckpointMaxCount: s.MaxCheckPointCount,
			CheckpointMinCount: s.MinCheckPointCount, SubscriberMaxCount: s.MaxSubscriberCount,
			NamedConsumerStrategy: s.NamedConsumerStrategy}
		cl.payload = codec.AppendCreatePersistentSubscription(cl.payload[:0], &m)
	} else {
		m := codec.DeletePersistentSubscription{SubscriptionGroupName: group, EventStreamID: stream}
		cl.payload = codec.AppendDeletePersistentSubscription(cl.payload[:0], &m)
	}
	if err := c.do(ctx, cmd, cl, cl.payload); err != nil {
		return err
	}
	var res int32
	var reason string
	switch cl.cmd {
	case codec.CreatePersistentSubscriptionCompletedCommand:
		var m codec.CreatePersistentSubscriptionCompleted
		if err := codec.DecodeCreatePersistentSubscriptionCompleted(replyPayload(cl), &m); err != nil {
			return unexpected(cmd.String(), err)
		}
		res, reason = int32(m.Result), m.Reason
	case codec.UpdatePersistentSubscriptionCompletedCommand:
		var m codec.UpdatePersistentSubscriptionCompleted
		if err := codec.DecodeUpdatePersistentSubscriptionCompleted(replyPayload(cl), &m); err != nil {
			return unexpected(cmd.String(), err)
		}
		res, reason = int32(m.Result), m.Reason
	case codec.DeletePersistentSubscriptionCompletedCommand:
		var m codec.DeletePersistentSubscriptionCompleted
		if err := codec.DecodeDeletePersistentSubscriptionCompleted(replyPayload(cl), &m); err != nil {
			return unexpected(cmd.String(), err)
		}
		res, reason = int32(m.Result), m.Reason
	default:
		return replyError(cmd.String(), cl)
	}
	// Result values: 0 Success, 1 AlreadyExists / DoesNotExist, 2 Fail,
	// 3 AccessDenied (spec §3.8).
	switch res {
	case 0:
		return nil
	case 1:
		if cmd == codec.CreatePersistentSubscriptionCommand {
			return ErrGroupExists
		}
		return ErrGroupNotFound
	case 3:
		return &AccessDeniedError{Stream: stream, Operation: "persistent subscription"}
	}
	return errors.New(cmd.String() + " failed: " + reason)
}

// PersistentSubscription is a connected consumer of a group. onEvent runs
// on the connection's reader goroutine (quick, no synchronous client
// calls; Ack and Nak are fine).
type PersistentSubscription struct {
	*Subscription
	groupID string
}

// ConnectToPersistentSubscription joins group on stream with up to
// bufferSize unacknowledged events in flight. onEvent gets each event and
// its retry count; the event is only valid during the call.
func (c *Client) ConnectToPersistentSubscription(ctx context.Context, stream, group string, bufferSize int,
	onEvent func(p *PersistentSubscription, e *codec.ResolvedIndexedEvent, retryCount int), onDrop func(error)) (*PersistentSubscription, error) {
	if onEvent == nil || bufferSize < 0 {
		return nil, &kindError{"invalid argument", errors.New("onEvent is nil or bufferSize is negative")}
	}
	// The group id is known before the confirmation, so events pushed
	// right after it can be acked at once.
	ps := &PersistentSubscription{groupID: stream + "::" + group}
	m := codec.ConnectToPersistentSubscription{SubscriptionID: group, EventStreamID: stream, AllowedInFlightMessages: int32(bufferSize)}
	sub, cl, err := c.startSubscription(ctx, codec.ConnectToPersistentSubscriptionCommand,
		codec.AppendConnectToPersistentSubscription(nil, &m), func(sub *Subscription) {
			ps.Subscription = sub
			sub.onPersistent = func(ev *codec.PersistentSubscriptionStreamEventAppeared) {
				onEvent(ps, &ev.Event, int(ev.RetryCount))
			}
		}, onDrop)
	if err != nil {
		return nil, err
	}
	defer func() { cl.fixedID = false; releaseCall(cl) }()
	switch cl.cmd {
	case codec.PersistentSubscriptionConfirmationCommand:
		var conf codec.PersistentSubscriptionConfirmation
		if err := codec.DecodePersistentSubscriptionConfirmation(replyPayload(cl), &conf); err != nil {
			sub.remove()
			return nil, unexpected("ConnectToPersistentSubscription", err)
		}
		sub.LastCommitPosition, sub.LastEventNumber = conf.LastCommitPosition, conf.LastEventNumber
		return ps, nil
	case codec.SubscriptionDroppedCommand:
		sub.remove()
		var d codec.SubscriptionDropped
		_ = codec.DecodeSubscriptionDropped(replyPayload(cl), &d)
		switch d.Reason {
		case codec.DropAccessDenied:
			return nil, &AccessDeniedError{Stream: stream, Operation: "persistent subscription"}
		case codec.DropNotFound:
			return nil, ErrGroupNotFound
		}
		return nil, errors.New("persistent subscription dropped: reason " + strconv.Itoa(int(d.Reason)))
	}
	sub.remove()
	return nil, replyError("ConnectToPersistentSubscription", cl)
}

// Ack acknowledges events by the id of their original record.
func (p *PersistentSubscription) Ack(ids ...GUID) error {
	m := codec.PersistentSubscriptionAckEvents{SubscriptionID: p.groupID, ProcessedEventIDs: guidBytes(ids)}
	return p.cn.send(codec.PersistentSubscriptionAckEventsCommand, &p.id, nil,
		codec.AppendPersistentSubscriptionAckEvents(nil, &m), false)
}

// Nak rejects events with action (park, retry, skip, stop).
func (p *PersistentSubscription) Nak(action codec.NakAction, reason string, ids ...GUID) error {
	m := codec.PersistentSubscriptionNakEvents{SubscriptionID: p.groupID, ProcessedEventIDs: guidBytes(ids),
		Message: reason, Action: action}
	return p.cn.send(codec.PersistentSubscriptionNakEventsCommand, &p.id, nil,
		codec.AppendPersistentSubscriptionNakEvents(nil, &m), false)
}

func guidBytes(ids []GUID) [][]byte {
	out := make([][]byte, len(ids))
	for i := range ids {
		out[i] = ids[i][:]
	}
	return out
}
