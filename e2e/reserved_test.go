package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestCustomEventsCannotImpersonateTheProtocol: a custom event named like one of the
// stream protocol's events (init would replace an open inbox, unread would set the
// badge, notification would pass a capability stream's filter) is refused with 400 on
// every path that creates custom events, and nothing is stored: the next event of the
// stream follows the last one without a gap.
func TestCustomEventsCannotImpersonateTheProtocol(t *testing.T) {
	t.Parallel()
	n := startNode(t, "--trusted-user-header", "Member-ID", "--rate-user-publish", "0") // every name is tried as the member too: no rate in the way
	user := "imp"
	s := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+userToken(t, user))
	head := seqOf(t, s.expect("init").ID)

	var tok struct{ Token string }
	n.do("POST", "/api/tokens", apiKey, map[string]any{"stream": "user:" + user, "scope": "subscribe"}).json(t, &tok)
	capStream := n.openStream("/api/stream/" + tok.Token)

	reserved := []string{"init", "reset", "unread", "notification", "notification:updated",
		"notification:deleted", "notifications:batch", "notifications:read", "notification_spoof",
		"message", "error", "open", "ping", "pong", "heartbeat"}
	for _, name := range reserved {
		t.Run(name, func(t *testing.T) {
			body := `{"type":"` + name + `","body":{"unreadCount":4242,"notifications":[]}}`
			for _, r := range []response{
				n.do("POST", "/api/users/"+user+"/events", apiKey, body),
				n.do("POST", "/events", apiKey, `{"event":`+body+`}`, "Member-ID", user),
				n.do("POST", "/events", "", `{"event":`+body+`}`, "Member-ID", user),
				n.do("POST", "/events", userToken(t, user), `{"event":`+body+`}`),
			} {
				if r.Status != http.StatusBadRequest || r.errCode(t) != "invalid_request" || !strings.Contains(string(r.Body), "reserved") {
					t.Fatalf("custom event %q: %d %s, want 400 naming the name reserved", name, r.Status, r.Body)
				}
			}
		})
	}

	// Nothing was stored: the application's own event comes right after the init.
	if r := n.do("POST", "/api/users/"+user+"/events", apiKey, `{"type":"ORDER_SHIPPED","body":{}}`); r.Status != http.StatusCreated {
		t.Fatalf("a custom name: %d %s", r.Status, r.Body)
	}
	if ev := s.nextEvent(); ev.Name != "ORDER_SHIPPED" || seqOf(t, ev.ID) != head+1 {
		t.Fatalf("after the refusals got %q id %s (init at %d), want ORDER_SHIPPED right after", ev.Name, ev.ID, head)
	}
	s.quiet(100 * time.Millisecond)
	capStream.quiet(100 * time.Millisecond) // and no "notification" reached the capability stream
}
