package delivery

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
)

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		attempt int
		u       float64
		want    time.Duration
	}{
		{0, 0.5, 5 * time.Second}, // attempt counts from 1; 0 is treated as the first
		{1, 0.5, 5 * time.Second},
		{1, 0, 4500 * time.Millisecond},
		{1, 0.999999, 5500 * time.Millisecond},
		{2, 0.5, 30 * time.Second},
		{3, 0.5, 2 * time.Minute},
		{6, 0.5, time.Hour},
		{9, 0.5, 8 * time.Hour},
		{50, 0.5, 8 * time.Hour}, // the last step repeats
	} {
		got := backoff(tc.attempt, tc.u)
		if d := got - tc.want; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("backoff(%d, %v) = %v, want %v", tc.attempt, tc.u, got, tc.want)
		}
	}
}

func TestRetryAfterAndAttempts(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want time.Duration
	}{
		{errors.New("refused"), 0},
		{tocsin.RetryableError(503, 0, errors.New("busy")), 0},
		{tocsin.RetryableError(429, 90*time.Second, errors.New("slow down")), 90 * time.Second},
		{tocsin.RetryableError(429, 100*time.Hour, errors.New("go away")), maxRetryAfter},
	} {
		if got := retryAfter(tc.err); got != tc.want {
			t.Errorf("retryAfter(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{
		{time.Second, 1},
		{5 * time.Second, 2},
		{24 * time.Hour, 11}, // ten waits, 23h42m35s, fit in a day
	} {
		if got := attemptsWithin(tc.d); got != tc.want {
			t.Errorf("attemptsWithin(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
}

func TestPlanOfPublish(t *testing.T) {
	defaults, err := tocsin.ParseChannelDefaults(tocsin.DefaultChannelDefaults)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		in   tocsin.PublishInput
		want string
	}{
		{"priority 3 defaults", tocsin.PublishInput{Priority: 3}, "push=5m0s,email=1h0m0s,webhook=off"},
		{"priority 5 defaults", tocsin.PublishInput{Priority: 5}, "push=0s,email=0s,webhook=0s"},
		{"priority 1 sends nothing", tocsin.PublishInput{Priority: 1}, "push=off,email=off,webhook=off"},
		{"own channels win", tocsin.PublishInput{Priority: 5, Channels: map[string]string{"email": "15m"}}, "email=15m0s"},
	} {
		if got := tc.in.Plan(&defaults).String(); got != tc.want {
			t.Errorf("%s: plan %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestWebhookEventAndData(t *testing.T) {
	ts := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		ev        tocsin.Event
		event     string
		wantData  string
		wantError bool
	}{
		{tocsin.Event{Stream: "user:ana", Name: tocsin.EventNotification, Data: json.RawMessage(`{"id":"A"}`)}, tocsin.WebhookCreated, `{"id":"A"}`, false},
		{tocsin.Event{Stream: "user:ana", Name: tocsin.EventUpdated, Data: json.RawMessage(`{"id":"A","readAt":null}`)}, tocsin.WebhookUpdated, `{"id":"A","readAt":null}`, false},
		{tocsin.Event{Stream: "user:ana", Name: tocsin.EventRead, Data: json.RawMessage(`{"ids":["A"],"readAt":"x"}`)}, tocsin.WebhookUpdated, `{"ids":["A"],"readAt":"x","userId":"ana"}`, false},
		{tocsin.Event{Stream: "user:ana", Name: tocsin.EventDeleted, Data: json.RawMessage(`{"id":"A"}`)}, tocsin.WebhookDeleted, `{"id":"A","userId":"ana"}`, false},
		{tocsin.Event{Stream: "user:ana", Name: "ORDER_SHIPPED", Data: json.RawMessage(`{"n":1}`)}, tocsin.WebhookCustom, `{"userId":"ana","event":"ORDER_SHIPPED","body":{"n":1}}`, false},
		{tocsin.Event{Stream: "user:ana", Name: tocsin.EventDeleted, Data: json.RawMessage(`[`)}, tocsin.WebhookDeleted, "", true},
	} {
		if got := webhookEvent(tc.ev.Name); got != tc.event {
			t.Errorf("webhookEvent(%q) = %q, want %q", tc.ev.Name, got, tc.event)
		}
		data, err := webhookData(&tc.ev)
		if (err != nil) != tc.wantError || string(data) != tc.wantData {
			t.Errorf("webhookData(%s) = %s, %v; want %s", tc.ev.Name, data, err, tc.wantData)
		}
	}
	for _, name := range []string{tocsin.EventInit, tocsin.EventUnread, tocsin.EventBatch} {
		if got := webhookEvent(name); got != "" {
			t.Errorf("webhookEvent(%q) = %q, want none", name, got)
		}
	}
	if got, want := string(webhookBody(tocsin.WebhookCreated, ts, json.RawMessage(`{"id":"A"}`))),
		`{"type":"notification.created","timestamp":"2026-12-03T10:00:00.000Z","data":{"id":"A"}}`; got != want {
		t.Errorf("webhookBody = %s, want %s", got, want)
	}
	if a, b := streamMsgID("user:ana", 7), streamMsgID("user:ana", 7); a != b || a == streamMsgID("user:bob", 7) {
		t.Errorf("message ids not stable per stream and seq: %s %s", a, b)
	}
	if got := deliveredID(deliverMsgID("01ABC")); got != "01ABC" {
		t.Errorf("deliveredID = %q", got)
	}
}

func TestValidEvents(t *testing.T) {
	for _, tc := range []struct {
		events []string
		ok     bool
	}{
		{[]string{tocsin.WebhookCreated}, true},
		{[]string{tocsin.WebhookDeliver, tocsin.WebhookCustom, tocsin.WebhookDeleted}, true},
		{nil, false},
		{[]string{}, false},
		{[]string{"notification.exploded"}, false},
		{[]string{tocsin.WebhookCreated, tocsin.WebhookCreated}, false},
	} {
		err := validEvents(tc.events)
		if (err == nil) != tc.ok || err != nil && tocsin.ErrorCodeOf(err) != tocsin.EInvalid {
			t.Errorf("validEvents(%v) = %v, want ok=%v", tc.events, err, tc.ok)
		}
	}
}

func TestUnseenOrWhy(t *testing.T) {
	at := time.Now()
	for _, tc := range []struct {
		n    tocsin.Notification
		want string
	}{
		{tocsin.Notification{}, ""},
		{tocsin.Notification{SeenAt: &at}, tocsin.ReasonSeen},
		{tocsin.Notification{SeenAt: &at, ReadAt: &at}, tocsin.ReasonRead},
		{tocsin.Notification{ArchivedAt: &at}, tocsin.ReasonArchived},
	} {
		if got := unseenOrWhy(&tc.n); got != tc.want {
			t.Errorf("unseenOrWhy = %q, want %q", got, tc.want)
		}
	}
}

func TestCapacityShrinksForSlowJobs(t *testing.T) {
	e := New(Config{Workers: 8, Lease: time.Minute, Batch: 200})
	for _, tc := range []struct {
		avg  time.Duration
		want int
	}{
		{0, 200},                // nothing measured yet
		{time.Millisecond, 200}, // fast jobs: a full batch
		{10 * time.Second, 24},  // 8 workers × 30s / 10s
		{time.Minute, 8},        // never below the workers
	} {
		e.jobTime.Store(int64(tc.avg))
		if got := e.capacity(); got != tc.want {
			t.Errorf("capacity at %v a job = %d, want %d", tc.avg, got, tc.want)
		}
	}
	e.jobTime.Store(0)
	e.observeRun(8 * time.Second)
	e.observeRun(16 * time.Second)
	if got := time.Duration(e.jobTime.Load()); got != 9*time.Second {
		t.Errorf("moving average %v, want 9s", got)
	}
}
