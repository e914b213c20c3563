package bench

import (
	"testing"

	"github.com/eventstored/eventstored/codec"
)

// TestSubscriberCheck: the subscribe workload accepts exactly the pushes
// of its stream in event-number order from the confirmation on, and
// counts every other push once.
func TestSubscriberCheck(t *testing.T) {
	push := func(stream string, num int64) *codec.ResolvedEvent {
		return &codec.ResolvedEvent{HasEvent: true, Event: codec.EventRecord{EventStreamID: stream, EventNumber: num}}
	}
	c := &subscriberCheck{stream: "s"}
	steps := []struct {
		ev   *codec.ResolvedEvent
		want string
	}{
		{push("s", 5), "push before the confirmation"},
	}
	for i, st := range steps {
		if got := c.check(st.ev); got != st.want {
			t.Fatalf("step %d: unexpected result; got %q; want %q", i, got, st.want)
		}
	}
	c.start(4) // the stream's last event was 4
	steps = []struct {
		ev   *codec.ResolvedEvent
		want string
	}{
		{push("s", 5), ""},
		{push("s", 6), ""},
		{push("t", 7), "push of another stream"},
		{&codec.ResolvedEvent{}, "push of another stream"},
		{push("s", 7), ""},
		{push("s", 9), "push gap (event numbers skipped)"},
		{push("s", 10), ""},
		{push("s", 10), "push repeated or out of order"},
		{push("s", 11), ""},
		{push("s", 3), "push repeated or out of order"},
		{push("s", 4), ""},
	}
	for i, st := range steps {
		if got := c.check(st.ev); got != st.want {
			t.Fatalf("step %d (%d): unexpected result; got %q; want %q", i, st.ev.Event.EventNumber, got, st.want)
		}
	}
}
