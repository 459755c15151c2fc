// Package pgtest gives tests an empty PostgreSQL schema of their own in the test
// database named by TOCSIN_TEST_POSTGRES_URL.
package pgtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// FreshSchemaURL returns the URL of a new, empty schema, dropped when the test ends.
// Without TOCSIN_TEST_POSTGRES_URL the test skips on a developer's machine and fails
// in CI (CI set), which always provides it.
func FreshSchemaURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TOCSIN_TEST_POSTGRES_URL")
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TOCSIN_TEST_POSTGRES_URL is unset in CI")
		}
		t.Skip("set TOCSIN_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run against PostgreSQL")
	}
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
