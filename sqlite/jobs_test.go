package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestJobQueriesUseTheirIndexes: the claim, NextDue and the order-key check read
// pending jobs through their partial indexes, never a scan of the whole table
// (finished jobs are kept: they would grow every claim).
func TestJobQueriesUseTheirIndexes(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "t.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, q := range []struct {
		name, sql string
		args      []any
	}{
		{"claim", sqlClaimJobs, []any{1, 1, 1}},
		{"next due", sqlNextDue, nil},
		{"cancel", sqlCancelJob, []any{"r", "k", 0}},
		{"prune", sqlPruneJobs, []any{1}},
		{"pending deliveries", sqlPendingDeliveries, []any{"u", "email", "digest", 10}},
	} {
		rows, err := s.w.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q.sql, q.args...)
		if err != nil {
			t.Fatalf("%s: %v", q.name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		t.Logf("%s:\n  %s", q.name, strings.Join(plan, "\n  "))
		for _, step := range plan {
			if strings.HasPrefix(step, "SCAN ") && !strings.Contains(step, "INDEX") && !strings.HasPrefix(step, "SCAN (subquery") {
				t.Errorf("%s scans a table: %s", q.name, step)
			}
		}
	}
}
