package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/eventstored/eventstored/cluster"
	"github.com/eventstored/eventstored/store"
)

// Replicator is the store's Committer on a cluster node (store.Committer):
// the master's writer hands it each group commit, it proposes the batch as
// one raft entry (planned at the log position the writer chose), every
// node writes the entry into its transaction log (TlogDisk), and once a
// majority has it durable the entry is committed and applied:
//
//	writer goroutine   Commit(b) ──► driver inbox (blocks when full)
//	driver goroutine   propose(b): check the plan, raft Propose
//	                   onApply(committed entries):
//	                     own batch  → apply queue: db.ApplyBatch(b)  (acks the clients)
//	                     any other  → apply queue: db.ApplyTo(entry end)
//	                     own term's empty entry → db.Lead(end): the writer starts
//	                   onStatus / onTruncate: leadership lost → db.FailBatches
//	apply goroutine    runs the queue in order (Done callbacks, index adds)
//
// The apply goroutine keeps index adds and client acknowledgements off
// the raft loop, which meanwhile saves and sends the next entries.
//
// Leadership: the writer proposes only while this node leads and has
// applied the empty entry raft appends at the start of its term (so every
// earlier entry is applied and the log end is known). Losing leadership
// fails the batches in flight (their clients learn the write's outcome is
// unknown; a batch that still commits under the next master is applied
// like any other node's entry). A proposal raft refuses while this node
// still leads fails the batches in flight too, and a fresh empty entry is
// proposed: leading resumes when it is applied, at a log end no batch of
// the failed generation was planned at.
type Replicator struct {
	log *slog.Logger
	q   chan applyMsg
	wg  sync.WaitGroup

	db   *store.DB
	disk *TlogDisk
	d    *Driver

	stopOnce sync.Once
	// Refused counts proposals refused (raft, plan mismatch) while
	// leading; Stale counts batches dropped because they belonged to a
	// failed generation.
	Refused, Stale atomic.Uint64
	// Failed is set once an apply failure stopped consensus.
	Failed atomic.Bool
	// Proposed and ProposedRecords count the batches proposed and their
	// records (the writes per raft entry).
	Proposed, ProposedRecords atomic.Uint64
	// masterGated: the last published status said PreMaster only
	// because the store had not yet applied the entries before the
	// term's first (gateMaster); the apply goroutine then wakes the
	// driver after each apply so that Master is published at once.
	masterGated atomic.Bool
	// Stages sums, over this node's own batches, where a write's time
	// goes between the writer handing the batch over and its clients
	// being acknowledged (figures of doc.go, "Where the time goes").
	Stages Stages

	// Driver goroutine only.
	leading  bool
	leadTerm uint64
	nextEnd  int64 // planned log end after the last proposed batch
	pending  []pendingBatch
	// releadTerm is the term in which an empty entry was proposed to
	// resume leading (after a refused proposal).
	releadTerm uint64
	// propBuf is the reused buffer proposals are encoded in.
	propBuf []byte
}

// propBufKeepMax: a proposal buffer larger than this (a burst of large
// events) is not kept for the next proposal.
const propBufKeepMax = 1 << 20

type pendingBatch struct {
	b        *store.Batch
	planned  int64 // header position; -1 for an empty batch
	term     uint64
	handed   int64 // nanotime of Commit (writer goroutine)
	proposed int64 // nanotime of the proposal (driver goroutine)
}

// Stages are sums of nanoseconds over Batches own batches applied, one
// per stage of the write path. Any goroutine reads them.
type Stages struct {
	// Batches counts own non-empty batches applied.
	Batches atomic.Uint64
	// Queue: Commit (writer) → proposed on the driver goroutine.
	Queue atomic.Int64
	// Replicate: proposed → committed (a majority has it durable) and
	// handed to the apply goroutine.
	Replicate atomic.Int64
	// ApplyWait: handed to the apply goroutine → its apply starts.
	ApplyWait atomic.Int64
	// Apply: ApplyBatch (index adds, clients' Done callbacks).
	Apply atomic.Int64
}

// nanotime is a monotonic clock reading for the stage sums.
func nanotime() int64 { return int64(time.Since(epoch)) }

var epoch = time.Now()

type applyKind uint8

const (
	applyOwn applyKind = iota
	applyTo
	applyLead
	applyFail
)

type applyMsg struct {
	kind applyKind
	b    *store.Batch
	end  int64
	err  error
	// Own batches: when the batch was handed over, proposed and
	// committed (nanotime; 0 for an empty batch).
	handed, proposed, committed int64
}

// applyQueueMax bounds the apply queue; the driver waits when it is full
// (the store's pipeline depth bounds own batches; the rest are positions).
const applyQueueMax = 1024

// ErrLeadershipLost: a batch in flight when this node stopped leading.
// Whether it commits is decided by the next master; the store wraps it
// in store.ErrCommitUnknown for the ops, which the fronts answer
// CommitTimeout / 500 "Write timeout": the client reads back or retries
// (idempotent by event id).
var ErrLeadershipLost = errors.New("consensus: leadership lost before the write was committed")

// NewReplicator returns a committer to pass in store.Options.Committer;
// Start attaches it to the opened store, its TlogDisk and the driver.
func NewReplicator(log *slog.Logger) *Replicator {
	if log == nil {
		log = slog.Default()
	}
	return &Replicator{log: log, q: make(chan applyMsg, applyQueueMax)}
}

// HeaderBytes implements store.Committer: each batch is preceded by its
// raft entry header record.
func (r *Replicator) HeaderBytes() int { return EntryHeaderBytes }

// Attach gives the replicator its store and disk and starts the apply
// goroutine; the driver follows with SetDriver (it is created once the
// cluster's voters are known).
func (r *Replicator) Attach(db *store.DB, disk *TlogDisk) {
	r.db, r.disk = db, disk
	prev := disk.onTrunc
	disk.onTrunc = func(p int64) {
		if prev != nil {
			prev(p)
		}
		r.onTruncate(p)
	}
	r.wg.Add(1)
	go r.runApply()
}

// setDriver is called by NewDriver.
func (r *Replicator) setDriver(d *Driver) { r.d = d }

// Commit implements store.Committer (writer goroutine): the batch goes to
// the driver, which proposes it. It blocks while the driver's inbox is
// full.
func (r *Replicator) Commit(b *store.Batch) error {
	d := r.d
	if d == nil {
		return ErrNotLeader
	}
	handed := nanotime()
	if !d.do(func() { r.propose(b, handed) }) {
		return ErrDriverStopped
	}
	return nil
}

// Stop ends the apply goroutine once everything queued is applied, then
// fails the batches still in flight (they can no longer commit here), so
// that the store's writer, which may wait for a pipeline slot, can close.
// REQUIRES: the driver has stopped (nothing is queued any more).
func (r *Replicator) Stop() {
	r.stopOnce.Do(func() {
		close(r.q)
		r.wg.Wait()
		if r.db != nil {
			r.db.FailBatches(store.ErrClosed)
		}
	})
}

func (r *Replicator) runApply() {
	defer r.wg.Done()
	var held *applyMsg
	stopped := false
	for {
		var m applyMsg
		if held != nil {
			m, held = *held, nil
		} else {
			var ok bool
			if m, ok = <-r.q; !ok {
				return
			}
		}
		if m.kind == applyTo {
			// A follower applies entry after entry: one ApplyTo for every
			// position already queued (one log read and index add).
		coalesce:
			for {
				select {
				case n, ok := <-r.q:
					if !ok {
						break coalesce
					}
					if n.kind != applyTo {
						held = &n
						break coalesce
					}
					m.end = max(m.end, n.end)
				default:
					break coalesce
				}
			}
		}
		if stopped {
			// The store failed under an apply: nothing more can be
			// applied; the batches in flight are failed once, quietly.
			if m.kind == applyOwn {
				r.db.FailBatches(store.ErrWriterFailed)
			}
			continue
		}
		switch m.kind {
		case applyOwn:
			t0 := nanotime()
			if err := r.db.ApplyBatch(m.b); err != nil {
				r.log.Error("BUG: consensus: a committed batch of this node is not the store's oldest in flight", "err", err)
				stopped = r.applyFailed(err)
			} else if m.handed != 0 {
				now := nanotime()
				r.db.ObserveCommitLatency(time.Duration(now - m.handed))
				st := &r.Stages
				st.Queue.Add(m.proposed - m.handed)
				st.Replicate.Add(m.committed - m.proposed)
				st.ApplyWait.Add(t0 - m.committed)
				st.Apply.Add(now - t0)
				st.Batches.Add(1)
			}
		case applyTo:
			if m.end > r.db.Applied() {
				if err := r.db.ApplyTo(m.end); err != nil {
					r.log.Error("consensus: applying committed entries to the store failed", "end", m.end, "err", err)
					stopped = r.applyFailed(err)
				}
			}
		case applyLead:
			if err := r.db.Lead(m.end); err != nil {
				r.log.Error("consensus: the store cannot start leading", "end", m.end, "err", err)
			} else {
				r.log.Info("consensus: the writer leads", "log_end", m.end)
			}
		case applyFail:
			r.db.FailBatches(m.err)
		}
		if r.masterGated.Load() {
			if d := r.d; d != nil {
				// NB: post may drop the wake-up (inbox full); the next
				// tick publishes anyway.
				d.post(inboxItem{fn: func() {}})
			}
		}
	}
}

// gateMaster runs on the driver goroutine before a status is published:
// a leader whose raft state says Master (its term's first entry handed to
// the apply goroutine) is published as PreMaster until the store has
// applied every entry before that first entry (db.Applied() reaches its
// header, EpochPos). Raft counts an entry applied once it is handed over;
// the store indexes it later on the apply goroutine. A new master serves
// reads (require-master ones too) as soon as the node says Master, so
// without the gate a read in that window missed writes the old master had
// acknowledged: a stale read, not linearizable (Event Store 4.0's master
// too serves reads only once its chaser has caught up:
// TestReplicatorMasterOnlyOnceApplied). Writes were never affected: the
// writer leads only once the apply goroutine reached the term's first
// entry (applyLead).
func (r *Replicator) gateMaster(st *Status) {
	gated := st.State == cluster.StateMaster && r.db != nil && st.EpochPos >= 0 && r.db.Applied() < st.EpochPos
	if gated {
		st.State = cluster.StatePreMaster
	}
	r.masterGated.Store(gated)
}

// applyFailed runs on the apply goroutine after an apply failed. A
// failure that latched the store (its log or index failed: every later
// apply fails too) stops consensus (ErrApplyFailed), so the node reports
// ShuttingDown and its owner stops it, rather than going on reporting
// Slave while applying nothing. Other failures (a precondition such as
// batches of this node still in flight) leave the entries to the next
// ApplyTo, which applies from Applied(). It reports whether consensus
// was stopped.
func (r *Replicator) applyFailed(err error) bool {
	if r.db.Err() == nil {
		return false
	}
	r.Failed.Store(true)
	err = fmt.Errorf("%w: %w", ErrApplyFailed, err)
	if d := r.d; d != nil {
		// do, not post: the failure must reach the driver even when its
		// inbox is full; from its own goroutine, because the driver may
		// be waiting for room in the apply queue this goroutine drains.
		go d.do(func() { d.core.fail(err) })
	}
	return true
}

func (r *Replicator) push(m applyMsg) { r.q <- m }

// propose runs on the driver goroutine.
func (r *Replicator) propose(b *store.Batch, handed int64) {
	if !r.leading || !r.db.Current(b) {
		// NB: a batch of a failed generation (its Commit raced the
		// failure): FailBatches failed or will fail it. It can arrive
		// after leading resumed here and before the store's Lead ran:
		// refusing it then (its planned position no longer matches) would
		// fail the new leadership too, and the empty entry that resumes
		// leading is proposed once per term.
		r.Stale.Add(1)
		return
	}
	if b.Len() == 0 {
		// An empty batch (every op answered from the writer's state) is
		// applied in order after the batches before it.
		if len(r.pending) == 0 {
			r.push(applyMsg{kind: applyOwn, b: b})
		} else {
			r.pending = append(r.pending, pendingBatch{b: b, planned: -1})
		}
		return
	}
	want, _ := PlanAppend(r.disk.ds, r.nextEnd, EntryHeaderBytes)
	if b.HeaderPos() != want {
		r.refused(fmt.Errorf("%w: batch planned at %d, the log continues at %d", ErrPositionMismatch, b.HeaderPos(), want))
		return
	}
	size := 0
	for i := range b.Len() {
		_, p := b.Record(i)
		size += len(p)
	}
	// NB: raft copies a proposal's entry (raft.appendEntry clones it;
	// TestProposalDataIsCopiedByRaft fails if a raft upgrade stops
	// doing so), so one buffer serves every proposal.
	data := r.propBuf[:0]
	if n := BatchSizeBytes(b.Len(), size); cap(data) < n {
		data = make([]byte, 0, n)
	}
	data = AppendBatchHeader(data, want, b.Len())
	for i := range b.Len() {
		_, p := b.Record(i)
		data = AppendBatchRecord(data, p)
	}
	if cap(data) <= propBufKeepMax {
		r.propBuf = data[:0]
	}
	if err := r.d.core.Propose(data); err != nil {
		r.refused(err)
		return
	}
	r.Proposed.Add(1)
	r.ProposedRecords.Add(uint64(b.Len()))
	r.pending = append(r.pending, pendingBatch{b: b, planned: want, term: r.leadTerm, handed: handed, proposed: nanotime()})
	r.nextEnd = b.End()
}

// refused: a proposal could not be made while leading. Every batch in
// flight fails (later ones were planned after this one); leading resumes
// after a fresh empty entry of this term is applied.
func (r *Replicator) refused(err error) {
	r.Refused.Add(1)
	r.log.Warn("consensus: a proposal was refused; failing the writes in flight", "err", err)
	r.fail(err)
	r.maybeRelead()
}

// maybeRelead proposes an empty entry when this node is Master but its
// writer does not lead (a proposal was refused): leading resumes once it
// is applied, at a log end past every batch of the failed generation.
// Once per term; raft refusing it too (a leadership transfer) is retried
// after the next Ready. Driver goroutine.
func (r *Replicator) maybeRelead() {
	if r.leading || r.d == nil {
		return
	}
	st := r.d.core.Status()
	if st.State != cluster.StateMaster || r.releadTerm == st.Term {
		return
	}
	if err := r.d.core.Propose(nil); err == nil {
		r.releadTerm = st.Term
	}
}

// afterDrain runs on the driver goroutine after every Ready.
func (r *Replicator) afterDrain() {
	r.checkLeadership()
	r.maybeRelead()
}

// fail stops leading and fails the batches in flight: the store stops
// taking its writer's batches for current at once (StopLeading), and
// fails them on the apply goroutine after the batches queued before.
// NB: the store must learn it here, not only from the queued
// FailBatches: leading may resume (a fresh empty entry applied) before
// the apply goroutine reaches the failure, and a batch the writer handed
// over meanwhile, planned at the failed generation's end, would be
// proposed for the new leadership and refused (40 bytes, one entry
// header, off: TestReplicatorReleadBeforeStoreFails).
func (r *Replicator) fail(err error) {
	r.leading = false
	r.pending = r.pending[:0]
	if r.db != nil {
		r.db.StopLeading(err)
	}
	r.push(applyMsg{kind: applyFail, err: err})
}

// checkLeadership fails the batches in flight once this node no longer
// leads the term it started leading in. Driver goroutine.
func (r *Replicator) checkLeadership() {
	if !r.leading && len(r.pending) == 0 {
		return
	}
	st := r.d.core.rn.BasicStatus()
	if st.RaftState != raft.StateLeader || st.HardState.GetTerm() != r.leadTerm {
		r.log.Info("consensus: leadership lost; failing the writes in flight", "term", r.leadTerm, "in_flight", len(r.pending))
		r.fail(ErrLeadershipLost)
	}
}

func (r *Replicator) onStatus(Status) { r.checkLeadership() }

// onTruncate: raft cut the log back (this node follows a new leader).
// It runs on the append goroutine, which must not wait for the driver:
// the check is posted (and runs after every Ready anyway).
func (r *Replicator) onTruncate(int64) {
	if d := r.d; d != nil {
		d.post(inboxItem{fn: r.checkLeadership})
	}
}

// onApply receives committed entries in order (driver goroutine).
func (r *Replicator) onApply(ents []*pb.Entry) {
	r.checkLeadership()
	for _, e := range ents {
		if len(r.pending) > 0 && r.pending[0].planned >= 0 && e.GetTerm() == r.pending[0].term {
			if p, ok := plannedPos(e.GetData()); ok && p == r.pending[0].planned {
				pd := &r.pending[0]
				r.push(applyMsg{kind: applyOwn, b: pd.b, handed: pd.handed, proposed: pd.proposed, committed: nanotime()})
				k := 1
				for k < len(r.pending) && r.pending[k].planned < 0 {
					r.push(applyMsg{kind: applyOwn, b: r.pending[k].b})
					k++
				}
				r.pending = append(r.pending[:0], r.pending[k:]...)
				continue
			}
		}
		end := r.disk.EntryEnd(e.GetIndex())
		r.push(applyMsg{kind: applyTo, end: end})
		if !r.leading && e.GetType() == pb.EntryType_EntryNormal && len(e.GetData()) == 0 {
			st := r.d.core.rn.BasicStatus()
			if st.RaftState == raft.StateLeader && e.GetTerm() == st.HardState.GetTerm() {
				r.leading, r.leadTerm, r.nextEnd = true, st.HardState.GetTerm(), end
				// A later refusal in this term may re-lead again: once per
				// term would leave the writer never leading after a second.
				r.releadTerm = 0
				r.push(applyMsg{kind: applyLead, end: end})
			}
		}
	}
}

// plannedPos reads a batch entry's planned header position.
func plannedPos(data []byte) (int64, bool) {
	if len(data) < batchPrefix || data[0] != batchMagic {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint64(data[4:])), true
}
