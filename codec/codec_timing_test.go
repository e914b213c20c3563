package codec

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"testing"
)

var benchSink int

func BenchmarkSplitDecodePackage(b *testing.B) {
	stream, _ := sampleStream(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	for i := 0; i < b.N; i++ {
		buf := stream
		for {
			pkg, n, _ := SplitFrame(buf)
			if n == 0 {
				break
			}
			p, _ := DecodePackage(pkg)
			benchSink += len(p.Payload)
			buf = buf[n:]
		}
	}
}

// BenchmarkFramingBaselineBufio is the plain bufio + io.ReadFull framing a
// straightforward server would use, for comparison with SplitFrame.
func BenchmarkFramingBaselineBufio(b *testing.B) {
	stream, _ := sampleStream(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	rd := bytes.NewReader(stream)
	br := bufio.NewReader(rd)
	for i := 0; i < b.N; i++ {
		rd.Reset(stream)
		br.Reset(rd)
		var hdr [4]byte
		for {
			if _, err := io.ReadFull(br, hdr[:]); err != nil {
				break
			}
			pkg := make([]byte, binary.LittleEndian.Uint32(hdr[:]))
			_, _ = io.ReadFull(br, pkg)
			benchSink += len(pkg)
		}
	}
}

func BenchmarkDecodeWriteEvents10(b *testing.B) {
	src := sampleWriteEvents(10)
	enc := AppendWriteEvents(nil, &src)
	var m WriteEvents
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for i := 0; i < b.N; i++ {
		if err := DecodeWriteEvents(enc, &m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeReadStreamEventsCompleted20(b *testing.B) {
	m := sampleReadCompleted(20)
	id := seqGUID(1)
	buf := make([]byte, 0, 64<<10)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = AppendMessageFrame(buf[:0], ReadStreamEventsForwardCompletedCommand, &id, &m, AppendReadStreamEventsCompleted)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeReadStreamEventsCompleted20(b *testing.B) {
	m := sampleReadCompleted(20)
	enc := AppendReadStreamEventsCompleted(nil, &m)
	var d ReadStreamEventsCompleted
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for i := 0; i < b.N; i++ {
		if err := DecodeReadStreamEventsCompleted(enc, &d); err != nil {
			b.Fatal(err)
		}
	}
}

// samplePush is a volatile push as esbench subscribe receives it: a small
// event with a 100-byte body on a short stream (the fan-out figure's
// workload, node/subscriptions/doc.go).
func samplePush() StreamEventAppeared {
	rec := EventRecord{EventStreamID: "bench-1x2y3z-fanout", EventNumber: 123456, EventID: id16(7), EventType: "tick",
		Data: make([]byte, 100), Metadata: []byte{}, Created: 638000000000000000, CreatedEpoch: 1700000000000}
	return StreamEventAppeared{Event: ResolvedEvent{Event: rec, HasEvent: true, CommitPosition: 1 << 33, PreparePosition: 1 << 33}}
}

func BenchmarkDecodeStreamEventAppeared(b *testing.B) {
	m := samplePush()
	enc := AppendStreamEventAppeared(nil, &m)
	var d StreamEventAppeared
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for i := 0; i < b.N; i++ {
		if err := DecodeStreamEventAppeared(enc, &d); err != nil {
			b.Fatal(err)
		}
	}
	benchSink += int(d.Event.Event.EventNumber)
}
