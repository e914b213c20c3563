package subscriptions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/node/records"
	"github.com/eventstored/eventstored/store"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openDB(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(store.Options{MemDB: true, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// recConn records frames; fail makes Send fail (a connection over its
// send limit).
type recConn struct {
	ch   chan codec.Package
	fail atomic.Bool
}

func newRecConn(n int) *recConn { return &recConn{ch: make(chan codec.Package, n)} }

func (c *recConn) Send(frame []byte) error {
	if c.fail.Load() {
		return errors.New("over the send limit")
	}
	f := append([]byte(nil), frame...)
	pkg, _, err := codec.SplitFrame(f)
	if err != nil {
		panic(err)
	}
	p, err := codec.DecodePackage(pkg)
	if err != nil {
		panic(err)
	}
	c.ch <- p
	return nil
}

func (c *recConn) next(t testing.TB) codec.Package {
	t.Helper()
	select {
	case p := <-c.ch:
		return p
	case <-time.After(10 * time.Second): // guards a hang only
		t.Fatal("no frame")
	}
	return codec.Package{}
}

func (c *recConn) none(t testing.TB) {
	t.Helper()
	select {
	case p := <-c.ch:
		t.Fatalf("unexpected frame %s", p.Command)
	case <-time.After(50 * time.Millisecond):
	}
}

func write(t testing.TB, db *store.DB, stream string, types ...string) store.OpResult {
	t.Helper()
	op := &store.Op{Kind: store.OpWrite, Stream: stream, ExpectedVersion: store.ExpectedVersionAny}
	for _, ty := range types {
		op.Events = append(op.Events, store.NewEvent{ID: codec.NewGUID(), Type: ty, Data: []byte(ty), IsJSON: false})
	}
	if err := db.Do(context.Background(), op); err != nil || op.Result.Status != store.OpSuccess {
		t.Fatalf("write: %v %v", err, op.Result.Status)
	}
	return op.Result
}

func newSvc(t testing.TB, db *store.DB, tweak func(*Options)) *Service {
	o := Options{DB: db, Logger: quietLogger()}
	if tweak != nil {
		tweak(&o)
	}
	s := New(o)
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

func confirmation(t testing.TB, p codec.Package, corr codec.GUID) codec.SubscriptionConfirmation {
	t.Helper()
	if p.Command != codec.SubscriptionConfirmationCommand || p.CorrelationID != corr {
		t.Fatalf("got %s %s; want SubscriptionConfirmation %s", p.Command, p.CorrelationID, corr)
	}
	var m codec.SubscriptionConfirmation
	if err := codec.DecodeSubscriptionConfirmation(p.Payload, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func appeared(t testing.TB, p codec.Package, corr codec.GUID) codec.ResolvedEvent {
	t.Helper()
	if p.Command != codec.StreamEventAppearedCommand || p.CorrelationID != corr {
		t.Fatalf("got %s %s; want StreamEventAppeared %s", p.Command, p.CorrelationID, corr)
	}
	var m codec.StreamEventAppeared
	if err := codec.DecodeStreamEventAppeared(p.Payload, &m); err != nil {
		t.Fatal(err)
	}
	return m.Event
}

func dropped(t testing.TB, p codec.Package, corr codec.GUID) codec.SubscriptionDropReason {
	t.Helper()
	if p.Command != codec.SubscriptionDroppedCommand || p.CorrelationID != corr {
		t.Fatalf("got %s; want SubscriptionDropped", p.Command)
	}
	var m codec.SubscriptionDropped
	if err := codec.DecodeSubscriptionDropped(p.Payload, &m); err != nil {
		t.Fatal(err)
	}
	return m.Reason
}

func TestVolatileStreamAndAll(t *testing.T) {
	db := openDB(t)
	write(t, db, "orders", "before")
	s := newSvc(t, db, nil)
	c := newRecConn(64)
	cs, ca := codec.NewGUID(), codec.NewGUID()
	subS, err := s.Subscribe(c, cs, "orders", false, false)
	if err != nil {
		t.Fatal(err)
	}
	m := confirmation(t, c.next(t), cs)
	if !m.HasLastEventNumber || m.LastEventNumber != 0 || m.LastCommitPosition != db.LastCommitPosition() {
		t.Fatalf("stream confirmation %+v; want last event 0, last commit %d", m, db.LastCommitPosition())
	}
	if _, err := s.Subscribe(c, ca, "", false, false); err != nil {
		t.Fatal(err)
	}
	if m := confirmation(t, c.next(t), ca); m.HasLastEventNumber {
		t.Fatalf("$all confirmation carries a last event number: %+v", m)
	}
	r1 := write(t, db, "other", "o1")
	r2 := write(t, db, "orders", "a", "b")
	// $all sees other, a, b; the stream subscription a, b; per subscription
	// in commit order.
	var gotAll, gotS []string
	for len(gotAll) < 3 || len(gotS) < 2 {
		p := c.next(t)
		ev := appeared(t, p, p.CorrelationID)
		if p.CorrelationID == ca {
			gotAll = append(gotAll, ev.Event.EventType)
		} else {
			gotS = append(gotS, fmt.Sprintf("%s#%d", ev.Event.EventType, ev.Event.EventNumber))
			if ev.CommitPosition > r2.Pos.Commit || ev.CommitPosition <= r1.Pos.Commit {
				t.Fatalf("position %d outside (%d, %d]", ev.CommitPosition, r1.Pos.Commit, r2.Pos.Commit)
			}
		}
	}
	if fmt.Sprint(gotAll) != "[o1 a b]" || fmt.Sprint(gotS) != "[a#1 b#2]" {
		t.Fatalf("pushed $all %v stream %v", gotAll, gotS)
	}
	subS.Unsubscribe()
	if r := dropped(t, c.next(t), cs); r != codec.DropUnsubscribed {
		t.Fatalf("reason %v", r)
	}
	write(t, db, "orders", "c")
	if ev := appeared(t, c.next(t), ca); ev.Event.EventType != "c" {
		t.Fatalf("got %s", ev.Event.EventType)
	}
	c.none(t)
	s.Stop()
	if r := dropped(t, c.next(t), ca); r != codec.DropUnsubscribed {
		t.Fatalf("shutdown reason %v", r)
	}
	if _, err := s.Subscribe(c, codec.NewGUID(), "", false, false); !errors.Is(err, ErrStopped) {
		t.Fatalf("subscribe after stop: %v", err)
	}
}

func TestVolatileNewStreamConfirmsMinusOne(t *testing.T) {
	db := openDB(t)
	s := newSvc(t, db, nil)
	c := newRecConn(8)
	id := codec.NewGUID()
	s.Subscribe(c, id, "fresh", false, false)
	if m := confirmation(t, c.next(t), id); m.LastEventNumber != -1 || m.LastCommitPosition != -1 {
		t.Fatalf("confirmation %+v; want -1/-1 on an empty log", m)
	}
}

func TestVolatileCloseIsSilentAndSlowSubscriberIsDropped(t *testing.T) {
	db := openDB(t)
	s := newSvc(t, db, nil)
	closed, slow, fine := newRecConn(8), newRecConn(8), newRecConn(8)
	ic, is, iff := codec.NewGUID(), codec.NewGUID(), codec.NewGUID()
	subC, _ := s.Subscribe(closed, ic, "x", false, false)
	s.Subscribe(slow, is, "x", false, false)
	s.Subscribe(fine, iff, "x", false, false)
	confirmation(t, closed.next(t), ic)
	confirmation(t, slow.next(t), is)
	confirmation(t, fine.next(t), iff)
	subC.Close()
	slow.fail.Store(true)
	write(t, db, "x", "e1")
	appeared(t, fine.next(t), iff)
	write(t, db, "x", "e2")
	appeared(t, fine.next(t), iff)
	closed.none(t)
	slow.fail.Store(false)
	slow.none(t) // dropped after its first failed send: never pushed again
	// The registry forgets both.
	write(t, db, "x", "e3")
	appeared(t, fine.next(t), iff)
	if n := s.Count(); n != 1 {
		t.Fatalf("Count %d; want 1", n)
	}
}

func TestVolatileSubscriptionLimit(t *testing.T) {
	db := openDB(t)
	s := newSvc(t, db, func(o *Options) { o.SubscriptionsMax = 2 })
	c := newRecConn(8)
	a, _ := s.Subscribe(c, codec.NewGUID(), "x", false, false)
	s.Subscribe(c, codec.NewGUID(), "y", false, false)
	if _, err := s.Subscribe(c, codec.NewGUID(), "z", false, false); !errors.Is(err, ErrTooManySubscriptions) {
		t.Fatalf("third subscription: %v; want ErrTooManySubscriptions", err)
	}
	c.next(t)
	c.next(t)
	a.Close()
	write(t, db, "x", "wake") // the service prunes on its next step
	deadline := time.Now().Add(5 * time.Second)
	for s.Count() != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if _, err := s.Subscribe(c, codec.NewGUID(), "z", false, false); err != nil {
		t.Fatalf("after a close: %v", err)
	}
}

func TestVolatileResolvesLinks(t *testing.T) {
	db := openDB(t)
	s := newSvc(t, db, nil)
	write(t, db, "target", "t0")
	c := newRecConn(8)
	ir, ip := codec.NewGUID(), codec.NewGUID()
	s.Subscribe(c, ir, "links", true, false)
	confirmation(t, c.next(t), ir)
	s.Subscribe(c, ip, "links", false, false)
	confirmation(t, c.next(t), ip)
	op := &store.Op{Kind: store.OpWrite, Stream: "links", ExpectedVersion: store.ExpectedVersionAny,
		Events: []store.NewEvent{{Type: "$>", Data: []byte("0@target")}, {Type: "$>", Data: []byte("7@target")}}}
	op.Events[0].ID = codec.NewGUID()
	op.Events[1].ID = codec.NewGUID()
	if err := db.Do(context.Background(), op); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		p := c.next(t)
		ev := appeared(t, p, p.CorrelationID)
		switch {
		case p.CorrelationID == ip:
			if !ev.HasEvent || ev.HasLink || ev.Event.EventType != "$>" {
				t.Fatalf("unresolved push %+v", ev)
			}
		case i < 2: // resolved, target exists
			if !ev.HasEvent || !ev.HasLink || ev.Event.EventStreamID != "target" || ev.Link.EventStreamID != "links" {
				t.Fatalf("resolved push %+v", ev)
			}
		default: // target missing: link only
			if ev.HasEvent || !ev.HasLink || ev.Link.EventNumber != 1 {
				t.Fatalf("dangling link push %+v", ev)
			}
		}
	}
}

// TestCatchUpIsGaplessUnderConcurrentWrites performs what 4.0 clients do
// for a catch-up subscription on $all and on a stream (read history,
// subscribe, read until the confirmation's point, then go live dropping
// what was already seen, spec §6) while writers run, and checks that
// every event is seen exactly once and in order.
func TestCatchUpIsGaplessUnderConcurrentWrites(t *testing.T) {
	db := openDB(t)
	s := newSvc(t, db, nil)
	const writers, perWriter = 4, 300
	for i := 0; i < 50; i++ {
		write(t, db, "cu-0", "h")
	}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				write(t, db, fmt.Sprintf("cu-%d", w), "e")
			}
		}(w)
	}
	rd := db.NewReader()
	// $all catch-up.
	var seen []store.Position
	pos := store.PositionStart
	readTo := func(stop func(store.Position) bool) {
		for {
			sl := rd.ReadAllForward(pos, 37, false)
			for _, e := range sl.Events {
				seen = append(seen, e.Pos)
			}
			pos = sl.Next
			if len(sl.Events) == 0 || stop(pos) {
				return
			}
		}
	}
	readTo(func(store.Position) bool { return false })
	// Stream catch-up on cu-0 alongside.
	var seenS []int64
	next := int64(0)
	readStream := func(upTo int64) {
		for {
			sl := rd.ReadStreamForward("cu-0", next, 13, false)
			for _, e := range sl.Events {
				seenS = append(seenS, e.Event.Number)
			}
			next = sl.NextEventNumber
			if sl.IsEndOfStream || (upTo >= 0 && next > upTo) {
				return
			}
		}
	}
	readStream(-1)
	c := newRecConn(1 << 16)
	ia, is := codec.NewGUID(), codec.NewGUID()
	s.Subscribe(c, ia, "", false, false)
	s.Subscribe(c, is, "cu-0", false, false)
	var ca, cs codec.SubscriptionConfirmation
	var live []codec.Package
	for ca.LastCommitPosition == 0 || cs.LastEventNumber == 0 {
		p := c.next(t)
		switch {
		case p.Command == codec.SubscriptionConfirmationCommand && p.CorrelationID == ia:
			ca = confirmation(t, p, ia)
		case p.Command == codec.SubscriptionConfirmationCommand:
			cs = confirmation(t, p, is)
		default:
			live = append(live, p)
		}
	}
	L := ca.LastCommitPosition
	readTo(func(p store.Position) bool { return p.Commit > L })
	readStream(cs.LastEventNumber)
	wg.Wait()
	lastAll := seen[len(seen)-1]
	lastS := seenS[len(seenS)-1]
	total := 50 + writers*perWriter
	deadline := time.After(20 * time.Second)
	for len(seen) < total || len(seenS) < 50+perWriter {
		var p codec.Package
		if len(live) > 0 {
			p, live = live[0], live[1:]
		} else {
			select {
			case p = <-c.ch:
			case <-deadline:
				t.Fatalf("stalled: $all %d/%d, stream %d/%d", len(seen), total, len(seenS), 50+perWriter)
			}
		}
		ev := appeared(t, p, p.CorrelationID)
		if p.CorrelationID == ia {
			ep := store.Position{Commit: ev.CommitPosition, Prepare: ev.PreparePosition}
			if lastAll.Less(ep) {
				seen = append(seen, ep)
				lastAll = ep
			}
		} else if ev.Event.EventNumber > lastS {
			seenS = append(seenS, ev.Event.EventNumber)
			lastS = ev.Event.EventNumber
		}
	}
	if len(seen) != total {
		t.Fatalf("$all catch-up saw %d events; want %d", len(seen), total)
	}
	for i := 1; i < len(seen); i++ {
		if !seen[i-1].Less(seen[i]) {
			t.Fatalf("$all out of order at %d: %v then %v", i, seen[i-1], seen[i])
		}
	}
	for i, n := range seenS {
		if n != int64(i) {
			t.Fatalf("stream catch-up: event %d is number %d (gap or duplicate)", i, n)
		}
	}
}

type discardConn struct{ n int }

func (c *discardConn) Send(frame []byte) error { c.n += len(frame); return nil }

type batchDiscardConn struct{ n, frames int }

func (c *batchDiscardConn) Send(frame []byte) error { c.n += len(frame); c.frames++; return nil }

func (c *batchDiscardConn) SendFrames(frames []byte, n int) error {
	c.n += len(frames)
	c.frames += n
	return nil
}

// TestVolatileV1ConvertsEventNumbers: a client that identified with
// protocol version 0 gets int64 max (a hard-delete tombstone) as int32 max
// in pushes and in the confirmation; a V2 client on the same stream gets
// the numbers unchanged (spec tcp-client-protocol §4.14).
func TestVolatileV1ConvertsEventNumbers(t *testing.T) {
	db := openDB(t)
	write(t, db, "gone", "e0")
	s := newSvc(t, db, nil)
	c := newRecConn(16)
	i1, i2, iall := codec.NewGUID(), codec.NewGUID(), codec.NewGUID()
	s.Subscribe(c, i1, "gone", false, true)
	confirmation(t, c.next(t), i1)
	s.Subscribe(c, i2, "gone", true, false)
	confirmation(t, c.next(t), i2)
	s.Subscribe(c, iall, "", false, true)
	confirmation(t, c.next(t), iall)
	op := &store.Op{Kind: store.OpDelete, Stream: "gone", ExpectedVersion: store.ExpectedVersionAny, HardDelete: true}
	if err := db.Do(context.Background(), op); err != nil || op.Result.Status != store.OpSuccess {
		t.Fatalf("hard delete: %v %v", err, op.Result.Status)
	}
	want := map[codec.GUID]int64{i1: math.MaxInt32, i2: math.MaxInt64, iall: math.MaxInt32}
	for range want {
		p := c.next(t)
		ev := appeared(t, p, p.CorrelationID)
		if ev.Event.EventNumber != want[p.CorrelationID] {
			t.Fatalf("push to %v: event number %d; want %d", p.CorrelationID, ev.Event.EventNumber, want[p.CorrelationID])
		}
	}
	for _, v1 := range []bool{true, false} {
		id := codec.NewGUID()
		s.Subscribe(c, id, "gone", false, v1)
		m := confirmation(t, c.next(t), id)
		if w := map[bool]int64{true: math.MaxInt32, false: math.MaxInt64}[v1]; m.LastEventNumber != w {
			t.Fatalf("v1=%v: confirmation last event number %d; want %d", v1, m.LastEventNumber, w)
		}
	}
	// Small numbers are the same in both versions: a V1 subscriber of
	// links gets the same resolved push as a V2 one.
	write(t, db, "target", "t0")
	appeared(t, c.next(t), iall)
	iv1, iv2 := codec.NewGUID(), codec.NewGUID()
	s.Subscribe(c, iv1, "links", true, true)
	confirmation(t, c.next(t), iv1)
	s.Subscribe(c, iv2, "links", true, false)
	confirmation(t, c.next(t), iv2)
	lop := &store.Op{Kind: store.OpWrite, Stream: "links", ExpectedVersion: store.ExpectedVersionAny,
		Events: []store.NewEvent{{ID: codec.NewGUID(), Type: "$>", Data: []byte("0@target")}}}
	if err := db.Do(context.Background(), lop); err != nil {
		t.Fatal(err)
	}
	a, b := c.next(t), c.next(t)
	appeared(t, c.next(t), iall)
	if string(a.Payload) != string(b.Payload) || !appeared(t, a, a.CorrelationID).HasLink {
		t.Fatalf("V1 and V2 resolved pushes differ: %x / %x", a.Payload, b.Payload)
	}
}

func TestV1EventNumberConversion(t *testing.T) {
	for _, c := range []struct{ in, want int64 }{
		{0, 0}, {-1, -1}, {math.MaxInt32, math.MaxInt32}, {math.MaxInt32 + 1, math.MinInt32},
		{1 << 32, 0}, {math.MaxInt64, math.MaxInt32},
	} {
		if got := records.V1EventNumber(c.in); got != c.want {
			t.Errorf("V1EventNumber(%d) = %d; want %d", c.in, got, c.want)
		}
	}
}

// With no subscriber the service skips what is committed instead of
// reading it; a subscriber arriving after such writes (before any, and
// after the last one left) is confirmed at the last commit and gets only
// what is written after it.
func TestVolatileIdleServiceConfirmsAtTheEnd(t *testing.T) {
	db := openDB(t)
	s := newSvc(t, db, nil)
	c := newRecConn(64)
	for round := 0; round < 3; round++ {
		for i := 0; i < 20; i++ {
			write(t, db, fmt.Sprintf("idle-%d", i%3), fmt.Sprintf("old-%d-%d", round, i))
		}
		corr := codec.NewGUID()
		sub, err := s.Subscribe(c, corr, "", false, false)
		if err != nil {
			t.Fatal(err)
		}
		if m := confirmation(t, c.next(t), corr); m.LastCommitPosition != db.LastCommitPosition() {
			t.Fatalf("round %d: confirmed at %d; last commit %d", round, m.LastCommitPosition, db.LastCommitPosition())
		}
		want := fmt.Sprintf("new-%d", round)
		write(t, db, "idle-0", want)
		if ev := appeared(t, c.next(t), corr); ev.Event.EventType != want {
			t.Fatalf("round %d: pushed %s; want %s", round, ev.Event.EventType, want)
		}
		sub.Unsubscribe()
		if r := dropped(t, c.next(t), corr); r != codec.DropUnsubscribed {
			t.Fatalf("reason %v", r)
		}
		c.none(t)
	}
}
