package auth

import (
	"context"
	"strings"
	"sync"

	"github.com/eventstored/eventstored/store"
)

// NewDBBackend adapts an open store to Backend. Reads borrow a store
// reader from a pool and copy what they return, since a reader's results
// are valid only until its next call.
func NewDBBackend(db *store.DB) Backend {
	b := &dbBackend{db: db}
	b.readers.New = func() any { return db.NewReader() }
	return b
}

type dbBackend struct {
	db      *store.DB
	readers sync.Pool
}

func (b *dbBackend) Do(ctx context.Context, op *store.Op) error { return b.db.Do(ctx, op) }

func (b *dbBackend) StreamMetadata(stream string) (store.StreamMetadata, int64, bool) {
	return b.db.StreamMetadata(stream)
}

// StreamMetadataCached implements CachedMetadataBackend.
func (b *dbBackend) StreamMetadataCached(stream string) (store.StreamMetadata, int64, bool, bool) {
	return b.db.StreamMetadataCached(stream)
}

func copyRecord(r store.EventRecord) store.EventRecord {
	r.Stream = strings.Clone(r.Stream)
	r.Type = strings.Clone(r.Type)
	r.Data = append([]byte(nil), r.Data...)
	r.Metadata = append([]byte(nil), r.Metadata...)
	return r
}

func (b *dbBackend) ReadLast(stream string) (store.ReadStatus, store.EventRecord, error) {
	rd := b.readers.Get().(*store.Reader)
	defer b.readers.Put(rd)
	st, ev := rd.ReadEvent(stream, -1, false)
	if st != store.ReadSuccess || ev == nil || !ev.HasEvent {
		if st == store.ReadSuccess {
			st = store.ReadNoStream
		}
		return st, store.EventRecord{}, nil
	}
	return st, copyRecord(ev.Event), nil
}

func (b *dbBackend) ReadStreamForward(stream string, from int64, max int) (*store.StreamSlice, error) {
	rd := b.readers.Get().(*store.Reader)
	defer b.readers.Put(rd)
	sl := rd.ReadStreamForward(stream, from, max, false)
	out := *sl
	out.Events = make([]store.ResolvedEvent, len(sl.Events))
	for i, e := range sl.Events {
		out.Events[i] = store.ResolvedEvent{Event: copyRecord(e.Event), HasEvent: e.HasEvent, Pos: e.Pos}
	}
	return &out, nil
}

// OnCommitted implements CommitNotifier.
func (b *dbBackend) OnCommitted(fn func(last store.Position)) { b.db.OnCommitted(fn) }
