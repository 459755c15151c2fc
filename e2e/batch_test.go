package e2e

import (
	"encoding/json"
	"net/http"
	"testing"
)

type batchItem struct {
	ID    string          `json:"id"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
}

// TestBatching: ?batch= coalesces a window's events into one notifications:batch
// whose id is the last event's, then one unread; a lone event comes as itself; and
// resuming from a batch's id is exact.
func TestBatching(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	tok := userToken(t, "b1")
	s := n.openStream("/api/notifications/stream?batch=500ms", "Authorization", "Bearer "+tok)
	s.expect("init")
	var want []notification
	for range 3 {
		want = append(want, n.publish("b1", nil))
	}
	ev := s.expect("notifications:batch")
	var items []batchItem
	if err := json.Unmarshal([]byte(ev.Data), &items); err != nil {
		t.Fatalf("batch data %s: %v", ev.Data, err)
	}
	if len(items) != 3 {
		t.Fatalf("batch of %d events, want 3: %s", len(items), ev.Data)
	}
	for i, it := range items {
		if it.Event != "notification" || decode[notification](t, string(it.Data)).ID != want[i].ID {
			t.Fatalf("item %d = %+v, want notification %s", i, it, want[i].ID)
		}
	}
	if ev.ID != items[2].ID || seqOf(t, items[2].ID) != seqOf(t, items[0].ID)+2 {
		t.Fatalf("batch id %q, want the last event's id %q", ev.ID, items[2].ID)
	}
	expectUnread(t, s, 3)

	lone := n.publish("b1", nil)
	if got := decode[notification](t, s.expect("notification").Data); got.ID != lone.ID {
		t.Fatalf("lone event %s, want %s", got.ID, lone.ID)
	}
	expectUnread(t, s, 4)
	s.close()

	// Resume from the batch's id: the lone event, nothing before it.
	s2 := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok, "Last-Event-ID", ev.ID)
	if got := decode[notification](t, s2.expect("notification").Data); got.ID != lone.ID {
		t.Fatalf("resumed at %s, want %s", got.ID, lone.ID)
	}
}

func TestBatchingOverWebSocketAndServerDefault(t *testing.T) {
	t.Parallel()
	n := startNode(t, "--batch", "400ms")
	tok := userToken(t, "b2")
	ws := n.dialWS("/api/notifications/ws", "Authorization", "Bearer "+tok)
	ws.expect("init")
	off := n.openStream("/api/notifications/stream?batch=0", "Authorization", "Bearer "+tok)
	off.expect("init")
	a := n.publish("b2", nil)
	b := n.publish("b2", nil)
	f := ws.expect("notifications:batch")
	var items []batchItem
	if err := json.Unmarshal(f.Data, &items); err != nil || len(items) != 2 || f.ID != items[1].ID {
		t.Fatalf("ws batch frame %s", f.raw)
	}
	if decode[notification](t, string(items[0].Data)).ID != a.ID || decode[notification](t, string(items[1].Data)).ID != b.ID {
		t.Fatalf("ws batch items %s", f.raw)
	}
	ws.expect("unread")
	// ?batch=0 turns the server default off for that stream.
	off.expect("notification")
	off.expect("unread")
	off.expect("notification")

	for _, bad := range []string{"soon", "-1s", "1h"} {
		if _, status, _ := n.tryStream("/api/notifications/stream?batch="+bad, "Authorization", "Bearer "+tok); status != http.StatusBadRequest {
			t.Fatalf("?batch=%s: %d, want 400", bad, status)
		}
	}
}
