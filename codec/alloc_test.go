//go:build !race

package codec

import "testing"

// These prove the hot paths allocate nothing in steady state (STYLE §6).

func TestSplitAndDecodePackageAllocateNothing(t *testing.T) {
	stream, _ := sampleStream(t)
	var sink int
	allocs := testing.AllocsPerRun(1000, func() {
		buf := stream
		for {
			pkg, n, err := SplitFrame(buf)
			if err != nil || n == 0 {
				break
			}
			p, err := DecodePackage(pkg)
			if err != nil {
				t.Fatal(err)
			}
			sink += len(p.Payload) + len(p.Login)
			buf = buf[n:]
		}
	})
	if allocs != 0 {
		t.Fatalf("unexpected allocations; got %v; want 0", allocs)
	}
	_ = sink
}

func TestDecodeWriteEventsAllocatesNothing(t *testing.T) {
	src := sampleWriteEvents(10)
	enc := AppendWriteEvents(nil, &src)
	var m WriteEvents
	allocs := testing.AllocsPerRun(1000, func() {
		if err := DecodeWriteEvents(enc, &m); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 || len(m.Events) != 10 {
		t.Fatalf("unexpected allocations; got %v; want 0 (events %d)", allocs, len(m.Events))
	}
}

func TestEncodeReadStreamEventsCompletedAllocatesNothing(t *testing.T) {
	m := sampleReadCompleted(20)
	id := seqGUID(1)
	buf := make([]byte, 0, 64<<10)
	allocs := testing.AllocsPerRun(1000, func() {
		buf = AppendMessageFrame(buf[:0], ReadStreamEventsForwardCompletedCommand, &id, &m, AppendReadStreamEventsCompleted)
	})
	if allocs != 0 {
		t.Fatalf("unexpected allocations; got %v; want 0", allocs)
	}
	var d ReadStreamEventsCompleted
	pkg, _, _ := SplitFrame(buf)
	p, _ := DecodePackage(pkg)
	if err := DecodeReadStreamEventsCompleted(p.Payload, &d); err != nil || len(d.Events) != 20 {
		t.Fatalf("encoded frame does not decode: %v", err)
	}
	allocs = testing.AllocsPerRun(1000, func() {
		if err := DecodeReadStreamEventsCompleted(p.Payload, &d); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("decode with reused message: got %v allocations; want 0", allocs)
	}
}

func TestDecodeStreamEventAppearedAllocatesNothing(t *testing.T) {
	m := samplePush()
	enc := AppendStreamEventAppeared(nil, &m)
	var d StreamEventAppeared
	allocs := testing.AllocsPerRun(1000, func() {
		if err := DecodeStreamEventAppeared(enc, &d); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 || d.Event.Event.EventNumber != 123456 || d.Event.Event.EventStreamID != "bench-1x2y3z-fanout" {
		t.Fatalf("unexpected allocations; got %v; want 0 (decoded %+v)", allocs, d.Event.Event)
	}
}
