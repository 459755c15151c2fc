package e2e

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestSearchOverHTTP: q= through the real server: ranked results, search cursors
// that page without duplicates while new items arrive, and every malformed q or
// cursor a 400 JSON error with nothing else done.
func TestSearchOverHTTP(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	tok := userToken(t, "sx")
	var want []string
	for i := range 7 {
		title, body := fmt.Sprint("Item ", i), "invoice overdue"
		if i%2 == 0 {
			title, body = fmt.Sprint("Invoice ", i), "see attached"
		}
		n.publish("sx", map[string]any{"title": title, "body": body})
	}
	n.publish("other", map[string]any{"title": "Invoice of another user"})
	n.publish("sx", map[string]any{"title": "Unrelated"})
	all := n.list(t, tok, "/api/notifications?q="+url.QueryEscape("INV")+"&limit=100")
	if len(all.Notifications) != 7 || all.NextCursor != nil || all.UnreadCount != 8 {
		t.Fatalf("q=INV: %d items, cursor %v, unread %d", len(all.Notifications), all.NextCursor, all.UnreadCount)
	}
	for i, it := range all.Notifications {
		// The four title matches first, newest first; then the body matches.
		if wantTitle := i < 4; strings.HasPrefix(it.Title, "Invoice") != wantTitle || it.UserID != "sx" {
			t.Fatalf("rank %d is %q of %s", i, it.Title, it.UserID)
		}
		want = append(want, it.ID)
	}
	var got []string
	path := "/api/notifications?q=inv&limit=3"
	var cursors []string
	for {
		pg := n.list(t, tok, path)
		for _, it := range pg.Notifications {
			got = append(got, it.ID)
		}
		if pg.NextCursor == nil {
			break
		}
		cursors = append(cursors, *pg.NextCursor)
		n.publish("sx", map[string]any{"title": "Invoice arrived meanwhile"})
		path = "/api/notifications?q=inv&limit=3&cursor=" + url.QueryEscape(*pg.NextCursor)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") || len(cursors) != 2 {
		t.Fatalf("pages %v, want %v in 3 pages", got, want)
	}
	// A search with a cursor of the same words in another case is the same search.
	if r := n.do("GET", "/api/notifications?q=INV&limit=3&cursor="+url.QueryEscape(cursors[0]), tok, nil); r.Status != 200 {
		t.Fatalf("same words, other case: %d %s", r.Status, r.Body)
	}
	listCursor := n.list(t, tok, "/api/notifications?limit=1").NextCursor
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	raw, _ := base64.RawURLEncoding.DecodeString(cursors[0])
	parts := strings.Split(string(raw), ".")
	for _, c := range []struct{ name, query string }{
		{"q too long", "q=" + strings.Repeat("a", 201)},
		{"q not UTF-8", "q=%ff%fe"},
		{"q with a control character", "q=a%01b"},
		{"q of too many words", "q=" + strings.Repeat("w+", 17)},
		{"search cursor without q", "cursor=" + url.QueryEscape(cursors[0])},
		{"search cursor of another q", "q=invoices&cursor=" + url.QueryEscape(cursors[0])},
		{"search cursor of another filter", "q=inv&status=unread&cursor=" + url.QueryEscape(cursors[0])},
		{"list cursor with q", "q=inv&cursor=" + url.QueryEscape(*listCursor)},
		{"garbage cursor", "q=inv&cursor=%21%21"},
		{"forged: offset too deep", "q=inv&cursor=" + enc("s1."+parts[1]+".1000."+parts[3])},
		{"forged: offset zero", "q=inv&cursor=" + enc("s1."+parts[1]+".0."+parts[3])},
		{"forged: offset with a sign", "q=inv&cursor=" + enc("s1."+parts[1]+".+3."+parts[3])},
		{"forged: bad ceiling", "q=inv&cursor=" + enc("s1.not-an-id.3."+parts[3])},
		{"forged: bad key", "q=inv&cursor=" + enc("s1."+parts[1]+".3.zz")},
		{"forged: other version", "q=inv&cursor=" + enc("s2."+parts[1]+".3."+parts[3])},
		{"forged: extra part", "q=inv&cursor=" + enc(string(raw)+".1")},
	} {
		r := n.do("GET", "/api/notifications?"+c.query, tok, nil)
		if r.Status != http.StatusBadRequest {
			t.Fatalf("%s: %d %s", c.name, r.Status, r.Body)
		}
		if code := r.errCode(t); code != "invalid_request" {
			t.Fatalf("%s: code %q", c.name, code)
		}
	}
	// Blank q lists; punctuation alone finds nothing; operators are words.
	if pg := n.list(t, tok, "/api/notifications?q=+++&limit=100"); len(pg.Notifications) != 10 {
		t.Fatalf("blank q listed %d, want all 10", len(pg.Notifications))
	}
	for _, q := range []string{`"*:()`, `NEAR(`, `inv OR x`, `-`} {
		pg := n.list(t, tok, "/api/notifications?q="+url.QueryEscape(q))
		if len(pg.Notifications) != 0 || pg.UnreadCount != 10 {
			t.Fatalf("q=%q: %d items, unread %d", q, len(pg.Notifications), pg.UnreadCount)
		}
	}
	// The admin view searches the user it names, only.
	if pg := n.list(t, apiKey, "/api/users/other/notifications?q=invoice"); len(pg.Notifications) != 1 || pg.Notifications[0].UserID != "other" {
		t.Fatalf("admin view search: %+v", pg.Notifications)
	}
}
