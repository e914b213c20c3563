package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventstored/eventstored/client"
)

// These tests drive a real in-process node over loopback TCP through the
// public API, one behaviour per test, checking values the spec fixes
// (tcp-client-protocol §4).

func TestAppendAndReadBack(t *testing.T) {
	addr := startNode(t)
	c := dial(t, addr, client.Options{Credentials: admin})
	evs := events(5, "Added")
	evs[2].Metadata = []byte(`{"m":1}`)
	res, err := c.AppendToStream(ctx(t), "orders-1", client.ExpectedNoStream, evs...)
	if err != nil {
		t.Fatal(err)
	}
	if res.FirstEventNumber != 0 || res.NextExpectedVersion != 4 || res.Position.Commit < 0 {
		t.Fatalf("unexpected write result %+v", res)
	}

	fwd, err := c.ReadStreamForward(ctx(t), "orders-1", 0, 3, false)
	if err != nil {
		t.Fatal(err)
	}
	if fwd.Status != client.ReadSuccess || len(fwd.Events) != 3 || fwd.NextEventNumber != 3 || fwd.IsEndOfStream || fwd.LastEventNumber != 4 {
		t.Fatalf("unexpected forward page %+v", fwd)
	}
	for i, e := range fwd.Events {
		r := e.Event
		if r.Number != int64(i) || r.ID != evs[i].ID || r.Type != "Added" || !r.IsJSON || !bytes.Equal(r.Data, evs[i].Data) || r.Stream != "orders-1" {
			t.Fatalf("event %d read back as %+v", i, r)
		}
		if r.Created.IsZero() {
			t.Fatalf("event %d has no creation time", i)
		}
	}
	if !bytes.Equal(fwd.Events[2].Event.Metadata, evs[2].Metadata) {
		t.Fatalf("metadata read back as %q", fwd.Events[2].Event.Metadata)
	}
	last, err := c.ReadStreamForward(ctx(t), "orders-1", 3, 10, false)
	if err != nil || len(last.Events) != 2 || !last.IsEndOfStream || last.NextEventNumber != 5 {
		t.Fatalf("unexpected last page %+v, %v", last, err)
	}

	bwd, err := c.ReadStreamBackward(ctx(t), "orders-1", -1, 2, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(bwd.Events) != 2 || bwd.Events[0].Event.Number != 4 || bwd.Events[1].Event.Number != 3 || bwd.NextEventNumber != 2 {
		t.Fatalf("unexpected backward page %+v", bwd)
	}

	one, err := c.ReadEvent(ctx(t), "orders-1", -1, false)
	if err != nil || one.Status != client.ReadSuccess || one.Event.Event.Number != 4 || one.Event.Event.ID != evs[4].ID {
		t.Fatalf("unexpected ReadEvent(-1): %+v, %v", one, err)
	}
	nf, err := c.ReadEvent(ctx(t), "orders-1", 99, false)
	if err != nil || nf.Status != client.ReadNotFound {
		t.Fatalf("unexpected ReadEvent(99): %+v, %v", nf, err)
	}
	ns, err := c.ReadEvent(ctx(t), "no-such-stream", 0, false)
	if err != nil || ns.Status != client.ReadNoStream {
		t.Fatalf("unexpected ReadEvent of a missing stream: %+v, %v", ns, err)
	}
	nss, err := c.ReadStreamForward(ctx(t), "no-such-stream", 0, 10, false)
	if err != nil || nss.Status != client.ReadNoStream {
		t.Fatalf("unexpected read of a missing stream: %+v, %v", nss, err)
	}
}

func TestWrongExpectedVersionCarriesCurrentVersion(t *testing.T) {
	addr := startNode(t)
	c := dial(t, addr, client.Options{Credentials: admin})
	if _, err := c.AppendToStream(ctx(t), "s", client.ExpectedNoStream, events(3, "e")...); err != nil {
		t.Fatal(err)
	}
	_, err := c.AppendToStream(ctx(t), "s", 0, events(1, "e")...)
	var wev *client.WrongExpectedVersionError
	if !errors.As(err, &wev) || !errors.Is(err, client.ErrWrongExpectedVersion) {
		t.Fatalf("unexpected error %v; want WrongExpectedVersion", err)
	}
	if wev.CurrentVersion != 2 || wev.ExpectedVersion != 0 || wev.Stream != "s" {
		t.Fatalf("unexpected details %+v; want current version 2", wev)
	}
	if wev.Kind() != "wrong_expected_version" {
		t.Fatalf("unexpected kind %q", wev.Kind())
	}
	_, err = c.AppendToStream(ctx(t), "fresh", client.ExpectedStreamExists, events(1, "e")...)
	if !errors.Is(err, client.ErrWrongExpectedVersion) {
		t.Fatalf("StreamExists on a missing stream: unexpected error %v", err)
	}
}

func TestIdempotentRetryReturnsOriginalNumbers(t *testing.T) {
	addr := startNode(t)
	c := dial(t, addr, client.Options{Credentials: admin})
	evs := events(3, "e")
	first, err := c.AppendToStream(ctx(t), "idem", client.ExpectedNoStream, evs...)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.AppendToStream(ctx(t), "idem", client.ExpectedNoStream, evs...)
	if err != nil {
		t.Fatal(err)
	}
	if again.FirstEventNumber != first.FirstEventNumber || again.NextExpectedVersion != first.NextExpectedVersion {
		t.Fatalf("retry gave %+v; original %+v", again, first)
	}
	if again.Position != (client.Position{Commit: -1, Prepare: -1}) {
		t.Fatalf("idempotent success should report position (-1,-1); got %+v", again.Position)
	}
	_, err = c.AppendToStream(ctx(t), "idem", client.ExpectedNoStream, append(evs, events(1, "e")...)...)
	if !errors.Is(err, client.ErrWrongExpectedVersion) {
		t.Fatalf("retry with an extra event: unexpected error %v", err)
	}
}

func TestSoftAndHardDelete(t *testing.T) {
	addr := startNode(t)
	c := dial(t, addr, client.Options{Credentials: admin})
	for _, s := range []string{"soft", "hard"} {
		if _, err := c.AppendToStream(ctx(t), s, client.ExpectedAny, events(2, "e")...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeleteStream(ctx(t), "soft", 1, false); err != nil {
		t.Fatal(err)
	}
	r, err := c.ReadStreamForward(ctx(t), "soft", 0, 10, false)
	if err != nil || r.Status != client.ReadNoStream {
		t.Fatalf("soft-deleted stream read as %+v, %v", r, err)
	}
	w, err := c.AppendToStream(ctx(t), "soft", client.ExpectedNoStream, events(1, "e")...)
	if err != nil || w.FirstEventNumber != 2 {
		t.Fatalf("recreating a soft-deleted stream: %+v, %v; want numbering to continue at 2", w, err)
	}

	if _, err := c.DeleteStream(ctx(t), "hard", client.ExpectedAny, true); err != nil {
		t.Fatal(err)
	}
	r, err = c.ReadStreamForward(ctx(t), "hard", 0, 10, false)
	if err != nil || r.Status != client.ReadStreamDeleted {
		t.Fatalf("hard-deleted stream read as %+v, %v", r, err)
	}
	_, err = c.AppendToStream(ctx(t), "hard", client.ExpectedAny, events(1, "e")...)
	var sd *client.StreamDeletedError
	if !errors.As(err, &sd) || sd.Stream != "hard" {
		t.Fatalf("write to a hard-deleted stream: unexpected error %v", err)
	}
	_, err = c.DeleteStream(ctx(t), "soft", 0, false)
	if !errors.Is(err, client.ErrWrongExpectedVersion) {
		t.Fatalf("delete with a wrong expected version: unexpected error %v", err)
	}
}

func TestStreamMetadataRaw(t *testing.T) {
	addr := startNode(t)
	c := dial(t, addr, client.Options{Credentials: admin})
	if _, err := c.AppendToStream(ctx(t), "meta", client.ExpectedAny, events(1, "e")...); err != nil {
		t.Fatal(err)
	}
	m, err := c.GetStreamMetadataRaw(ctx(t), "meta")
	if err != nil || m.MetaVersion != -1 || m.Data != nil || m.IsDeleted {
		t.Fatalf("stream without metadata: %+v, %v", m, err)
	}
	want := []byte(`{"$maxCount":10,"owner":"x"}`)
	if _, err := c.SetStreamMetadataRaw(ctx(t), "meta", client.ExpectedAny, want); err != nil {
		t.Fatal(err)
	}
	m, err = c.GetStreamMetadataRaw(ctx(t), "meta")
	if err != nil || m.MetaVersion != 0 || !bytes.Equal(m.Data, want) {
		t.Fatalf("metadata read back as %+v (%s), %v", m, m.Data, err)
	}
	if _, err := c.SetStreamMetadataRaw(ctx(t), "$$meta", client.ExpectedAny, want); !errors.Is(err, client.ErrInvalidArgument) {
		t.Fatalf("metadata of a metastream: unexpected error %v", err)
	}
}

func TestTransactionCommitAndViolatedExpectedVersion(t *testing.T) {
	addr := startNode(t)
	c := dial(t, addr, client.Options{Credentials: admin})
	tx, err := c.StartTransaction(ctx(t), "tx", client.ExpectedNoStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Write(ctx(t), events(2, "e")...); err != nil {
		t.Fatal(err)
	}
	// A second connection continues the same transaction.
	c2 := dial(t, addr, client.Options{Credentials: admin})
	if err := c2.ContinueTransaction(tx.ID, "tx").Write(ctx(t), events(1, "e")...); err != nil {
		t.Fatal(err)
	}
	if r, _ := c.ReadStreamForward(ctx(t), "tx", 0, 10, false); r.Status != client.ReadNoStream {
		t.Fatalf("uncommitted events are visible: %+v", r)
	}
	res, err := tx.Commit(ctx(t))
	if err != nil || res.FirstEventNumber != 0 || res.NextExpectedVersion != 2 {
		t.Fatalf("commit: %+v, %v", res, err)
	}
	tx2, err := c.StartTransaction(ctx(t), "tx", client.ExpectedNoStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx2.Write(ctx(t), events(1, "e")...); err != nil {
		t.Fatal(err)
	}
	if _, err := tx2.Commit(ctx(t)); !errors.Is(err, client.ErrWrongExpectedVersion) {
		t.Fatalf("commit with a violated expected version: unexpected error %v", err)
	}
}

func TestReadAllForwardToTheEndAndBackward(t *testing.T) {
	addr := startNode(t)
	c := dial(t, addr, client.Options{Credentials: admin})
	if _, err := c.AppendToStream(ctx(t), "all-a", client.ExpectedAny, events(7, "e")...); err != nil {
		t.Fatal(err)
	}
	pos, total, mine := client.PositionStart, 0, 0
	var prev client.Position
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("$all never ended")
		}
		s, err := c.ReadAllForward(ctx(t), pos, 3, false)
		if err != nil {
			t.Fatal(err)
		}
		if s.IsEndOfStream() {
			break
		}
		for _, e := range s.Events {
			if !prev.Less(e.Position) && total > 0 {
				t.Fatalf("positions not increasing: %+v then %+v", prev, e.Position)
			}
			prev = e.Position
			if e.Event.Stream == "all-a" {
				mine++
			}
			total++
		}
		pos = s.Next
	}
	if mine != 7 {
		t.Fatalf("read %d of the 7 events written; %d events in all", mine, total)
	}
	b, err := c.ReadAllBackward(ctx(t), client.PositionEnd, 2, false)
	if err != nil || len(b.Events) != 2 || b.Events[0].Event.Stream != "all-a" || b.Events[0].Event.Number != 6 {
		t.Fatalf("unexpected backward page %+v, %v", b, err)
	}

	anon := dial(t, addr, client.Options{})
	_, err = anon.ReadAllForward(ctx(t), client.PositionStart, 10, false)
	if !errors.Is(err, client.ErrAccessDenied) {
		t.Fatalf("anonymous $all read: unexpected error %v; want AccessDenied", err)
	}
}

func TestAuthentication(t *testing.T) {
	addr := startNode(t)
	_, err := client.Dial(ctx(t), addr, client.Options{Credentials: &client.Credentials{Login: "admin", Password: "wrong"}})
	var na *client.NotAuthenticatedError
	if !errors.As(err, &na) || !strings.Contains(err.Error(), "handshake") {
		t.Fatalf("wrong password: unexpected error %v", err)
	}
	c := dial(t, addr, client.Options{})
	bad := client.WithCredentials(ctx(t), client.Credentials{Login: "admin", Password: "nope"})
	if _, err := c.AppendToStream(bad, "x", client.ExpectedAny, events(1, "e")...); !errors.Is(err, client.ErrNotAuthenticated) {
		t.Fatalf("per-call bad credentials: unexpected error %v", err)
	}
	good := client.WithCredentials(ctx(t), *admin)
	if _, err := c.AppendToStream(good, "$system-ish", client.ExpectedAny, events(1, "e")...); err != nil {
		t.Fatalf("per-call admin credentials on a system stream: %v", err)
	}
	if _, err := c.AppendToStream(ctx(t), "$system-ish", client.ExpectedAny, events(1, "e")...); !errors.Is(err, client.ErrAccessDenied) {
		t.Fatalf("anonymous write to a system stream: unexpected error %v", err)
	}
}

func TestInvalidRequests(t *testing.T) {
	addr := startNode(t)
	c := dial(t, addr, client.Options{Credentials: admin})
	f := func(err error, want error, what string) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Fatalf("%s: unexpected error %v; want %v", what, err, want)
		}
	}
	_, err := c.AppendToStream(ctx(t), "", client.ExpectedAny, events(1, "e")...)
	f(err, client.ErrInvalidArgument, "empty stream")
	_, err = c.AppendToStream(ctx(t), "s", client.ExpectedAny, client.EventData{Type: "e"})
	f(err, client.ErrInvalidArgument, "zero event id")
	_, err = c.ReadStreamForward(ctx(t), "s", 0, client.MaxReadCount+1, false)
	f(err, client.ErrInvalidArgument, "count above 4096")
	_, err = c.ReadEvent(ctx(t), "s", -2, false)
	f(err, client.ErrInvalidArgument, "event number -2")
	// The server's own validation: expected version -3 is a BadRequest (spec §4.4).
	_, err = c.AppendToStream(ctx(t), "s", -3, events(1, "e")...)
	var br *client.BadRequestError
	if !errors.As(err, &br) || br.Text == "" {
		t.Fatalf("expected version -3: unexpected error %v; want BadRequest with a text", err)
	}
	// The connection survives a bad request.
	if _, err := c.AppendToStream(ctx(t), "s", client.ExpectedAny, events(1, "e")...); err != nil {
		t.Fatalf("after a bad request: %v", err)
	}
	if err := c.Ping(ctx(t)); err != nil {
		t.Fatal(err)
	}
}

// TestPipelinedConcurrentWrites sends 2,000 writes from 50 goroutines on one
// connection with MaxInFlight 16: every write gets its own reply.
func TestPipelinedConcurrentWrites(t *testing.T) {
	addr := startNode(t)
	c := dial(t, addr, client.Options{Credentials: admin, MaxInFlight: 16})
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for g := 0; g < 50; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("p-%d", g)
			for i := 0; i < 40; i++ {
				r, err := c.AppendToStream(ctx(t), stream, int64(i)-1, events(1, "e")...)
				if err != nil {
					errs <- err
					return
				}
				if r.NextExpectedVersion != int64(i) {
					errs <- fmt.Errorf("%s: write %d got version %d", stream, i, r.NextExpectedVersion)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestClosedClientFailsOperations(t *testing.T) {
	addr := startNode(t)
	c := dial(t, addr, client.Options{Credentials: admin})
	c.Close()
	if _, err := c.AppendToStream(ctx(t), "s", client.ExpectedAny, events(1, "e")...); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("unexpected error %v; want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestInvalidOptions(t *testing.T) {
	for _, o := range []client.Options{
		{MaxInFlight: -1},
		{HeartbeatInterval: 1},
		{Credentials: &client.Credentials{Login: strings.Repeat("x", 256)}},
	} {
		if _, err := client.Dial(ctx(t), "127.0.0.1:1", o); !errors.Is(err, client.ErrInvalidOptions) {
			t.Fatalf("options %+v: unexpected error %v", o, err)
		}
	}
	_, err := client.Dial(ctx(t), "127.0.0.1:1", client.Options{})
	if !errors.Is(err, client.ErrConnectionClosed) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("unreachable server: unexpected error %v", err)
	}
}

// TestCancellationStorm: many goroutines issue writes and reads whose
// deadlines expire at random points (before sending, in flight, as the
// reply arrives). Pooled calls must never mix replies up: every operation
// that succeeds returns its own stream's data, and the client keeps
// working afterwards. Run with -race.
func TestCancellationStorm(t *testing.T) {
	addr := startNode(t)
	c := dial(t, addr, client.Options{Credentials: admin, MaxInFlight: 8})
	var wg sync.WaitGroup
	var timeouts, successes atomic.Int64
	errs := make(chan error, 20)
	for g := 0; g < 20; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("storm-%d", g)
			count := func(err error) {
				if err == nil {
					successes.Add(1)
				} else if errors.Is(err, client.ErrTimeout) {
					timeouts.Add(1)
				}
			}
			for i := 0; i < 100; i++ {
				d := time.Duration((g*7+i*13)%10000) * time.Microsecond
				if i%10 == 9 {
					d = 10 * time.Second // some always succeed, however loaded the machine
				}
				opCtx, cancel := context.WithTimeout(context.Background(), d)
				if i%2 == 0 {
					_, err := c.AppendToStream(opCtx, stream, client.ExpectedAny, events(1, "e")...)
					count(err)
					if err != nil && !errors.Is(err, client.ErrTimeout) {
						errs <- fmt.Errorf("append: %w", err)
					}
				} else {
					s, err := c.ReadStreamBackward(opCtx, stream, -1, 5, false)
					count(err)
					if err == nil && s.Status == client.ReadSuccess {
						for _, e := range s.Events {
							if e.Event.Stream != stream {
								errs <- fmt.Errorf("read of %s returned an event of %s", stream, e.Event.Stream)
							}
						}
					} else if err != nil && !errors.Is(err, client.ErrTimeout) {
						errs <- fmt.Errorf("read: %w", err)
					}
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// NB: not a timing assertion: deadlines of 0 µs always expire and
	// those of 10 s never do, so both outcomes occur.
	if timeouts.Load() == 0 || successes.Load() == 0 {
		t.Fatalf("the storm did not mix outcomes: %d timeouts, %d successes", timeouts.Load(), successes.Load())
	}
	t.Logf("%d timeouts, %d successes", timeouts.Load(), successes.Load())
	if _, err := c.AppendToStream(ctx(t), "after-storm", client.ExpectedNoStream, events(1, "e")...); err != nil {
		t.Fatalf("after the storm: %v", err)
	}
}
