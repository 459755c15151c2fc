package e2e

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// untilRefused sends until the first refusal (at most 100) and returns how many were
// accepted before it, the refusal, and whether the count fits a bucket of rate/s
// and burst: at least the burst, at most what the bucket refilled meanwhile.
func untilRefused(t *testing.T, rate float64, burst int, send func(i int) response) (int, response) {
	t.Helper()
	start := time.Now()
	for i := range 100 {
		r := send(i)
		if r.Status == http.StatusCreated {
			continue
		}
		allowed := burst + int(rate*time.Since(start).Seconds()) + 1
		if i < burst || i > allowed {
			t.Fatalf("%d accepted in %v, want %d to %d (rate %g/s, burst %d)", i, time.Since(start), burst, allowed, rate, burst)
		}
		return i, r
	}
	t.Fatal("100 accepted in a row: no rate limit")
	return 0, response{}
}

// TestUserAndHookPublishRates: an end user publishing on POST /events and a hook
// token have rates of their own (default 5/s, burst 10), far below the API key's;
// past them 429 with Retry-After, and nothing is stored.
func TestUserAndHookPublishRates(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	t.Run("user on POST /events", func(t *testing.T) {
		tok := userToken(t, "pub-user")
		accepted, r := untilRefused(t, 5, 10, func(i int) response {
			return n.do("POST", "/events", tok, `{"event":{"type":"CLICK","body":{"i":`+strconv.Itoa(i)+`}}}`)
		})
		tooMany(t, r.Status, r.Header, r.Body, "rate limit")
		// Nothing was stored for the refused one: the stream holds exactly those accepted.
		s := n.openStream("/events?lastEventId="+firstEventID(t, n), "Authorization", "Bearer "+tok)
		for range accepted - 1 { // the first is the resume point itself
			s.expect("CLICK")
		}
		s.quiet(300 * time.Millisecond)
		// The application's API key is not held back by the user's bucket.
		if r := n.do("POST", "/events", apiKey, `{"event":{"type":"CLICK"}}`, "Member-ID", "pub-user"); r.Status != http.StatusCreated {
			t.Fatalf("API key on POST /events: %d %s", r.Status, r.Body)
		}
	})
	t.Run("hook token", func(t *testing.T) {
		hook := n.mintToken("user:hooked", "publish")
		accepted, r := untilRefused(t, 5, 10, func(i int) response {
			return n.do("POST", hook.URL, "", "message "+strconv.Itoa(i), "Content-Type", "text/plain")
		})
		tooMany(t, r.Status, r.Header, r.Body, "rate limit")
		var page struct{ Notifications []notification }
		n.do("GET", "/api/users/hooked/notifications?limit=100", apiKey, nil).json(t, &page)
		if len(page.Notifications) != accepted {
			t.Fatalf("%d notifications stored, %d accepted", len(page.Notifications), accepted)
		}
		// Another hook token has a bucket of its own.
		other := n.mintToken("user:hooked", "publish")
		if r := n.do("POST", other.URL, "", "hi", "Content-Type", "text/plain"); r.Status != http.StatusCreated {
			t.Fatalf("second hook: %d %s", r.Status, r.Body)
		}
	})
}

// firstEventID is the id of the first event of the node's store (epoch-1).
func firstEventID(t *testing.T, n *node) string {
	t.Helper()
	return n.app.Hub().EventID(1)
}
