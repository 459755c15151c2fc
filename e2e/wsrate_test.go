package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestWebSocketCommandsShareTheUserRate: WebSocket commands draw from the user's
// request bucket, as REST does: over it a frame is answered with a rate_limited
// error frame and does nothing, REST is limited by the same bucket, and a client
// that keeps flooding is closed with 4429.
func TestWebSocketCommandsShareTheUserRate(t *testing.T) {
	t.Parallel()
	n := startNode(t, "--rate-user", "2") // burst 4
	var ids []string
	for range 10 {
		ids = append(ids, n.publish("ws-rl", nil).ID)
	}
	tok := userToken(t, "ws-rl")
	ws := n.dialWS("/api/notifications/ws", "Authorization", "Bearer "+tok)
	ws.expect("init")
	for _, id := range ids {
		ws.send(`{"type":"notification:read","id":"` + id + `"}`)
	}
	limited := 0
	for end := time.After(3 * time.Second); limited < 5; {
		select {
		case f, ok := <-ws.frames:
			if !ok {
				t.Fatalf("closed: %v", <-ws.closed)
			}
			if f.Event == "error" {
				var e struct{ Code, Message string }
				json.Unmarshal(f.Data, &e)
				if e.Code != "rate_limited" || !strings.Contains(e.Message, "retry in") {
					t.Fatalf("error frame %s", f.raw)
				}
				limited++
			}
		case <-end:
			t.Fatalf("%d rate_limited error frames for 10 commands at a burst of 4", limited)
		}
	}
	var page struct{ Notifications []notification }
	n.do("GET", "/api/users/ws-rl/notifications?limit=100", apiKey, nil).json(t, &page)
	read := 0
	for _, x := range page.Notifications {
		if x.ReadAt != nil {
			read++
		}
	}
	if read > 5 {
		t.Fatalf("%d of 10 read by frames over a burst of 4: the rate did not hold", read)
	}
	// The same bucket limits REST.
	r := n.do("GET", "/api/notifications/unread-count", tok, nil)
	tooMany(t, r.Status, r.Header, r.Body, "rate limit")
	// A client that only floods is closed.
	for range 100 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := ws.c.Write(ctx, websocket.MessageText, []byte(`{"type":"notification:read_all"}`))
		cancel()
		if err != nil {
			break
		}
	}
	ws.closedWith(4429)
}
