package bench

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventstored/eventstored/client"
	"github.com/eventstored/eventstored/codec"
)

// The loop driver against a real node: both drivers, both expected-version
// policies, pipelined and shared connections; every reply is checked by
// the driver, so a run without errors means every write was acknowledged
// with the event numbers it asked for.
func TestLoopDriverMatchesClientDriverOnARealNode(t *testing.T) {
	tcpAddr, _ := startTestNode(t)
	for _, driver := range []string{DriverLoops, DriverClient} {
		t.Run(driver+" any", func(t *testing.T) {
			c := smokeConfig(KindWrite, tcpAddr)
			c.Driver, c.Clients, c.InFlight = driver, 8, 2
			res, err := Run(context.Background(), c, &TCPTarget{Addr: tcpAddr, Credentials: adminCreds}, nil)
			checkRun(t, res, err)
		})
		t.Run(driver+" exact, 3 events, 2 connections", func(t *testing.T) {
			c := smokeConfig(KindWrite, tcpAddr)
			c.Driver, c.Expected, c.Clients, c.InFlight, c.Connections, c.Streams, c.EventsPerWrite = driver, ExpectExact, 4, 3, 2, 24, 3
			res, err := Run(context.Background(), c, &TCPTarget{Addr: tcpAddr, Credentials: adminCreds}, nil)
			checkRun(t, res, err)
			if res.Events != 3*res.Requests {
				t.Fatalf("%d events for %d requests", res.Events, res.Requests)
			}
		})
	}
	t.Run("loops stop after --requests", func(t *testing.T) {
		c := smokeConfig(KindWrite, tcpAddr)
		c.Duration, c.Requests, c.Warmup = 0, 500, 0
		res, err := Run(context.Background(), c, &TCPTarget{Addr: tcpAddr, Credentials: adminCreds}, nil)
		if err != nil {
			t.Fatal(err)
		}
		// In-flight requests may complete after the 500th, before the run
		// stops: at most one per slot.
		if res.Requests < 500 || res.Requests > 500+int64(c.Clients) {
			t.Fatalf("%d requests, want 500..%d", res.Requests, 500+c.Clients)
		}
	})
	t.Run("anonymous writes are refused, not counted", func(t *testing.T) {
		// The node's default ACL lets anyone write to a user stream, so
		// use a system stream name prefix: writes there need admin.
		c := smokeConfig(KindWrite, tcpAddr)
		c.User, c.RunID = "", "x"
		tgt := &TCPTarget{Addr: tcpAddr}
		res, err := runWithStreamPrefix(c, tgt, "$bench-")
		if err != nil {
			t.Fatal(err)
		}
		if res.Events != 0 || res.Errors["access_denied"] == 0 {
			t.Fatalf("want only access_denied errors: %s %v", res.Summary(), res.Errors)
		}
	})
}

// runWithStreamPrefix is Run with stream names under prefix, through the
// loop driver directly (Run names streams itself).
func runWithStreamPrefix(cfg Config, t *TCPTarget, prefix string) (*Result, error) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	tl := &tally{stop: stop, rec: NewRecorder()}
	context.AfterFunc(ctx, func() { tl.ended.Store(true) })
	names := []string{prefix + "1", prefix + "2"}
	wait, err := t.startLoops(ctx, &cfg, names, make([]byte, cfg.EventSize), tl)
	if err != nil {
		return nil, err
	}
	tl.phase.Store(phaseMeasure)
	time.Sleep(200 * time.Millisecond)
	tl.phase.Store(phaseDone)
	res := &Result{Events: tl.events.Load(), Requests: tl.requests.Load(), Errors: tl.errs.counts}
	stop()
	wait()
	return res, nil
}

// fakeNode answers the handshake, then hands every other package to
// answer, which appends its reply frame to dst (nothing: no reply).
type fakeNode struct {
	ln     net.Listener
	answer func(dst []byte, p *codec.Package) []byte
	wg     sync.WaitGroup
	conns  atomic.Int32
}

func startFakeNode(t *testing.T, answer func(dst []byte, p *codec.Package) []byte) *fakeNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeNode{ln: ln, answer: answer}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			f.conns.Add(1)
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer nc.Close()
				f.serve(nc)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); f.wg.Wait() })
	return f
}

func (f *fakeNode) serve(nc net.Conn) {
	r := bufio.NewReader(nc)
	buf := make([]byte, 0, 64<<10)
	chunk := make([]byte, 64<<10)
	var out []byte
	var p codec.Package
	for {
		n, err := r.Read(chunk)
		if err != nil {
			return
		}
		buf = append(buf, chunk[:n]...)
		out = out[:0]
		for {
			pkg, size, err := codec.SplitFrame(buf)
			if err != nil {
				return
			}
			if size == 0 {
				break
			}
			if p, err = codec.DecodePackage(pkg); err != nil {
				return
			}
			switch p.Command {
			case codec.Authenticate:
				out = codec.AppendFrame(out, codec.Authenticated, &p.CorrelationID, nil)
			case codec.IdentifyClientCommand:
				out = codec.AppendFrame(out, codec.ClientIdentifiedCommand, &p.CorrelationID, nil)
			case codec.HeartbeatRequestCommand:
				out = codec.AppendFrame(out, codec.HeartbeatResponseCommand, &p.CorrelationID, nil)
			default:
				out = f.answer(out, &p)
			}
			buf = buf[:copy(buf, buf[size:])]
		}
		if len(out) > 0 {
			if _, err := nc.Write(out); err != nil {
				return
			}
		}
	}
}

func writeReply(dst []byte, p *codec.Package, r codec.WriteEventsCompleted) []byte {
	dst, start := codec.AppendFrameStart(dst, codec.WriteEventsCompletedCommand, codec.FlagNone, &p.CorrelationID)
	dst = codec.AppendWriteEventsCompleted(dst, &r)
	_ = codec.FinishFrame(dst, start)
	return dst
}

func fakeConfig(addr string) Config {
	c := smokeConfig(KindWrite, addr)
	c.Clients, c.Warmup, c.Duration = 2, 0, 300*time.Millisecond
	return c
}

// Every reply is checked: a success that acknowledges the wrong event
// numbers, a result code, NotHandled and an unexpected command are each
// counted by kind and none of them as a completed request.
func TestLoopDriverChecksEveryReply(t *testing.T) {
	var n atomic.Int64
	f := startFakeNode(t, func(dst []byte, p *codec.Package) []byte {
		if p.Command != codec.WriteEventsCommand {
			return dst
		}
		switch n.Add(1) % 5 {
		case 0: // right: one event at 7
			return writeReply(dst, p, codec.WriteEventsCompleted{Result: codec.OperationSuccess, FirstEventNumber: 7, LastEventNumber: 7})
		case 1: // two events acknowledged for a write of one
			return writeReply(dst, p, codec.WriteEventsCompleted{Result: codec.OperationSuccess, FirstEventNumber: 7, LastEventNumber: 8})
		case 2:
			return writeReply(dst, p, codec.WriteEventsCompleted{Result: codec.OperationWrongExpectedVersion, CurrentVersion: 3})
		case 3:
			nh := codec.NotHandled{Reason: codec.NotHandledNotMaster}
			return codec.AppendMessageFrame(dst, codec.NotHandledCommand, &p.CorrelationID, &nh, codec.AppendNotHandled)
		default:
			return codec.AppendFrame(dst, codec.ReadEventCompletedCommand, &p.CorrelationID, nil)
		}
	})
	res, err := Run(context.Background(), fakeConfig(f.ln.Addr().String()), &TCPTarget{Addr: f.ln.Addr().String(), Credentials: adminCreds}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Summary(), res.Errors, res.ErrorSamples)
	for _, k := range []string{"bad_reply", "wrong_expected_version", "not_master"} {
		if res.Errors[k] == 0 {
			t.Errorf("no %s error counted: %v", k, res.Errors)
		}
	}
	total := res.Requests + res.ErrorTotal()
	// One in five replies is right.
	if res.Requests == 0 || res.Requests > total/4 {
		t.Fatalf("%d requests counted of %d answered", res.Requests, total)
	}
}

// A request left without a reply counts as a timeout after
// Config.Timeout, its slot goes on with the next request, and the late
// reply to the expired one is recognised and dropped.
func TestLoopDriverTimesOutAndDropsLateReplies(t *testing.T) {
	var n atomic.Int64
	late := make(chan []byte, 1)
	f := startFakeNode(t, func(dst []byte, p *codec.Package) []byte {
		if p.Command != codec.WriteEventsCommand {
			return dst
		}
		ok := writeReply(nil, p, codec.WriteEventsCompleted{Result: codec.OperationSuccess, FirstEventNumber: 0, LastEventNumber: 0})
		switch n.Add(1) {
		case 3: // (the first requests may precede the window)
			late <- ok // held back: answered with the next request's reply
			return dst
		case 4:
			return append(append(dst, <-late...), ok...)
		}
		return append(dst, ok...)
	})
	c := fakeConfig(f.ln.Addr().String())
	c.Clients, c.Timeout, c.Duration = 1, 300*time.Millisecond, time.Second
	res, err := Run(context.Background(), c, &TCPTarget{Addr: f.ln.Addr().String(), Credentials: adminCreds}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Summary(), res.Errors)
	// NB: at least one: on a machine stalled for longer than the timeout
	// others may time out too; but nothing else may fail (the late reply
	// must not count as a reply to the next request, nor as a bad one).
	if res.Errors["timeout"] < 1 || res.ErrorTotal() != res.Errors["timeout"] || res.Requests < 10 {
		t.Fatalf("want a timeout and the loop going on: %s %v", res.Summary(), res.Errors)
	}
}

// A connection the server drops fails its requests in flight as
// "connection" errors; the run still ends at its duration with a result.
func TestLoopDriverCountsADroppedConnection(t *testing.T) {
	var n atomic.Int64
	f := startFakeNode(t, func(dst []byte, p *codec.Package) []byte {
		if n.Add(1) == 20 {
			// A connection-wide bad request: the client side closes.
			return codec.AppendFrame(dst, codec.BadRequest, &codec.GUID{}, []byte("go away"))
		}
		return writeReply(dst, p, codec.WriteEventsCompleted{Result: codec.OperationSuccess, FirstEventNumber: 0, LastEventNumber: 0})
	})
	c := fakeConfig(f.ln.Addr().String())
	c.Clients, c.InFlight = 1, 4
	res, err := Run(context.Background(), c, &TCPTarget{Addr: f.ln.Addr().String(), Credentials: adminCreds}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Summary(), res.Errors, res.ErrorSamples)
	if res.Errors["connection"] == 0 || res.Requests == 0 || res.Requests > 20 {
		t.Fatalf("want connection errors after <20 requests: %s %v", res.Summary(), res.Errors)
	}
}

func TestLoopDriverRefusesWritesAboveTheFrameLimit(t *testing.T) {
	c := Defaults(KindWrite)
	c.EventsPerWrite, c.EventSize = 100, 1<<20
	tgt := &TCPTarget{Addr: "127.0.0.1:1"}
	tl := &tally{rec: NewRecorder()}
	_, err := tgt.startLoops(context.Background(), &c, StreamNames("x", 1), make([]byte, c.EventSize), tl)
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("want ErrInvalidConfig, got %v", err)
	}
}

func TestLoopDriverReportsAnUnreachableNode(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	c := Defaults(KindWrite)
	tgt := &TCPTarget{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Credentials: adminCreds}
	tl := &tally{rec: NewRecorder()}
	_, err = tgt.startLoops(context.Background(), &c, StreamNames("x", 1), nil, tl)
	if err == nil || !strings.Contains(err.Error(), "cannot connect to eventstored at "+tgt.Addr) {
		t.Fatalf("want a connect error naming the address, got %v", err)
	}
	var na *client.NotAuthenticatedError
	if errors.As(err, &na) {
		t.Fatalf("unexpected %v", err)
	}
}
