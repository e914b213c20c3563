package tcpsvc

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/node/auth"
	"github.com/eventstored/eventstored/store"
	"github.com/eventstored/eventstored/store/vfs"
)

// gatedFS is the store's filesystem seam with a gate on reads: while
// blocked, every ReadAt waits until the gate opens. Its files do not offer
// mapping (vfs.Mappable), so the log reads through ReadAt.
type gatedFS struct {
	vfs.FS
	blocked atomic.Bool
	waiting atomic.Int64 // reads parked at the gate
	gate    chan struct{}
	once    sync.Once
}

func (g *gatedFS) open() { g.once.Do(func() { close(g.gate) }) }

type gatedFile struct {
	vfs.File
	g *gatedFS
}

func (f gatedFile) ReadAt(p []byte, off int64) (int, error) {
	if f.g.blocked.Load() {
		f.g.waiting.Add(1)
		<-f.g.gate
	}
	return f.File.ReadAt(p, off)
}

func (g *gatedFS) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return gatedFile{File: f, g: g}, nil
}

func (g *gatedFS) Create(name string) (vfs.File, error) { return g.wrap(g.FS.Create(name)) }
func (g *gatedFS) Open(name string) (vfs.File, error)   { return g.wrap(g.FS.Open(name)) }
func (g *gatedFS) OpenReadWrite(name string) (vfs.File, error) {
	return g.wrap(g.FS.OpenReadWrite(name))
}

// openEnvOn is newEnv over fsys (a real store on the seam), with two workers.
func openEnvOn(t *testing.T, fsys vfs.FS) (*env, func()) {
	t.Helper()
	db, err := store.Open(store.Options{FS: fsys, Dir: "/db", ChunkSizeBytes: 1 << 20, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	a := auth.New(auth.Options{Backend: auth.NewDBBackend(db), HashIterations: 1000, Logger: quietLogger()})
	if err := a.Start(context.Background()); err != nil {
		t.Fatalf("auth.Start: %v", err)
	}
	svc := New(Options{DB: db, NewReader: func() Reader { return db.NewReader() }, Auth: a, Logger: quietLogger(), Workers: 2})
	svc.Start()
	return &env{db: db, auth: a, svc: svc}, func() { svc.Stop(); db.Close() }
}

// TestWriteACLMetadataMissDoesNotBlockLoop: a non-admin write whose stream
// metadata is not cached needs a log read for its access check. Handle
// (the event loop) must hand it to a worker and return while that read is
// stalled, another connection's write must still be answered, and the
// parked write must complete (or be denied) once the read goes through.
func TestWriteACLMetadataMissDoesNotBlockLoop(t *testing.T) {
	g := &gatedFS{FS: vfs.NewMem(), gate: make(chan struct{})}

	// Metadata on two streams, then a restart so none of it is cached.
	e, stop := openEnvOn(t, g)
	c := e.client(t)
	if w := c.write(admin, "$$gated-open", -2, newEvent("$metadata", `{"$maxCount":1000}`)); w.Result != codec.OperationSuccess {
		t.Fatalf("metadata write: %+v", w)
	}
	closed := `{"$acl":{"$w":"$admins"}}`
	if w := c.write(admin, "$$gated-closed", -2, newEvent("$metadata", closed)); w.Result != codec.OperationSuccess {
		t.Fatalf("metadata write: %+v", w)
	}
	stop()
	e, stop = openEnvOn(t, g)
	defer func() { g.open(); stop() }() // parked reads first, then the workers can stop
	// The admin's credentials verified now, before the gate closes (a
	// credential cache miss reads the user's stream on a worker).
	if _, err := e.auth.Authenticate("admin", "changeit"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, cached := e.db.StreamMetadataCached("gated-open"); cached {
		t.Fatal("metadata cached after a restart; the test needs a miss")
	}

	g.blocked.Store(true)
	a, b := e.client(t), e.client(t)
	idA := codec.NewGUID()
	m := codec.WriteEvents{EventStreamID: "gated-open", ExpectedVersion: -2, Events: []codec.NewEvent{newEvent("x", `{}`)}}
	handled := make(chan struct{})
	go func() {
		a.send(codec.WriteEventsCommand, idA, anon, codec.AppendWriteEvents(nil, &m))
		close(handled)
	}()
	select {
	case <-handled:
	case <-time.After(10 * time.Second): // a hang guard, not a timing
		t.Fatal("Handle did not return: the metadata read ran on the event loop")
	}
	waitFor(t, func() bool { return g.waiting.Load() > 0 })
	if n := e.svc.Stats().WriteACLMisses; n != 1 {
		t.Fatalf("WriteACLMisses = %d; want 1", n)
	}

	// Another connection is served meanwhile (an admin needs no metadata).
	if w := b.write(admin, "ungated", -2, newEvent("y", `{}`)); w.Result != codec.OperationSuccess {
		t.Fatalf("other connection's write: %+v", w)
	}
	a.noReply() // still parked on the read

	g.blocked.Store(false)
	g.open()
	p := a.reply()
	var w codec.WriteEventsCompleted
	if err := codec.DecodeWriteEventsCompleted(p.Payload, &w); err != nil || p.CorrelationID != idA {
		t.Fatalf("parked write's reply: %v %s %v", err, p.Command, p.CorrelationID)
	}
	if w.Result != codec.OperationSuccess {
		t.Fatalf("parked write: %+v", w)
	}

	// A miss whose ACL refuses: denied from the worker with the same reply.
	if w := a.write(anon, "gated-closed", -2, newEvent("x", `{}`)); w.Result != codec.OperationAccessDenied || w.Message != "Access denied." {
		t.Fatalf("write to a closed stream after a miss: %+v", w)
	}
	// Now cached: the next write stays on the loop.
	if w := a.write(anon, "gated-open", -2, newEvent("x", `{}`)); w.Result != codec.OperationSuccess {
		t.Fatalf("cached write: %+v", w)
	}
	if n := e.svc.Stats().WriteACLMisses; n != 2 {
		t.Fatalf("WriteACLMisses = %d; want 2", n)
	}
}
