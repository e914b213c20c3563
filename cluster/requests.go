package cluster

// RequestKind classifies client requests for the acceptance table of
// spec cluster-and-options §4.3.
type RequestKind uint8

const (
	// Read: read event, stream forward/backward, $all forward/backward.
	Read RequestKind = iota
	// Write: append, delete, transaction start/write/commit.
	Write
	// PersistentSubscription: create/update/delete/connect.
	PersistentSubscription
	// Subscribe: volatile subscription (a read-type request).
	Subscribe
)

// Decision is what a node does with a request in its current state.
type Decision uint8

const (
	// Serve locally.
	Serve Decision = iota
	// Forward to the master (TCP: over the internal connection; HTTP:
	// proxy to the master's internal HTTP).
	Forward
	// NotReady: NotHandled(NotReady) / 503.
	NotReady
	// NotMaster: NotHandled(NotMaster, master info) / 307 to the master.
	NotMaster
)

func (d Decision) String() string {
	switch d {
	case Serve:
		return "serve"
	case Forward:
		return "forward"
	case NotReady:
		return "not ready"
	case NotMaster:
		return "not master"
	}
	return "Decision(?)"
}

// Decide is the table of §4.3 (and §7.1/§7.2). masterKnown matters for
// persistent subscriptions on replicas (NotReady when no master is known).
//
//	state                           read(rm=f) read(rm=t) write(rm=f) write(rm=t) persub     subscribe
//	Initializing/PreMaster/ShutDn   NotReady   NotReady   NotReady    NotReady    NotReady   NotReady
//	Unknown                         Serve      NotReady   NotReady    NotReady    NotReady   Serve
//	PreReplica/CatchingUp/Clone/Sl  Serve      NotMaster  Forward     NotMaster   NotMaster* Serve
//	Master                          Serve      Serve      Serve       Serve       Serve      Serve
func Decide(s VNodeState, k RequestKind, requireMaster, masterKnown bool) Decision {
	switch {
	case s == StateMaster:
		return Serve
	case s == StateUnknown:
		if (k == Read && !requireMaster) || k == Subscribe {
			return Serve
		}
		return NotReady
	case s.IsReplica():
		switch k {
		case Read:
			if requireMaster {
				return NotMaster
			}
			return Serve
		case Subscribe:
			return Serve
		case Write:
			if requireMaster {
				return NotMaster
			}
			return Forward
		case PersistentSubscription:
			if !masterKnown {
				return NotReady
			}
			return NotMaster
		}
	}
	return NotReady
}
