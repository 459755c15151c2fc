//go:build linux

package httpapi

import (
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// tcpPair returns the two ends of a TCP connection on 127.0.0.1: the server's
// (watched) and the client's (the peer).
func tcpPair(t *testing.T) (server, peer net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	peer, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close(); peer.Close() })
	return server, peer
}

// reported counts the calls of a watch's gone and signals the first.
type reported struct {
	n    atomic.Int32
	once chan struct{}
}

func newReported() *reported { return &reported{once: make(chan struct{})} }

func (r *reported) gone() {
	if r.n.Add(1) == 1 {
		close(r.once)
	}
}

// within fails unless gone was called within d.
func (r *reported) within(t *testing.T, d time.Duration, what string) {
	t.Helper()
	start := time.Now()
	select {
	case <-r.once:
		t.Logf("%s reported after %v", what, time.Since(start))
	case <-time.After(d):
		t.Fatalf("%s not reported within %v", what, d)
	}
}

// TestCloseWatcherReportsHangUps: of two watched connections, the one whose peer
// hangs up is reported at once, and only it; a peer that sends bytes is reported
// too (an SSE client sends nothing after its request); each watch reports once.
func TestCloseWatcherReportsHangUps(t *testing.T) {
	var w closeWatcher
	defer w.close() // its loop ends with the test, so no watcher outlives it (TestServerCloseStopsItsWatcher counts them)
	a, peerA := tcpPair(t)
	b, peerB := tcpPair(t)
	ra, rb := newReported(), newReported()
	if _, ok := w.watch(a, ra.gone); !ok {
		t.Fatal("a TCP connection cannot be watched")
	}
	if _, ok := w.watch(b, rb.gone); !ok {
		t.Fatal("a TCP connection cannot be watched")
	}

	peerA.Close()
	ra.within(t, time.Second, "a hang-up")
	time.Sleep(50 * time.Millisecond)
	if rb.n.Load() != 0 {
		t.Fatal("a connection whose peer is still there was reported")
	}

	if _, err := peerB.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	rb.within(t, time.Second, "stray bytes from the peer")
	peerB.Close()
	time.Sleep(50 * time.Millisecond)
	if ra.n.Load() != 1 || rb.n.Load() != 1 {
		t.Fatalf("reported %d and %d times, want once each", ra.n.Load(), rb.n.Load())
	}
}

// TestCloseWatcherStop: once stop is called, the connection's hang-up is not
// reported (the server closes the connection itself after stop, and its fd may be
// reused by another connection at once).
func TestCloseWatcherStop(t *testing.T) {
	var w closeWatcher
	defer w.close() // its loop ends with the test, so no watcher outlives it (TestServerCloseStopsItsWatcher counts them)
	stopped, peerStopped := tcpPair(t)
	watched, peerWatched := tcpPair(t)
	rs, rw := newReported(), newReported()
	stop, ok := w.watch(stopped, rs.gone)
	if !ok {
		t.Fatal("a TCP connection cannot be watched")
	}
	if _, ok := w.watch(watched, rw.gone); !ok {
		t.Fatal("a TCP connection cannot be watched")
	}
	stop()
	peerStopped.Close()
	// The other connection's hang-up, reported after the stopped one's, shows the
	// watcher has seen both.
	time.Sleep(20 * time.Millisecond)
	peerWatched.Close()
	rw.within(t, time.Second, "a hang-up")
	time.Sleep(50 * time.Millisecond)
	if n := rs.n.Load(); n != 0 {
		t.Fatalf("a connection no longer watched was reported %d times", n)
	}
}

// TestCloseWatcherNeedsASocket: a conn without a file descriptor (net.Pipe) is
// refused, so the caller falls back to a reading goroutine.
func TestCloseWatcherNeedsASocket(t *testing.T) {
	var w closeWatcher
	defer w.close() // its loop ends with the test, so no watcher outlives it (TestServerCloseStopsItsWatcher counts them)
	c, p := net.Pipe()
	defer c.Close()
	defer p.Close()
	if _, ok := w.watch(c, func() {}); ok {
		t.Fatal("net.Pipe was accepted for watching")
	}
}
