package postgres_test

import (
	"context"
	"testing"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/internal/pgtest"
	"github.com/tocsin/tocsin/postgres"
	"github.com/tocsin/tocsin/storetest"
)

func freshSchemaURL(t testing.TB) string { return pgtest.FreshSchemaURL(t) }

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
