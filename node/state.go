package node

import "github.com/eventstored/eventstored/cluster"

// ESVersion is the Event Store version this server presents in /info and
// --version: the protocol level it is compatible with.
const ESVersion = "4.0.3.0"

// VNodeState is the node state of spec cluster-and-options §4.1; the type
// lives in package cluster, which derives it from consensus state.
type VNodeState = cluster.VNodeState

const (
	StateInitializing = cluster.StateInitializing
	StateUnknown      = cluster.StateUnknown
	StatePreReplica   = cluster.StatePreReplica
	StateCatchingUp   = cluster.StateCatchingUp
	StateClone        = cluster.StateClone
	StateSlave        = cluster.StateSlave
	StatePreMaster    = cluster.StatePreMaster
	StateMaster       = cluster.StateMaster
	StateManager      = cluster.StateManager
	StateShuttingDown = cluster.StateShuttingDown
	StateShutdown     = cluster.StateShutdown
)
