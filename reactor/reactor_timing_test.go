package reactor

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/eventstored/eventstored/codec"
)

// benchConn dials a fresh server whose handler answers Ping with Pong.
func benchConn(b *testing.B) net.Conn {
	s := startServer(b, Config{}, newTestHandler())
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	return nc
}

// readPongs reads n frames, reusing one buffer (no per-frame allocation on
// the client side, so ReportAllocs mostly shows the server's).
func readPongs(br *bufio.Reader, n int, buf []byte) error {
	var hdr [4]byte
	for i := 0; i < n; i++ {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return err
		}
		size := int(binary.LittleEndian.Uint32(hdr[:]))
		if _, err := io.ReadFull(br, buf[:size]); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkRoundTripPipelined: one connection, 64 Ping frames (16-byte
// payload) written per batch, Pongs read concurrently; ns/op is per
// package.
func BenchmarkRoundTripPipelined(b *testing.B) {
	nc := benchConn(b)
	const batch = 64
	var frames []byte
	for i := 0; i < batch; i++ {
		id := codec.NewGUID()
		frames = codec.AppendFrame(frames, codec.Ping, &id, make([]byte, 16))
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(frames) / batch))
	b.ResetTimer()
	done := make(chan error, 1)
	go func() {
		done <- readPongs(bufio.NewReaderSize(nc, 64<<10), (b.N+batch-1)/batch*batch, make([]byte, 256))
	}()
	for sent := 0; sent < b.N; sent += batch {
		if _, err := nc.Write(frames); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRoundTripSequential: one Ping in flight at a time (latency).
func BenchmarkRoundTripSequential(b *testing.B) {
	nc := benchConn(b)
	id := codec.NewGUID()
	frame := codec.AppendFrame(nil, codec.Ping, &id, make([]byte, 16))
	br := bufio.NewReaderSize(nc, 4<<10)
	buf := make([]byte, 256)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := nc.Write(frame); err != nil {
			b.Fatal(err)
		}
		if err := readPongs(br, 1, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServerStop: start a server, open and use one connection, then
// time Stop alone (ns/op is one Stop: the time a node's shutdown and every
// test's cleanup pay per listener).
func BenchmarkServerStop(b *testing.B) {
	id := codec.NewGUID()
	frame := codec.AppendFrame(nil, codec.Ping, &id, make([]byte, 16))
	buf := make([]byte, 256)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := NewServer(Config{Addr: "127.0.0.1:0", Name: "external TCP", Logger: quietLogger(), NumEventLoops: 2}, newTestHandler())
		if err := s.Start(); err != nil {
			b.Fatal(err)
		}
		nc, err := net.Dial("tcp", s.Addr())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := nc.Write(frame); err != nil {
			b.Fatal(err)
		}
		if err := readPongs(bufio.NewReader(nc), 1, buf); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		b.StartTimer()
		if err := s.Stop(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cancel()
		nc.Close()
	}
}
