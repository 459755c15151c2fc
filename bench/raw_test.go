package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// frames is an SSE body like the server's: a retry hint, heartbeats, notification
// events with their unread frames, and a notifications:batch frame of two.
func frames(values []int64) []string {
	out := []string{"retry: 3000\n\n", ": ping\n\n"}
	for i, v := range values {
		if i == len(values)-2 {
			out = append(out, fmt.Sprintf("id: u:1-%d\nevent: notifications:batch\ndata: [{\"id\":\"u:1-%d\",\"event\":\"notification\",\"data\":{\"id\":\"n%d\",\"data\":{\"sentNs\":%d}}},{\"id\":\"u:1-%d\",\"event\":\"notification\",\"data\":{\"data\":{\"sentNs\":%d},\"x\":1}}]\n\n",
				i+1, i, i, v, i+1, values[i+1]))
			break
		}
		out = append(out, fmt.Sprintf("id: u:1-%d\nevent: notification\ndata: {\"id\":\"n%d\",\"type\":\"bench\",\"data\":{\"sentNs\":%d}}\n\n", i, i, v))
		out = append(out, "event: unread\ndata: {\"unreadCount\":3}\n\n")
	}
	return out
}

// chunked frames the body as HTTP/1.1 chunks, one per frame, with an extension on
// one and upper-case hex on another, and the last chunk.
func chunked(body []string) string {
	var b strings.Builder
	for i, f := range body {
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, "%x\r\n%s\r\n", len(f), f)
		case 1:
			fmt.Fprintf(&b, "%X;ext=1\r\n%s\r\n", len(f), f)
		default:
			fmt.Fprintf(&b, "%x \r\n%s\r\n", len(f), f)
		}
	}
	return b.String() + "0\r\n\r\n"
}

const okHead = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"

// readPiped answers the request read from a pipe with wire, written in pieces of the
// given sizes (cycled), each its own Read on the other side (net.Pipe does not
// coalesce writes), and returns what the client's read collected.
func readPiped(t *testing.T, wire string, sizes []int, consume func(data []byte, now time.Time) int) error {
	t.Helper()
	client, server := net.Pipe()
	go func() {
		defer server.Close()
		br := bufio.NewReader(server)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		for i, k := 0, 0; i < len(wire); k++ {
			n := min(sizes[k%len(sizes)], len(wire)-i)
			if _, err := server.Write([]byte(wire[i : i+n])); err != nil {
				return
			}
			i += n
		}
	}()
	u, _ := url.Parse("http://127.0.0.1:1/api/notifications/stream")
	s, err := startStream(context.Background(), client, u, "tok", nil)
	if err != nil {
		return err
	}
	return s.read(consume)
}

func TestScanSentEverySplit(t *testing.T) {
	values := []int64{1, 1700000000123456789, 42, 987654321, 5, 6}
	want := slices.Clone(values)
	wire := okHead + chunked(frames(values))
	// Every split position of the wire into two writes, then tiny writes, then a
	// write size that makes the buffer hold many frames at once.
	var splits [][]int
	for i := 1; i < len(wire); i++ {
		splits = append(splits, []int{i, len(wire)})
	}
	splits = append(splits, []int{1}, []int{2}, []int{3}, []int{7}, []int{13}, []int{4096})
	for _, sizes := range splits {
		var got []int64
		err := readPiped(t, wire, sizes, func(data []byte, _ time.Time) int {
			return scanSent(data, func(ns int64) { got = append(got, ns) })
		})
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("writes of %v: got %v, %v; want %v", sizes, got, err, want)
		}
	}
}

func TestFramesEverySplit(t *testing.T) {
	body := frames([]int64{1, 2, 3, 4, 5})
	wire := okHead + chunked(body)
	var want []string
	for _, f := range body {
		want = append(want, strings.TrimSuffix(f, "\n\n"))
	}
	for i := 1; i < len(wire); i += 3 {
		var got []string
		err := readPiped(t, wire, []int{i, 5}, func(data []byte, _ time.Time) int {
			return scanFrames(data, func(f []byte) { got = append(got, string(f)) })
		})
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("split at %d: got %q, %v", i, got, err)
		}
	}
}

func TestFrameLongerThanBuffer(t *testing.T) {
	big := "data: " + strings.Repeat("x", 3*streamBuf) + "\n\n"
	wire := okHead + chunked([]string{big, "id: a-1\nevent: notification\ndata: {}\n\n"})
	var got []string
	err := readPiped(t, wire, []int{1000}, func(data []byte, _ time.Time) int {
		return scanFrames(data, func(f []byte) { got = append(got, string(f)) })
	})
	if err != nil || len(got) != 2 || len(got[0]) != len(big)-2 {
		t.Fatalf("got %d frames, %v", len(got), err)
	}
}

func TestIdentityBody(t *testing.T) {
	wire := "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n" + strings.Join(frames([]int64{7, 8, 9, 10}), "")
	var got []int64
	err := readPiped(t, wire, []int{5}, func(data []byte, _ time.Time) int {
		return scanSent(data, func(ns int64) { got = append(got, ns) })
	})
	if err != nil || !slices.Equal(got, []int64{7, 8, 9, 10}) {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestBadFraming(t *testing.T) {
	for _, body := range []string{"zz\r\nhello\r\n", "5\r\nhelloXX", strings.Repeat("1", 100)} {
		wire := okHead + body
		err := readPiped(t, wire, []int{4096}, func(data []byte, _ time.Time) int { return len(data) })
		if !errors.Is(err, errFraming) {
			t.Errorf("%q: %v, want a framing error", body, err)
		}
	}
}

func TestNotOK(t *testing.T) {
	wire := "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: 19\r\n\r\n{\"error\":\"slowly\"}\n"
	err := readPiped(t, wire, []int{4096}, func(data []byte, _ time.Time) int { return len(data) })
	if err == nil || !strings.Contains(err.Error(), "429") || !strings.Contains(err.Error(), "slowly") {
		t.Fatalf("got %v", err)
	}
}

// TestAgainstNetHTTP reads a real net/http server's chunked SSE over loopback TCP,
// with the request headers it must send.
func TestAgainstNetHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Last-Event-ID") != "u:1-4" ||
			r.Header.Get("Accept") != "text/event-stream" || r.Host == "" {
			http.Error(w, "bad request headers", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, f := range frames([]int64{11, 12, 13, 14, 15}) {
			io.WriteString(w, f)
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	s, err := dialStream(context.Background(), srv.URL+"/api/notifications/stream?x=1", "tok", "Last-Event-ID: u:1-4")
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	err = s.read(func(data []byte, _ time.Time) int {
		return scanSent(data, func(ns int64) { got = append(got, ns) })
	})
	if err != nil || !slices.Equal(got, []int64{11, 12, 13, 14, 15}) {
		t.Fatalf("got %v, %v", got, err)
	}
	if !s.chunked {
		t.Fatal("net/http's streamed answer was not read as chunked")
	}
}

// TestCancelCloses: ending the context ends a blocked read at once.
func TestCancelCloses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := dialStream(ctx, srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.read(func(data []byte, _ time.Time) int { return len(data) }) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("read did not end when the context did")
	}
}
