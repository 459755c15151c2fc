package redisbus_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/bustest"
	"github.com/tocsin/tocsin/redisbus"
)

// redisURL is the server the tests use: TOCSIN_TEST_REDIS_URL. Without it the tests
// skip on a developer's machine and fail in CI, which always sets it.
func redisURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("TOCSIN_TEST_REDIS_URL")
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TOCSIN_TEST_REDIS_URL is unset in CI")
		}
		t.Skip("set TOCSIN_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0) to test the Redis bus")
	}
	return u
}

func TestConformance(t *testing.T) {
	url := redisURL(t)
	bustest.Run(t, bustest.Options{
		Open: func(t *testing.T) tocsin.Bus {
			b, err := redisbus.Open(context.Background(), url, nil)
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		Nodes:  3,
		Settle: 0, // Subscribe returns once the server confirmed it
	})
}

func TestPing(t *testing.T) {
	b, err := redisbus.Open(context.Background(), redisURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	dead, err := redisbus.Open(context.Background(), "redis://127.0.0.1:1/0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	if err := dead.Ping(ctx); err == nil {
		t.Fatal("Ping of an unreachable server succeeded")
	}
}
