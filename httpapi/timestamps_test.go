package httpapi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/delivery"
	"github.com/tocsin/tocsin/httpapi"
	"github.com/tocsin/tocsin/hub"
	"github.com/tocsin/tocsin/sqlite"
)

// emittedTime is the one form of every time the server emits (tocsin.TimestampLayout).
var emittedTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// checkTimes fails unless every string in the JSON body that parses as an RFC 3339
// time is in the emitted form, and returns the keys of the times it found.
func checkTimes(t *testing.T, what string, body []byte) map[string]bool {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", what, err, body)
	}
	found := map[string]bool{}
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				walk(k, e)
			}
		case []any:
			for _, e := range v {
				walk(key, e)
			}
		case string:
			if _, err := time.Parse(time.RFC3339Nano, v); err == nil {
				found[key] = true
				if !emittedTime.MatchString(v) {
					t.Errorf("%s: %q is %q, not RFC 3339 UTC with milliseconds\n%s", what, key, v, body)
				}
			}
		}
	}
	walk("", v)
	return found
}

// recWebhook records the bodies of outbound webhooks instead of sending them.
type recWebhook struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (r *recWebhook) Send(_ context.Context, _ tocsin.WebhookEndpoint, _ string, _ time.Time, body []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bodies = append(r.bodies, append([]byte(nil), body...))
	return 200, nil
}

func (r *recWebhook) first() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bodies) == 0 {
		return nil
	}
	return r.bodies[0]
}

// TestTimestampsOneForm walks representative responses, stream events and a
// webhook body of a server whose clock is on whole seconds in a +05:30 zone, with
// inputs in other offsets: every time comes out as 2006-01-02T15:04:05.000Z.
func TestTimestampsOneForm(t *testing.T) {
	zone := time.FixedZone("IST", 5*3600+30*60)
	var tick atomic.Int64
	clock := func() time.Time {
		return time.Date(2026, 3, 4, 5, 6, 7, 0, zone).Add(time.Duration(tick.Add(1)) * time.Second)
	}

	wh := &recWebhook{}
	var eng *delivery.Engine
	c := newChannelsServerHub(t, func(hc *hub.Config) {
		hc.Now, hc.Committed = clock, func(evs []tocsin.Event) { eng.Committed(evs) }
	}, func(cfg *httpapi.Config, store *sqlite.Store) {
		eng = delivery.New(delivery.Config{
			Store: store, Hub: cfg.Hub, Webhooks: wh, Now: clock, Poll: 20 * time.Millisecond,
			NewSecret: func() (string, error) { return "whsec_dGVzdA==", nil },
			Logger:    slog.New(slog.DiscardHandler),
		})
		ctx, cancel := context.WithCancel(context.Background())
		eng.Start(ctx)
		// Registered before the server's cleanup, so run after it: the engine
		// stops last, its store closed under it (errors go to the discarded log).
		t.Cleanup(func() { cancel(); eng.Close() })
		cfg.Delivery, cfg.Now = eng, clock
	})
	ts := c.ts
	user := c.user("u1")

	// want sends a request, expects status, and checks the times of its body,
	// requiring the keys named.
	want := func(method, path, bearer, body string, status int, keys ...string) string {
		t.Helper()
		st, b := c.do(method, path, bearer, body)
		if st != status {
			t.Fatalf("%s %s: %d %s", method, path, st, b)
		}
		found := checkTimes(t, method+" "+path, []byte(b))
		for _, k := range keys {
			if !found[k] {
				t.Errorf("%s %s: no time at %q in %s", method, path, k, b)
			}
		}
		return b
	}

	want("POST", "/api/webhooks", channelsKey, `{"url":"https://example.test/hook","events":["notification.created"]}`, 201, "createdAt")
	hooks := want("GET", "/api/webhooks", channelsKey, "", 200, "createdAt")

	// The stream: init, then the events of what follows.
	events := sseEvents(t, openStream(t, ts, "u1").Body)
	if ev := <-events; ev.name != "init" {
		t.Fatalf("first event %q", ev.name)
	} else {
		checkTimes(t, "init", []byte(ev.data))
	}

	b := want("POST", "/api/notifications", channelsKey,
		`{"userId":"u1","title":"t","expiresAt":"2030-01-02T03:04:05-07:00"}`, 201, "createdAt", "expiresAt")
	var n struct{ ID string }
	_ = json.Unmarshal([]byte(b), &n)
	if !strings.Contains(b, `"expiresAt":"2030-01-02T10:04:05.000Z"`) {
		t.Errorf("expiresAt given in -07:00 not written in UTC: %s", b)
	}
	checkTimes(t, "the notification event", []byte(nextEvent(t, events, "notification").data))

	want("GET", "/api/notifications", user, "", 200, "createdAt", "expiresAt")
	want("GET", "/api/notifications/"+n.ID, user, "", 200, "createdAt")
	want("PATCH", "/api/notifications/"+n.ID, user, `{"read":true}`, 200, "readAt", "seenAt")
	checkTimes(t, "notification:updated", []byte(nextEvent(t, events, "notification:updated").data))
	want("GET", "/api/notifications/"+n.ID+"/deliveries", user, "", 200)

	// A second unread one, then read-all: notifications:read carries readAt.
	want("POST", "/api/notifications", channelsKey, `{"userId":"u1","title":"t2"}`, 201, "createdAt")
	want("POST", "/api/notifications/read-all", user, "", 200)
	if found := checkTimes(t, "notifications:read", []byte(nextEvent(t, events, "notifications:read").data)); !found["readAt"] {
		t.Error("notifications:read without readAt")
	}
	want("POST", "/api/users/u1/events", channelsKey, `{"type":"typing","body":{"x":1}}`, 201, "timestamp")
	if found := checkTimes(t, "custom event", []byte(nextEvent(t, events, "typing").data)); !found["timestamp"] {
		t.Error("custom event without timestamp")
	}

	want("POST", "/api/notifications", channelsKey, `{"userId":"u2","title":"later","deliverAt":"2026-06-02T03:04:05+02:00"}`, 201, "createdAt")
	want("GET", "/api/scheduled", channelsKey, "", 200, "createdAt")
	want("POST", "/api/tokens", channelsKey, `{"stream":"user:u1","scope":"subscribe"}`, 201, "createdAt")
	want("GET", "/api/tokens", channelsKey, "", 200, "createdAt")
	want("POST", "/api/notifications/stream-ticket", user, "", 201, "expiresAt")
	want("PUT", "/api/users/u1", channelsKey, `{"email":"u1@example.test"}`, 200, "updatedAt")
	want("PUT", "/api/users/u1/preferences", channelsKey, `{"mutedUntil":"2030-01-02T03:04:05.5+01:00"}`, 200, "mutedUntil", "updatedAt")
	want("GET", "/api/users/u1/connections", channelsKey, "", 200, "since")

	// The webhook of the first publish: its "timestamp" and its data's times.
	deadline := time.Now().Add(10 * time.Second)
	for wh.first() == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	body := wh.first()
	if body == nil {
		t.Fatal("no webhook sent")
	}
	if found := checkTimes(t, "webhook body", body); !found["timestamp"] || !found["createdAt"] {
		t.Errorf("webhook body lacks timestamp or createdAt: %s", body)
	}
	var eps struct{ Webhooks []struct{ ID string } }
	_ = json.Unmarshal([]byte(hooks), &eps)
	want("GET", "/api/webhooks/"+eps.Webhooks[0].ID+"/deliveries", channelsKey, "", 200, "createdAt")
}

// nextEvent is the next event named name, skipping others (unread counts).
func nextEvent(t *testing.T, events <-chan sseEvent, name string) sseEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.name == name {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %q event", name)
		}
	}
}
