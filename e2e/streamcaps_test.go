package e2e

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tooMany checks a 429 with the JSON error, a Retry-After, and a message naming want.
func tooMany(t *testing.T, status int, header http.Header, body []byte, want string) {
	t.Helper()
	r := response{Status: status, Header: header, Body: body}
	if status != http.StatusTooManyRequests || r.errCode(t) != "rate_limited" || !strings.Contains(string(body), want) {
		t.Fatalf("want 429 about %q, got %d %s", want, status, body)
	}
	if s, err := strconv.Atoi(header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("Retry-After %q", header.Get("Retry-After"))
	}
}

// streamStatus opens path as SSE and returns the status, header and error body
// (nil header and body when it opened; the stream is closed at the test's end).
func (n *node) streamStatus(path string, headers ...string) (int, http.Header, []byte) {
	n.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", n.URL+path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := n.httpClient().Do(req)
	if err != nil {
		cancel()
		n.t.Fatalf("stream %s: %v", path, err)
	}
	if resp.StatusCode == http.StatusOK {
		n.t.Cleanup(func() { cancel(); resp.Body.Close() })
		return resp.StatusCode, nil, nil
	}
	defer cancel()
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		k, err := resp.Body.Read(buf)
		b.Write(buf[:k])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, resp.Header, []byte(b.String())
}

// TestStreamCapsPerTokenAndAddress: one capability token, and one client address,
// hold only a share of the node's streams (by default 10% of --max-streams); past
// it, 429 with Retry-After, and everyone else still gets in. Behind a trusted proxy
// the address is the client's from X-Forwarded-For, never one the client wrote.
func TestStreamCapsPerTokenAndAddress(t *testing.T) {
	t.Parallel()
	t.Run("one token takes a tenth of the node, not all of it", func(t *testing.T) {
		t.Parallel()
		// The attack: --max-streams 300 and one subscribe token opened all 300.
		n := startNode(t, "--max-streams", "300", "--max-streams-per-ip", "0", "--rate-connect", "0")
		tok := n.mintToken("topic:alerts", "subscribe")
		var first *stream
		for i := range 30 {
			s := n.openStream(tok.URL)
			if i == 0 {
				first = s
			}
		}
		status, h, body := n.streamStatus(tok.URL)
		tooMany(t, status, h, body, "stream token")
		// A real user, and another token, still get in.
		n.openStream("/api/notifications/stream", "Authorization", "Bearer "+userToken(t, "real-user")).expect("init")
		n.openStream(n.mintToken("topic:alerts", "subscribe").URL)
		// A stream that ends gives its slot back.
		first.close()
		for end := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if status, _, _ := n.streamStatus(tok.URL); status == http.StatusOK {
				break
			}
			if time.Now().After(end) {
				t.Fatal("the closed stream's slot was not given back")
			}
		}
	})
	t.Run("one address", func(t *testing.T) {
		t.Parallel()
		n := startNode(t, "--max-streams-per-ip", "2", "--rate-connect", "0")
		n.openStream("/api/notifications/stream", "Authorization", "Bearer "+userToken(t, "a1")).expect("init")
		n.openStream("/api/notifications/stream", "Authorization", "Bearer "+userToken(t, "a2")).expect("init")
		status, h, body := n.streamStatus("/api/notifications/stream", "Authorization", "Bearer "+userToken(t, "a3"))
		tooMany(t, status, h, body, "your address")
		n.dialWS("/api/notifications/ws", "Authorization", "Bearer "+userToken(t, "a3")).closedWith(4429)
		// X-Forwarded-For from a peer that is not a trusted proxy changes nothing.
		status, h, body = n.streamStatus("/api/notifications/stream", "Authorization", "Bearer "+userToken(t, "a3"), "X-Forwarded-For", "198.51.100.99")
		tooMany(t, status, h, body, "your address")
	})
	t.Run("behind a trusted proxy", func(t *testing.T) {
		t.Parallel()
		n := startNode(t, "--max-streams-per-ip", "2", "--trusted-proxies", "127.0.0.0/8", "--rate-connect", "0")
		open := func(user, xff string) int {
			status, _, _ := n.streamStatus("/api/notifications/stream", "Authorization", "Bearer "+userToken(t, user), "X-Forwarded-For", xff)
			return status
		}
		if open("p1", "198.51.100.1") != 200 || open("p2", "198.51.100.1") != 200 {
			t.Fatal("the client's first two streams were refused")
		}
		if s := open("p3", "198.51.100.1"); s != http.StatusTooManyRequests {
			t.Fatalf("third stream of 198.51.100.1: %d", s)
		}
		// Spoofed entries left of the proxy's are not read: still 198.51.100.1.
		if s := open("p3", "203.0.113.5, 198.51.100.1"); s != http.StatusTooManyRequests {
			t.Fatalf("spoofed X-Forwarded-For: %d", s)
		}
		// Another client behind the same proxy has its own slots.
		if open("p4", "198.51.100.2") != 200 {
			t.Fatal("another client behind the proxy was refused")
		}
	})
}
