package node

import "strings"

// ESVersion is the Event Store version this server presents in /info and
// --version: the protocol level it is compatible with.
const ESVersion = "4.0.3.0"

// VNodeState is the node state of spec cluster-and-options §4.1. The
// ordinals are Event Store's: clients rank gossip members by them.
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
