package httpfront

import (
	"fmt"
	"testing"

	"github.com/eventstored/eventstored/store"
)

// unknownOutcomeStore completes every write-side op at once as a cluster
// node's store completes the ops of batches failed in flight
// (store.DB.FailBatches: their entry may still commit elsewhere).
type unknownOutcomeStore struct{ Store }

func (unknownOutcomeStore) Submit(op *store.Op) error {
	op.Result = store.OpResult{Err: fmt.Errorf("%w: consensus: leadership lost", store.ErrCommitUnknown),
		FirstEventNumber: -1, LastEventNumber: -1, CurrentVersion: -1, TransactionID: -1, Pos: store.Position{Commit: -1, Prepare: -1}}
	op.Done(op)
	return nil
}

// A write or delete whose outcome is unknown is answered as Event Store
// answers a commit timeout (500 "Write timeout" / "Delete timeout"), not
// as a node that refuses writes.
func TestWriteWithUnknownOutcomeIsWriteTimeout(t *testing.T) {
	n := newTestNode(t, func(d *Deps) { d.DB = unknownOutcomeStore{d.DB} })
	body := `[{"eventId":"3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c12","eventType":"E","data":{}}]`
	expectStatus(t, n.req(t, "POST", "/streams/unknown-outcome", body, "Content-Type: application/vnd.eventstore.events+json", admin),
		500, "Write timeout")
	expectStatus(t, n.req(t, "DELETE", "/streams/unknown-outcome", "", admin), 500, "Delete timeout")
}
