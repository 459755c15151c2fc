package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMemberEventsSurface follows PRODUCT.md §5.3 word for word: subscribe with
// Member-ID and Device-Id, publish with Member-ID, receive event: TYPE with the body
// plus an ISO-8601 timestamp, resume with Last-Event-ID.
func TestMemberEventsSurface(t *testing.T) {
	t.Parallel()
	n := startNode(t, "--trusted-user-header", "Member-ID,MemberId")
	s := n.openStream("/events", "Member-ID", "m-1", "Device-Id", "tablet")

	r := n.do("POST", "/events", "", `{"event": {"type": "ORDER_SHIPPED", "body": {"orderId": "A-17", "items": 2}}}`, "Member-ID", "m-1")
	if r.Status != http.StatusCreated {
		t.Fatalf("POST /events: %d %s", r.Status, r.Body)
	}
	ev := s.nextEvent() // the first event: no init on this surface
	if ev.Name != "ORDER_SHIPPED" || !ev.SetID || ev.ID == "" {
		t.Fatalf("got %+v, want event ORDER_SHIPPED with an id", ev)
	}
	var data map[string]any
	if err := json.Unmarshal([]byte(ev.Data), &data); err != nil {
		t.Fatal(err)
	}
	ts, _ := data["timestamp"].(string)
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || data["orderId"] != "A-17" || data["items"] != float64(2) {
		t.Fatalf("data %s: want the body plus an ISO-8601 timestamp", ev.Data)
	}
	conns := n.do("GET", "/api/users/m-1/connections", apiKey, nil)
	if !strings.Contains(string(conns.Body), `"deviceId":"tablet"`) {
		t.Fatalf("connections: %s", conns.Body)
	}

	// The alias MemberId, and an API key naming the member.
	if r := n.do("POST", "/events", "", `{"event":{"type":"PING_1","body":{}}}`, "MemberId", "m-1"); r.Status != http.StatusCreated {
		t.Fatalf("MemberId alias: %d %s", r.Status, r.Body)
	}
	if r := n.do("POST", "/events", apiKey, `{"event":{"type":"PING_2"}}`, "Member-ID", "m-1"); r.Status != http.StatusCreated {
		t.Fatalf("API key with Member-ID: %d %s", r.Status, r.Body)
	}
	s.expect("PING_1")
	last := s.expect("PING_2").ID
	s.close()

	// Resume: exactly what was missed. A member is the same user as /api/users/{id}.
	n.do("POST", "/api/users/m-1/events", apiKey, `{"type":"MISSED","body":{"n":1}}`)
	s2 := n.openStream("/events", "MemberId", "m-1", "Last-Event-ID", last)
	if ev := s2.nextEvent(); ev.Name != "MISSED" || seqOf(t, ev.ID) != seqOf(t, last)+1 {
		t.Fatalf("resumed with %+v", ev)
	}
	s2.quiet(150 * time.Millisecond)

	// Another member sees nothing of m-1's.
	other := n.openStream("/events", "Member-ID", "m-2")
	n.do("POST", "/events", "", `{"event":{"type":"SECRET"}}`, "Member-ID", "m-1")
	other.quiet(200 * time.Millisecond)
}

func TestMemberEventsRefusals(t *testing.T) {
	t.Parallel()
	off := startNode(t)
	// Without --trusted-user-header the header is not an identity.
	if _, status, _ := off.tryStream("/events", "Member-ID", "m-1"); status != http.StatusUnauthorized {
		t.Fatalf("GET /events with Member-ID on a server without trusted mode: %d, want 401", status)
	}
	if r := off.do("POST", "/events", "", `{"event":{"type":"X"}}`, "Member-ID", "m-1"); r.Status != http.StatusUnauthorized {
		t.Fatalf("POST /events with Member-ID only: %d, want 401", r.Status)
	}

	n := startNode(t, "--trusted-user-header", "Member-ID,MemberId")
	ok := n.do("POST", "/events", apiKey, `{"event":{"type":"BEFORE"}}`, "Member-ID", "m-1")
	var before struct{ ID string }
	ok.json(t, &before)
	for _, tc := range []struct {
		name    string
		bearer  string
		body    string
		headers []string
		status  int
	}{
		{"API key without Member-ID", apiKey, `{"event":{"type":"X"}}`, nil, 400},
		{"CR/LF in the type", "", `{"event":{"type":"X\r\nevent: evil"}}`, []string{"Member-ID", "m-1"}, 400},
		{"type too long", "", `{"event":{"type":"` + strings.Repeat("T", 65) + `"}}`, []string{"Member-ID", "m-1"}, 400},
		{"missing event", "", `{"type":"X"}`, []string{"Member-ID", "m-1"}, 400},
		{"body not an object", "", `{"event":{"type":"X","body":[1]}}`, []string{"Member-ID", "m-1"}, 400},
		{"member publishing to another", userToken(t, "m-1"), `{"event":{"type":"X"}}`, []string{"Member-ID", "m-2"}, 403},
		{"control character in Member-ID", apiKey, `{"event":{"type":"X"}}`, []string{"Member-ID", "a\tb"}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := n.do("POST", "/events", tc.bearer, tc.body, tc.headers...)
			if r.Status != tc.status {
				t.Fatalf("%d %s, want %d", r.Status, r.Body, tc.status)
			}
			r.errCode(t)
		})
	}
	// Nothing of the refused requests reached the stream.
	s := n.openStream("/events", "Member-ID", "m-1", "Last-Event-ID", before.ID)
	s.quiet(150 * time.Millisecond)
}
