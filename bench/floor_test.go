//go:build unix

package bench

import (
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// BenchmarkLoopbackFloor is the cost of one delivery with no server at all: a
// 350-byte write(2) to one of 2,000 loopback TCP connections, read by a goroutine
// at the other end, as a broadcast does once per subscriber. Its cpu-us figure
// (this process' user+system CPU per write, the reading included) is the floor under
// the broadcast figures of docs/benchmarks.md: server and load generator on the same
// machine pay it whatever the server does in user space.
func BenchmarkLoopbackFloor(b *testing.B) {
	const conns = 2000
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, conns)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	writers := make([]net.Conn, 0, conns)
	for range conns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		go func() { _, _ = io.Copy(io.Discard, c) }()
		w := <-accepted
		defer w.Close()
		writers = append(writers, w)
	}
	msg := make([]byte, 350)
	var ru0, ru1 syscall.Rusage
	b.ResetTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	for i := range b.N {
		if _, err := writers[i%conns].Write(msg); err != nil {
			b.Fatal(err)
		}
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	b.ReportMetric(float64(cpu.Nanoseconds())/1000/float64(b.N), "cpu-us/delivery")
}
