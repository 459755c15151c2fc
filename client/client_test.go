package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/auth"
	"github.com/tocsin/tocsin/client"
	"github.com/tocsin/tocsin/config"
	"github.com/tocsin/tocsin/internal/app"
)

const (
	apiKey = "tk_client_test_key_0123"
	secret = "client-test-secret-0123456789abcdef"
)

// server is a real node on addr and dir; stop ends it (gracefully).
type server struct {
	URL  string
	stop func()
}

func start(t *testing.T, addr, dir string) *server {
	t.Helper()
	cfg, err := config.Load([]string{"--addr", addr, "--data-dir", dir, "--api-key", apiKey,
		"--jwt-secret", secret, "--sqlite-sync", "normal", "--retry", "100ms",
		// Email on (never reached: the tests' timers are not due), so plans with
		// email get their timers.
		"--smtp-url", "smtp://127.0.0.1:9?starttls=none", "--email-from", "tocsin@example.com"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for i := 0; ; i++ { // the previous server on addr may still be letting go of it
		if ln, err = net.Listen("tcp", addr); err == nil || i > 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = a.Serve(ln); close(done) }()
	s := &server{URL: "http://" + addr}
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
		<-done
	}
	t.Cleanup(s.stop)
	return s
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func token(t *testing.T, user string) string {
	tok, err := auth.MintJWT([]byte(secret), user, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestInbox(t *testing.T) {
	s := start(t, freeAddr(t), t.TempDir())
	ctx := context.Background()
	app := client.New(s.URL, client.WithAPIKey(apiKey))
	user := client.New(s.URL, client.WithToken(token(t, "ada")))

	ns, err := app.Publish(ctx, tocsin.PublishInput{UserID: "ada", Title: "hello", Type: "comment"},
		client.PublishOptions{IdempotencyKey: "k1"})
	if err != nil || len(ns) != 1 || ns[0].Title != "hello" {
		t.Fatalf("Publish: %+v %v", ns, err)
	}
	again, err := app.Publish(ctx, tocsin.PublishInput{UserID: "ada", Title: "hello", Type: "comment"},
		client.PublishOptions{IdempotencyKey: "k1"})
	if err != nil || again[0].ID != ns[0].ID {
		t.Fatalf("idempotent repeat: %+v %v", again, err)
	}
	bulk, err := app.Publish(ctx, tocsin.PublishInput{UserIDs: []string{"ada", "bob"}, Title: "both"}, client.PublishOptions{})
	if err != nil || len(bulk) != 2 {
		t.Fatalf("bulk: %+v %v", bulk, err)
	}
	page, err := user.List(ctx, client.ListOptions{Status: "unread"})
	if err != nil || len(page.Notifications) != 2 || page.UnreadCount != 2 {
		t.Fatalf("List: %+v %v", page, err)
	}
	if n, err := user.MarkRead(ctx, ns[0].ID); err != nil || n.ReadAt == nil {
		t.Fatalf("MarkRead: %+v %v", n, err)
	}
	if c, err := user.UnreadCount(ctx); err != nil || c != 1 {
		t.Fatalf("UnreadCount: %d %v", c, err)
	}
	if n, err := user.ReadAll(ctx); err != nil || n != 1 {
		t.Fatalf("ReadAll: %d %v", n, err)
	}
	if err := user.Delete(ctx, ns[0].ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	var apiErr *client.Error
	if err := user.Delete(ctx, ns[0].ID); !errors.As(err, &apiErr) || apiErr.Status != 404 || apiErr.Code != "not_found" {
		t.Fatalf("Delete twice: %v", err)
	}
	if _, err := app.Publish(ctx, tocsin.PublishInput{UserID: "ada", Priority: 9}, client.PublishOptions{}); !errors.As(err, &apiErr) || apiErr.Code != "invalid_request" {
		t.Fatalf("bad publish: %v", err)
	}
}

// TestSubscribeResumesAcrossARestart: events published while the server restarts
// arrive once each, in order, after the client reconnects by itself.
func TestSubscribeResumesAcrossARestart(t *testing.T) {
	addr, dir := freeAddr(t), t.TempDir()
	s := start(t, addr, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	app := client.New(s.URL, client.WithAPIKey(apiKey))
	user := client.New(s.URL, client.WithToken(token(t, "grace")))

	got := make(chan string, 100)
	inits := make(chan struct{}, 10)
	disconnects := make(chan time.Duration, 10)
	subDone := make(chan error, 1)
	go func() {
		subDone <- user.Subscribe(ctx, client.SubscribeOptions{
			MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
			OnDisconnect: func(_ error, wait time.Duration) { disconnects <- wait },
		}, func(ev client.Event) error {
			switch ev.Name {
			case "init":
				inits <- struct{}{}
			case "notification":
				n, err := ev.Notification()
				if err != nil {
					return err
				}
				got <- n.Title
				if n.Title == "last" {
					return client.ErrStop
				}
			}
			return nil
		})
	}()
	<-inits
	publish := func(title string) {
		t.Helper()
		// An Idempotency-Key also lets net/http retry the request on a pooled
		// connection that the restarted server had closed.
		if _, err := app.Publish(ctx, tocsin.PublishInput{UserID: "grace", Title: title}, client.PublishOptions{IdempotencyKey: title}); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(titles ...string) {
		t.Helper()
		for _, want := range titles {
			select {
			case title := <-got:
				if title != want {
					t.Fatalf("got %q, want %q", title, want)
				}
			case <-ctx.Done():
				t.Fatalf("no %q", want)
			}
		}
	}
	for i := range 3 {
		publish(fmt.Sprint("before ", i))
	}
	expect("before 0", "before 1", "before 2")

	s.stop()
	s = start(t, addr, dir)
	app = client.New(s.URL, client.WithAPIKey(apiKey))
	for i := range 3 {
		publish(fmt.Sprint("after ", i))
	}
	publish("last")
	expect("after 0", "after 1", "after 2", "last")
	if err := <-subDone; err != nil {
		t.Fatalf("Subscribe ended with %v", err)
	}
	select {
	case <-inits:
		t.Fatal("a second init: the client did not resume")
	default:
	}
	if len(disconnects) == 0 {
		t.Fatal("the restart was not seen as a disconnect")
	}
}

func TestSubscribeStopsOnRefusedCredentials(t *testing.T) {
	s := start(t, freeAddr(t), t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := client.New(s.URL, client.WithToken("not-a-token")).Subscribe(ctx, client.SubscribeOptions{},
		func(client.Event) error { return nil })
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.Status != 401 {
		t.Fatalf("Subscribe with a bad token: %v; want a final 401, not retries", err)
	}
}

func TestBackoffBounds(t *testing.T) {
	minW, maxW := 100*time.Millisecond, 2*time.Second
	for n := range 12 {
		ceiling := min(minW<<n, maxW)
		for range 200 {
			w := client.Backoff(n, minW, maxW, 0)
			if w < minW/2 || w > ceiling {
				t.Fatalf("attempt %d: wait %v outside [%v, %v]", n, w, minW/2, ceiling)
			}
		}
	}
	if w := client.Backoff(0, minW, maxW, time.Second); w < time.Second {
		t.Fatalf("the server's retry hint was not honoured: %v", w)
	}
	if w := client.Backoff(0, minW, maxW, time.Hour); w > maxW {
		t.Fatalf("a huge retry hint exceeded the cap: %v", w)
	}
}

// TestListSearch: ListOptions.Q searches, and a search's cursor pages it.
func TestListSearch(t *testing.T) {
	s := start(t, freeAddr(t), t.TempDir())
	ctx := context.Background()
	app := client.New(s.URL, client.WithAPIKey(apiKey))
	user := client.New(s.URL, client.WithToken(token(t, "ada")))
	for _, title := range []string{"Payment failed", "Payment received", "Weekly digest"} {
		if _, err := app.Publish(ctx, tocsin.PublishInput{UserID: "ada", Title: title, Type: "billing"}, client.PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := user.List(ctx, client.ListOptions{Q: "pay", Limit: 1})
	if err != nil || len(first.Notifications) != 1 || first.Notifications[0].Title != "Payment received" || first.NextCursor == "" {
		t.Fatalf("first page: %+v %v", first, err)
	}
	second, err := user.List(ctx, client.ListOptions{Q: "pay", Limit: 1, Cursor: first.NextCursor})
	if err != nil || len(second.Notifications) != 1 || second.Notifications[0].Title != "Payment failed" || second.NextCursor != "" {
		t.Fatalf("second page: %+v %v", second, err)
	}
	var apiErr *client.Error
	if _, err := user.List(ctx, client.ListOptions{Cursor: first.NextCursor}); !errors.As(err, &apiErr) || apiErr.Status != 400 {
		t.Fatalf("a search cursor without its q: %v", err)
	}
}
