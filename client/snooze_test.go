package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/client"
)

// TestSnoozeAndUpdateMany: the client's snooze and bulk methods against a real
// node, and the decoding of a notifications:updated event.
func TestSnoozeAndUpdateMany(t *testing.T) {
	s := start(t, freeAddr(t), t.TempDir())
	ctx := context.Background()
	app := client.New(s.URL, client.WithAPIKey(apiKey))
	user := client.New(s.URL, client.WithToken(token(t, "sia")))
	ns, err := app.Publish(ctx, tocsin.PublishInput{UserIDs: []string{"sia", "sia2"}, Title: "x"}, client.PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	more, err := app.Publish(ctx, tocsin.PublishInput{UserID: "sia", Title: "y"}, client.PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour)
	n, err := user.Snooze(ctx, ns[0].ID, until)
	if err != nil || n.SnoozedUntil == nil || !n.SnoozedUntil.Equal(until.UTC().Truncate(time.Millisecond)) {
		t.Fatalf("Snooze: %+v %v", n, err)
	}
	if c, _ := user.UnreadCount(ctx); c != 1 {
		t.Fatalf("unread count %d while snoozed, want 1", c)
	}
	var apiErr *client.Error
	if _, err := user.Snooze(ctx, ns[0].ID, time.Now().Add(-time.Minute)); !errors.As(err, &apiErr) || apiErr.Status != 400 {
		t.Fatalf("snooze in the past: %v", err)
	}
	if n, err := user.Unsnooze(ctx, ns[0].ID); err != nil || n.SnoozedUntil != nil {
		t.Fatalf("Unsnooze: %+v %v", n, err)
	}
	yes := true
	res, err := user.UpdateMany(ctx, []string{ns[0].ID, more[0].ID, ns[1].ID}, tocsin.Patch{Archived: &yes})
	if err != nil || len(res.Notifications) != 2 || res.UnreadCount != 0 {
		t.Fatalf("UpdateMany: %+v %v; want ns[0] and more[0] archived (not sia2's item)", res, err)
	}
	if _, err := user.UpdateMany(ctx, nil, tocsin.Patch{Read: &yes}); !errors.As(err, &apiErr) || apiErr.Status != 400 {
		t.Fatalf("UpdateMany without ids: %v", err)
	}

	ev := client.Event{Name: client.EventNotificationsUpdated, Data: []byte(`{"notifications":[{"id":"` + ns[0].ID + `","userId":"sia"}]}`)}
	if got, err := ev.NotificationsUpdated(); err != nil || len(got) != 1 || got[0].ID != ns[0].ID {
		t.Fatalf("NotificationsUpdated: %+v %v", got, err)
	}
	if _, err := (client.Event{Name: client.EventNotificationsUpdated, Data: []byte(`{}`)}).NotificationsUpdated(); err == nil {
		t.Fatal("NotificationsUpdated accepted data without notifications")
	}
}
