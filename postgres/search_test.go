package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/postgres"
)

// FuzzSearchQuery: whatever q is, the search's tsquery is valid (never an error,
// which would be a 500) and finds only the user's own items.
func FuzzSearchQuery(f *testing.F) {
	for _, q := range []string{`"`, `*`, `NEAR(`, `OR`, `-`, `:`, `pay OR x`, `'a':* & !b`, `a <-> b`, `a:*AB`, `\`, `''`,
		"\u0301", "é", "\x01", "ﬁ", "İ", "ß", "ǅ", "٣", "x\u200dy", "🙂", "1.5e10", "a-b_c", "bob@example.com",
		strings.Repeat("a ", 100)} {
		f.Add(q)
	}
	s, err := postgres.Open(context.Background(), freshSchemaURL(f), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	var ids tocsin.IDGen
	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, u := range []string{"u", "other"} {
		n := tocsin.Notification{ID: ids.New(now), UserID: u, Type: "t", Title: "Payment failed near OR not",
			Body: "é ß ﬁ 🙂 x y a-b_c bob@example.com", Priority: 3, Count: 1, CreatedAt: now}
		if _, err := s.Publish(context.Background(), &tocsin.PublishRequest{Notifications: []tocsin.Notification{n}}); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, q string) {
		p, err := s.List(context.Background(), "u", tocsin.ListQuery{Q: q, Limit: 10})
		if err != nil {
			t.Fatalf("q=%q: %v", q, err)
		}
		for _, n := range p.Notifications {
			if n.UserID != "u" {
				t.Fatalf("q=%q found another user's item", q)
			}
		}
	})
}
