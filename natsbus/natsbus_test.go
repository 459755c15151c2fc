package natsbus_test

import (
	"context"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/bustest"
	"github.com/tocsin/tocsin/internal/testenv"
	"github.com/tocsin/tocsin/natsbus"
)

func TestConformance(t *testing.T) {
	url := testenv.NATS(t)
	bustest.Run(t, bustest.Options{
		Open: func(t *testing.T) tocsin.Bus {
			b, err := natsbus.Open(context.Background(), url, nil)
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		Cut: func(t *testing.T) (tocsin.Bus, func()) {
			p := bustest.NewProxy(t, url)
			b, err := natsbus.Open(context.Background(), p.URL(), nil)
			if err != nil {
				t.Fatal(err)
			}
			return b, p.Cut
		},
		Nodes: 3,
	})
}

func TestPingAndStartWhileDown(t *testing.T) {
	b, err := natsbus.Open(context.Background(), testenv.NATS(t), nil)
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
