package postgres_test

import (
	"context"
	"testing"

	"github.com/tocsin/tocsin/postgres"
	"github.com/tocsin/tocsin/storetest"
)

// FuzzSearchQuery: whatever q is, the search's tsquery is valid and finds only the
// user's own items (storetest.FuzzSearch).
func FuzzSearchQuery(f *testing.F) {
	s, err := postgres.Open(context.Background(), freshSchemaURL(f), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	storetest.FuzzSearch(f, s)
}
