package consensus

import (
	"context"
	"fmt"
	"log/slog"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// MemDisk is a Disk in memory: the simulation's disk, which survives a
// simulated crash of its node (what Save returned from is durable). Fail
// makes every later Save fail, as a dying disk would.
type MemDisk struct {
	*raft.MemoryStorage
	Fail error
	// Saves counts Save calls (one fsync each).
	Saves int
}

// NewMemDisk returns an empty disk.
func NewMemDisk() *MemDisk { return &MemDisk{MemoryStorage: raft.NewMemoryStorage()} }

// Bootstrap records the initial membership of an empty disk.
func (d *MemDisk) Bootstrap(voters, learners []uint64) error {
	return Bootstrap(d.MemoryStorage, voters, learners)
}

// Save appends ents and records hs.
func (d *MemDisk) Save(hs *pb.HardState, ents []*pb.Entry) error {
	if d.Fail != nil {
		return d.Fail
	}
	d.Saves++
	if len(ents) > 0 {
		if err := d.Append(ents); err != nil {
			return err
		}
	}
	if hs != nil {
		return d.SetHardState(hs)
	}
	return nil
}

// raftLogger sends raft's own log lines to slog: warnings and errors at
// their level, the chatty rest at debug. Fatal and Panic panic, as raft
// expects (they mark broken invariants).
type raftLogger struct{ l *slog.Logger }

func (r raftLogger) out(lv slog.Level, msg string) {
	if r.l.Enabled(context.Background(), lv) {
		r.l.Log(context.Background(), lv, "raft: "+msg)
	}
}
func (r raftLogger) Debug(v ...any)              { r.out(slog.LevelDebug, fmt.Sprint(v...)) }
func (r raftLogger) Debugf(f string, v ...any)   { r.out(slog.LevelDebug, fmt.Sprintf(f, v...)) }
func (r raftLogger) Info(v ...any)               { r.out(slog.LevelDebug, fmt.Sprint(v...)) }
func (r raftLogger) Infof(f string, v ...any)    { r.out(slog.LevelDebug, fmt.Sprintf(f, v...)) }
func (r raftLogger) Warning(v ...any)            { r.out(slog.LevelWarn, fmt.Sprint(v...)) }
func (r raftLogger) Warningf(f string, v ...any) { r.out(slog.LevelWarn, fmt.Sprintf(f, v...)) }
func (r raftLogger) Error(v ...any)              { r.out(slog.LevelError, fmt.Sprint(v...)) }
func (r raftLogger) Errorf(f string, v ...any)   { r.out(slog.LevelError, fmt.Sprintf(f, v...)) }
func (r raftLogger) Fatal(v ...any)              { panic(fmt.Sprint(v...)) }
func (r raftLogger) Fatalf(f string, v ...any)   { panic(fmt.Sprintf(f, v...)) }
func (r raftLogger) Panic(v ...any)              { panic(fmt.Sprint(v...)) }
func (r raftLogger) Panicf(f string, v ...any)   { panic(fmt.Sprintf(f, v...)) }
