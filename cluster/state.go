package cluster

import "strings"

// VNodeState is the node state of spec cluster-and-options §4.1. The
// ordinals are Event Store's: clients rank gossip members by them
// (Master > PreMaster > Slave > ...), so they must never be reordered.
type VNodeState int32

const (
	StateInitializing VNodeState = iota
	StateUnknown
	StatePreReplica
	StateCatchingUp
	StateClone
	StateSlave
	StatePreMaster
	StateMaster
	StateManager
	StateShuttingDown
	StateShutdown
)

var stateNames = [...]string{"Initializing", "Unknown", "PreReplica", "CatchingUp", "Clone", "Slave",
	"PreMaster", "Master", "Manager", "ShuttingDown", "Shutdown"}

// String returns the gossip name ("Master").
func (s VNodeState) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return "VNodeState(?)"
	}
	return stateNames[s]
}

// InfoName returns the lower-case name /info reports ("master").
func (s VNodeState) InfoName() string { return strings.ToLower(s.String()) }

// ParseVNodeState parses a gossip state name case-insensitively (incoming
// gossip is parsed leniently, spec §3.4).
func ParseVNodeState(name string) (VNodeState, bool) {
	for i, n := range stateNames {
		if strings.EqualFold(n, name) {
			return VNodeState(i), true
		}
	}
	return 0, false
}

// IsReplica reports the replica states of §4.1 (CatchingUp, Clone, Slave)
// plus PreReplica, which §4.3 handles alongside them.
func (s VNodeState) IsReplica() bool {
	return s == StatePreReplica || s == StateCatchingUp || s == StateClone || s == StateSlave
}
