package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/client"
)

// TestChannelEndpoints drives the delivery engine's endpoints through the client
// against a real node: profile, preferences (the application's and the user's own,
// PUT and merge PATCH), a scheduled publish listed and cancelled, the delivery log of
// a notification with channels, and webhook endpoints.
func TestChannelEndpoints(t *testing.T) {
	s := start(t, freeAddr(t), t.TempDir())
	defer s.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	app := client.New(s.URL, client.WithAPIKey(apiKey))
	user := client.New(s.URL, client.WithToken(token(t, "c1")))

	p, err := app.SetProfile(ctx, "c1", tocsin.Profile{Email: "c1@example.com", Timezone: "Asia/Tokyo", Locale: "ja"})
	if err != nil || p.UserID != "c1" || p.Timezone != "Asia/Tokyo" {
		t.Fatalf("SetProfile = %+v, %v", p, err)
	}
	if got, err := app.Profile(ctx, "c1"); err != nil || got.Email != "c1@example.com" {
		t.Fatalf("Profile = %+v, %v", got, err)
	}
	var ce *client.Error
	if _, err := app.SetProfile(ctx, "c1", tocsin.Profile{Timezone: "Nowhere/City"}); !errors.As(err, &ce) || ce.Status != 400 {
		t.Fatalf("bad timezone: %v", err)
	}

	if _, err := app.SetUserPreferences(ctx, "c1", tocsin.Preferences{Channels: tocsin.ChannelSwitches{"push": false}}); err != nil {
		t.Fatal(err)
	}
	prefs, err := user.PatchPreferences(ctx, map[string]any{"types": map[string]any{"comment": map[string]bool{"email": false}}})
	if err != nil || prefs.Channels["push"] || prefs.Types["comment"]["email"] {
		t.Fatalf("PatchPreferences = %+v, %v", prefs, err)
	}
	if on, set := prefs.Channels["push"]; !set || on {
		t.Fatalf("the patch lost the application's push switch: %+v", prefs.Channels)
	}
	own, err := user.Preferences(ctx)
	if err != nil || len(own.Types) != 1 {
		t.Fatalf("Preferences = %+v, %v", own, err)
	}
	if _, err := user.SetPreferences(ctx, tocsin.Preferences{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := app.UserPreferences(ctx, "c1"); len(got.Types) != 0 || len(got.Channels) != 0 {
		t.Fatalf("PUT did not replace: %+v", got)
	}

	at := time.Now().Add(time.Hour)
	ns, err := app.Publish(ctx, tocsin.PublishInput{UserID: "c1", Title: "later", DeliverAt: &at}, client.PublishOptions{})
	if err != nil || len(ns) != 1 {
		t.Fatalf("scheduled publish = %v, %v", ns, err)
	}
	list, _, err := app.Scheduled(ctx, "c1", "")
	if err != nil || len(list) != 1 || list[0].ID != ns[0].ID {
		t.Fatalf("Scheduled = %v, %v", list, err)
	}
	if err := app.CancelScheduled(ctx, ns[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := app.CancelScheduled(ctx, ns[0].ID); !errors.As(err, &ce) || ce.Status != 404 {
		t.Fatalf("second cancel: %v", err)
	}

	bulk, err := app.Publish(ctx, tocsin.PublishInput{UserIDs: []string{"c1", "c2"}, Title: "later, both", DeliverAt: &at}, client.PublishOptions{})
	if err != nil || len(bulk) != 2 || bulk[0].UserID != "c1" || bulk[1].UserID != "c2" || !bulk[0].CreatedAt.Equal(at.UTC().Truncate(time.Millisecond)) {
		t.Fatalf("scheduled bulk publish = %+v, %v", bulk, err)
	}
	if list, _, err := app.Scheduled(ctx, "", ""); err != nil || len(list) != 2 {
		t.Fatalf("all scheduled = %v, %v", list, err)
	}

	now, err := app.Publish(ctx, tocsin.PublishInput{UserID: "c1", Title: "now", Channels: map[string]string{"email": "1h"}}, client.PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := user.Deliveries(ctx, now[0].ID)
	if err != nil || len(ds) != 1 || ds[0].Channel != "email" || ds[0].Status != tocsin.DeliveryScheduled {
		t.Fatalf("Deliveries = %+v, %v", ds, err)
	}
	if ads, err := app.UserDeliveries(ctx, "c1", now[0].ID); err != nil || len(ads) != 1 {
		t.Fatalf("UserDeliveries = %+v, %v", ads, err)
	}
	other := client.New(s.URL, client.WithToken(token(t, "c2")))
	if _, err := other.Deliveries(ctx, now[0].ID); !errors.As(err, &ce) || ce.Status != 404 {
		t.Fatalf("another user's deliveries: %v", err)
	}

	// Without --webhook-allow-private a loopback endpoint is refused.
	if _, err := app.CreateWebhook(ctx, "http://127.0.0.1:9/hook", []string{tocsin.WebhookCreated}); !errors.As(err, &ce) || ce.Status != 400 {
		t.Fatalf("loopback endpoint: %v", err)
	}
	wh, err := app.CreateWebhook(ctx, "https://hooks.example.com/tocsin", []string{tocsin.WebhookDeliver})
	if err != nil || wh.Secret == "" || wh.ID == "" {
		t.Fatalf("CreateWebhook = %+v, %v", wh, err)
	}
	whs, err := app.Webhooks(ctx)
	if err != nil || len(whs) != 1 || whs[0].Secret != "" {
		t.Fatalf("Webhooks = %+v, %v (secrets must not be listed)", whs, err)
	}
	if d, _, err := app.WebhookDeliveries(ctx, wh.ID, ""); err != nil || len(d) != 0 {
		t.Fatalf("WebhookDeliveries = %+v, %v", d, err)
	}
	if err := app.DeleteWebhook(ctx, wh.ID); err != nil {
		t.Fatal(err)
	}
	if err := app.DeleteWebhook(ctx, wh.ID); !errors.As(err, &ce) || ce.Status != 404 {
		t.Fatalf("second delete: %v", err)
	}
}
