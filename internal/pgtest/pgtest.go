// Package pgtest gives tests an empty PostgreSQL schema of their own in the test
// database named by TOCSIN_TEST_POSTGRES_URL.
package pgtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tocsin/tocsin/internal/testenv"
)

// FreshSchemaURL returns the URL of a new, empty schema, dropped when the test ends.
// Without TOCSIN_TEST_POSTGRES_URL the test skips, or fails in CI (testenv).
func FreshSchemaURL(t testing.TB) string {
	t.Helper()
	base := testenv.Postgres(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to TOCSIN_TEST_POSTGRES_URL: %v", err)
	}
	defer conn.Close(ctx)
	schema := fmt.Sprintf("tocsin_test_%d", rand.Uint64())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c, err := pgx.Connect(context.Background(), base); err == nil {
			_, _ = c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
