package client_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventstored/eventstored/client"
	"github.com/eventstored/eventstored/codec"
)

func TestVolatileSubscription(t *testing.T) {
	addr := startNode(t)
	c := dial(t, addr, client.Options{Credentials: admin})
	if _, err := c.AppendToStream(ctx(t), "sub-1", client.ExpectedAny, events(2, "Old")...); err != nil {
		t.Fatal(err)
	}
	got := make(chan int64, 16)
	drop := make(chan error, 1)
	sub, err := c.SubscribeToStream(ctx(t), "sub-1", false, func(e *codec.ResolvedEvent) { got <- e.Event.EventNumber },
		func(err error) { drop <- err })
	if err != nil {
		t.Fatal(err)
	}
	if sub.LastEventNumber != 1 || sub.LastCommitPosition <= 0 {
		t.Fatalf("confirmation %d / %d", sub.LastEventNumber, sub.LastCommitPosition)
	}
	if _, err := c.AppendToStream(ctx(t), "sub-1", client.ExpectedAny, events(3, "New")...); err != nil {
		t.Fatal(err)
	}
	for want := int64(2); want < 5; want++ {
		select {
		case n := <-got:
			if n != want {
				t.Fatalf("pushed #%d; want #%d", n, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no push")
		}
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-drop:
		if !errors.Is(err, client.ErrUnsubscribed) {
			t.Fatalf("drop %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no drop")
	}
	// $all needs $admins: anonymous is refused with AccessDenied.
	anon := dial(t, addr, client.Options{})
	if _, err := anon.SubscribeToStream(ctx(t), "", false, func(*codec.ResolvedEvent) {}, nil); !errors.Is(err, client.ErrAccessDenied) {
		t.Fatalf("anonymous $all: %v", err)
	}
}

func TestCatchUpStreamUnderConcurrentWrites(t *testing.T) {
	addr := startNode(t)
	c := dial(t, addr, client.Options{Credentials: admin})
	w := dial(t, addr, client.Options{Credentials: admin})
	for i := 0; i < 30; i++ {
		if _, err := w.AppendToStream(ctx(t), "cu", client.ExpectedAny, events(1, "H")...); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 70; i++ {
			if _, err := w.AppendToStream(ctx(t), "cu", client.ExpectedAny, events(1, "L")...); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	got := make(chan int64, 200)
	cu, err := c.CatchUpStream(ctx(t), "cu", 4, false, func(e *client.ResolvedEvent) { got <- e.OriginalEvent().Number })
	if err != nil {
		t.Fatal(err)
	}
	<-done
	for want := int64(5); want < 100; want++ {
		select {
		case n := <-got:
			if n != want {
				t.Fatalf("catch-up delivered #%d; want #%d", n, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("stalled before #%d", want)
		}
	}
	cu.Stop()
	if err := cu.Wait(); !errors.Is(err, client.ErrUnsubscribed) {
		t.Fatalf("Wait: %v", err)
	}
	select {
	case n := <-got:
		t.Fatalf("extra event #%d", n)
	default:
	}
}

func TestPersistentSubscriptionCompetingConsumers(t *testing.T) {
	addr := startNode(t)
	c := dial(t, addr, client.Options{Credentials: admin})
	s := client.DefaultPersistentSettings()
	s.StartFrom = 0
	s.MaxRetryCount = 0
	if err := c.CreatePersistentSubscription(ctx(t), "ps", "g", s); err != nil {
		t.Fatal(err)
	}
	if err := c.CreatePersistentSubscription(ctx(t), "ps", "g", s); !errors.Is(err, client.ErrGroupExists) {
		t.Fatalf("second create: %v", err)
	}
	anon := dial(t, addr, client.Options{})
	if err := anon.CreatePersistentSubscription(ctx(t), "ps", "g2", s); !errors.Is(err, client.ErrAccessDenied) {
		t.Fatalf("anonymous create: %v", err)
	}
	type got struct {
		who string
		n   int64
	}
	ch := make(chan got, 100)
	handler := func(who string) func(*client.PersistentSubscription, *codec.ResolvedIndexedEvent, int) {
		return func(p *client.PersistentSubscription, e *codec.ResolvedIndexedEvent, retry int) {
			id := client.GUID(e.Event.EventID)
			if e.Event.EventNumber == 3 {
				p.Nak(codec.NakPark, "poison", id)
			} else {
				p.Ack(id)
			}
			ch <- got{who, e.Event.EventNumber}
		}
	}
	c2 := dial(t, addr, client.Options{Credentials: admin})
	a, err := c.ConnectToPersistentSubscription(ctx(t), "ps", "g", 2, handler("a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c2.ConnectToPersistentSubscription(ctx(t), "ps", "g", 2, handler("b"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AppendToStream(ctx(t), "ps", client.ExpectedAny, events(20, "E")...); err != nil {
		t.Fatal(err)
	}
	seen := map[int64]int{}
	by := map[string]int{}
	for i := 0; i < 20; i++ {
		select {
		case g := <-ch:
			seen[g.n]++
			by[g.who]++
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d of 20", i)
		}
	}
	if len(seen) != 20 || by["a"] == 0 || by["b"] == 0 {
		t.Fatalf("deliveries %v by %v", seen, by)
	}
	a.Close()
	b.Close()
	if _, err := c.ConnectToPersistentSubscription(ctx(t), "ps", "nope", 2, handler("x"), nil); !errors.Is(err, client.ErrGroupNotFound) {
		t.Fatalf("connect to a missing group: %v", err)
	}
	if err := c.DeletePersistentSubscription(ctx(t), "ps", "g"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeletePersistentSubscription(ctx(t), "ps", "g"); !errors.Is(err, client.ErrGroupNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

// TestCatchUpAllUnderConcurrentWrites: catch-up subscriptions on $all,
// from the start and from a position, started while writers append single
// and multi-event writes, deliver exactly the events of $all after their
// start point, in order, each once. History is read in pages of 2, so the
// switch to live falls anywhere.
func TestCatchUpAllUnderConcurrentWrites(t *testing.T) {
	defer client.SetCatchUpPage(2)()
	addr := startNode(t)
	c := dial(t, addr, client.Options{Credentials: admin})
	w := dial(t, addr, client.Options{Credentials: admin})
	for i := 0; i < 20; i++ {
		if _, err := w.AppendToStream(ctx(t), fmt.Sprintf("cua-h%d", i%3), client.ExpectedAny, events(1+i%3, "H")...); err != nil {
			t.Fatal(err)
		}
	}
	hist, err := c.ReadAllForward(ctx(t), client.PositionStart, 4096, false)
	if err != nil || len(hist.Events) < 40 {
		t.Fatalf("history read: %v (%d events)", err, len(hist.Events))
	}
	mid := hist.Events[len(hist.Events)/2].Position
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 60; i++ {
				if _, err := w.AppendToStream(ctx(t), fmt.Sprintf("cua-l%d-%d", g, i%4), client.ExpectedAny, events(1+i%3, "L")...); err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	type result struct {
		ch chan client.Position
		cu *client.CatchUp
	}
	start := func(after *client.Position) result {
		r := result{ch: make(chan client.Position, 10_000)}
		var err error
		r.cu, err = c.CatchUpAll(ctx(t), after, false, func(e *client.ResolvedEvent) { r.ch <- e.Position })
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	fromStart, fromMid := start(nil), start(&mid)
	wg.Wait()
	// The reference: $all as read once the writers are done.
	var all []client.Position
	for pos := client.PositionStart; ; {
		sl, err := c.ReadAllForward(ctx(t), pos, 1000, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range sl.Events {
			all = append(all, e.Position)
		}
		if sl.IsEndOfStream() {
			break
		}
		pos = sl.Next
	}
	check := func(name string, r result, want []client.Position) {
		t.Helper()
		for i, p := range want {
			select {
			case got := <-r.ch:
				if got != p {
					t.Fatalf("%s: event %d at %v; want %v (gap, duplicate or disorder)", name, i, got, p)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: stalled after %d of %d events", name, i, len(want))
			}
		}
		r.cu.Stop()
		if err := r.cu.Wait(); !errors.Is(err, client.ErrUnsubscribed) {
			t.Fatalf("%s: Wait: %v", name, err)
		}
		select {
		case p := <-r.ch:
			t.Fatalf("%s: extra event at %v", name, p)
		default:
		}
	}
	check("from the start", fromStart, all)
	i := 0
	for i < len(all) && !mid.Less(all[i]) {
		i++
	}
	check("from a position", fromMid, all[i:])
	// $all needs $admins.
	anon := dial(t, addr, client.Options{})
	if _, err := anon.CatchUpAll(ctx(t), nil, false, func(*client.ResolvedEvent) {}); !errors.Is(err, client.ErrAccessDenied) {
		t.Fatalf("anonymous catch-up on $all: %v", err)
	}
}

// TestCatchUpAllReadsTheWholeConfirmedCommit: the confirmation's commit
// position is that of a three-event transaction, whose events share it
// (they differ in prepare position); history pages of 2 end inside the
// transaction, and catch-up still delivers all three (they are not
// pushed: none is above the confirmed position).
func TestCatchUpAllReadsTheWholeConfirmedCommit(t *testing.T) {
	defer client.SetCatchUpPage(2)()
	addr := startNode(t)
	c := dial(t, addr, client.Options{Credentials: admin})
	if _, err := c.AppendToStream(ctx(t), "cuc-a", client.ExpectedAny, events(1, "A")...); err != nil {
		t.Fatal(err)
	}
	last, err := c.ReadAllBackward(ctx(t), client.PositionEnd, 1, false)
	if err != nil || len(last.Events) != 1 {
		t.Fatalf("read: %v", err)
	}
	after := last.Events[0].Position
	tx, err := c.StartTransaction(ctx(t), "cuc-b", client.ExpectedAny)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Write(ctx(t), events(3, "B")...); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(ctx(t)); err != nil {
		t.Fatal(err)
	}
	got := make(chan *client.ResolvedEvent, 16)
	cu, err := c.CatchUpAll(ctx(t), &after, false, func(e *client.ResolvedEvent) { got <- e })
	if err != nil {
		t.Fatal(err)
	}
	defer cu.Stop()
	var commit int64 = -1
	for i := 0; i < 3; i++ {
		select {
		case e := <-got:
			if e.Event.Stream != "cuc-b" || e.Event.Number != int64(i) || (commit >= 0 && e.Position.Commit != commit) {
				t.Fatalf("event %d: %s#%d at %v", i, e.Event.Stream, e.Event.Number, e.Position)
			}
			commit = e.Position.Commit
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d of the transaction's 3 events", i)
		}
	}
}

// TestSubscriptionsOnOneConnectionGetTheirOwnEvents: several
// subscriptions of one connection receive the same pushes (the client
// reuses one decoding for identical payloads); each gets the right event,
// and a callback that scribbles over its event's bytes does not change
// what the next subscription sees.
func TestSubscriptionsOnOneConnectionGetTheirOwnEvents(t *testing.T) {
	addr := startNode(t)
	c := dial(t, addr, client.Options{Credentials: admin})
	type push struct {
		sub        int
		stream     string
		num        int64
		data, link string
	}
	got := make(chan push, 100)
	subscribe := func(i int, stream string, resolve bool) {
		_, err := c.SubscribeToStream(ctx(t), stream, resolve, func(e *codec.ResolvedEvent) {
			// Strings alias the read buffer too: clone what is kept.
			p := push{sub: i, stream: strings.Clone(e.Event.EventStreamID), num: e.Event.EventNumber, data: string(e.Event.Data)}
			if e.HasLink {
				p.link = strings.Clone(e.Link.EventStreamID)
			}
			got <- p
			for j := range e.Event.Data {
				e.Event.Data[j] = 'X' // a careless callback
			}
			e.Event.EventNumber = -42
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	subscribe(0, "same-1", false)
	subscribe(1, "same-1", false)
	subscribe(2, "", false)
	subscribe(3, "same-1", true)
	if _, err := c.AppendToStream(ctx(t), "same-0", client.ExpectedAny, client.EventData{ID: client.NewGUID(), Type: "t", Data: []byte("target")}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		d := []byte(fmt.Sprintf("payload-%d", i))
		if _, err := c.AppendToStream(ctx(t), "same-1", client.ExpectedAny, client.EventData{ID: client.NewGUID(), Type: "t", Data: d}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.AppendToStream(ctx(t), "same-1", client.ExpectedAny, client.EventData{ID: client.NewGUID(), Type: "$>", Data: []byte("0@same-0")}); err != nil {
		t.Fatal(err)
	}
	want := map[push]bool{}
	for sub := 0; sub < 4; sub++ {
		for i := 0; i < 2; i++ {
			want[push{sub, "same-1", int64(i), fmt.Sprintf("payload-%d", i), ""}] = true
		}
	}
	want[push{2, "same-0", 0, "target", ""}] = true // $all
	want[push{0, "same-1", 2, "0@same-0", ""}] = true
	want[push{1, "same-1", 2, "0@same-0", ""}] = true
	want[push{2, "same-1", 2, "0@same-0", ""}] = true
	want[push{3, "same-0", 0, "target", "same-1"}] = true // resolved
	for range want {
		select {
		case p := <-got:
			if !want[p] {
				t.Fatalf("unexpected push %+v", p)
			}
			delete(want, p)
		case <-time.After(10 * time.Second):
			t.Fatalf("missing pushes %v", want)
		}
	}
}

// TestSlowSubscriberIsDroppedWithoutSlowingWritersOrOthers (issue #6): a
// subscriber whose callback blocks stops reading its connection. While
// it is blocked, every write still completes and another subscriber gets
// every event; the node closes the slow connection once its backlog
// passes --connection-pending-send-bytes-threshold (as the original's
// TcpConnectionManager: a connection-wide BadRequest "Connection pending
// send bytes is too large", then the close), and the slow subscription is
// dropped with ErrConnectionClosed once its reader runs again, before it
// got every event. Heartbeats are slowed so that only the send limit can
// close the connection.
func TestSlowSubscriberIsDroppedWithoutSlowingWritersOrOthers(t *testing.T) {
	addr := startNodeWith(t, "--connection-pending-send-bytes-threshold", "1048576",
		"--ext-tcp-heartbeat-interval", "600000", "--ext-tcp-heartbeat-timeout", "600000")
	opts := client.Options{Credentials: admin, HeartbeatInterval: 10 * time.Minute, HeartbeatTimeout: 10 * time.Minute}
	slowC, fastC, w := dial(t, addr, opts), dial(t, addr, opts), dial(t, addr, opts)

	unblock := make(chan struct{})
	slowDrop := make(chan error, 1)
	var slowGot atomic.Int64
	_, err := slowC.SubscribeToStream(ctx(t), "slow-fan", false, func(*codec.ResolvedEvent) {
		if slowGot.Add(1) == 1 {
			<-unblock // the reader goroutine stops reading here
		}
	}, func(err error) { slowDrop <- err })
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		select {
		case <-unblock:
		default:
			close(unblock)
		}
	}()
	const writes, perWrite, size = 200, 10, 16 << 10 // 32 MB: past the limit plus loopback's socket buffers
	fastGot := make(chan int64, writes*perWrite)
	fastDrop := make(chan error, 1)
	if _, err := fastC.SubscribeToStream(ctx(t), "slow-fan", false, func(e *codec.ResolvedEvent) { fastGot <- e.Event.EventNumber },
		func(err error) { fastDrop <- err }); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, size)
	for i := 0; i < writes; i++ {
		evs := make([]client.EventData, perWrite)
		for j := range evs {
			evs[j] = client.EventData{ID: client.NewGUID(), Type: "big", Data: body}
		}
		if _, err := w.AppendToStream(ctx(t), "slow-fan", client.ExpectedAny, evs...); err != nil {
			t.Fatalf("write %d while a subscriber is blocked: %v", i, err)
		}
	}
	for want := int64(0); want < writes*perWrite; want++ {
		select {
		case n := <-fastGot:
			if n != want {
				t.Fatalf("fast subscriber got #%d; want #%d", n, want)
			}
		case err := <-fastDrop:
			t.Fatalf("fast subscriber dropped: %v", err)
		case <-time.After(10 * time.Second): // guards a hang only
			t.Fatalf("fast subscriber got %d of %d events", want, writes*perWrite)
		}
	}
	close(unblock)
	select {
	case err := <-slowDrop:
		// NB: the BadRequest the node queues in place of the backlog
		// reaches the client only if the socket buffers have room, which a
		// reader that stopped has filled; so the client sees the BadRequest
		// or just the close. Nothing else closes this connection: the
		// heartbeats are 10 minutes apart.
		if !errors.Is(err, client.ErrConnectionClosed) {
			t.Fatalf("slow subscriber dropped with %v; want the connection closed by the node", err)
		}
		t.Logf("slow subscriber dropped after %d events: %v", slowGot.Load(), err)
	case <-time.After(10 * time.Second):
		t.Fatalf("slow subscriber not dropped (got %d events)", slowGot.Load())
	}
	if n := slowGot.Load(); n >= writes*perWrite {
		t.Fatalf("slow subscriber got all %d events; the limit never applied", n)
	}
}
