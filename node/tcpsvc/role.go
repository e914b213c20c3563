package tcpsvc

import "github.com/eventstored/eventstored/codec"

// Role is the node's state as far as client commands are concerned
// (spec §4.13). A single node is always RoleMaster.
type Role uint8

const (
	// RoleMaster executes everything.
	RoleMaster Role = iota
	// RoleSlave: a master is known (NodeState.Master); commands that need
	// it get NotHandled NotMaster with its endpoints.
	RoleSlave
	// RoleUnknown: serving, but no master is known.
	RoleUnknown
	// RoleNotReady: initializing, pre-master, shutting down.
	RoleNotReady
)

// NodeState is what Options.State reports for each command.
type NodeState struct {
	Role Role
	// Master is the master's external endpoints, for RoleSlave.
	Master *codec.MasterInfo
}

// verdict is what the state table decides for one command.
type verdict uint8

const (
	execute verdict = iota
	replyNotMaster
	replyNotReady
)

// decide is the state table of spec §4.13, in one place (STYLE §1): rows
// are command kinds, columns node roles. Writes on a slave get NotMaster
// even without require_master: this server does not forward writes yet, and
// NotMaster sends the client to the master, which is what forwarding would
// achieve.
func decide(write, requireMaster bool, role Role) verdict {
	switch role {
	case RoleMaster:
		return execute
	case RoleSlave:
		if write || requireMaster {
			return replyNotMaster
		}
		return execute
	case RoleUnknown:
		if write || requireMaster {
			return replyNotReady
		}
		return execute
	}
	return replyNotReady
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
	case codec.CreatePersistentSubscriptionCommand, codec.UpdatePersistentSubscriptionCommand,
		codec.DeletePersistentSubscriptionCommand, codec.ConnectToPersistentSubscriptionCommand:
		// Persistent subscriptions live on the master only (spec §4.13).
		return true
	}
	return false
}

// admit applies the state table to r. It reports whether r may run; if
// not, it has answered NotHandled (the caller releases r).
func (s *Service) admit(r *request) bool {
	if s.opts.State == nil {
		return true
	}
	st := s.opts.State()
	switch decide(r.isWrite(), r.requireMaster(), st.Role) {
	case execute:
		return true
	case replyNotMaster:
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
