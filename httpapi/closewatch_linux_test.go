//go:build linux

package httpapi

import (
	"bytes"
	"context"
	"net"
	"runtime"
	"testing"
	"time"
)

// watcherLoops counts the goroutines running a close watcher's loop.
func watcherLoops() int {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	return bytes.Count(buf[:n], []byte("httpapi.(*closeWatcher).loop("))
}

// waitLoops waits for the count of watcher loops to be want. A stack dump shows a
// loop's goroutine as loop only while it runs loop: before it first runs it shows
// as the go statement's wrapper, and after loop returned (Close waits for that) it
// may still be on its way out.
func waitLoops(t *testing.T, want int, when string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); watcherLoops() != want; {
		if time.Now().After(deadline) {
			t.Fatalf("%d watcher loops %s, want %d", watcherLoops(), when, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// The close watcher belongs to its Server: it starts with the first watched
// connection, tells when a peer hangs up, and Server.Close stops its goroutine
// (waiting for it); a watch after Close fails, so the caller falls back. Not
// parallel: it counts the watcher goroutines of the process.
func TestServerCloseStopsItsWatcher(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pair := func() (server, client net.Conn) {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(); s.Close() })
		return s, c
	}
	// Let an earlier test's watcher finish winding down first: the counts below
	// are of the process's watcher loops.
	before := watcherLoops()
	for i := 0; i < 40; i++ {
		time.Sleep(50 * time.Millisecond)
		n := watcherLoops()
		if n == before {
			break
		}
		before = n
	}
	s := New(Config{})
	// n > before, not !=: an earlier test's watcher may still be winding down.
	if n := watcherLoops(); n > before {
		t.Fatalf("a watcher started with the server (%d loops, %d before)", n, before)
	}
	conn, peer := pair()
	gone := make(chan struct{})
	stop, ok := s.watcher.watch(conn, func() { close(gone) })
	if !ok {
		t.Fatal("a TCP connection cannot be watched")
	}
	defer stop()
	waitLoops(t, before+1, "with one connection watched")
	peer.Close()
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("the hang-up was not noticed")
	}

	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitLoops(t, before, "after Close")
	conn2, _ := pair()
	if _, ok := s.watcher.watch(conn2, func() {}); ok {
		t.Fatal("watched a connection after Close")
	}
	if err := s.Close(context.Background()); err != nil { // twice is safe
		t.Fatal(err)
	}
}
