package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestGroupingFoldsRepeats: a groupKey folds repeats into the unread item, even
// under concurrent publishes, and a read item starts a new group.
func TestGroupingFoldsRepeats(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	tok := userToken(t, "g1")
	s := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok)
	s.expect("init")

	first := n.publish("g1", map[string]any{"groupKey": "post:7", "title": "1 new comment"})
	s.expect("notification")
	expectUnread(t, s, 1)
	second := n.publish("g1", map[string]any{"groupKey": "post:7", "title": "2 new comments", "body": "latest"})
	if second.ID != first.ID || second.Count != 2 || second.Title != "2 new comments" {
		t.Fatalf("second publish answered %+v, want the first item with count 2", second)
	}
	up := decode[notification](t, s.expect("notification:updated").Data)
	if up.ID != first.ID || up.Count != 2 || up.Body != "latest" {
		t.Fatalf("updated event %+v", up)
	}
	other := n.publish("g1", map[string]any{"groupKey": "post:8"})
	if other.ID == first.ID {
		t.Fatal("another group key folded into post:7")
	}
	s.expect("notification")
	expectUnread(t, s, 2)

	// Read the group: the next repeat starts a new item.
	if r := n.do("PATCH", "/api/notifications/"+first.ID, tok, `{"read":true}`); r.Status != http.StatusOK {
		t.Fatalf("read: %d %s", r.Status, r.Body)
	}
	fresh := n.publish("g1", map[string]any{"groupKey": "post:7"})
	if fresh.ID == first.ID || fresh.Count != 1 {
		t.Fatalf("after reading, a repeat gave %+v; want a new item", fresh)
	}

	// Concurrent repeats for a new user all fold into one item: none lost.
	const k = 20
	var wg sync.WaitGroup
	for range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := n.do("POST", "/api/notifications", apiKey, map[string]any{"userId": "g2", "groupKey": "burst", "title": "x"})
			if r.Status != http.StatusCreated {
				t.Errorf("publish: %d %s", r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	var page struct {
		Notifications []notification `json:"notifications"`
		UnreadCount   int            `json:"unreadCount"`
	}
	n.do("GET", "/api/notifications", userToken(t, "g2"), nil).json(t, &page)
	if len(page.Notifications) != 1 || page.Notifications[0].Count != k || page.UnreadCount != 1 {
		t.Fatalf("after %d concurrent repeats: %d items, count %v, unread %d", k, len(page.Notifications),
			page.Notifications, page.UnreadCount)
	}
}

// TestExpiryEmitsDeleted: an item past its expiresAt disappears and its stream gets
// notification:deleted with the new count.
func TestExpiryEmitsDeleted(t *testing.T) {
	t.Parallel()
	n := startNode(t, "--expiry-interval", "50ms")
	tok := userToken(t, "x1")
	keep := n.publish("x1", nil)
	soon := n.publish("x1", map[string]any{"expiresAt": time.Now().Add(700 * time.Millisecond).UTC().Format(time.RFC3339Nano)})
	s := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok)
	if in := decode[initData](t, s.expect("init").Data); in.UnreadCount != 2 {
		t.Fatalf("init before expiry: %+v", in)
	}
	del := s.expect("notification:deleted")
	if string(del.Data) != fmt.Sprintf(`{"id":%q}`, soon.ID) {
		t.Fatalf("deleted data %s, want the expired id %s", del.Data, soon.ID)
	}
	expectUnread(t, s, 1)
	if r := n.do("GET", "/api/notifications/"+soon.ID, tok, nil); r.Status != http.StatusNotFound {
		t.Fatalf("expired item: %d", r.Status)
	}
	if r := n.do("GET", "/api/notifications/"+keep.ID, tok, nil); r.Status != http.StatusOK {
		t.Fatalf("unexpiring item: %d", r.Status)
	}
}

// TestRetentionDepthResets: a resume point older than the kept events gets reset and
// init; one inside what is kept resumes exactly.
func TestRetentionDepthResets(t *testing.T) {
	t.Parallel()
	n := startNode(t, "--retention-depth", "2")
	tok := userToken(t, "p1")
	s := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok)
	initID := s.expect("init").ID
	var ids []string
	for range 5 {
		n.publish("p1", nil)
		ids = append(ids, s.expect("notification").ID)
		s.expect("unread")
	}
	s.close()
	n.app.Hub().Prune(context.Background())

	old := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok, "Last-Event-ID", initID)
	old.expect("reset")
	if in := decode[initData](t, old.expect("init").Data); in.UnreadCount != 5 || len(in.Notifications) != 5 {
		t.Fatalf("init after reset: %+v", in)
	}
	kept := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok, "Last-Event-ID", ids[2])
	for _, want := range ids[3:] {
		if got := kept.expect("notification").ID; got != want {
			t.Fatalf("resumed %s, want %s", got, want)
		}
		kept.expect("unread")
	}
}
