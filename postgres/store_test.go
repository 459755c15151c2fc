package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/postgres"
	"github.com/tocsin/tocsin/storetest"
)

// FreshSchemaURL returns the URL of an empty schema in the test database
// (TOCSIN_TEST_POSTGRES_URL), dropped when the test ends. Without the variable the
// test skips on a developer's machine and fails in CI, which always sets it.
func freshSchemaURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TOCSIN_TEST_POSTGRES_URL")
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TOCSIN_TEST_POSTGRES_URL is unset in CI")
		}
		t.Skip("set TOCSIN_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to test the PostgreSQL store")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect %s: %v", base, err)
	}
	defer conn.Close(ctx)
	schema := fmt.Sprintf("tocsin_test_%d", rand.Uint64())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err == nil {
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

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tocsin.Store {
		s, err := postgres.Open(context.Background(), freshSchemaURL(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestNodesShareOneHistory: two stores (two nodes) on one database agree on the
// epoch and on every stream's sequence.
func TestNodesShareOneHistory(t *testing.T) {
	u := freshSchemaURL(t)
	a, err := postgres.Open(context.Background(), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := postgres.Open(context.Background(), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.Epoch() != b.Epoch() {
		t.Fatalf("epochs differ: %s, %s", a.Epoch(), b.Epoch())
	}
}
