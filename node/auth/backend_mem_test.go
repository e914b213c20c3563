package auth

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventstored/eventstored/store"
)

// memBackend is a small in-memory Backend behind the auth seam: enough
// stream semantics (expected version, soft delete) for user management.
// The real store is exercised through NewDBBackend in the TCP interop
// tests.
type memBackend struct {
	mu      sync.Mutex
	streams map[string][]store.EventRecord
	deleted map[string]bool
	meta    map[string]store.StreamMetadata
	reads   atomic.Int64
	// readHook, when set, runs after ReadLast has read (outside the lock).
	readHook func(stream string)

	commitMu  sync.Mutex
	committed []func(store.Position)
}

// OnCommitted implements CommitNotifier: fn runs after every successful
// Do, as the store's committer calls it after a commit.
func (b *memBackend) OnCommitted(fn func(store.Position)) {
	b.commitMu.Lock()
	b.committed = append(b.committed, fn)
	b.commitMu.Unlock()
}

func (b *memBackend) announce() {
	b.commitMu.Lock()
	fns := append([]func(store.Position){}, b.committed...)
	b.commitMu.Unlock()
	for _, fn := range fns {
		fn(store.Position{})
	}
}

func newMemBackend() *memBackend {
	return &memBackend{streams: map[string][]store.EventRecord{}, deleted: map[string]bool{}, meta: map[string]store.StreamMetadata{}}
}

func (b *memBackend) Do(ctx context.Context, op *store.Op) error {
	defer b.announce()
	b.mu.Lock()
	defer b.mu.Unlock()
	evs := b.streams[op.Stream]
	cur := int64(len(evs)) - 1
	switch op.Kind {
	case store.OpWrite:
		ok := op.ExpectedVersion == store.ExpectedVersionAny || op.ExpectedVersion == cur ||
			(op.ExpectedVersion == store.ExpectedVersionNoStream && (cur == -1 || b.deleted[op.Stream]))
		if !ok {
			op.Result = store.OpResult{Status: store.OpWrongExpectedVersion, CurrentVersion: cur}
			return nil
		}
		delete(b.deleted, op.Stream)
		for _, e := range op.Events {
			cur++
			b.streams[op.Stream] = append(b.streams[op.Stream], store.EventRecord{Stream: op.Stream, Number: cur, ID: e.ID,
				Type: e.Type, IsJSON: e.IsJSON, Data: append([]byte(nil), e.Data...), CreatedUnixNano: time.Now().UnixNano()})
		}
		op.Result = store.OpResult{Status: store.OpSuccess, LastEventNumber: cur}
	case store.OpDelete:
		if op.ExpectedVersion != store.ExpectedVersionAny && op.ExpectedVersion != cur {
			op.Result = store.OpResult{Status: store.OpWrongExpectedVersion, CurrentVersion: cur}
			return nil
		}
		b.deleted[op.Stream] = true
		op.Result = store.OpResult{Status: store.OpSuccess}
	}
	return nil
}

func (b *memBackend) ReadLast(stream string) (store.ReadStatus, store.EventRecord, error) {
	b.reads.Add(1)
	if h := b.readHook; h != nil {
		defer h(stream)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	evs := b.streams[stream]
	if len(evs) == 0 || b.deleted[stream] {
		return store.ReadNoStream, store.EventRecord{}, nil
	}
	return store.ReadSuccess, evs[len(evs)-1], nil
}

func (b *memBackend) ReadStreamForward(stream string, from int64, max int) (*store.StreamSlice, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	evs := b.streams[stream]
	if len(evs) == 0 || b.deleted[stream] {
		return &store.StreamSlice{Status: store.ReadNoStream, NextEventNumber: -1, IsEndOfStream: true}, nil
	}
	sl := &store.StreamSlice{Status: store.ReadSuccess, LastEventNumber: int64(len(evs)) - 1}
	for i := from; i < int64(len(evs)) && len(sl.Events) < max; i++ {
		sl.Events = append(sl.Events, store.ResolvedEvent{Event: evs[i], HasEvent: true})
	}
	sl.NextEventNumber = from + int64(len(sl.Events))
	sl.IsEndOfStream = sl.NextEventNumber >= int64(len(evs))
	return sl, nil
}

func (b *memBackend) StreamMetadata(stream string) (store.StreamMetadata, int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	md, ok := b.meta[stream]
	return md, 0, ok
}

func (b *memBackend) setACL(stream string, acl *store.StreamACL) {
	b.mu.Lock()
	b.meta[stream] = store.StreamMetadata{ACL: acl, TruncateBefore: -1}
	b.mu.Unlock()
}
