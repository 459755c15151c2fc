package httpapi_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tocsin/tocsin/auth"
)

// BenchmarkIdleStreams: the live Go heap and goroutines an idle SSE stream keeps, on a
// taken-over connection (HTTP/1.1 on Linux: driven, no goroutine), with both ends
// of its socket in this process (the client's end is a bare net.Conn). The RSS
// figure of tocsin bench idle follows it; this one is exact and repeatable.
func BenchmarkIdleStreams(b *testing.B) {
	const streams = 2000
	n := newStreamNode(b, 1, slog.DiscardHandler) // no debug log: a stream keeps no request line
	ts := httptest.NewServer(n.handler)
	b.Cleanup(ts.Close)
	reqs := make([][]byte, streams)
	for i := range reqs {
		tok, err := auth.MintJWT(testSecret, fmt.Sprintf("idle-%d", i), time.Hour, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		reqs[i] = fmt.Appendf(nil, "GET /api/notifications/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", tok)
	}
	addr := strings.TrimPrefix(ts.URL, "http://")
	var heap, goroutines float64
	for b.Loop() {
		before, g0 := liveHeap(), runtime.NumGoroutine()
		conns := make([]net.Conn, streams)
		for i := range conns {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			conns[i] = c
			if _, err := c.Write(reqs[i]); err != nil {
				b.Fatal(err)
			}
			readUntil(b, c, "event: init")
		}
		time.Sleep(100 * time.Millisecond) // what the start left behind settles
		heap += float64(liveHeap()-before) / streams
		goroutines += float64(runtime.NumGoroutine()-g0) / streams
		for _, c := range conns {
			c.Close()
		}
		waitFor(b, "streams to end", func() bool { return n.hub.OpenStreams() == 0 }, func() string { return fmt.Sprint(n.hub.OpenStreams()) })
	}
	b.ReportMetric(heap/float64(b.N), "heap-B/stream")
	b.ReportMetric(goroutines/float64(b.N), "goroutines/stream")
}

func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// readUntil reads from c until what it read holds want.
func readUntil(b *testing.B, c net.Conn, want string) {
	var buf [4096]byte
	got := 0
	for !bytes.Contains(buf[:got], []byte(want)) {
		if got == len(buf) {
			b.Fatalf("no %q in %q", want, buf[:got])
		}
		k, err := c.Read(buf[got:])
		if err != nil {
			b.Fatalf("read: %v after %q", err, buf[:got])
		}
		got += k
	}
}
