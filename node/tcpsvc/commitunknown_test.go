package tcpsvc

import (
	"fmt"
	"testing"

	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/store"
)

// failingDB completes every op at once with err, as a cluster node's store
// completes the ops of batches failed in flight (store.DB.FailBatches).
type failingDB struct{ err error }

func (d failingDB) Submit(op *store.Op) error {
	op.Result = store.OpResult{Err: d.err, FirstEventNumber: -1, LastEventNumber: -1, CurrentVersion: -1,
		Pos: store.Position{Commit: -1, Prepare: -1}, TransactionID: -1}
	op.Done(op)
	return nil
}

func (failingDB) LastCommitPosition() int64 { return -1 }

// A write whose batch was handed to consensus and then failed (leadership
// lost: it may still commit under the next master) is answered
// CommitTimeout, never NotHandled NotReady (which says it was not done);
// a store that is closed is still NotReady.
func TestWriteWithUnknownOutcomeIsCommitTimeout(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		err        error
		want       codec.Command
		wantResult codec.OperationResult
	}{
		{fmt.Errorf("%w: %w", store.ErrCommitUnknown, fmt.Errorf("consensus: leadership lost")), codec.WriteEventsCompletedCommand, codec.OperationCommitTimeout},
		{store.ErrClosed, codec.NotHandledCommand, 0},
	} {
		svc := New(Options{DB: failingDB{tc.err}, NewReader: func() Reader { return e.db.NewReader() }, Auth: e.auth, Logger: quietLogger()})
		svc.Start()
		conn := newRecConn()
		c := &client{t: t, conn: conn, sess: svc.Open(conn)}
		m := codec.WriteEvents{EventStreamID: "unknown-outcome", ExpectedVersion: -2, Events: []codec.NewEvent{newEvent("E", `{}`)}}
		p := c.call(codec.WriteEventsCommand, admin, codec.AppendWriteEvents(nil, &m), tc.want)
		if tc.want == codec.WriteEventsCompletedCommand {
			var r codec.WriteEventsCompleted
			if err := codec.DecodeWriteEventsCompleted(p.Payload, &r); err != nil || r.Result != tc.wantResult {
				t.Fatalf("%v: got %+v %v; want result %v", tc.err, r, err, tc.wantResult)
			}
		} else {
			var nh codec.NotHandled
			if err := codec.DecodeNotHandled(p.Payload, &nh); err != nil || nh.Reason != codec.NotHandledNotReady {
				t.Fatalf("%v: NotHandled %+v %v", tc.err, nh, err)
			}
		}
		svc.Stop()
	}
}
