package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tocsin/tocsin/migrations"
)

// oldSchema makes a fresh schema with the schema of the version before migration
// step before, as a database of that version would have it, and returns its URL and
// a connection to it (closed when the test ends): the upgrade tests then add old
// rows and open the store, which runs the rest.
func oldSchema(t testing.TB, before int) (string, *pgx.Conn) {
	t.Helper()
	u := freshSchemaURL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	steps, err := migrations.Steps(migrations.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		if s.Version >= before {
			break
		}
		if _, err := conn.Exec(ctx, s.SQL); err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations VALUES ($1, 0)`, s.Version); err != nil {
			t.Fatal(err)
		}
	}
	return u, conn
}
