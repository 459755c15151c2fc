package httpapi

import (
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tocsin/tocsin/internal/clientip"
)

// TestLimitConns: per address, the connections past the cap are answered 429 and
// closed at accept; a closed connection (closed twice, even) gives its place back
// once; accepted TCP connections keep their file descriptor reachable (the stream
// writers need syscall.Conn); trusted proxies are not counted.
func TestLimitConns(t *testing.T) {
	t.Parallel()
	start := func(t *testing.T, max int, trusted ...string) (net.Listener, chan net.Conn) {
		t.Helper()
		inner, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		proxies, err := clientip.ParseProxies(trusted)
		if err != nil {
			t.Fatal(err)
		}
		ln := LimitConns(inner, max, proxies, true, nil)
		t.Cleanup(func() { ln.Close() })
		accepted := make(chan net.Conn, 16)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				accepted <- c
			}
		}()
		return ln, accepted
	}
	dial := func(t *testing.T, ln net.Listener) net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	next := func(t *testing.T, accepted chan net.Conn) net.Conn {
		t.Helper()
		select {
		case c := <-accepted:
			return c
		case <-time.After(2 * time.Second):
			t.Fatal("not accepted")
			return nil
		}
	}
	t.Run("cap", func(t *testing.T) {
		t.Parallel()
		if ln := LimitConns(nil, 0, clientip.Proxies{}, true, nil); ln != nil {
			t.Fatal("max 0 must return the listener itself")
		}
		ln, accepted := start(t, 2)
		dial(t, ln)
		dial(t, ln)
		a := next(t, accepted)
		next(t, accepted)
		if _, ok := a.(syscall.Conn); !ok {
			t.Fatalf("%T hides the file descriptor", a)
		}
		refused := dial(t, ln)
		refused.SetReadDeadline(time.Now().Add(2 * time.Second))
		got, _ := io.ReadAll(refused)
		if !strings.HasPrefix(string(got), "HTTP/1.1 429 ") || !strings.Contains(string(got), `"rate_limited"`) {
			t.Fatalf("refused connection read %q", got)
		}
		select {
		case c := <-accepted:
			t.Fatalf("a third connection was accepted: %v", c.RemoteAddr())
		default:
		}
		a.Close()
		a.Close() // twice: the place is given back once
		dial(t, ln)
		next(t, accepted) // b and this one hold both places again
		refused = dial(t, ln)
		refused.SetReadDeadline(time.Now().Add(2 * time.Second))
		if got, _ := io.ReadAll(refused); !strings.HasPrefix(string(got), "HTTP/1.1 429 ") {
			t.Fatalf("past the cap again: %q", got)
		}
	})
	t.Run("trusted proxies are not counted", func(t *testing.T) {
		t.Parallel()
		ln, accepted := start(t, 1, "127.0.0.1")
		for range 3 {
			dial(t, ln)
			next(t, accepted)
		}
	})
}
