package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/postgres"
)

// TestSearchMigrationIndexesExistingRows: migration 0010 indexes what was stored
// before it, and a search's condition is one its index serves (checked with
// sequential scans off: for one row the planner would rightly scan).
func TestSearchMigrationIndexesExistingRows(t *testing.T) {
	u, conn := oldSchema(t, 10)
	ctx := context.Background()
	var ids tocsin.IDGen
	id := ids.New(time.Now())
	if _, err := conn.Exec(ctx, `INSERT INTO notifications (id, user_id, type, title, body, tags, created_at)
		VALUES ($1, 'u', 't', 'Payment failed', 'before search existed', '{legacy}', 1)`, id); err != nil {
		t.Fatal(err)
	}
	s, err := postgres.Open(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, q := range []string{"pay", "existed", "legacy"} {
		p, err := s.List(ctx, "u", tocsin.ListQuery{Q: q})
		if err != nil || len(p.Notifications) != 1 || p.Notifications[0].ID != id {
			t.Fatalf("q=%q after the migration: %+v %v", q, p.Notifications, err)
		}
	}
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `EXPLAIN SELECT id FROM notifications
		WHERE tocsin_search_doc(title, body, tags) @@ to_tsquery('simple', '''pay'':*')`)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if plan := strings.Join(lines, "\n"); err != nil || !strings.Contains(plan, "notifications_search") {
		t.Fatalf("the search's condition does not use its index: %v\n%s", err, plan)
	}
}
