package httpapi_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/tocsin/tocsin/delivery"
	"github.com/tocsin/tocsin/httpapi"
	"github.com/tocsin/tocsin/sqlite"
)

// TestNextCursorOnEveryPagedRoute: every paged route has the nextCursor key on every
// page, a string while more follow and null on the last page, also when the last page
// is exactly limit long (no cursor to an empty page).
func TestNextCursorOnEveryPagedRoute(t *testing.T) {
	c := newChannelsServerWith(t, func(cfg *httpapi.Config, store *sqlite.Store) {
		cfg.Delivery = delivery.New(delivery.Config{
			Store: store, Hub: cfg.Hub, Logger: slog.New(slog.DiscardHandler),
			NewSecret: func() (string, error) { return "whsec_dGVzdA==", nil },
		})
	})
	user := c.user("pg")
	for i := range 4 {
		if st, b := c.do("POST", "/api/notifications", channelsKey, fmt.Sprintf(`{"userId":"pg","title":"n%d"}`, i)); st != 201 {
			t.Fatalf("publish: %d %s", st, b)
		}
		deliverAt := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		if st, b := c.do("POST", "/api/notifications", channelsKey,
			fmt.Sprintf(`{"userId":"pg","title":"s%d","deliverAt":%q}`, i, deliverAt)); st != 201 {
			t.Fatalf("schedule: %d %s", st, b)
		}
	}
	st, b := c.do("POST", "/api/webhooks", channelsKey, `{"url":"https://example.test/h","events":["notification.created"]}`)
	if st != 201 {
		t.Fatalf("webhook: %d %s", st, b)
	}
	var wh struct{ ID string }
	_ = json.Unmarshal([]byte(b), &wh)
	// pages follows nextCursor from the first page and returns the page sizes.
	pages := func(path, bearer, key string) []int {
		t.Helper()
		var sizes []int
		cursor := ""
		for range 10 {
			p := path
			if cursor != "" {
				p += "&cursor=" + url.QueryEscape(cursor)
			}
			st, b := c.do("GET", p, bearer, "")
			if st != 200 {
				t.Fatalf("GET %s: %d %s", p, st, b)
			}
			var page map[string]json.RawMessage
			if err := json.Unmarshal([]byte(b), &page); err != nil {
				t.Fatal(err)
			}
			raw, ok := page["nextCursor"]
			if !ok {
				t.Fatalf("GET %s: no nextCursor key: %s", p, b)
			}
			var items []json.RawMessage
			_ = json.Unmarshal(page[key], &items)
			sizes = append(sizes, len(items))
			if string(raw) == "null" {
				return sizes
			}
			if err := json.Unmarshal(raw, &cursor); err != nil || cursor == "" {
				t.Fatalf("GET %s: nextCursor %s is neither null nor a cursor", p, raw)
			}
		}
		t.Fatalf("GET %s: no last page", path)
		return nil
	}
	for _, tc := range []struct {
		path, bearer, key string
		want              []int
	}{
		{"/api/notifications?limit=2", user, "notifications", []int{2, 2}},
		{"/api/notifications?limit=4", user, "notifications", []int{4}},
		{"/api/notifications?limit=3", user, "notifications", []int{3, 1}},
		{"/api/users/pg/notifications?limit=2", channelsKey, "notifications", []int{2, 2}},
		{"/api/notifications?limit=2&status=archived", user, "notifications", []int{0}},
		{"/api/scheduled?limit=2", channelsKey, "scheduled", []int{2, 2}},
		{"/api/scheduled?limit=4", channelsKey, "scheduled", []int{4}},
		{"/api/scheduled?limit=3&userId=pg", channelsKey, "scheduled", []int{3, 1}},
		{"/api/webhooks/" + wh.ID + "/deliveries?limit=2", channelsKey, "deliveries", []int{0}},
	} {
		if got := pages(tc.path, tc.bearer, tc.key); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: pages %v, want %v", tc.path, got, tc.want)
		}
	}
}
