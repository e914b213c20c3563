package tcpsvc

import (
	"github.com/eventstored/eventstored/cluster"
	"github.com/eventstored/eventstored/codec"
)

// NodeState is what Options.State reports for each command: the node's
// state (spec cluster-and-options §4.1) and, in the replica states, the
// master's advertised external endpoints as gossip shows them (§2.4:
// never the bound ones). A single node has no State func and is always
// the master.
type NodeState struct {
	State cluster.VNodeState
	// Master is the master's MasterInfo for NotHandled(NotMaster); nil
	// while no master is known.
	Master *codec.MasterInfo
}

// kind classifies r for the acceptance table (cluster.Decide).
func (r *request) kind() cluster.RequestKind {
	switch r.cmd {
	case codec.WriteEventsCommand, codec.DeleteStreamCommand, codec.TransactionStartCommand,
		codec.TransactionWriteCommand, codec.TransactionCommitCommand:
		return cluster.Write
	case codec.CreatePersistentSubscriptionCommand, codec.UpdatePersistentSubscriptionCommand,
		codec.DeletePersistentSubscriptionCommand, codec.ConnectToPersistentSubscriptionCommand:
		return cluster.PersistentSubscription
	case codec.SubscribeToStreamCommand:
		return cluster.Subscribe
	}
	// Reads, and ScavengeDatabase, which runs on whichever node gets it.
	return cluster.Read
}

// requireMaster returns the decoded request's require_master flag.
func (r *request) requireMaster() bool {
	switch r.cmd {
	case codec.WriteEventsCommand:
		return r.we.RequireMaster
	case codec.DeleteStreamCommand:
		return r.ds.RequireMaster
	case codec.TransactionStartCommand:
		return r.ts.RequireMaster
	case codec.TransactionWriteCommand:
		return r.tw.RequireMaster
	case codec.TransactionCommitCommand:
		return r.tc.RequireMaster
	case codec.ReadEventCommand:
		return r.re.RequireMaster
	case codec.ReadStreamEventsForwardCommand, codec.ReadStreamEventsBackwardCommand:
		return r.rs.RequireMaster
	case codec.ReadAllEventsForwardCommand, codec.ReadAllEventsBackwardCommand:
		return r.ra.RequireMaster
	}
	return false
}

// admit applies the acceptance table of spec §4.3 / §7.1-§7.2 (one
// table, cluster.Decide) to r, after authentication as in the original.
// It reports whether r may run here; if not, r has been answered
// (NotHandled) or forwarded to the master, and the caller releases r.
func (s *Service) admit(r *request) bool {
	if s.opts.State == nil {
		return true
	}
	st := s.opts.State()
	switch cluster.Decide(st.State, r.kind(), r.requireMaster(), st.Master != nil) {
	case cluster.Serve:
		return true
	case cluster.Forward:
		// On the internal listener the write was forwarded here by a node
		// that takes this one for the master: it is not sent on (two
		// replicas with different views would bounce it until the
		// in-flight limits ran out). Like a replica without a forwarder,
		// this node answers NotMaster with the master it knows (the
		// forwarding node relays it and the client goes there), or
		// NotReady.
		if f := s.opts.Forwarder; f != nil && !r.sess.internal {
			f.forward(r)
			return false
		}
		fallthrough
	case cluster.NotMaster:
		if st.Master != nil {
			r.sess.sendNotMaster(&r.corr, st.Master)
			return false
		}
	}
	r.sess.sendNotHandled(&r.corr, codec.NotHandledNotReady)
	return false
}

func (ss *Session) sendNotMaster(id *codec.GUID, mi *codec.MasterInfo) {
	if ss.closed.Load() {
		return
	}
	b := smallBufPool.Get().(*[]byte)
	// Rare (a misdirected client reconnects at once): the MasterInfo
	// encoding may allocate.
	m := codec.NotHandled{Reason: codec.NotHandledNotMaster, AdditionalInfo: codec.AppendMasterInfo(nil, mi)}
	buf, start := codec.AppendFrameStart((*b)[:0], codec.NotHandledCommand, codec.FlagNone, id)
	buf = codec.AppendNotHandled(buf, &m)
	_ = codec.FinishFrame(buf, start)
	*b = buf
	_ = ss.conn.Send(buf)
	smallBufPool.Put(b)
}
