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

// TestReadOnlyDatabase: a database that starts refusing writes (read_only_sql_
// transaction, as a standby or default_transaction_read_only answers; here a trigger
// raises it) makes changes fail with a clear EUnavailable, and Ping report it, until
// a write succeeds again; a store opened on such a database is refused.
func TestReadOnlyDatabase(t *testing.T) {
	u := freshSchemaURL(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	note := func(user string) *tocsin.PublishRequest {
		var ids tocsin.IDGen
		now := time.Now().UTC().Truncate(time.Millisecond)
		return &tocsin.PublishRequest{Notifications: []tocsin.Notification{{ID: ids.New(now), UserID: user, Type: "t", CreatedAt: now}}}
	}
	if _, err := s.Publish(ctx, note("u")); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	exec := func(q string) {
		t.Helper()
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'cannot execute in a read-only transaction' USING ERRCODE = '25006'; END $$`)
	for _, table := range []string{"streams", "meta", "notifications"} {
		exec(`CREATE TRIGGER ro BEFORE INSERT OR UPDATE OR DELETE ON ` + table + ` FOR EACH STATEMENT EXECUTE FUNCTION refuse()`)
	}
	cannot := func(what string, err error) {
		t.Helper()
		if tocsin.ErrorCodeOf(err) != tocsin.EUnavailable || !strings.Contains(tocsin.ErrorMessageOf(err), "the store cannot write: the database is read-only") {
			t.Fatalf("%s: %v; want EUnavailable saying the database is read-only", what, err)
		}
	}
	_, err = s.Publish(ctx, note("u"))
	cannot("publish", err)
	_, _, err = s.ReadAll(ctx, "u", time.Now())
	cannot("read-all", err)
	cannot("ping", s.Ping(ctx))
	if _, err := postgres.Open(ctx, u, nil); err == nil || !strings.Contains(err.Error(), "cannot be written") {
		t.Fatalf("opening a read-only database: %v", err)
	}

	for _, table := range []string{"streams", "meta", "notifications"} {
		exec(`DROP TRIGGER ro ON ` + table)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("Ping still failing after the database took writes again: %v", s.Ping(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := s.Publish(ctx, note("u")); err != nil {
		t.Fatalf("publish after recovery: %v", err)
	}
}
