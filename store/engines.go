package store

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/eventstored/eventstored/store/index"
	"github.com/eventstored/eventstored/store/tlog"
	"github.com/eventstored/eventstored/store/vfs"
)

// On-disk layout under Options.Dir (names owned by tlog and index):
//
//	<dir>/              chunks, checkpoints and the directory lock (store/tlog)
//	<dir>/index/        ptables and the index map (store/index)
const indexDirName = "index"

// tlogEngine adapts *tlog.Log to logEngine.
type tlogEngine struct{ *tlog.Log }

// errRecordTooLarge is an append refused because one record does not fit a
// chunk (only with tiny test chunk sizes; validation bounds events below).
var errRecordTooLarge = fmt.Errorf("%w: the record does not fit in a chunk", ErrBadRequest)

// Append maps the log's non-final refusals to the store's sentinels.
func (e tlogEngine) Append(payload []byte) (int64, error) {
	pos, err := e.Log.Append(payload)
	if err != nil {
		switch {
		case errors.Is(err, tlog.ErrDiskFull):
			return 0, fmt.Errorf("%w: %w", ErrDiskFull, err)
		case errors.Is(err, tlog.ErrRecordTooLarge):
			return 0, fmt.Errorf("%w: %w", errRecordTooLarge, err)
		}
	}
	return pos, err
}

func (e tlogEngine) NewIterator(from int64) logIterator { return e.Log.NewIterator(from) }
func (e tlogEngine) NewBackwardIterator(from int64) logIterator {
	return e.Log.NewBackwardIterator(from)
}
func (e tlogEngine) Chunks() int { return e.Log.Stats().Chunks }

// indexEngine adapts *index.Index to streamIndex.
type indexEngine struct{ *index.Index }

// openEngines opens the log and the index and recovers.
func (db *DB) openEngines() error {
	fsys, _ := db.opts.FS.(vfs.FS)
	dir := db.opts.Dir
	if db.opts.FS != nil && fsys == nil {
		return fmt.Errorf("store: Options.FS is a %T, not a vfs.FS", db.opts.FS)
	}
	switch {
	case fsys != nil:
	case db.opts.MemDB:
		fsys = vfs.NewMemUntracked()
	default:
		fsys = vfs.Default
	}
	ixFS := fsys
	if dir == "" {
		if !db.opts.MemDB {
			return errors.New("store: Options.Dir is empty")
		}
		dir = "/memdb"
	}
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("store: create %s: %w", dir, err)
	}
	var l logEngine
	if db.opts.testLog != nil {
		l = db.opts.testLog
	} else {
		tl, err := tlog.Open(tlog.Options{FS: fsys, Dir: dir, ChunkSizeBytes: db.opts.ChunkSizeBytes, Logger: db.logger,
			UnsafeDisableFlushToDisk: db.opts.UnsafeDisableFlushToDisk, SkipVerify: db.opts.SkipVerify})
		if err != nil {
			return fmt.Errorf("store: open the log: %w", err)
		}
		l = tlogEngine{tl}
	}
	db.log = l
	ixOpts := index.Options{FS: ixFS, Dir: filepath.Join(dir, indexDirName), MemTableMaxEntries: db.opts.IndexMemTableMax, Logger: db.logger}
	ix, err := index.Open(ixOpts)
	if err == nil && ix.CheckpointPos() > l.Durable() {
		// The index covers records the log no longer has (the log was cut
		// back): it cannot be trusted.
		ix.Close()
		err = fmt.Errorf("%w: index checkpoint %d is beyond the log's end %d", index.ErrCorrupt, ix.CheckpointPos(), l.Durable())
	}
	if err != nil {
		if !errors.Is(err, index.ErrCorrupt) {
			l.Close()
			return fmt.Errorf("store: open the index: %w", err)
		}
		db.logger.Warn("store: the index is unusable; rebuilding it from the log", "err", err)
		if rerr := index.Reset(ixFS, ixOpts.Dir); rerr != nil {
			l.Close()
			return fmt.Errorf("store: reset the index: %w", rerr)
		}
		if ix, err = index.Open(ixOpts); err != nil {
			l.Close()
			return fmt.Errorf("store: reopen the index: %w", err)
		}
	}
	db.ix = indexEngine{ix}
	if err := db.recover(); err != nil {
		ix.Close()
		l.Close()
		return err
	}
	return nil
}

// isEnd reports a read at or past the durable end.
func isEnd(err error) bool { return errors.Is(err, io.EOF) }

// indexAddBatchMax bounds one index.Add (the index refuses larger batches).
var indexAddBatchMax = index.MaxAddBatchEntries

// indexAdd hands entries (in log order) to the index in batches it accepts.
// A partial batch claims to cover the log only up to the first entry not yet
// added, so the index's persisted checkpoint never skips an entry.
func (db *DB) indexAdd(entries []indexEntry, upTo int64) error {
	for len(entries) > indexAddBatchMax {
		k := indexAddBatchMax
		if err := db.ix.Add(entries[:k], entries[k].Pos); err != nil {
			return err
		}
		entries = entries[k:]
	}
	return db.ix.Add(entries, upTo)
}
