package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/sqlite"
	"github.com/tocsin/tocsin/storetest"
)

func searchIDs(t testing.TB, s *sqlite.Store, user, q string) []string {
	t.Helper()
	p, err := s.List(context.Background(), user, tocsin.ListQuery{Q: q, Limit: 100})
	if err != nil {
		t.Fatalf("search %q: %v", q, err)
	}
	var out []string
	for _, n := range p.Notifications {
		out = append(out, n.ID)
	}
	return out
}

func publishTitled(t testing.TB, s *sqlite.Store, user, title string, mod ...func(*tocsin.Notification)) tocsin.Notification {
	t.Helper()
	n := note(user)
	n.Title = title
	for _, m := range mod {
		m(&n)
	}
	res, err := s.Publish(context.Background(), &tocsin.PublishRequest{Notifications: []tocsin.Notification{n}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Notifications[0]
}

// FTS5's unicode61 folds diacritics both ways (remove_diacritics 2); PostgreSQL's
// 'simple' configuration does not, so this is SQLite's alone.
func TestSearchFoldsDiacritics(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "tocsin.db"))
	defer s.Close()
	a := publishTitled(t, s, "u", "Café Zürich crème brûlée")
	for _, q := range []string{"cafe", "CAFÉ", "zurich", "creme brulee", "Crème"} {
		if got := searchIDs(t, s, "u", q); len(got) != 1 || got[0] != a.ID {
			t.Fatalf("q=%q found %v", q, got)
		}
	}
}

// The external-content index must hold exactly what the content holds after every
// kind of change (else a later 'delete' corrupts it): FTS5's integrity-check with
// rank 1 compares the index with the content.
func TestSearchIndexStaysInSyncWithContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tocsin.db")
	s := open(t, path)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	soon := now.Add(time.Millisecond)
	group := func(n *tocsin.Notification) { n.GroupKey = "g"; n.Tags = []string{"R&D", "a<b>c", "tab\there"} }
	a := publishTitled(t, s, "u", "first", group)
	publishTitled(t, s, "u", "second", group) // folds into a: title, body, tags rewritten
	b := publishTitled(t, s, "u", "to delete")
	publishTitled(t, s, "u", "expires", func(n *tocsin.Notification) { n.ExpiresAt = &soon })
	publishTitled(t, s, "u", "old", func(n *tocsin.Notification) { n.CreatedAt = now.Add(-2 * time.Hour) })
	many := make([]tocsin.Notification, 40)
	for i := range many {
		many[i] = note("m" + strings.Repeat("x", i%3))
		many[i].Title = "bulk"
	}
	if _, err := s.Publish(ctx, &tocsin.PublishRequest{Notifications: many}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Update(ctx, "u", a.ID, tocsin.Patch{Read: ptr(true)}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "u", b.ID, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expire(ctx, soon, 100); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Prune(ctx, now.Add(-time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ReadAll(ctx, "mx", now); err != nil {
		t.Fatal(err)
	}
	for q, n := range map[string]int{"second": 1, "first": 0, "delete": 0, "expires": 0, "old": 0, "bulk": 14, "r&d": 1, "tab here": 1, "c": 1} {
		if got := searchIDs(t, s, "u", q); q != "bulk" && len(got) != n {
			t.Fatalf("q=%q found %d, want %d", q, len(got), n)
		}
	}
	if got := searchIDs(t, s, "m", "bulk"); len(got) != 14 {
		t.Fatalf("bulk publish: %d of 14 found", len(got))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO notifications_fts (notifications_fts, rank) VALUES ('integrity-check', 1)`); err != nil {
		t.Fatalf("the index differs from the content: %v", err)
	}
}

// Migration 0010 indexes what was stored before it.
func TestSearchMigrationIndexesExistingRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tocsin.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	oldSchema(t, db, 10)
	n := note("u")
	if _, err := db.Exec(`INSERT INTO notifications (id, user_id, type, title, body, tags, created_at)
		VALUES (?, 'u', 't', 'Payment failed', 'before search existed', '["legacy"]', ?)`, n.ID, n.CreatedAt.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s := open(t, path)
	defer s.Close()
	for _, q := range []string{"pay", "existed", "legacy"} {
		if got := searchIDs(t, s, "u", q); len(got) != 1 || got[0] != n.ID {
			t.Fatalf("q=%q after the migration found %v", q, got)
		}
	}
}

// FuzzSearchQuery: whatever q is, a search answers and finds only the user's own
// items (storetest.FuzzSearch).
func FuzzSearchQuery(f *testing.F) {
	s := open(f, filepath.Join(f.TempDir(), "tocsin.db"))
	f.Cleanup(func() { s.Close() })
	storetest.FuzzSearch(f, s)
}

func ptr[T any](v T) *T { return &v }

// BenchmarkSearch: one user's search (a prefix common to every row) in a store of
// 100,000 notifications: what a search costs when the words are everywhere and the
// user's inbox is a small part of the index (user-7: 100 of the 100,000 rows), and
// when it is a large part ("heavy": 10,000 rows; the other 900 users have 100 each).
func BenchmarkSearch(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "tocsin.db"))
	defer s.Close()
	ctx := context.Background()
	var ids tocsin.IDGen
	for range 10 {
		ns := make([]tocsin.Notification, 10000)
		for j := range ns {
			ns[j] = note(fmt.Sprint("user-", j%1000))
			if j%10 == 9 {
				ns[j].UserID = "heavy"
			}
			ns[j].ID = ids.New(ns[j].CreatedAt)
			ns[j].Title, ns[j].Tags = fmt.Sprint("Payment failed for invoice INV-", j), []string{"billing"}
			ns[j].Body = "Your card ending in 4242 was declined by the bank. Update your payment method."
		}
		if _, err := s.Publish(ctx, &tocsin.PublishRequest{Notifications: ns}); err != nil {
			b.Fatal(err)
		}
	}
	for _, q := range []string{"pay", "payment declined", "inv 10", "heavy:pay"} {
		user := "user-7"
		if w, ok := strings.CutPrefix(q, "heavy:"); ok {
			user, q = "heavy", w
		}
		b.Run(user+"/"+q, func(b *testing.B) {
			for b.Loop() {
				p, err := s.List(ctx, user, tocsin.ListQuery{Q: q, Limit: 20})
				if err != nil || len(p.Notifications) == 0 {
					b.Fatalf("%d found, %v", len(p.Notifications), err)
				}
			}
		})
	}
}

// The index scopes a search by each row's owner token (U+E000, the user id in hex):
// no search word matches that token, and a text that holds another user's token
// finds nothing of theirs.
func TestSearchOwnerToken(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "tocsin.db"))
	defer s.Close()
	// "u" is 75 in hex, "v" 76: a search for 7 or 75 must not match the tokens.
	a := publishTitled(t, s, "u", "plain")
	publishTitled(t, s, "v", "plain \ue00075 \ue000"+"75 x")
	for q, want := range map[string][]string{"7": nil, "75": nil, "e000": nil, "plain": {a.ID}, "\ue00075": nil} {
		if got := searchIDs(t, s, "u", q); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("q=%q found %v, want %v", q, got, want)
		}
	}
	// User ids that the tokenizer would split or fold stay one exact token.
	for _, user := range []string{"user-7", "User-7", "a b", "ü/é", strings.Repeat("z", tocsin.MaxUserIDLen)} {
		n := publishTitled(t, s, user, "owned")
		if got := searchIDs(t, s, user, "owned"); len(got) != 1 || got[0] != n.ID {
			t.Fatalf("user %q: found %v", user, got)
		}
	}
}
