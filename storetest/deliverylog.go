package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
)

func record(t *testing.T, s tocsin.DeliveryStore, ds ...tocsin.Delivery) {
	t.Helper()
	for _, d := range ds {
		if err := s.RecordDelivery(ctx, d); err != nil {
			t.Fatalf("RecordDelivery(%+v): %v", d, err)
		}
	}
}

// testDeliveries: one row per user, notification and channel, replaced whole by a
// later record; listed in channel order; another user's notification has none.
func testDeliveries(t *testing.T, st tocsin.Store) {
	s := deliveryStore(t, st)
	d := func(user, id, channel, status string, at time.Duration) tocsin.Delivery {
		return tocsin.Delivery{NotificationID: id, UserID: user, Channel: channel, Status: status,
			Reason: "r-" + channel, At: base.Add(at), Attempts: 1}
	}
	record(t, s, d("u1", "n1", tocsin.ChannelWebhook, tocsin.DeliverySent, 0),
		d("u1", "n1", tocsin.ChannelEmail, tocsin.DeliveryScheduled, 0),
		d("u1", "n1", tocsin.ChannelPush, tocsin.DeliveryScheduled, 0),
		d("u2", "n2", tocsin.ChannelPush, tocsin.DeliverySent, 0))
	push := d("u1", "n1", tocsin.ChannelPush, tocsin.DeliveryFailed, time.Minute)
	push.Reason, push.Attempts = "status 410", 3
	record(t, s, push)
	got, err := s.Deliveries(ctx, "u1", "n1")
	if err != nil {
		t.Fatal(err)
	}
	want := []tocsin.Delivery{push, d("u1", "n1", tocsin.ChannelEmail, tocsin.DeliveryScheduled, 0),
		d("u1", "n1", tocsin.ChannelWebhook, tocsin.DeliverySent, 0)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Deliveries =\n %+v\nwant\n %+v", got, want)
	}
	for _, q := range [][2]string{{"u2", "n1"}, {"u1", "n2"}, {"u1", "none"}} {
		if got, err := s.Deliveries(ctx, q[0], q[1]); err != nil || got == nil || len(got) != 0 {
			t.Fatalf("Deliveries(%s, %s) = %+v, %v; want an empty list", q[0], q[1], got, err)
		}
	}
	if n, err := s.PruneDeliveries(ctx, base.Add(time.Second)); err != nil || n != 3 {
		t.Fatalf("PruneDeliveries = %d, %v; want the 3 older rows", n, err)
	}
	if got, _ := s.Deliveries(ctx, "u1", "n1"); len(got) != 1 || got[0].Channel != tocsin.ChannelPush {
		t.Fatalf("after pruning: %+v", got)
	}
}

// testPendingDeliveries: the user's scheduled rows of one channel and reason, oldest
// first, up to the limit.
func testPendingDeliveries(t *testing.T, st tocsin.Store) {
	s := deliveryStore(t, st)
	d := func(user, id, channel, status, reason string, at time.Duration) tocsin.Delivery {
		return tocsin.Delivery{NotificationID: id, UserID: user, Channel: channel, Status: status, Reason: reason, At: base.Add(at)}
	}
	email, digest := tocsin.ChannelEmail, tocsin.ReasonDigest
	record(t, s,
		d("u1", "n3", email, tocsin.DeliveryScheduled, digest, 3*time.Second),
		d("u1", "n1", email, tocsin.DeliveryScheduled, digest, time.Second),
		d("u1", "n2", email, tocsin.DeliverySent, digest, 2*time.Second),
		d("u1", "n4", email, tocsin.DeliveryScheduled, tocsin.ReasonQuietHours, 0),
		d("u1", "n5", tocsin.ChannelPush, tocsin.DeliveryScheduled, digest, 0),
		d("u2", "n6", email, tocsin.DeliveryScheduled, digest, 0))
	ids := func(limit int) []string {
		t.Helper()
		got, err := s.PendingDeliveries(ctx, "u1", email, digest, limit)
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, d := range got {
			if d.UserID != "u1" || d.Channel != email || d.Status != tocsin.DeliveryScheduled {
				t.Fatalf("pending row %+v", d)
			}
			out = append(out, d.NotificationID)
		}
		return out
	}
	if got := ids(10); !reflect.DeepEqual(got, []string{"n1", "n3"}) {
		t.Fatalf("PendingDeliveries = %v, want n1, n3", got)
	}
	if got := ids(1); !reflect.DeepEqual(got, []string{"n1"}) {
		t.Fatalf("PendingDeliveries limit 1 = %v", got)
	}
	if got := ids(0); len(got) != 2 {
		t.Fatalf("PendingDeliveries without a limit = %v", got)
	}
}

// testProfiles: a profile is replaced whole and absent until stored; preferences come
// back exactly as stored (every field), and normalised empty when none were.
func testProfiles(t *testing.T, st tocsin.Store) {
	s := deliveryStore(t, st)
	_, err := s.Profile(ctx, "u1")
	wantCode(t, err, tocsin.ENotFound)
	p := tocsin.Profile{UserID: "u1", Email: "ana@example.com", Timezone: "Europe/Berlin", Locale: "de-DE", UpdatedAt: base}
	if err := s.PutProfile(ctx, p); err != nil {
		t.Fatal(err)
	}
	p2 := tocsin.Profile{UserID: "u1", Email: "ana@example.org", UpdatedAt: base.Add(time.Second)}
	if err := s.PutProfile(ctx, p2); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Profile(ctx, "u1"); err != nil || got != p2 {
		t.Fatalf("Profile = %+v, %v; want %+v", got, err, p2)
	}
	_, err = s.Profile(ctx, "u2")
	wantCode(t, err, tocsin.ENotFound)
	wantCode(t, s.PutProfile(ctx, tocsin.Profile{Email: "x@example.com"}), tocsin.EInvalid)

	empty, err := s.Preferences(ctx, "u1")
	if err != nil || empty.Channels == nil || empty.Types == nil || empty.Topics == nil ||
		len(empty.Channels)+len(empty.Types)+len(empty.Topics) != 0 || empty.MutedUntil != nil || empty.QuietHours != nil {
		t.Fatalf("Preferences of a user with none = %+v, %v; want the normalised zero value", empty, err)
	}
	muted := base.Add(48 * time.Hour)
	prefs := tocsin.Preferences{
		Channels: tocsin.ChannelSwitches{tocsin.ChannelPush: true, tocsin.ChannelEmail: false},
		Types: map[string]tocsin.ChannelSwitches{
			"comment": {tocsin.ChannelEmail: true},
			"digest":  {tocsin.ChannelWebhook: false, tocsin.ChannelPush: true},
		},
		Topics:     map[string]tocsin.ChannelSwitches{"deploys": {tocsin.ChannelPush: false}, "news": {}},
		MutedUntil: &muted,
		QuietHours: &tocsin.QuietHours{Start: "22:00", End: "07:30", Timezone: "America/New_York"},
		UpdatedAt:  base.Add(time.Minute),
	}
	if err := s.PutPreferences(ctx, "u1", prefs); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Preferences(ctx, "u1"); err != nil || !reflect.DeepEqual(got, prefs) {
		t.Fatalf("Preferences =\n %+v, %v\nwant\n %+v", got, err, prefs)
	}
	if got, _ := s.Preferences(ctx, "u2"); len(got.Channels) != 0 || got.QuietHours != nil {
		t.Fatalf("another user's preferences leaked: %+v", got)
	}
	// Replaced whole: what the new document does not hold is gone.
	less := tocsin.Preferences{Channels: tocsin.ChannelSwitches{tocsin.ChannelWebhook: false}, UpdatedAt: base.Add(time.Hour)}
	if err := s.PutPreferences(ctx, "u1", less); err != nil {
		t.Fatal(err)
	}
	less.Normalize()
	if got, err := s.Preferences(ctx, "u1"); err != nil || !reflect.DeepEqual(got, less) {
		t.Fatalf("replaced Preferences = %+v, %v; want %+v", got, err, less)
	}
}

// testWebhooks: endpoints are stored, replaced by id, listed oldest first and removed
// once.
func testWebhooks(t *testing.T, st tocsin.Store) {
	s := deliveryStore(t, st)
	_, err := s.Webhook(ctx, "wh_a")
	wantCode(t, err, tocsin.ENotFound)
	if all, err := s.Webhooks(ctx); err != nil || len(all) != 0 {
		t.Fatalf("Webhooks of none = %+v, %v", all, err)
	}
	b := tocsin.WebhookEndpoint{ID: "wh_b", URL: "https://b.example.com/hook", Events: []string{tocsin.WebhookDeliver},
		Secret: "whsec_b", CreatedAt: base.Add(time.Second)}
	a := tocsin.WebhookEndpoint{ID: "wh_a", URL: "https://a.example.com/hook",
		Events: []string{tocsin.WebhookCreated, tocsin.WebhookCustom}, Secret: "whsec_a", CreatedAt: base}
	for _, w := range []tocsin.WebhookEndpoint{b, a} {
		if err := s.PutWebhook(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.Webhook(ctx, "wh_a"); err != nil || !reflect.DeepEqual(got, a) {
		t.Fatalf("Webhook = %+v, %v; want %+v", got, err, a)
	}
	if all, err := s.Webhooks(ctx); err != nil || !reflect.DeepEqual(all, []tocsin.WebhookEndpoint{a, b}) {
		t.Fatalf("Webhooks = %+v, %v; want a, b (oldest first)", all, err)
	}
	b.URL, b.Events = "https://b.example.com/v2", []string{tocsin.WebhookUpdated, tocsin.WebhookDeleted}
	if err := s.PutWebhook(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Webhook(ctx, "wh_b"); err != nil || !reflect.DeepEqual(got, b) {
		t.Fatalf("replaced Webhook = %+v, %v; want %+v", got, err, b)
	}
	if err := s.DeleteWebhook(ctx, "wh_a"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.DeleteWebhook(ctx, "wh_a"), tocsin.ENotFound)
	_, err = s.Webhook(ctx, "wh_a")
	wantCode(t, err, tocsin.ENotFound)
	if all, err := s.Webhooks(ctx); err != nil || len(all) != 1 || all[0].ID != "wh_b" {
		t.Fatalf("Webhooks after delete = %+v, %v", all, err)
	}
}
