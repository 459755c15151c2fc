package delivery

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/hub"
)

func TestEscalationSkippedWhenReadInTime(t *testing.T) {
	bothStores(t, testEscalationSkippedWhenReadInTime)
}

func testEscalationSkippedWhenReadInTime(t *testing.T, mk rigMaker) {
	r := mk(t, nil)
	r.profile(tocsin.Profile{UserID: "ana", Email: "ana@example.com"})
	ch := map[string]string{"email": "400ms", "webhook": "off"}
	read, _ := r.publish(tocsin.PublishInput{UserID: "ana", Title: "read me", Channels: ch}, hub.Idempotency{})
	unread, _ := r.publish(tocsin.PublishInput{UserID: "ana", Title: "ignored", Channels: ch}, hub.Idempotency{})
	readID, unreadID := read.Notifications[0].ID, unread.Notifications[0].ID
	if d := r.delivery("ana", readID, tocsin.ChannelEmail, tocsin.DeliveryScheduled); d.Reason != "" {
		t.Errorf("scheduled row %+v", d)
	}
	yes := true
	if _, err := r.hub.Update(r.ctx, "ana", readID, tocsin.Patch{Read: &yes}); err != nil {
		t.Fatal(err)
	}
	r.deliveryWhy("ana", readID, tocsin.ChannelEmail, tocsin.DeliverySkipped, tocsin.ReasonRead)
	d := r.delivery("ana", unreadID, tocsin.ChannelEmail, tocsin.DeliverySent)
	if d.Attempts != 1 {
		t.Errorf("sent row %+v, want 1 attempt", d)
	}
	if got := r.email.Sends(); !slices.EqualFunc(got, [][]string{{unreadID}}, slices.Equal) {
		t.Errorf("emails %v, want one of %s", got, unreadID)
	}
	// Replaying the publish adds no second timer.
	if rows, _ := r.eng.Deliveries(r.ctx, "ana", unreadID); len(rows) != 1 {
		t.Errorf("rows %+v", rows)
	}
}

func TestQuietHoursInNewYork(t *testing.T) { bothStores(t, testQuietHoursInNewYork) }

func testQuietHoursInNewYork(t *testing.T, mk rigMaker) {
	r := mk(t, nil)
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	r.clock.Set(time.Date(2026, 12, 3, 23, 30, 0, 0, ny))
	r.profile(tocsin.Profile{UserID: "ana", Email: "ana@example.com", Timezone: "America/New_York"})
	r.prefs("ana", tocsin.Preferences{QuietHours: &tocsin.QuietHours{Start: "22:00", End: "07:00"}})
	ch := map[string]string{"email": "0s"}
	calm, _ := r.publish(tocsin.PublishInput{UserID: "ana", Title: "can wait", Priority: 4, Channels: ch}, hub.Idempotency{})
	urgent, _ := r.publish(tocsin.PublishInput{UserID: "ana", Title: "now", Priority: 5, Channels: ch}, hub.Idempotency{})
	calmID := calm.Notifications[0].ID
	r.delivery("ana", urgent.Notifications[0].ID, tocsin.ChannelEmail, tocsin.DeliverySent)
	r.deliveryWhy("ana", calmID, tocsin.ChannelEmail, tocsin.DeliveryScheduled, tocsin.ReasonQuietHours)
	jobs, _, err := r.store.ListJobs(r.ctx, tocsin.JobQuery{Kind: tocsin.JobChannel, UserID: "ana", State: tocsin.JobPending, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	jobs = slices.DeleteFunc(jobs, func(j tocsin.Job) bool { return j.Ref != calmID })
	if len(jobs) != 1 {
		t.Fatalf("pending escalations of %s: %+v", calmID, jobs)
	}
	if want := time.Date(2026, 12, 4, 7, 0, 0, 0, ny); !jobs[0].DueAt.Equal(want) {
		t.Errorf("deferred to %v, want %v (07:00 local)", jobs[0].DueAt.In(ny), want)
	}
	if n := len(r.email.Sends()); n != 1 {
		t.Errorf("%d emails during quiet hours, want only the urgent one", n)
	}
	r.clock.Set(time.Date(2026, 12, 4, 7, 0, 1, 0, ny))
	if d := r.delivery("ana", calmID, tocsin.ChannelEmail, tocsin.DeliverySent); d.Attempts != 1 {
		t.Errorf("sent row %+v: the deferral counted as an attempt", d)
	}
	if len(r.email.Sends()) != 2 {
		t.Errorf("emails %v after the quiet hours", r.email.Sends())
	}
}

func TestSkippedWithReasons(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Webhooks = nil })
	future := r.clock.Now().Add(time.Hour)
	r.profile(tocsin.Profile{UserID: "muted", Email: "m@example.com"})
	r.prefs("muted", tocsin.Preferences{MutedUntil: &future})
	r.profile(tocsin.Profile{UserID: "picky", Email: "p@example.com"})
	r.prefs("picky", tocsin.Preferences{Types: map[string]tocsin.ChannelSwitches{"billing": {"email": false}}})
	r.profile(tocsin.Profile{UserID: "gone", Email: "g@example.com"})
	ch := map[string]string{"email": "200ms", "push": "0s", "webhook": "0s"}
	for _, tc := range []struct {
		user, typ, channel, reason string
		deleteIt                   bool
	}{
		{"muted", "", tocsin.ChannelEmail, tocsin.ReasonMuted, false},
		{"picky", "billing", tocsin.ChannelEmail, "preference: email off for type billing", false},
		{"nobody", "", tocsin.ChannelEmail, tocsin.ReasonNoAddress, false},
		{"gone", "", tocsin.ChannelEmail, tocsin.ReasonDeleted, true},
	} {
		res, _ := r.publish(tocsin.PublishInput{UserID: tc.user, Type: tc.typ, Channels: ch}, hub.Idempotency{})
		id := res.Notifications[0].ID
		if tc.deleteIt {
			if err := r.hub.Delete(r.ctx, tc.user, id); err != nil {
				t.Fatal(err)
			}
		}
		r.deliveryWhy(tc.user, id, tc.channel, tocsin.DeliverySkipped, tc.reason)
	}
	if n := len(r.email.Sends()); n != 0 {
		t.Errorf("%d emails sent, want none", n)
	}
}

// TestChannelsThisServerCannotSendGetNoTimer: email without a mailer, the webhook
// channel without an endpoint that wants notification.deliver, push without Web
// Push: a plan naming them adds no timer (a publish costs no store write for them)
// and the delivery log has no row. The default plans name all three.
func TestChannelsThisServerCannotSendGetNoTimer(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Email = nil })
	r.profile(tocsin.Profile{UserID: "ana", Email: "ana@example.com"})
	res, _ := r.publish(tocsin.PublishInput{UserID: "ana", Channels: map[string]string{"email": "0s", "push": "0s", "webhook": "0s"}}, hub.Idempotency{})
	id := res.Notifications[0].ID
	jobs, _, err := r.store.ListJobs(r.ctx, tocsin.JobQuery{Kind: tocsin.JobChannel})
	if err != nil || len(jobs) != 0 {
		t.Fatalf("channel timers %+v, %v; want none", jobs, err)
	}
	time.Sleep(300 * time.Millisecond) // a timer due at once would have run
	if ds, err := r.eng.Deliveries(r.ctx, "ana", id); err != nil || len(ds) != 0 {
		t.Fatalf("deliveries %+v, %v; want none", ds, err)
	}
}

// TestPendingTimersShowAsScheduled: a timer not yet due is a "scheduled" row of
// the delivery log, due at its time, though nothing was written to the log.
func TestPendingTimersShowAsScheduled(t *testing.T) {
	r := newRig(t, nil)
	r.profile(tocsin.Profile{UserID: "ana", Email: "ana@example.com"})
	res, _ := r.publish(tocsin.PublishInput{UserID: "ana", Channels: map[string]string{"email": "1h"}}, hub.Idempotency{})
	n := res.Notifications[0]
	ds, err := r.eng.Deliveries(r.ctx, "ana", n.ID)
	if err != nil || len(ds) != 1 || ds[0].Channel != tocsin.ChannelEmail || ds[0].Status != tocsin.DeliveryScheduled || !ds[0].At.Equal(n.CreatedAt.Add(time.Hour)) {
		t.Fatalf("deliveries %+v, %v; want email scheduled at %s", ds, err, n.CreatedAt.Add(time.Hour))
	}
	if rows, _ := r.store.Deliveries(r.ctx, "ana", n.ID); len(rows) != 0 {
		t.Fatalf("log rows %+v written at publish", rows)
	}
	if ds, _ := r.eng.Deliveries(r.ctx, "bob", n.ID); len(ds) != 0 {
		t.Fatalf("another user sees %+v", ds)
	}
}

func TestDigestCollectsEscalations(t *testing.T) { bothStores(t, testDigestCollectsEscalations) }

func testDigestCollectsEscalations(t *testing.T, mk rigMaker) {
	r := mk(t, func(c *Config) { c.Digest = 10 * time.Minute })
	r.clock.Set(time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC))
	r.profile(tocsin.Profile{UserID: "ana", Email: "ana@example.com"})
	ch := map[string]string{"email": "0s"}
	var ids []string
	for _, title := range []string{"one", "two", "seen"} {
		res, _ := r.publish(tocsin.PublishInput{UserID: "ana", Title: title, Channels: ch}, hub.Idempotency{})
		ids = append(ids, res.Notifications[0].ID)
	}
	for _, id := range ids {
		r.deliveryWhy("ana", id, tocsin.ChannelEmail, tocsin.DeliveryScheduled, tocsin.ReasonDigest)
	}
	yes := true
	if _, err := r.hub.Update(r.ctx, "ana", ids[2], tocsin.Patch{Seen: &yes}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(r.email.Sends()); n != 0 {
		t.Fatalf("%d emails before the window's end", n)
	}
	r.clock.Set(time.Date(2026, 12, 5, 10, 10, 0, 100e6, time.UTC))
	r.delivery("ana", ids[0], tocsin.ChannelEmail, tocsin.DeliverySent)
	r.delivery("ana", ids[1], tocsin.ChannelEmail, tocsin.DeliverySent)
	r.deliveryWhy("ana", ids[2], tocsin.ChannelEmail, tocsin.DeliverySkipped, tocsin.ReasonSeen)
	got := r.email.Sends()
	if len(got) != 1 || !slices.Equal(got[0], ids[:2]) {
		t.Errorf("emails %v, want one digest of %v", got, ids[:2])
	}
}

func TestEscalationSendFailures(t *testing.T) {
	r := newRig(t, nil)
	r.email.SetFail(func(call int) error {
		return tocsin.PermanentError(550, errString("mailbox unavailable"))
	})
	r.profile(tocsin.Profile{UserID: "ana", Email: "ana@example.com"})
	res, _ := r.publish(tocsin.PublishInput{UserID: "ana", Channels: map[string]string{"email": "0s"}}, hub.Idempotency{})
	d := r.delivery("ana", res.Notifications[0].ID, tocsin.ChannelEmail, tocsin.DeliveryFailed)
	if !strings.Contains(d.Reason, "mailbox unavailable") {
		t.Errorf("failed row %+v", d)
	}

	// A retryable failure says so in the log and is sent on a later attempt.
	release := make(chan struct{})
	r.email.SetFail(func(call int) error {
		select {
		case <-release:
			return nil
		default:
			return tocsin.RetryableError(421, 50*time.Millisecond, errString("try later"))
		}
	})
	res, _ = r.publish(tocsin.PublishInput{UserID: "ana", Channels: map[string]string{"email": "0s"}}, hub.Idempotency{})
	id := res.Notifications[0].ID
	r.deliveryWhy("ana", id, tocsin.ChannelEmail, tocsin.DeliveryScheduled, retryingReason+"retryable failure (status 421): try later")
	close(release)
	if d := r.delivery("ana", id, tocsin.ChannelEmail, tocsin.DeliverySent); d.Attempts < 2 {
		t.Errorf("sent row %+v, want at least 2 attempts", d)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// A digest takes at most maxDigest items; the rest go in a second digest at once.
func TestDigestPastOnePage(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Digest = 10 * time.Minute })
	r.clock.Set(time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC))
	r.profile(tocsin.Profile{UserID: "ana", Email: "ana@example.com"})
	var last string
	for range maxDigest + 1 {
		res, _ := r.publish(tocsin.PublishInput{UserID: "ana", Channels: map[string]string{"email": "0s"}}, hub.Idempotency{})
		last = res.Notifications[0].ID
	}
	r.deliveryWhy("ana", last, tocsin.ChannelEmail, tocsin.DeliveryScheduled, tocsin.ReasonDigest)
	if !waitFor(func() bool {
		items, err := r.store.PendingDeliveries(r.ctx, "ana", tocsin.ChannelEmail, tocsin.ReasonDigest, 1000)
		return err == nil && len(items) == maxDigest+1
	}) {
		t.Fatal("escalations never all waited for the digest")
	}
	r.clock.Set(time.Date(2026, 12, 5, 10, 10, 0, 100e6, time.UTC))
	if !waitFor(func() bool { return len(r.email.Sends()) == 2 }) {
		t.Fatalf("%d digests, want 2", len(r.email.Sends()))
	}
	if got := r.email.Sends(); len(got[0]) != maxDigest || len(got[1]) != 1 {
		t.Errorf("digest sizes %d and %d, want %d and 1", len(got[0]), len(got[1]), maxDigest)
	}
}
