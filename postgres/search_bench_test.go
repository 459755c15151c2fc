package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/postgres"
)

// BenchmarkSearch: one user's search (a prefix common to every row) in a store of
// 100,000 notifications of 1,001 users, as sqlite's BenchmarkSearch: user-7 has
// 100 of them, "heavy" 10,000. A small user's search must not cost in proportion
// to the other users' rows. With TOCSIN_BENCH_EXPLAIN=1 it logs the EXPLAIN
// (ANALYZE, BUFFERS) of the statement each case runs.
func BenchmarkSearch(b *testing.B) {
	s, conn := openWithConn(b)
	ctx := context.Background()
	var ids tocsin.IDGen
	now := time.Now().UTC().Truncate(time.Millisecond)
	for range 10 {
		ns := make([]tocsin.Notification, 10000)
		for j := range ns {
			ns[j] = tocsin.Notification{ID: ids.New(now), UserID: fmt.Sprint("user-", j%1000), Type: "billing",
				Title: fmt.Sprint("Payment failed for invoice INV-", j), Priority: 3, Tags: []string{"billing"},
				Body:  "Your card ending in 4242 was declined by the bank. Update your payment method.",
				Count: 1, CreatedAt: now}
			if j%10 == 9 {
				ns[j].UserID = "heavy"
			}
		}
		if _, err := s.Publish(ctx, &tocsin.PublishRequest{Notifications: ns}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE notifications"); err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{"pay", "payment declined", "declined", "heavy:pay"} {
		user := "user-7"
		if w, ok := strings.CutPrefix(q, "heavy:"); ok {
			user, q = "heavy", w
		}
		if os.Getenv("TOCSIN_BENCH_EXPLAIN") != "" {
			explainSearch(b, conn, user, q)
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

// explainSearch logs the plan of the statement a search of q by user runs, as
// a prepared statement runs it after five executions (a generic plan) and as
// a custom plan.
func explainSearch(b *testing.B, conn *pgx.Conn, user, q string) {
	ctx := context.Background()
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM notifications WHERE user_id = $1", user).Scan(&n); err != nil {
		b.Fatal(err)
	}
	sql, args := postgres.SearchSQL(user, tocsin.ListQuery{Q: q, Limit: 20, Now: time.Now()}, n <= postgres.SmallInbox)
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		if _, err := conn.Exec(ctx, "SET plan_cache_mode = "+mode); err != nil {
			b.Fatal(err)
		}
		b.Logf("%s q=%q %s:\n%s", user, q, mode, explain(b, conn, "EXPLAIN (ANALYZE, BUFFERS) "+sql, args...))
	}
}
