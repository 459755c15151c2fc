package e2e

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRateLimits: each bucket answers 429 with a Retry-After once its burst (twice
// the rate) is spent, per key or user, and changes nothing when it refuses.
func TestRateLimits(t *testing.T) {
	t.Parallel()
	n := startNode(t, "--rate-publish", "2", "--rate-user", "2", "--rate-connect", "1")
	retryAfter := func(r response) {
		t.Helper()
		if r.Status != http.StatusTooManyRequests || r.errCode(t) != "rate_limited" {
			t.Fatalf("want 429, got %d %s", r.Status, r.Body)
		}
		if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 {
			t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
		}
	}
	t.Run("publish per API key", func(t *testing.T) {
		for range 4 { // burst: twice the rate
			n.publish("rl1", nil)
		}
		retryAfter(n.do("POST", "/api/notifications", apiKey, map[string]any{"userId": "rl1", "title": "over"}))
		var page struct{ Notifications []notification }
		n.do("GET", "/api/notifications", userToken(t, "rl1"), nil).json(t, &page)
		if len(page.Notifications) != 4 {
			t.Fatalf("%d notifications stored, want 4: the refused publish changed something", len(page.Notifications))
		}
	})
	t.Run("inbox requests per user", func(t *testing.T) {
		tok := userToken(t, "rl2")
		for range 4 {
			if r := n.do("GET", "/api/notifications/unread-count", tok, nil); r.Status != http.StatusOK {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
		}
		retryAfter(n.do("GET", "/api/notifications/unread-count", tok, nil))
		// another user has a bucket of its own
		if r := n.do("GET", "/api/notifications/unread-count", userToken(t, "rl3"), nil); r.Status != http.StatusOK {
			t.Fatalf("other user: %d", r.Status)
		}
	})
	t.Run("new streams per user", func(t *testing.T) {
		tok := userToken(t, "rl4")
		for range 2 {
			n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok).expect("init")
		}
		_, status, body := n.tryStream("/api/notifications/stream", "Authorization", "Bearer "+tok)
		if status != http.StatusTooManyRequests {
			t.Fatalf("third stream in a second: %d %s", status, body)
		}
		n.dialWS("/api/notifications/ws", "Authorization", "Bearer "+tok).closedWith(4429)
	})
}

// TestSlotsDefaultsAndPolicies: by default the 11th stream of a user is refused with
// a clear 429; with --slot-policy close-oldest the oldest is closed instead; the
// node-wide --max-streams caps everyone.
func TestSlotsDefaultsAndPolicies(t *testing.T) {
	t.Parallel()
	t.Run("the 11th stream is refused", func(t *testing.T) {
		n := startNode(t)
		tok := userToken(t, "s10")
		for i := range 10 {
			n.openStream("/api/notifications/stream?deviceId=tab"+strconv.Itoa(i), "Authorization", "Bearer "+tok).expect("init")
		}
		_, status, body := n.tryStream("/api/notifications/stream", "Authorization", "Bearer "+tok)
		if status != http.StatusTooManyRequests || !strings.Contains(string(body), "10 open streams") {
			t.Fatalf("11th stream: %d %s", status, body)
		}
		var conns struct {
			Connections []struct {
				DeviceID, Transport string
				Since               time.Time
			} `json:"connections"`
		}
		n.do("GET", "/api/users/s10/connections", apiKey, nil).json(t, &conns)
		if len(conns.Connections) != 10 || conns.Connections[0].DeviceID != "tab0" || conns.Connections[0].Since.IsZero() {
			t.Fatalf("connections: %+v", conns)
		}
	})
	t.Run("close-oldest", func(t *testing.T) {
		n := startNode(t, "--max-streams-per-user", "2", "--slot-policy", "close-oldest")
		tok := userToken(t, "co")
		oldest := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok)
		oldest.expect("init")
		n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok).expect("init")
		n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok).expect("init")
		oldest.ended(5 * time.Second)
	})
	t.Run("node-wide cap", func(t *testing.T) {
		// Per-address cap off: by default it is 10% of --max-streams, and every
		// stream here comes from 127.0.0.1.
		n := startNode(t, "--max-streams", "2", "--max-streams-per-ip", "0")
		n.openStream("/api/notifications/stream", "Authorization", "Bearer "+userToken(t, "a")).expect("init")
		n.openStream("/api/notifications/stream", "Authorization", "Bearer "+userToken(t, "b")).expect("init")
		_, status, body := n.tryStream("/api/notifications/stream", "Authorization", "Bearer "+userToken(t, "c"))
		if status != http.StatusTooManyRequests || !strings.Contains(string(body), "maximum") {
			t.Fatalf("past the node's cap: %d %s", status, body)
		}
	})
}
