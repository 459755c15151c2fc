package natsbus_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/bustest"
	"github.com/tocsin/tocsin/natsbus"
)

// natsURL is the server the tests use: TOCSIN_TEST_NATS_URL. Without it the tests
// skip on a developer's machine and fail in CI, which always sets it.
func natsURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("TOCSIN_TEST_NATS_URL")
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TOCSIN_TEST_NATS_URL is unset in CI")
		}
		t.Skip("set TOCSIN_TEST_NATS_URL (e.g. nats://127.0.0.1:4222) to test the NATS bus")
	}
	return u
}

func TestConformance(t *testing.T) {
	url := natsURL(t)
	bustest.Run(t, bustest.Options{
		Open: func(t *testing.T) tocsin.Bus {
			b, err := natsbus.Open(context.Background(), url, nil)
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		Nodes: 3,
	})
}

func TestPingAndStartWhileDown(t *testing.T) {
	b, err := natsbus.Open(context.Background(), natsURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	// A node starts even when NATS is down (the store is the truth) and says so.
	dead, err := natsbus.Open(context.Background(), "nats://127.0.0.1:1", nil)
	if err != nil {
		t.Fatalf("Open of an unreachable server must not fail: %v", err)
	}
	defer dead.Close()
	if err := dead.Ping(ctx); err == nil {
		t.Fatal("Ping of an unreachable server succeeded")
	}
}
