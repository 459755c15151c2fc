package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/internal/pgtest"
)

// TestJobQueriesCanUseTheirIndexes: with sequential scans priced out, the claim
// (both the due jobs and the order-key check), NextDue, CancelJob and the digest's
// PendingDeliveries have an index to read: their partial indexes of pending rows
// match the queries' conditions. (On a table this small the planner would rather
// scan: the test asks whether an index applies, not which plan wins; where the
// empty table's statistics leave the choice of index open, none is named.)
func TestJobQueriesCanUseTheirIndexes(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.FreshSchemaURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, q := range []struct {
		name, sql string
		args      []any
		want      []string
	}{
		{"claim", sqlClaimJobs, []any{int64(1), int64(1), 10}, []string{"jobs_due", "jobs_order"}},
		{"next due", sqlNextDue, nil, []string{"jobs_due"}},
		{"cancel", sqlCancelJob, []any{"r", "scheduled", int64(0)}, nil},
		{"pending deliveries", sqlPendingDeliveries, []any{"u", "email", "digest", 10}, []string{"deliveries_scheduled"}},
	} {
		var plan []string
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, "EXPLAIN "+q.sql, q.args...)
			if err != nil {
				return err
			}
			plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", q.name, err)
		}
		text := strings.Join(plan, "\n")
		t.Logf("%s:\n%s", q.name, text)
		if strings.Contains(text, "Seq Scan") {
			t.Errorf("%s has no index to read", q.name)
		}
		for _, idx := range q.want {
			if !strings.Contains(text, idx) {
				t.Errorf("%s does not use %s", q.name, idx)
			}
		}
	}
}

// TestJobWritesRefusedAreUnavailable: when the database refuses writes to the
// delivery tables, their changes fail with the store's clear EUnavailable and the
// store keeps the fault (for Ping, until a write succeeds), as for any other change.
func TestJobWritesRefusedAreUnavailable(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.FreshSchemaURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.AddJobs(ctx, []tocsin.Job{{ID: "j", Kind: tocsin.JobDigest, DueAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN RAISE EXCEPTION 'cannot execute in a read-only transaction' USING ERRCODE = '25006'; END $$`,
		`CREATE TRIGGER ro BEFORE INSERT OR UPDATE OR DELETE ON jobs FOR EACH STATEMENT EXECUTE FUNCTION refuse()`,
		`CREATE TRIGGER ro BEFORE INSERT OR UPDATE OR DELETE ON webhooks FOR EACH STATEMENT EXECUTE FUNCTION refuse()`,
	} {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	cannot := func(what string, err error) {
		t.Helper()
		if tocsin.ErrorCodeOf(err) != tocsin.EUnavailable || !strings.Contains(tocsin.ErrorMessageOf(err), "read-only") {
			t.Fatalf("%s: %v; want EUnavailable saying the database is read-only", what, err)
		}
	}
	_, err = s.ClaimJobs(ctx, time.Now(), time.Minute, 10)
	cannot("claim", err)
	cannot("finish", s.FinishJob(ctx, "j", tocsin.JobDone, "", 0, time.Now()))
	cannot("delete webhook", s.DeleteWebhook(ctx, "wh"))
	if s.fault.Load() == nil {
		t.Fatal("the refused write was not kept as the store's fault")
	}
}
