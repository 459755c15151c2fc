package httpapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
)

// publishN publishes n notifications to user and returns their ids.
func (c *channelsServer) publishN(user string, n int) []string {
	c.t.Helper()
	var out []string
	for i := range n {
		st, b := c.do("POST", "/api/notifications", channelsKey, fmt.Sprintf(`{"userId":%q,"title":"n%d"}`, user, i))
		if st != 201 {
			c.t.Fatalf("publish: %d %s", st, b)
		}
		var got struct{ ID string }
		_ = json.Unmarshal([]byte(b), &got)
		out = append(out, got.ID)
	}
	return out
}

func quoted(ids []string) string {
	b, _ := json.Marshal(ids)
	return string(b)
}

// TestBulkPatchRefusesBadInput: each bad bulk request is a 400 with the JSON error
// body and changes nothing; another user's ids are passed over, absent from the
// answer, exactly as missing ones.
func TestBulkPatchRefusesBadInput(t *testing.T) {
	c := newChannelsServer(t)
	ana, bob := c.user("ana"), c.user("bob")
	mine := c.publishN("ana", 2)
	theirs := c.publishN("bob", 1)
	many := make([]string, tocsin.MaxBulkIDs+1)
	var ids tocsin.IDGen
	for i := range many {
		many[i] = ids.New(time.Now())
	}
	for _, tc := range []struct{ name, body string }{
		{"no ids", `{"ids":[],"read":true}`},
		{"ids missing", `{"read":true}`},
		{"101 ids", `{"ids":` + quoted(many) + `,"read":true}`},
		{"malformed id", `{"ids":["` + mine[0] + `","not-an-id"],"read":true}`},
		{"empty patch", `{"ids":["` + mine[0] + `"]}`},
		{"snooze is not bulk", `{"ids":["` + mine[0] + `"],"snoozedUntil":null}`},
		{"read not a boolean", `{"ids":["` + mine[0] + `"],"read":"yes"}`},
		{"not JSON", `{"ids":`},
	} {
		st, b := c.do("PATCH", "/api/notifications", ana, tc.body)
		if st != 400 || !strings.Contains(b, `"error"`) {
			t.Errorf("%s: %d %s; want 400 with an error", tc.name, st, b)
		}
	}
	if st, b := c.do("GET", "/api/notifications/unread-count", ana, ""); st != 200 || b != `{"unreadCount":2}`+"\n" && b != `{"unreadCount":2}` {
		t.Fatalf("count after refused requests: %d %s", st, b)
	}
	// bob's id and a duplicate among ana's: only ana's two change, once each.
	st, b := c.do("PATCH", "/api/notifications", ana, `{"ids":["`+mine[0]+`","`+theirs[0]+`","`+mine[1]+`","`+mine[0]+`"],"read":true}`)
	var got struct {
		Notifications []tocsin.Notification `json:"notifications"`
		UnreadCount   *int                  `json:"unreadCount"`
	}
	if err := json.Unmarshal([]byte(b), &got); st != 200 || err != nil || len(got.Notifications) != 2 || got.UnreadCount == nil || *got.UnreadCount != 0 {
		t.Fatalf("bulk read: %d %s", st, b)
	}
	for _, n := range got.Notifications {
		if n.UserID != "ana" || n.ReadAt == nil {
			t.Errorf("answered %+v", n)
		}
	}
	if st, b := c.do("GET", "/api/notifications/"+theirs[0], bob, ""); st != 200 || !strings.Contains(b, `"readAt":null`) {
		t.Fatalf("bob's item: %d %s; want unchanged", st, b)
	}
	// Nothing changed: an empty list, not null.
	if st, b := c.do("PATCH", "/api/notifications", bob, `{"ids":["`+mine[0]+`"],"archived":true}`); st != 200 || !strings.Contains(b, `"notifications":[]`) {
		t.Fatalf("bob naming ana's item: %d %s", st, b)
	}
}

// TestPatchSnooze: PATCH takes snoozedUntil (a future time up to a year ahead, or
// null), tells absent from null, and hides the item from the unread view.
func TestPatchSnooze(t *testing.T) {
	c := newChannelsServer(t)
	ana := c.user("ana")
	id := c.publishN("ana", 1)[0]
	now := time.Now().UTC()
	for _, tc := range []struct{ name, body string }{
		{"past", `{"snoozedUntil":"` + now.Add(-time.Minute).Format(time.RFC3339) + `"}`},
		{"over a year", `{"snoozedUntil":"` + now.Add(tocsin.MaxSnooze+time.Hour).Format(time.RFC3339) + `"}`},
		{"not a time", `{"snoozedUntil":"tomorrow"}`},
		{"a number", `{"snoozedUntil":12}`},
		{"empty", `{}`},
	} {
		if st, b := c.do("PATCH", "/api/notifications/"+id, ana, tc.body); st != 400 || !strings.Contains(b, `"error"`) {
			t.Errorf("%s: %d %s; want 400", tc.name, st, b)
		}
	}
	until := now.Add(time.Hour).Truncate(time.Millisecond)
	st, b := c.do("PATCH", "/api/notifications/"+id, ana, `{"snoozedUntil":"`+until.Format(time.RFC3339Nano)+`"}`)
	var n tocsin.Notification
	if err := json.Unmarshal([]byte(b), &n); st != 200 || err != nil || n.SnoozedUntil == nil || !n.SnoozedUntil.Equal(until) || n.ReadAt != nil {
		t.Fatalf("snooze: %d %s", st, b)
	}
	if _, b := c.do("GET", "/api/notifications?status=unread", ana, ""); !strings.Contains(b, `"notifications":[]`) || !strings.Contains(b, `"unreadCount":0`) {
		t.Fatalf("unread while snoozed: %s", b)
	}
	if _, b := c.do("GET", "/api/notifications?status=all", ana, ""); !strings.Contains(b, `"snoozedUntil":"`+until.Format("2006-01-02T15:04:05.000Z")) {
		t.Fatalf("all while snoozed: %s", b)
	}
	// Absent leaves the snooze; null ends it.
	if _, b := c.do("PATCH", "/api/notifications/"+id, ana, `{"seen":true}`); !strings.Contains(b, `"snoozedUntil":"`) {
		t.Fatalf("seen kept the snooze? %s", b)
	}
	if _, b := c.do("PATCH", "/api/notifications/"+id, ana, `{"snoozedUntil":null}`); !strings.Contains(b, `"snoozedUntil":null`) {
		t.Fatalf("unsnooze: %s", b)
	}
	if _, b := c.do("GET", "/api/notifications/unread-count", ana, ""); !strings.Contains(b, `"unreadCount":1`) {
		t.Fatalf("count after unsnooze: %s", b)
	}
	// Another user's item is 404, as a missing one.
	if st, _ := c.do("PATCH", "/api/notifications/"+id, c.user("bob"), `{"snoozedUntil":"`+until.Format(time.RFC3339)+`"}`); st != 404 {
		t.Fatalf("bob snoozing ana's item: %d", st)
	}
}
