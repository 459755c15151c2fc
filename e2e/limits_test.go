package e2e

import (
	"net/http"
	"strconv"
	"testing"
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
