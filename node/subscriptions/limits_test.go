package subscriptions

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventstored/eventstored/store"
)

// failingDB fails the first n checkpoint writes (Submit refuses them, as
// a full writer queue would).
type failingDB struct {
	*store.DB
	failCheckpoints atomic.Int32
	failed          atomic.Int32
}

func (f *failingDB) Submit(op *store.Op) error {
	if strings.HasSuffix(op.Stream, "-checkpoint") && f.failCheckpoints.Add(-1) >= 0 {
		f.failed.Add(1)
		return store.ErrTooBusy
	}
	return f.DB.Submit(op)
}

func TestPersistentFailedCheckpointWritesAreRetried(t *testing.T) {
	db := openDB(t)
	fdb := &failingDB{DB: db}
	fdb.failCheckpoints.Store(3)
	clk := &fakeClock{t: time.Unix(1000, 0)}
	ps := NewPersistent(PersistentOptions{DB: fdb, Logger: quietLogger(), Clock: clk, TickInterval: -1})
	if err := ps.Start(); err != nil {
		t.Fatal(err)
	}
	defer ps.Stop()
	writeN(t, db, "cpf", 5)
	c := cfg("cpf", "g", StrategyRoundRobin)
	c.MaxCheckPointCount = 100 // only the timer checkpoints
	c.CheckPointAfterMs = 1000
	c.MinCheckPointCount = 1
	mustDo(t, func(r func(error)) { ps.Create(c, r) })
	a := newConsumer("a")
	ps.Connect("cpf", "g", 10, a, a)
	ps.Ack("cpf::g", a, ids(a.take(t, 5)...))
	deadline := time.Now().Add(10 * time.Second)
	for groupInfo(t, ps, "cpf::g").LastCheckpoint != 4 && time.Now().Before(deadline) {
		clk.Add(time.Second)
		ps.Tick()
		time.Sleep(time.Millisecond)
	}
	if cp := groupInfo(t, ps, "cpf::g").LastCheckpoint; cp != 4 || fdb.failed.Load() != 3 {
		t.Fatalf("checkpoint %d after %d failed writes; want 4 after 3", cp, fdb.failed.Load())
	}
	// The group kept delivering meanwhile.
	writeN(t, db, "cpf", 1)
	if m := a.take(t, 1)[0]; m.Number != 5 {
		t.Fatalf("got #%d", m.Number)
	}
}

func TestPersistentGroupLimitAndBusyInbox(t *testing.T) {
	db := openDB(t)
	clk := &fakeClock{t: time.Unix(1000, 0)}
	ps := NewPersistent(PersistentOptions{DB: db, Logger: quietLogger(), Clock: clk, TickInterval: -1, GroupsMax: 1, InboxMax: 1})
	if err := ps.Start(); err != nil {
		t.Fatal(err)
	}
	defer ps.Stop()
	if err := mustDo(t, func(r func(error)) { ps.Create(cfg("a", "g", StrategyRoundRobin), r) }); err != nil {
		t.Fatal(err)
	}
	if err := mustDo(t, func(r func(error)) { ps.Create(cfg("b", "g", StrategyRoundRobin), r) }); !errors.Is(err, ErrTooManyGroups) {
		t.Fatalf("second group: %v", err)
	}
	// Hold the goroutine, fill the one-slot inbox: the next call is ErrBusy.
	hold, held := make(chan struct{}), make(chan struct{})
	ps.post(func() { close(held); <-hold })
	<-held
	ps.post(func() {})
	if err := mustDo(t, func(r func(error)) { ps.Delete("a", "g", r) }); !errors.Is(err, ErrBusy) {
		t.Fatalf("full inbox: %v", err)
	}
	close(hold)
}
