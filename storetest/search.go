package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
)

// The full-text search of List (ListQuery.Q): both stores match the same words and
// rank the same way (title, then tags, then body matches; newest first within).

// searchFixture publishes a small inbox for user and returns its items by name.
func searchFixture(t *testing.T, s tocsin.Store, user string) map[string]tocsin.Notification {
	t.Helper()
	specs := []struct {
		name, title, body string
		tags              []string
	}{
		{"failed", "Payment failed", "Your card was declined", []string{"billing"}},
		{"digest", "Weekly digest", "A payment reminder for invoice 42", []string{"digest"}},
		{"comment", "New comment", "Ana replied to you", []string{"payments"}},
		{"cafe", "Café opening", "Join us", nil},
		{"order", "Order shipped", "Your order is on its way", []string{"R&D", "ops"}},
	}
	out := map[string]tocsin.Notification{}
	for _, sp := range specs {
		out[sp.name] = publish(t, s, notification(user, func(n *tocsin.Notification) {
			n.Title, n.Body, n.Tags = sp.title, sp.body, sp.tags
		})).Notifications[0]
	}
	return out
}

func find(t *testing.T, s tocsin.Store, user string, q tocsin.ListQuery) tocsin.Page {
	t.Helper()
	if q.Now.IsZero() {
		q.Now = base
	}
	p, err := s.List(ctx, user, q)
	if err != nil {
		t.Fatalf("search %+v: %v", q, err)
	}
	return p
}

func pageIDs(p tocsin.Page) []string {
	var out []string
	for _, n := range p.Notifications {
		out = append(out, n.ID)
	}
	return out
}

func wantFound(t *testing.T, got tocsin.Page, q string, want ...tocsin.Notification) {
	t.Helper()
	var ids []string
	for _, n := range want {
		ids = append(ids, n.ID)
	}
	if g := pageIDs(got); !slices.Equal(g, ids) {
		var titles []string
		for _, n := range got.Notifications {
			titles = append(titles, n.Title)
		}
		t.Fatalf("q=%q found %v %q, want %v", q, g, titles, ids)
	}
}

func testSearchWords(t *testing.T, s tocsin.Store) {
	f := searchFixture(t, s, "u")
	for _, c := range []struct {
		q    string
		want []string
	}{
		{"pay", []string{"failed", "comment", "digest"}}, // prefix; title, then tags, then body
		{"PAYMENT", []string{"failed", "comment", "digest"}},
		{"Payment Failed", []string{"failed"}},   // every word must match
		{"payment declined", []string{"failed"}}, // across fields
		{"invoice 42", []string{"digest"}},
		{"café", []string{"cafe"}},
		{"r&d ops", []string{"order"}}, // tags by their words, "R&D" included
		{"ops", []string{"order"}},
		{"pay zzz", nil},
		{"ayment", nil}, // a prefix of a word, not a substring
		{"  ...  ", nil},
	} {
		var want []tocsin.Notification
		for _, name := range c.want {
			want = append(want, f[name])
		}
		p := find(t, s, "u", tocsin.ListQuery{Q: c.q})
		wantFound(t, p, c.q, want...)
		if p.UnreadCount != 5 || p.NextOffset != 0 || p.NextBefore != "" {
			t.Fatalf("q=%q: unread %d, next offset %d, next before %q", c.q, p.UnreadCount, p.NextOffset, p.NextBefore)
		}
	}
}

// Nothing the user types is search syntax: FTS5 and tsquery operators, quotes,
// column filters are words or separators, never errors.
func testSearchSyntaxIsText(t *testing.T, s tocsin.Store) {
	f := searchFixture(t, s, "u")
	for _, c := range []struct {
		q    string
		want []string
	}{
		{`"payment`, []string{"failed", "comment", "digest"}},
		{`pay*`, []string{"failed", "comment", "digest"}},
		{`-pay`, []string{"failed", "comment", "digest"}},
		{`payment:* & fail`, []string{"failed"}},
		{`pay OR zzz`, nil}, // OR is a word (no item has a word starting "or" and "zzz")
		{`NOT pay`, nil},
		{`order OR`, []string{"order"}},
		{`title:payment`, nil}, // no column filter: "title" is a word
		{`NEAR(pay fail)`, nil},
		{`{title} : pay`, nil},
		{`^pay`, []string{"failed", "comment", "digest"}},
		{`'; DROP TABLE notifications; --`, nil},
		{`\' '' \\ " "" * : ( ) { } ^ + - ! | & < > <-> ~`, nil},
		{`pay)`, []string{"failed", "comment", "digest"}},
		{"\u0301", nil}, // a combining mark alone is no word
		{"pay\u00a0fail", []string{"failed"}},
	} {
		var want []tocsin.Notification
		for _, name := range c.want {
			want = append(want, f[name])
		}
		wantFound(t, find(t, s, "u", tocsin.ListQuery{Q: c.q}), c.q, want...)
	}
}

func testSearchFilters(t *testing.T, s tocsin.Store) {
	f := searchFixture(t, s, "u")
	mention := publish(t, s, notification("u", func(n *tocsin.Notification) {
		n.Type, n.Title, n.Tags = "mention", "Payment mention", []string{"billing"}
	})).Notifications[0]
	if _, _, err := s.Update(ctx, "u", f["failed"].ID, tocsin.Patch{Read: yes()}, base); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Update(ctx, "u", f["digest"].ID, tocsin.Patch{Archived: yes()}, base); err != nil {
		t.Fatal(err)
	}
	q := "payment"
	wantFound(t, find(t, s, "u", tocsin.ListQuery{Q: q}), q, mention, f["failed"], f["comment"])
	wantFound(t, find(t, s, "u", tocsin.ListQuery{Q: q, Status: tocsin.StatusAll}), q, mention, f["failed"], f["comment"])
	wantFound(t, find(t, s, "u", tocsin.ListQuery{Q: q, Status: tocsin.StatusUnread}), q, mention, f["comment"])
	wantFound(t, find(t, s, "u", tocsin.ListQuery{Q: q, Status: tocsin.StatusRead}), q, f["failed"])
	wantFound(t, find(t, s, "u", tocsin.ListQuery{Q: q, Status: tocsin.StatusArchived}), q, f["digest"])
	wantFound(t, find(t, s, "u", tocsin.ListQuery{Q: q, Types: []string{"mention"}}), q, mention)
	wantFound(t, find(t, s, "u", tocsin.ListQuery{Q: q, Tag: "billing"}), q, mention, f["failed"])
	wantFound(t, find(t, s, "u", tocsin.ListQuery{Q: q, Tag: "billing", Status: tocsin.StatusUnread}), q, mention)
	// Items past their expiry are not found, before the sweep and after it.
	soon := base.Add(time.Second)
	publish(t, s, notification("u", func(n *tocsin.Notification) { n.Title, n.ExpiresAt = "Payment expiring", &soon }))
	wantFound(t, find(t, s, "u", tocsin.ListQuery{Q: "expiring", Now: soon}), "expiring")
	if len(find(t, s, "u", tocsin.ListQuery{Q: "expiring", Now: base.Add(-time.Second)}).Notifications) != 1 {
		t.Fatal("an unexpired item is not found")
	}
	if _, err := s.Expire(ctx, soon, 100); err != nil {
		t.Fatal(err)
	}
	wantFound(t, find(t, s, "u", tocsin.ListQuery{Q: "expiring", Now: base.Add(-time.Second)}), "expiring")
}

// Another user's items are never found, and removed ones are gone from the index.
func testSearchIsolationAndRemoval(t *testing.T, s tocsin.Store) {
	f := searchFixture(t, s, "u")
	publish(t, s, notification("eve", func(n *tocsin.Notification) { n.Title = "Payment secret" }))
	wantFound(t, find(t, s, "u", tocsin.ListQuery{Q: "secret"}), "secret")
	wantFound(t, find(t, s, "nobody", tocsin.ListQuery{Q: "payment"}), "payment")
	if p := find(t, s, "eve", tocsin.ListQuery{Q: "pay"}); len(p.Notifications) != 1 || p.Notifications[0].UserID != "eve" {
		t.Fatalf("eve's search: %+v", p.Notifications)
	}
	if _, err := s.Delete(ctx, "u", f["failed"].ID, base); err != nil {
		t.Fatal(err)
	}
	wantFound(t, find(t, s, "u", tocsin.ListQuery{Q: "pay"}), "pay", f["comment"], f["digest"])
	// Retention: everything created before the cutoff goes, from the index too.
	old := publish(t, s, notification("u", func(n *tocsin.Notification) {
		n.Title, n.CreatedAt = "Ancient payment", base.Add(-2*time.Hour)
	})).Notifications[0]
	wantFound(t, find(t, s, "u", tocsin.ListQuery{Q: "ancient"}), "ancient", old)
	if _, _, err := s.Prune(ctx, base.Add(-time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	wantFound(t, find(t, s, "u", tocsin.ListQuery{Q: "ancient"}), "ancient")
	wantFound(t, find(t, s, "u", tocsin.ListQuery{Q: "pay"}), "pay", f["comment"], f["digest"])
}

// A grouped item is found by its latest title, body and tags, not by earlier ones.
func testSearchGrouped(t *testing.T, s tocsin.Store) {
	group := func(n *tocsin.Notification) { n.GroupKey = "build:1" }
	first := publish(t, s, notification("u", group, func(n *tocsin.Notification) {
		n.Title, n.Body, n.Tags = "Build started", "on runner alpha", []string{"ci"}
	})).Notifications[0]
	wantFound(t, find(t, s, "u", tocsin.ListQuery{Q: "alpha"}), "alpha", first)
	publish(t, s, notification("u", group, func(n *tocsin.Notification) {
		n.Title, n.Body, n.Tags = "Deploy finished", "on runner beta", []string{"cd"}
	}))
	for q, found := range map[string]bool{"deploy": true, "beta": true, "cd": true, "build": false, "alpha": false, "ci": false} {
		p := find(t, s, "u", tocsin.ListQuery{Q: q})
		if found && (len(p.Notifications) != 1 || p.Notifications[0].ID != first.ID || p.Notifications[0].Title != "Deploy finished") {
			t.Fatalf("q=%q: %+v, want the grouped item as it is now", q, p.Notifications)
		}
		if !found && len(p.Notifications) != 0 {
			t.Fatalf("q=%q found the grouped item by what it no longer says", q)
		}
	}
	// Reading it (a change that is not of its text) keeps it found.
	if _, _, err := s.Update(ctx, "u", first.ID, tocsin.Patch{Read: yes()}, base); err != nil {
		t.Fatal(err)
	}
	wantFound(t, find(t, s, "u", tocsin.ListQuery{Q: "deploy"}), "deploy", first)
}

// Pages of a search have no duplicates and no gaps while new matching items (which
// would rank first) arrive between them, and follow the first page's order.
func testSearchPaging(t *testing.T, s tocsin.Store) {
	var want []string
	var titles, others []tocsin.Notification
	for i := range 23 {
		n := notification("u", func(n *tocsin.Notification) {
			n.Title, n.Body = fmt.Sprint("Item ", i), "alert body"
			if i%3 == 0 {
				n.Title, n.Body = fmt.Sprint("Alert ", i), "body"
			}
		})
		n = publish(t, s, n).Notifications[0]
		if i%3 == 0 {
			titles = append(titles, n)
		} else {
			others = append(others, n)
		}
	}
	for _, ns := range [][]tocsin.Notification{titles, others} {
		for i := len(ns) - 1; i >= 0; i-- {
			want = append(want, ns[i].ID) // title matches first, newest first within
		}
	}
	wantFound(t, find(t, s, "u", tocsin.ListQuery{Q: "alert", Limit: 100}), "alert", append(rev(titles), rev(others)...)...)
	var got []string
	q := tocsin.ListQuery{Q: "alert", Limit: 4}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		p := find(t, s, "u", q)
		got = append(got, pageIDs(p)...)
		if p.NextOffset == 0 {
			break
		}
		if p.Ceiling == "" || (q.Ceiling != "" && p.Ceiling != q.Ceiling) {
			t.Fatalf("ceiling %q after %q", p.Ceiling, q.Ceiling)
		}
		q.Offset, q.Ceiling = p.NextOffset, p.Ceiling
		// New arrivals that match best, for this user and another.
		publish(t, s, notification("u", func(n *tocsin.Notification) { n.Title = "Alert new" }))
		publish(t, s, notification("v", func(n *tocsin.Notification) { n.Title = "Alert other" }))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages gave %d items %v, want %d %v", len(got), got, len(want), want)
	}
	// A new first page sees the new items first.
	if p := find(t, s, "u", tocsin.ListQuery{Q: "alert", Limit: 1}); p.Notifications[0].Title != "Alert new" {
		t.Fatalf("a new search starts with %q", p.Notifications[0].Title)
	}
	// The depth of a search is bounded.
	_, err := s.List(ctx, "u", tocsin.ListQuery{Q: "alert", Offset: tocsin.MaxSearchResults, Ceiling: want[0], Now: base})
	wantCode(t, err, tocsin.EInvalid)
	p := find(t, s, "u", tocsin.ListQuery{Q: "alert", Limit: 4, Offset: tocsin.MaxSearchResults - 2, Ceiling: want[0]})
	if p.NextOffset != 0 {
		t.Fatalf("next offset %d past the deepest result", p.NextOffset)
	}
}

func rev(ns []tocsin.Notification) []tocsin.Notification {
	out := slices.Clone(ns)
	slices.Reverse(out)
	return out
}

// searchSeeds are searches that hold every syntax of FTS5 and tsquery, quotes,
// escapes and Unicode that tokenizers treat apart.
var searchSeeds = []string{`"`, `*`, `NEAR(`, `OR`, `-`, `:`, `pay OR x`, `"a" "b"*`, `{title}:x`, `^x`, `a AND NOT b`,
	`'a':* & !b`, `a <-> b`, `a:*AB`, `\`, `''`, "\u0301", "é", "\x01", "ﬁ", "İ", "ß", "ǅ", "٣", "x\u200dy", "🙂",
	"1.5e10", "a-b_c", "bob@example.com", strings.Repeat("a ", 100)}

func searchFixtureForFuzz(t testing.TB, s tocsin.Store) {
	t.Helper()
	for _, u := range []string{"u", "other"} {
		n := notification(u, func(n *tocsin.Notification) {
			n.Title, n.Body = "Payment failed near OR not", "é ß ﬁ 🙂 x y a-b_c bob@example.com 1.5e10"
		})
		if _, err := s.Publish(ctx, &tocsin.PublishRequest{Notifications: []tocsin.Notification{n}}); err != nil {
			t.Fatal(err)
		}
	}
}

// searchAnswers checks that s answers the search q (an error would be a 500: the
// query builder made a query the database refused) with only the user's items.
func searchAnswers(t testing.TB, s tocsin.Store, q string) {
	t.Helper()
	p, err := s.List(ctx, "u", tocsin.ListQuery{Q: q, Limit: 10})
	if err != nil {
		t.Fatalf("q=%q: %v", q, err)
	}
	for _, n := range p.Notifications {
		if n.UserID != "u" {
			t.Fatalf("q=%q found another user's item", q)
		}
	}
}

// testSearchRandomQueries runs the seeds and 2,000 searches made of their pieces
// (a fixed sequence, so a failure repeats): FuzzSearch's property on every store
// in every test run, where fuzzing runs only on demand.
func testSearchRandomQueries(t *testing.T, s tocsin.Store) {
	searchFixtureForFuzz(t, s)
	var pieces []rune
	for _, q := range searchSeeds[:len(searchSeeds)-1] {
		searchAnswers(t, s, q)
		pieces = append(pieces, []rune(q)...)
	}
	pieces = append(pieces, []rune(" PAYpay")...)
	r := rand.New(rand.NewPCG(17, 17))
	for range 2000 {
		q := make([]rune, r.IntN(40))
		for i := range q {
			q[i] = pieces[r.IntN(len(pieces))]
		}
		searchAnswers(t, s, string(q))
	}
}

// FuzzSearch fuzzes s's search (each store's FuzzSearchQuery runs it): whatever q
// is, a search answers and finds only the user's own items.
func FuzzSearch(f *testing.F, s tocsin.Store) {
	for _, q := range searchSeeds {
		f.Add(q)
	}
	searchFixtureForFuzz(f, s)
	f.Fuzz(func(t *testing.T, q string) { searchAnswers(t, s, q) })
}
