package httpfront

import (
	"github.com/eventstored/eventstored/store"
)

// FromDB adapts *store.DB to the Store seam and returns the matching
// StoreFigures func for Deps.
func FromDB(db *store.DB) (Store, func() StoreFigures) {
	a := dbStore{db}
	return a, a.figures
}

type dbStore struct{ *store.DB }

func (a dbStore) NewReader() StoreReader { return a.DB.NewReader() }

func (a dbStore) figures() StoreFigures {
	s := a.DB.Stats()
	bounds := store.FsyncLatencyBoundsNs
	return StoreFigures{
		QueueLen: s.QueueLen, QueueMax: s.QueueMax,
		EventsWritten: s.EventsWritten, BytesWritten: s.BytesWritten, Fsyncs: s.Fsyncs,
		FsyncBoundsNs: bounds[:], FsyncBuckets: s.FsyncLatencyBuckets[:],
		LastCommitPosition: s.LastCommitPosition, DurablePosition: s.DurablePosition,
		ChunkCount: s.ChunkCount, WriterFailed: s.WriterErr != nil,
	}
}
