package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
)

type listPage struct {
	Notifications []notification `json:"notifications"`
	NextCursor    *string        `json:"nextCursor"`
	UnreadCount   int            `json:"unreadCount"`
}

func (n *node) list(t *testing.T, bearer, path string) listPage {
	t.Helper()
	r := n.do("GET", path, bearer, nil)
	if r.Status != 200 {
		t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
	}
	var p listPage
	r.json(t, &p)
	return p
}

// listAll reads every page of a user's notifications through the admin view.
func (n *node) listAll(t *testing.T, user string) []notification {
	t.Helper()
	var all []notification
	path := "/api/users/" + url.PathEscape(user) + "/notifications?limit=100"
	for {
		pg := n.list(t, apiKey, path)
		all = append(all, pg.Notifications...)
		if pg.NextCursor == nil {
			return all
		}
		path = "/api/users/" + url.PathEscape(user) + "/notifications?limit=100&cursor=" + url.QueryEscape(*pg.NextCursor)
	}
}

func TestPublishFields(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	r := n.do("POST", "/api/notifications", apiKey, map[string]any{
		"userId": "u1", "type": "mention", "title": "Hi", "message": "via alias",
		"priority": 5, "tags": []string{"x"}, "data": map[string]any{"a": []int{1, 2}},
		"actorId": "u2", "entityType": "post", "entityId": "p9", "actionUrl": "https://e.test/p9",
		"imageUrl": "https://e.test/i.png", "groupKey": "g", "expiresAt": "2099-01-01T00:00:00Z",
	})
	if r.Status != http.StatusCreated {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	var got map[string]any
	r.json(t, &got)
	want := map[string]any{
		"userId": "u1", "type": "mention", "title": "Hi", "body": "via alias", "priority": float64(5),
		"actorId": "u2", "entityType": "post", "entityId": "p9", "actionUrl": "https://e.test/p9",
		"imageUrl": "https://e.test/i.png", "groupKey": "g", "count": float64(1),
		"expiresAt": "2099-01-01T00:00:00.000Z", "readAt": nil, "seenAt": nil, "archivedAt": nil, // one form of time: UTC, ms
	}
	for k, v := range want {
		if fmt.Sprint(got[k]) != fmt.Sprint(v) {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if id, _ := got["id"].(string); len(id) != 26 {
		t.Errorf("id %v is not a 26-character sortable id", got["id"])
	}
	if got["createdAt"] == nil {
		t.Error("createdAt missing")
	}
	// Defaults.
	d := n.publish("u1", map[string]any{"type": nil})
	if d.Priority != 3 || d.Count != 1 || d.Tags == nil || string(d.Data) != "{}" {
		t.Errorf("defaults: %+v", d)
	}
}

func TestPublishUserIDs(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	users := []string{"a", "b", "c", "a"}
	r := n.do("POST", "/api/notifications", apiKey, map[string]any{"userIds": users, "title": "all"})
	if r.Status != 201 {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	var out struct {
		Notifications []notification `json:"notifications"`
	}
	r.json(t, &out)
	if len(out.Notifications) != 3 {
		t.Fatalf("%d notifications for 3 distinct users", len(out.Notifications))
	}
	for _, u := range []string{"a", "b", "c"} {
		p := n.list(t, userToken(t, u), "/api/notifications")
		if len(p.Notifications) != 1 || p.Notifications[0].UserID != u || p.UnreadCount != 1 {
			t.Fatalf("user %s: %+v", u, p)
		}
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	body := map[string]any{"userId": "i", "title": "once"}
	first := n.do("POST", "/api/notifications", apiKey, body, "Idempotency-Key", "k-1")
	again := n.do("POST", "/api/notifications", apiKey, body, "Idempotency-Key", "k-1")
	if first.Status != 201 || again.Status != 201 || string(first.Body) != string(again.Body) {
		t.Fatalf("repeat answered %d %s; first %d %s", again.Status, again.Body, first.Status, first.Body)
	}
	if again.Header.Get("Idempotent-Replayed") != "true" {
		t.Error("repeat not marked Idempotent-Replayed")
	}
	if p := n.list(t, userToken(t, "i"), "/api/notifications"); len(p.Notifications) != 1 {
		t.Fatalf("repeat created a second notification: %d", len(p.Notifications))
	}
	other := n.do("POST", "/api/notifications", apiKey, map[string]any{"userId": "i", "title": "different"}, "Idempotency-Key", "k-1")
	if other.Status != 409 || other.errCode(t) != "conflict" {
		t.Fatalf("same key, other body: %d %s", other.Status, other.Body)
	}
	bulk := map[string]any{"userIds": []string{"x", "y"}}
	b1 := n.do("POST", "/api/notifications", apiKey, bulk, "Idempotency-Key", "k-2")
	b2 := n.do("POST", "/api/notifications", apiKey, bulk, "Idempotency-Key", "k-2")
	if b1.Status != 201 || string(b1.Body) != string(b2.Body) {
		t.Fatalf("bulk repeat differs:\n%s\n%s", b1.Body, b2.Body)
	}
}

func TestListFiltersAndPagination(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	tok := userToken(t, "l")
	var all []notification
	for i := 0; i < 7; i++ {
		typ := "comment"
		if i%2 == 1 {
			typ = "mention"
		}
		tags := []string{"t" + fmt.Sprint(i%3)}
		all = append(all, n.publish("l", map[string]any{"type": typ, "tags": tags}))
	}
	// read #0, archive #1
	n.do("PATCH", "/api/notifications/"+all[0].ID, tok, map[string]any{"read": true})
	n.do("PATCH", "/api/notifications/"+all[1].ID, tok, map[string]any{"archived": true})

	p := n.list(t, tok, "/api/notifications")
	if len(p.Notifications) != 6 || p.UnreadCount != 5 {
		t.Fatalf("all: %d items, unread %d; want 6 (archived excluded), 5", len(p.Notifications), p.UnreadCount)
	}
	if p.Notifications[0].ID != all[6].ID {
		t.Fatalf("not newest first: %s", ids(p.Notifications))
	}
	for q, want := range map[string]int{
		"status=unread": 5, "status=read": 1, "status=archived": 1, "status=all": 6,
		"type=mention": 2, "type=comment,mention": 6, "tag=t0": 3, "tag=t1": 1, "status=unread&type=comment": 3,
	} {
		if got := len(n.list(t, tok, "/api/notifications?"+q).Notifications); got != want {
			t.Errorf("%s: %d items, want %d", q, got, want)
		}
	}
	// Pages of 2 cover the 6 exactly once, newest first.
	var seen []notification
	path := "/api/notifications?limit=2"
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		pg := n.list(t, tok, path)
		seen = append(seen, pg.Notifications...)
		if pg.NextCursor == nil {
			break
		}
		path = "/api/notifications?limit=2&cursor=" + url.QueryEscape(*pg.NextCursor)
	}
	if len(seen) != 6 {
		t.Fatalf("pages gave %d items: %s", len(seen), ids(seen))
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].ID >= seen[i-1].ID {
			t.Fatalf("pages not newest first: %s", ids(seen))
		}
	}
	// unread-count and admin view.
	var c struct{ UnreadCount int }
	n.do("GET", "/api/notifications/unread-count", tok, nil).json(t, &c)
	if c.UnreadCount != 5 {
		t.Fatalf("unread-count %d", c.UnreadCount)
	}
	if ap := n.list(t, apiKey, "/api/users/l/notifications?status=unread"); len(ap.Notifications) != 5 {
		t.Fatalf("admin view: %d", len(ap.Notifications))
	}
}

func TestPatchDeleteReadAll(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	tok := userToken(t, "p")
	a := n.publish("p", nil)
	b := n.publish("p", nil)
	var got notification
	r := n.do("PATCH", "/api/notifications/"+a.ID, tok, map[string]any{"read": true, "seen": true})
	r.json(t, &got)
	if got.ReadAt == nil || got.SeenAt == nil {
		t.Fatalf("patch read: %s", r.Body)
	}
	n.do("PATCH", "/api/notifications/"+a.ID, tok, map[string]any{"read": false}).json(t, &got)
	if got.ReadAt != nil {
		t.Fatalf("mark unread: readAt %v", *got.ReadAt)
	}
	var ra struct{ Updated, UnreadCount int }
	n.do("POST", "/api/notifications/read-all", tok, nil).json(t, &ra)
	if ra.Updated != 2 || ra.UnreadCount != 0 {
		t.Fatalf("read-all: %+v", ra)
	}
	if r := n.do("DELETE", "/api/notifications/"+b.ID, tok, nil); r.Status != 204 {
		t.Fatalf("delete: %d", r.Status)
	}
	if r := n.do("GET", "/api/notifications/"+b.ID, tok, nil); r.Status != 404 || r.errCode(t) != "not_found" {
		t.Fatalf("after delete: %d %s", r.Status, r.Body)
	}
	if r := n.do("DELETE", "/api/users/p/notifications/"+a.ID, apiKey, nil); r.Status != 204 {
		t.Fatalf("admin delete: %d %s", r.Status, r.Body)
	}
	if p := n.list(t, tok, "/api/notifications"); len(p.Notifications) != 0 {
		t.Fatalf("left: %s", ids(p.Notifications))
	}
}
