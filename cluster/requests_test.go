package cluster

import "testing"

func TestDecideTable(t *testing.T) {
	type row struct {
		s    VNodeState
		k    RequestKind
		rm   bool
		mk   bool
		want Decision
	}
	rows := []row{
		{StateInitializing, Read, false, true, NotReady},
		{StatePreMaster, Write, false, true, NotReady},
		{StateShuttingDown, Subscribe, false, true, NotReady},
		{StateShutdown, Read, false, true, NotReady},
		{StateUnknown, Read, false, false, Serve},
		{StateUnknown, Read, true, false, NotReady},
		{StateUnknown, Write, false, false, NotReady},
		{StateUnknown, Write, true, false, NotReady},
		{StateUnknown, Subscribe, false, false, Serve},
		{StateUnknown, PersistentSubscription, false, false, NotReady},
		{StateMaster, Write, true, true, Serve},
		{StateMaster, PersistentSubscription, false, true, Serve},
	}
	for _, rs := range []VNodeState{StatePreReplica, StateCatchingUp, StateClone, StateSlave} {
		rows = append(rows,
			row{rs, Read, false, true, Serve}, row{rs, Read, true, true, NotMaster},
			row{rs, Write, false, true, Forward}, row{rs, Write, true, true, NotMaster},
			row{rs, Subscribe, false, true, Serve},
			row{rs, PersistentSubscription, false, true, NotMaster}, row{rs, PersistentSubscription, false, false, NotReady})
	}
	for _, r := range rows {
		if got := Decide(r.s, r.k, r.rm, r.mk); got != r.want {
			t.Errorf("%v kind %d rm=%v: %v, want %v", r.s, r.k, r.rm, got, r.want)
		}
	}
}

func TestStateNamesAndOrdinals(t *testing.T) {
	// Clients rank members by ordinal: these values are protocol.
	if StateMaster != 7 || StateSlave != 5 || StateManager != 8 || StateShutdown != 10 {
		t.Fatal("ordinals changed")
	}
	for s := StateInitializing; s <= StateShutdown; s++ {
		p, ok := ParseVNodeState(s.InfoName())
		if !ok || p != s {
			t.Fatalf("%v does not round-trip", s)
		}
	}
	if _, ok := ParseVNodeState("Boss"); ok {
		t.Fatal("unknown name parsed")
	}
	if VNodeState(42).String() != "VNodeState(?)" {
		t.Fatal("out of range")
	}
}
