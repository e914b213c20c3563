package clustertest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

func app(client int, stream string, exp int64, call, ret int64, out StreamOutput, ids ...string) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Call: call, Return: ret,
		Input: StreamInput{Kind: OpAppend, Stream: stream, Expected: exp, IDs: ids}, Output: out}
}

func rd(client int, stream string, call, ret int64, ids ...string) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Call: call, Return: ret,
		Input: StreamInput{Kind: OpRead, Stream: stream}, Output: StreamOutput{IDs: ids}}
}

func ok(first, last int64) StreamOutput { return StreamOutput{Outcome: Ok, First: first, Last: last} }

var (
	wrong    = StreamOutput{Outcome: WrongVersion}
	unknown  = StreamOutput{Outcome: Unknown}
	noEffect = StreamOutput{Outcome: NoEffect}
)

// TestStreamModel runs the checker over small histories, each either
// linearizable or not, including the failures the partition test looks
// for: a lost acknowledged write, a stale read, two exact-version appends
// both acknowledged, an unknown write that appears and then disappears.
func TestStreamModel(t *testing.T) {
	model := StreamModel.ToModel()
	cases := []struct {
		name string
		ops  []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"sequential appends and read", []porcupine.Operation{
			app(0, "s", ExpectedNoStream, 0, 1, ok(0, 0), "a"),
			app(0, "s", 0, 2, 3, ok(1, 2), "b", "c"),
			rd(1, "s", 4, 5, "a", "b", "c"),
		}, porcupine.Ok},
		{"concurrent appends in either order", []porcupine.Operation{
			app(0, "s", ExpectedAny, 0, 10, ok(1, 1), "a"),
			app(1, "s", ExpectedAny, 1, 9, ok(0, 0), "b"),
			rd(2, "s", 11, 12, "b", "a"),
		}, porcupine.Ok},
		{"read concurrent with an append may miss it", []porcupine.Operation{
			app(0, "s", ExpectedAny, 0, 10, ok(0, 0), "a"),
			rd(1, "s", 1, 2),
			rd(1, "s", 11, 12, "a"),
		}, porcupine.Ok},
		{"lost acknowledged write", []porcupine.Operation{
			app(0, "s", ExpectedAny, 0, 1, ok(0, 0), "a"),
			app(0, "s", ExpectedAny, 2, 3, ok(1, 1), "b"),
			rd(1, "s", 4, 5, "a"),
		}, porcupine.Illegal},
		{"stale read after the append returned", []porcupine.Operation{
			app(0, "s", ExpectedAny, 0, 1, ok(0, 0), "a"),
			rd(1, "s", 2, 3),
		}, porcupine.Illegal},
		{"two exact-version appends both acknowledged", []porcupine.Operation{
			app(0, "s", ExpectedNoStream, 0, 10, ok(0, 0), "a"),
			app(1, "s", ExpectedNoStream, 1, 9, ok(0, 0), "b"),
		}, porcupine.Illegal},
		{"wrong numbers for an acknowledged append", []porcupine.Operation{
			app(0, "s", ExpectedAny, 0, 1, ok(0, 0), "a"),
			app(0, "s", ExpectedAny, 2, 3, ok(0, 0), "b"),
		}, porcupine.Illegal},
		{"wrong version where the version matched", []porcupine.Operation{
			app(0, "s", ExpectedAny, 0, 1, ok(0, 0), "a"),
			app(0, "s", 0, 2, 3, wrong, "b"),
		}, porcupine.Illegal},
		{"wrong version where it did not match", []porcupine.Operation{
			app(0, "s", ExpectedAny, 0, 1, ok(0, 0), "a"),
			app(0, "s", ExpectedNoStream, 2, 3, wrong, "b"),
			app(0, "s", ExpectedStreamExists, 4, 5, ok(1, 1), "c"),
			rd(0, "s", 6, 7, "a", "c"),
		}, porcupine.Ok},
		{"unknown outcome applied", []porcupine.Operation{
			app(0, "s", ExpectedAny, 0, UnknownReturn, unknown, "a"),
			rd(1, "s", 5, 6),
			rd(1, "s", 7, 8, "a"),
			rd(1, "s", 9, 10, "a"),
		}, porcupine.Ok},
		{"unknown outcome never applied", []porcupine.Operation{
			app(0, "s", ExpectedAny, 0, UnknownReturn, unknown, "a"),
			app(1, "s", ExpectedNoStream, 5, 6, ok(0, 0), "b"),
			rd(1, "s", 7, 8, "b"),
		}, porcupine.Ok},
		{"unknown outcome seen, then gone", []porcupine.Operation{
			app(0, "s", ExpectedAny, 0, UnknownReturn, unknown, "a"),
			rd(1, "s", 5, 6, "a"),
			rd(1, "s", 7, 8),
		}, porcupine.Illegal},
		{"no-effect refusal never shows up", []porcupine.Operation{
			app(0, "s", ExpectedAny, 0, 1, noEffect, "a"),
			rd(1, "s", 2, 3, "a"),
		}, porcupine.Illegal},
		{"streams are independent", []porcupine.Operation{
			app(0, "s", ExpectedNoStream, 0, 1, ok(0, 0), "a"),
			app(1, "t", ExpectedNoStream, 0, 1, ok(0, 0), "b"),
			rd(2, "t", 2, 3, "b"),
			rd(2, "s", 2, 3, "a"),
		}, porcupine.Ok},
		{"a violation on one stream among many", []porcupine.Operation{
			app(0, "s", ExpectedNoStream, 0, 1, ok(0, 0), "a"),
			app(1, "t", ExpectedNoStream, 0, 1, ok(0, 0), "b"),
			rd(2, "t", 2, 3, "b"),
			rd(2, "s", 2, 3),
		}, porcupine.Illegal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, info := porcupine.CheckOperationsVerbose(model, c.ops, 10*time.Second)
			if got != c.want {
				t.Errorf("checker says %s; want %s", got, c.want)
			}
			if got == porcupine.Illegal {
				// The visualization must render (it is written for failures of the partition test).
				if err := porcupine.Visualize(model, info, discard{}); err != nil {
					t.Errorf("visualize: %v", err)
				}
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestDescribeViolationsPointsAtTheStaleRead: in a long history whose
// only fault is one stale read, the description names the time of that
// read and marks it, and lists the acknowledged append it missed.
func TestDescribeViolationsPointsAtTheStaleRead(t *testing.T) {
	h := NewHistory()
	var ids []string
	now := int64(0)
	for k := range 100 {
		id := fmt.Sprintf("id%06d", k)
		h.Add(app(k%3, "s", ExpectedAny, now, now+1, ok(int64(k), int64(k)), id))
		ids = append(ids, id)
		now += 2
		if k == 60 {
			// Misses id000060, acknowledged before the read began.
			h.Add(rd(3, "s", now, now+1, ids[:60]...))
			now += 2
		}
		if k%10 == 0 {
			h.Add(rd(3, "s", now, now+1, ids...))
			now += 2
		}
	}
	d := DescribeViolations(h, 10*time.Second)
	staleAt := time.Duration(135).String() // the stale read's return
	for _, want := range []string{"stream s is not linearizable", "known at " + staleAt, "! (stale: 61 events were acknowledged before it began) read → 60 events", "append(exp -2, [id000060]) → ok 60..60"} {
		if !strings.Contains(d, want) {
			t.Fatalf("description lacks %q:\n%s", want, d)
		}
	}
	if strings.Contains(d, "id000099") {
		t.Fatalf("description lists ops after the violation:\n%s", d)
	}
}
