package tcpsvc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/eventstored/eventstored/cluster"
	"github.com/eventstored/eventstored/codec"
	"github.com/eventstored/eventstored/reactor"
)

var sinkBytes int

// BenchmarkReadStreamForward20 measures one ReadStreamEventsForward of 20
// small events on a worker: access check, store read, reply encode, send
// to a discarding connection.
func BenchmarkReadStreamForward20(b *testing.B) {
	e := newEnv(b, nil)
	c := e.client(b)
	evs := make([]codec.NewEvent, 20)
	for i := range evs {
		evs[i] = newEvent("OrderPlaced", `{"orderId":"12345","amount":100}`)
	}
	c.write(anon, "bench-s", -1, evs...)
	conn := &discardConn{}
	w := &worker{s: e.svc, rd: e.db.NewReader()}
	r := requestPool.Get().(*request)
	r.s, r.sess, r.cmd, r.corr = e.svc, e.svc.Open(conn), codec.ReadStreamEventsForwardCommand, codec.NewGUID()
	r.rs = codec.ReadStreamEvents{EventStreamID: "bench-s", FromEventNumber: 0, MaxCount: 20}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.execRead(r)
	}
	b.StopTimer()
	sinkBytes = conn.n
	b.SetBytes(int64(conn.n / max(b.N, 1)))
	b.ReportMetric(float64(b.N*20)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkHandleWriteEvents measures the event-loop side of a one-event
// WriteEvents (copy, decode, access check, Submit) plus the writer's
// round trip, one at a time.
func BenchmarkHandleWriteEvents(b *testing.B) {
	e := newEnv(b, nil)
	c := e.client(b)
	ev := newEvent("OrderPlaced", `{"orderId":"12345","amount":100}`)
	m := codec.WriteEvents{EventStreamID: "bench-w", ExpectedVersion: -2, Events: []codec.NewEvent{ev}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := codec.NewGUID()
		copy(ev.EventID, id[:])
		c.send(codec.WriteEventsCommand, id, anon, codec.AppendWriteEvents(nil, &m))
		<-c.conn.ch
	}
}

// BenchmarkTCPPipelinedWrites drives one loopback connection through the
// reactor with up to 1,000 single-event WriteEvents in flight, against a
// store on the real disk (t.TempDir(), group commit). It reports events/s.
func BenchmarkTCPPipelinedWrites(b *testing.B) {
	pipelinedWrites(b, startTestServer(b), 1000)
}

// BenchmarkTCPSequentialWrites is BenchmarkTCPPipelinedWrites with one
// write in flight: the round trip of one write.
func BenchmarkTCPSequentialWrites(b *testing.B) {
	pipelinedWrites(b, startTestServer(b), 1)
}

// BenchmarkTCPPipelinedWritesForwarded is BenchmarkTCPPipelinedWrites
// through a slave: the client talks to a slave's listener, whose
// forwarder sends every write over one loopback connection to the master
// (the server of BenchmarkTCPPipelinedWrites) and relays the replies.
func BenchmarkTCPPipelinedWritesForwarded(b *testing.B) {
	pipelinedWrites(b, startForwardingSlave(b), 1000)
}

// BenchmarkTCPSequentialWritesForwarded: one write in flight through a
// slave; the difference to BenchmarkTCPSequentialWrites is the cost of a
// forward's two extra hops.
func BenchmarkTCPSequentialWritesForwarded(b *testing.B) {
	pipelinedWrites(b, startForwardingSlave(b), 1)
}

// startForwardingSlave starts a master (startTestServer) and a slave
// service on its own listener whose forwarder points at the master; it
// returns the slave's address.
func startForwardingSlave(b *testing.B) string {
	master := startTestServer(b)
	f := NewForwarder(ForwarderOptions{Logger: quietLogger(), Timeout: time.Minute})
	if err := f.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(f.Stop)
	mi := &codec.MasterInfo{ExternalTCPAddress: "127.0.0.1", ExternalTCPPort: 1113}
	e := newEnv(b, func(o *Options) {
		o.State = func() NodeState { return NodeState{State: cluster.StateSlave, Master: mi} }
		o.Forwarder = f
	})
	f.SetMaster(master)
	waitFor(b, f.Connected)
	srv := reactor.NewServer(reactor.Config{Name: "external TCP", Addr: "127.0.0.1:0", Logger: quietLogger()}, e.svc.Handler())
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Stop(ctx)
	})
	return srv.Addr()
}

func pipelinedWrites(b *testing.B, addr string, window int) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ev := newEvent("OrderPlaced", `{"orderId":"12345","amount":100}`)
	m := codec.WriteEvents{EventStreamID: "bench-tcp", ExpectedVersion: -2, Events: []codec.NewEvent{ev}}
	payload := codec.AppendWriteEvents(nil, &m)
	// Offset of the event id inside the payload, to make every event new.
	idOff := bytes.Index(payload, ev.EventID)
	done := make(chan error, 1)
	tokens := make(chan struct{}, window)
	go func() {
		rd := bufio.NewReaderSize(conn, 1<<16)
		var hdr [4]byte
		body := make([]byte, 0, 256)
		for got := 0; got < b.N; {
			if _, err := io.ReadFull(rd, hdr[:]); err != nil {
				done <- err
				return
			}
			n := int(binary.LittleEndian.Uint32(hdr[:]))
			body = body[:n]
			if _, err := io.ReadFull(rd, body); err != nil {
				done <- err
				return
			}
			switch codec.Command(body[0]) {
			case codec.WriteEventsCompletedCommand:
				got++
				<-tokens
			case codec.HeartbeatRequestCommand:
			default:
				done <- fmt.Errorf("unexpected reply %s", codec.Command(body[0]))
				return
			}
		}
		done <- nil
	}()
	b.ReportAllocs()
	b.ResetTimer()
	var batch []byte
	for i := 0; i < b.N; i++ {
		if len(batch) > 0 && len(tokens) == cap(tokens) {
			if _, err := conn.Write(batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
		tokens <- struct{}{}
		id := codec.NewGUID()
		copy(payload[idOff:], id[:])
		batch = codec.AppendFrame(batch, codec.WriteEventsCommand, &id, payload)
		if len(batch) > 64<<10 || i == b.N-1 {
			if _, err := conn.Write(batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
