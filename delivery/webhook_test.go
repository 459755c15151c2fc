package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/hub"
	"github.com/tocsin/tocsin/internal/pgtest"
	"github.com/tocsin/tocsin/postgres"
)

func TestCreateWebhookValidates(t *testing.T) {
	r := newRig(t, nil)
	for _, tc := range []struct {
		url    string
		events []string
	}{
		{"https://example.com/hook", nil},
		{"https://example.com/hook", []string{"notification.exploded"}},
		{"https://example.com/hook", []string{tocsin.WebhookCreated, tocsin.WebhookCreated}},
		{"ftp://example.com/hook", []string{tocsin.WebhookCreated}},
		{"not a url", []string{tocsin.WebhookCreated}},
	} {
		if _, err := r.eng.CreateWebhook(r.ctx, tc.url, tc.events); tocsin.ErrorCodeOf(err) != tocsin.EInvalid {
			t.Errorf("CreateWebhook(%q, %v) = %v, want invalid", tc.url, tc.events, err)
		}
	}
	ep, err := r.eng.CreateWebhook(r.ctx, "https://example.com/hook", []string{tocsin.WebhookCreated})
	if err != nil || ep.Secret == "" || ep.ID == "" {
		t.Fatalf("CreateWebhook = %+v, %v", ep, err)
	}
	list, err := r.eng.Webhooks(r.ctx)
	if err != nil || len(list) != 1 || list[0].ID != ep.ID {
		t.Errorf("Webhooks = %+v, %v", list, err)
	}
	if err := r.eng.DeleteWebhook(r.ctx, ep.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.eng.WebhookDeliveries(r.ctx, ep.ID, "", 10); tocsin.ErrorCodeOf(err) != tocsin.ENotFound {
		t.Errorf("deliveries of a deleted endpoint: %v", err)
	}
}

func TestWebhookRetryThenSuccess(t *testing.T) { bothStores(t, testWebhookRetryThenSuccess) }

func testWebhookRetryThenSuccess(t *testing.T, mk rigMaker) {
	r := mk(t, nil)
	r.wh.SetFail(func(c whCall, n int) error {
		if n == 1 {
			return tocsin.RetryableError(503, 100*time.Millisecond, errString("busy"))
		}
		return nil
	})
	ep, err := r.eng.CreateWebhook(r.ctx, "https://example.com/hook", []string{tocsin.WebhookCreated, tocsin.WebhookDeliver})
	if err != nil {
		t.Fatal(err)
	}
	r.profile(tocsin.Profile{UserID: "ana", Email: "ana@example.com"})
	res, _ := r.publish(tocsin.PublishInput{UserID: "ana", Title: "hi", Channels: map[string]string{"webhook": "0s"}}, hub.Idempotency{})
	id := res.Notifications[0].ID

	d := r.delivery("ana", id, tocsin.ChannelWebhook, tocsin.DeliverySent)
	if d.Attempts != 2 {
		t.Errorf("deliver row %+v, want 2 attempts", d)
	}
	var jobs []tocsin.Job
	if !waitFor(func() bool {
		jobs, _, err = r.eng.WebhookDeliveries(r.ctx, ep.ID, "", 10)
		return err == nil && len(jobs) == 2 && jobs[0].State == tocsin.JobDone && jobs[1].State == tocsin.JobDone
	}) {
		t.Fatalf("webhook jobs %+v, %v", jobs, err)
	}
	for _, j := range jobs {
		if j.Attempts != 2 || j.LastStatus != 200 {
			t.Errorf("job %s: %d attempts, status %d", j.Ref, j.Attempts, j.LastStatus)
		}
	}
	types := map[string]map[string]json.RawMessage{}
	for _, c := range r.wh.Calls() {
		if c.OK {
			var typ string
			_ = json.Unmarshal(c.Body["type"], &typ)
			var data map[string]json.RawMessage
			_ = json.Unmarshal(c.Body["data"], &data)
			types[typ] = data
		}
	}
	if created := types[tocsin.WebhookCreated]; string(created["title"]) != `"hi"` {
		t.Errorf("created data %s", created)
	}
	deliver := types[tocsin.WebhookDeliver]
	var user tocsin.Profile
	var n tocsin.Notification
	_ = json.Unmarshal(deliver["user"], &user)
	_ = json.Unmarshal(deliver["notification"], &n)
	if user.Email != "ana@example.com" || n.ID != id {
		t.Errorf("deliver data %s", deliver)
	}
}

func TestWebhookPermanentFailureAndGoneEndpoint(t *testing.T) {
	r := newRig(t, nil)
	r.wh.SetFail(func(whCall, int) error { return tocsin.PermanentError(410, errString("gone")) })
	if _, err := r.eng.CreateWebhook(r.ctx, "https://example.com/hook", []string{tocsin.WebhookDeliver}); err != nil {
		t.Fatal(err)
	}
	res, _ := r.publish(tocsin.PublishInput{UserID: "ana", Channels: map[string]string{"webhook": "0s"}}, hub.Idempotency{})
	r.delivery("ana", res.Notifications[0].ID, tocsin.ChannelWebhook, tocsin.DeliveryFailed)
	if n := len(r.wh.Calls()); n != 1 {
		t.Errorf("%d calls, want 1 (no retry of a permanent failure)", n)
	}
	// A message to an endpoint deleted before it ran fails without a call.
	r.wh.SetFail(nil)
	r2 := newRig(t, func(c *Config) { c.Poll = time.Hour })
	ep2, err := r2.eng.CreateWebhook(r2.ctx, "https://example.com/hook", []string{tocsin.WebhookCreated})
	if err != nil {
		t.Fatal(err)
	}
	r2.eng.Close() // nothing runs the queued message
	r2.publish(tocsin.PublishInput{UserID: "ana"}, hub.Idempotency{})
	if err := r2.store.DeleteWebhook(r2.ctx, ep2.ID); err != nil {
		t.Fatal(err)
	}
	jobs, err := r2.store.ClaimJobs(r2.ctx, r2.clock.Now().Add(time.Second), time.Minute, 10)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claimed %+v, %v", jobs, err)
	}
	if err := r2.eng.runWebhook(r2.ctx, jobs[0]); err != nil {
		t.Fatal(err)
	}
	left, _, _ := r2.store.ListJobs(r2.ctx, tocsin.JobQuery{Kind: tocsin.JobWebhook, Limit: 10})
	if len(left) != 1 || left[0].State != tocsin.JobFailed || len(r2.wh.Calls()) != 0 {
		t.Errorf("message to a deleted endpoint: %+v, calls %d", left, len(r2.wh.Calls()))
	}
}

// A failing message holds back the later ones of its user (order per user), never
// another user's.
func TestWebhookOrderPerUser(t *testing.T) { bothStores(t, testWebhookOrderPerUser) }

func testWebhookOrderPerUser(t *testing.T, mk rigMaker) {
	r := mk(t, nil)
	var mu sync.Mutex
	failing := true
	r.wh.SetFail(func(c whCall, n int) error {
		mu.Lock()
		defer mu.Unlock()
		var data struct {
			UserID string `json:"userId"`
			Title  string `json:"title"`
		}
		_ = json.Unmarshal(c.Body["data"], &data)
		if failing && data.Title == "ana-1" {
			return tocsin.RetryableError(503, 50*time.Millisecond, errString("down"))
		}
		return nil
	})
	if _, err := r.eng.CreateWebhook(r.ctx, "https://example.com/hook", []string{tocsin.WebhookCreated}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ user, title string }{{"ana", "ana-1"}, {"ana", "ana-2"}, {"bob", "bob-1"}} {
		r.publish(tocsin.PublishInput{UserID: p.user, Title: p.title}, hub.Idempotency{})
	}
	sentTitles := func() []string {
		var out []string
		for _, c := range r.wh.Calls() {
			if c.OK {
				var d struct {
					Title string `json:"title"`
				}
				_ = json.Unmarshal(c.Body["data"], &d)
				out = append(out, d.Title)
			}
		}
		return out
	}
	if !waitFor(func() bool { s := sentTitles(); return len(s) == 1 && s[0] == "bob-1" }) {
		t.Fatalf("sent %v, want bob-1 while ana-1 fails", sentTitles())
	}
	time.Sleep(300 * time.Millisecond) // ana-1 retries meanwhile; ana-2 must wait
	if s := sentTitles(); len(s) != 1 {
		t.Fatalf("sent %v while ana-1 still fails", s)
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	if !waitFor(func() bool { return len(sentTitles()) == 3 }) {
		t.Fatalf("sent %v", sentTitles())
	}
	if s := sentTitles(); s[1] != "ana-1" || s[2] != "ana-2" {
		t.Errorf("sent %v, want ana-1 before ana-2", s)
	}
}

// A slow endpoint ties up the workers of its messages in flight, never the others:
// another endpoint's messages go out meanwhile.
func TestSlowEndpointDoesNotBlockOthers(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Workers = 4 })
	release := make(chan struct{})
	slow, err := r.eng.CreateWebhook(r.ctx, "https://slow.example.com/hook", []string{tocsin.WebhookCreated})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.eng.CreateWebhook(r.ctx, "https://fast.example.com/hook", []string{tocsin.WebhookCreated}); err != nil {
		t.Fatal(err)
	}
	r.wh.SetFail(func(c whCall, _ int) error {
		if c.Endpoint == slow.ID {
			<-release
		}
		return nil
	})
	defer close(release)
	for _, u := range []string{"ana", "bob", "cy"} {
		r.publish(tocsin.PublishInput{UserID: u, Title: u}, hub.Idempotency{})
	}
	if !waitFor(func() bool { return len(r.wh.Calls()) == 3 }) {
		t.Fatalf("fast endpoint got %d messages while the slow one hangs", len(r.wh.Calls()))
	}
	for _, c := range r.wh.Calls() {
		if c.Endpoint == slow.ID {
			t.Errorf("slow endpoint answered: %+v", c)
		}
	}
}

// Committed with no endpoints does not touch the store.
func TestCommittedWithoutEndpointsIsFree(t *testing.T) {
	r := newRig(t, nil)
	counting := &countingStore{Store: r.store}
	e := New(Config{Store: counting, Hub: r.hub, Webhooks: r.wh})
	e.Committed([]tocsin.Event{{Stream: "user:ana", Seq: 1, Name: tocsin.EventNotification, Data: json.RawMessage(`{}`)}})
	e.Committed([]tocsin.Event{{Stream: "user:ana", Seq: 2, Name: tocsin.EventNotification, Data: json.RawMessage(`{}`)}})
	if n := counting.webhooks.Load(); n != 1 {
		t.Errorf("endpoints loaded %d times, want once", n)
	}
	if n := counting.adds.Load(); n != 0 {
		t.Errorf("%d AddJobs calls without endpoints", n)
	}
}

type countingStore struct {
	Store
	webhooks, adds atomic.Int64
}

func (s *countingStore) Webhooks(ctx context.Context) ([]tocsin.WebhookEndpoint, error) {
	s.webhooks.Add(1)
	return s.Store.Webhooks(ctx)
}

func (s *countingStore) AddJobs(ctx context.Context, jobs []tocsin.Job) (int, error) {
	s.adds.Add(1)
	return s.Store.AddJobs(ctx, jobs)
}

// Two engines (two nodes) on one PostgreSQL store: every message is claimed and
// sent once.
func TestTwoEnginesClaimEachJobOnce(t *testing.T) {
	url := pgtest.FreshSchemaURL(t)
	ctx := context.Background()
	var rigs []*rig
	for range 2 {
		st, err := postgres.Open(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		rigs = append(rigs, startRig(t, st, func(c *Config) { c.Batch = 5 }))
	}
	if _, err := rigs[0].eng.CreateWebhook(ctx, "https://example.com/hook", []string{tocsin.WebhookCreated}); err != nil {
		t.Fatal(err)
	}
	for _, r := range rigs {
		if err := r.eng.reloadEndpoints(ctx); err != nil {
			t.Fatal(err)
		}
	}
	const n = 40
	// Far enough ahead for 80 publishes on a loaded machine (the test runs under -race).
	at := rigs[0].clock.Now().Add(3 * time.Second)
	for i := range n {
		r := rigs[i%2]
		user := fmt.Sprintf("u%d", i%7)
		r.publish(tocsin.PublishInput{UserID: user, Title: fmt.Sprint(i)}, hub.Idempotency{})
		r.publish(tocsin.PublishInput{UserID: user, Title: fmt.Sprint("s", i), DeliverAt: &at}, hub.Idempotency{})
	}
	count := func() map[string]int {
		m := map[string]int{}
		for _, r := range rigs {
			for _, c := range r.wh.Calls() {
				m[c.MsgID]++
			}
		}
		return m
	}
	if !waitFor(func() bool { return len(count()) == 2*n }) {
		t.Fatalf("%d messages sent, want %d", len(count()), 2*n)
	}
	time.Sleep(300 * time.Millisecond)
	per := [2]int{len(rigs[0].wh.Calls()), len(rigs[1].wh.Calls())}
	for id, k := range count() {
		if k != 1 {
			t.Errorf("message %s sent %d times", id, k)
		}
	}
	total := 0
	for i := range 7 {
		total += len(rigs[0].inbox(fmt.Sprintf("u%d", i)))
	}
	if total != 2*n {
		t.Errorf("%d notifications in the inboxes, want %d", total, 2*n)
	}
	t.Logf("messages sent per node: %v", per)
}
