package client_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/auth"
	"github.com/tocsin/tocsin/client"
)

// shortTokens is a token source minting tokens for user that expire ttl from now.
func shortTokens(user string, ttl time.Duration, calls *atomic.Int32) client.TokenSource {
	return func(context.Context) (string, error) {
		calls.Add(1)
		return auth.MintJWT([]byte(secret), user, ttl, time.Now())
	}
}

// TestSubscribeAcrossTokenExpiry: with 2-second tokens from a token source, events
// are published every 40 ms for several token lifetimes. The server ends the stream
// at each token's expiry; the client takes a fresh token, reconnects and resumes, so
// every event arrives exactly once, in order, with a single init.
func TestSubscribeAcrossTokenExpiry(t *testing.T) {
	s := start(t, freeAddr(t), t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	app := client.New(s.URL, client.WithAPIKey(apiKey))
	var calls atomic.Int32
	user := client.New(s.URL, client.WithTokenSource(shortTokens("ivy", 2*time.Second, &calls)))

	var mu sync.Mutex
	var got []string
	inits := 0
	var reconnects atomic.Int32
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- user.Subscribe(ctx, client.SubscribeOptions{
			OnDisconnect: func(error, time.Duration) { reconnects.Add(1) },
		}, func(ev client.Event) error {
			mu.Lock()
			defer mu.Unlock()
			switch ev.Name {
			case "init":
				inits++
				if inits == 1 {
					close(ready)
				}
			case "notification":
				n, err := ev.Notification()
				if err != nil {
					return err
				}
				got = append(got, n.Title)
				if n.Title == "last" {
					return client.ErrStop
				}
			}
			return nil
		})
	}()
	<-ready
	var want []string
	for i := range 150 { // 150 × 40 ms: about 6 s, three tokens
		title := fmt.Sprint("n", i)
		if _, err := app.Publish(ctx, tocsin.PublishInput{UserID: "ivy", Title: title}, client.PublishOptions{}); err != nil {
			t.Fatal(err)
		}
		want = append(want, title)
		time.Sleep(40 * time.Millisecond)
	}
	if _, err := app.Publish(ctx, tocsin.PublishInput{UserID: "ivy", Title: "last"}, client.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	want = append(want, "last")
	if err := <-done; err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %d events %v\nwant %d %v", len(got), got, len(want), want)
	}
	if inits != 1 {
		t.Fatalf("%d inits: a reconnect did not resume", inits)
	}
	if reconnects.Load() < 2 || calls.Load() < 3 {
		t.Fatalf("%d reconnects, %d tokens: the stream should have outlived at least two tokens", reconnects.Load(), calls.Load())
	}
}

// TestTokenSourceRetriesA401: a request refused with 401 (the held token expired)
// is retried once with a fresh token from the source.
func TestTokenSourceRetriesA401(t *testing.T) {
	s := start(t, freeAddr(t), t.TempDir())
	ctx := context.Background()
	var calls atomic.Int32
	src := func(context.Context) (string, error) {
		if calls.Add(1) == 1 { // the first token is already expired
			return auth.MintJWT([]byte(secret), "jo", -time.Minute, time.Now().Add(-time.Hour))
		}
		return auth.MintJWT([]byte(secret), "jo", time.Hour, time.Now())
	}
	c := client.New(s.URL, client.WithTokenSource(src))
	if _, err := c.UnreadCount(ctx); err != nil || calls.Load() != 2 {
		t.Fatalf("UnreadCount: %v after %d tokens, want success with the second", err, calls.Load())
	}
	if _, err := c.UnreadCount(ctx); err != nil || calls.Load() != 2 {
		t.Fatalf("a held, valid token is reused: %v, %d calls", err, calls.Load())
	}
	bad := client.New(s.URL, client.WithTokenSource(func(context.Context) (string, error) { calls.Add(1); return "not-a-token", nil }))
	before := calls.Load()
	var apiErr *client.Error
	if _, err := bad.UnreadCount(ctx); err == nil || calls.Load()-before != 2 {
		t.Fatalf("a source of bad tokens: %v after %d calls, want the 401 after one retry", err, calls.Load()-before)
	} else if !errors.As(err, &apiErr) || apiErr.Status != 401 {
		t.Fatalf("want 401, got %v", err)
	}
}
