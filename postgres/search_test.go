package postgres_test

import (
	"context"
	"testing"

	"github.com/tocsin/tocsin/postgres"
	"github.com/tocsin/tocsin/storetest"
)

// FuzzSearchQuery: whatever q is, the search's tsquery is valid and finds only the
// user's own items (storetest.FuzzSearch). Its seeds run with every go test, and
// storetest's SearchRandomQueries runs 2,000 more. -fuzz=FuzzSearchQuery -fuzztime
// 25s ran 55,706 inputs clean; one earlier run, on a loaded machine, stopped after
// 114 with "context deadline exceeded" and no failing input (not reproduced).
func FuzzSearchQuery(f *testing.F) {
	s, err := postgres.Open(context.Background(), freshSchemaURL(f), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	storetest.FuzzSearch(f, s)
}
