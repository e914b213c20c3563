package index

// Metrics are the index's counters and gauges for /stats and Prometheus.
type Metrics struct {
	// Gauges.
	MemTableEntries int64 // active memtable
	FrozenMemTables int64 // waiting to be written
	FrozenEntries   int64
	Tables          int64
	TableEntries    int64
	TableBytes      int64
	CheckpointPos   int64
	// Counters since Open.
	Flushes         int64
	Merges          int64
	TablesRemoved   int64
	AddBlocked      int64 // times the feeder waited for a flush
	MergesPeak      int64 // most merges that ran at once
	BackgroundError bool
}

// UpdateMetrics fills m from the current state without blocking the feeder
// or the background work. Safe from any goroutine.
func (ix *Index) UpdateMetrics(m *Metrics) {
	v := ix.acquire()
	defer v.release()
	m.MemTableEntries = int64(v.mem.len())
	m.FrozenMemTables = int64(len(v.frozen))
	m.FrozenEntries = 0
	for _, f := range v.frozen {
		m.FrozenEntries += int64(f.len())
	}
	m.Tables = int64(len(v.tables))
	m.TableEntries, m.TableBytes = 0, 0
	for _, t := range v.tables {
		m.TableEntries += int64(t.count)
		m.TableBytes += t.sizeB
	}
	m.CheckpointPos = ix.ckpt.Load()
	m.Flushes = ix.stats.flushes.Load()
	m.Merges = ix.stats.merges.Load()
	m.TablesRemoved = ix.stats.removed.Load()
	m.AddBlocked = ix.stats.addBlocked.Load()
	m.MergesPeak = ix.stats.mergesPeak.Load()
	m.BackgroundError = ix.failed.Load() != nil
}
