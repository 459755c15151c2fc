package redisbus_test

import (
	"context"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/bustest"
	"github.com/tocsin/tocsin/internal/testenv"
	"github.com/tocsin/tocsin/redisbus"
)

func TestConformance(t *testing.T) {
	url := testenv.Redis(t)
	bustest.Run(t, bustest.Options{
		Open: func(t *testing.T) tocsin.Bus {
			b, err := redisbus.Open(context.Background(), url, nil)
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		Cut: func(t *testing.T) (tocsin.Bus, func()) {
			p := bustest.NewProxy(t, url)
			b, err := redisbus.Open(context.Background(), p.URL(), nil)
			if err != nil {
				t.Fatal(err)
			}
			return b, p.Cut
		},
		Nodes:  3,
		Settle: 0, // Subscribe returns once the server confirmed it
	})
}

func TestPing(t *testing.T) {
	b, err := redisbus.Open(context.Background(), testenv.Redis(t), nil)
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
