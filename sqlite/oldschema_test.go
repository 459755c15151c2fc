package sqlite_test

import (
	"database/sql"
	"testing"

	"github.com/tocsin/tocsin/migrations"
)

// oldSchema gives db the schema of the version before migration step before, as
// a database of that version would have it: the upgrade tests then add old rows
// and open the store, which runs the rest.
func oldSchema(t testing.TB, db *sql.DB, before int) {
	t.Helper()
	steps, err := migrations.Steps(migrations.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		if s.Version >= before {
			break
		}
		if _, err := db.Exec(s.SQL); err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations VALUES (?, 0)`, s.Version); err != nil {
			t.Fatal(err)
		}
	}
}
