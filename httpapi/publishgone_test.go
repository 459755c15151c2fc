package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/auth"
	"github.com/tocsin/tocsin/httpapi"
	"github.com/tocsin/tocsin/hub"
	"github.com/tocsin/tocsin/membus"
	"github.com/tocsin/tocsin/sqlite"
)

// commitsAsClientLeaves is a store whose publishes commit while their client goes
// away: each waits until the request's context ends (the client hung up), then
// commits and reports the truth, success, as a store must (storetest's
// CallerThatGivesUpIsToldTheTruth holds both stores to it).
type commitsAsClientLeaves struct {
	tocsin.Store
	entered chan struct{}
}

func (s *commitsAsClientLeaves) Publish(ctx context.Context, req *tocsin.PublishRequest) (tocsin.PublishResult, error) {
	s.entered <- struct{}{}
	<-ctx.Done()
	return s.Store.Publish(context.WithoutCancel(ctx), req)
}

// TestPublishWhoseClientLeftIsDeliveredLive is the regression test of issue 14's
// lost event: a publish committed while its HTTP client disconnects is still
// announced, so the open streams of its user get it live. The head check is off:
// only the announcement can deliver it. (It was reported failed, never announced,
// and reached the streams only when a later event revealed the gap.)
func TestPublishWhoseClientLeftIsDeliveredLive(t *testing.T) {
	const key = "tk_test_key_0123456789"
	dir := t.TempDir()
	store, err := sqlite.Open(context.Background(), filepath.Join(dir, "tocsin.db"), sqlite.Options{Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	slow := &commitsAsClientLeaves{Store: store, entered: make(chan struct{}, 1)}
	a, err := auth.New(auth.Config{JWTSecret: testSecret, APIKeys: []string{key}})
	if err != nil {
		t.Fatal(err)
	}
	bus := membus.New()
	h := hub.New(hub.Config{Store: slow, Bus: bus, HeadCheck: -1})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httpapi.New(httpapi.Config{Hub: h, Store: store, Auth: a, Logger: slog.New(slog.DiscardHandler)})
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		h.Shutdown()
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
		h.Close()
		bus.Close()
		store.Close()
	})

	events := sseEvents(t, openStream(t, ts, "gone").Body)
	if ev := <-events; ev.name != "init" {
		t.Fatalf("first event %q, want init", ev.name)
	}

	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	body := `{"userId":"gone","title":"published as the client left"}`
	fmt.Fprintf(conn, "POST /api/notifications HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", key, len(body), body)
	<-slow.entered
	conn.Close() // the client goes away while the store commits

	select {
	case ev := <-events:
		if ev.name != "notification" || !strings.Contains(ev.data, "published as the client left") {
			t.Fatalf("got %q %s, want the notification", ev.name, ev.data)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the publish committed as its client left never reached the open stream")
	}
}

type sseEvent struct{ name, data string }

// sseEvents reads the named events of an SSE response (comments skipped).
func sseEvents(t *testing.T, r io.Reader) <-chan sseEvent {
	t.Helper()
	out := make(chan sseEvent, 64)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(r)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return out
}
