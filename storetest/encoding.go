package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/tocsin/tocsin"
)

// testEventDataIsTheEncoding pins the contract other packages build on (httpapi
// answers a publish with its events' data): the event of each notification a
// publish returns, as returned and as stored, carries exactly
// tocsin.AppendNotificationJSON of that notification. Single, bulk (merged with
// concurrent publishes or not), grouped and topic publishes; a replay returns
// notifications that encode to the same bytes as the first result.
func testEventDataIsTheEncoding(t *testing.T, s tocsin.Store) {
	exp := base.Add(tocsin.IdempotencyWindow)
	// Escapes everywhere, data with whitespace to compact, an expiry.
	tmpl := notification("", func(n *tocsin.Notification) {
		n.Title, n.Body, n.Tags = "x < y & z", "line\nbreak \u2028 \"quoted\"", []string{"<a>", "b"}
		n.Data = json.RawMessage("{ \"html\": \"<b>&</b>\",\n \"n\": [1, 2] }")
		n.ActionURL, n.ExpiresAt = "https://x.test/?a=1&b=2", &exp
	})
	copies := func(users ...string) []tocsin.Notification {
		ns := make([]tocsin.Notification, len(users))
		for i, u := range users {
			ns[i] = tmpl // shares Tags and Data, as the hub's copies do
			ns[i].ID, ns[i].UserID = ids.New(base), u
		}
		return ns
	}
	check := func(t *testing.T, res tocsin.PublishResult, names ...string) {
		t.Helper()
		if len(res.Events) != len(res.Notifications) || len(res.Notifications) != len(names) {
			t.Fatalf("%d notifications, %d events; want %d of each", len(res.Notifications), len(res.Events), len(names))
		}
		for i := range res.Notifications {
			want, err := tocsin.AppendNotificationJSON(nil, &res.Notifications[i])
			if err != nil {
				t.Fatal(err)
			}
			ev := res.Events[i]
			if ev.Name != names[i] || string(ev.Data) != string(want) {
				t.Fatalf("event %d: %s %s\nwant %s %s", i, ev.Name, ev.Data, names[i], want)
			}
			stored, err := s.Events(ctx, ev.Stream, ev.Seq-1, 1)
			if err != nil || len(stored) != 1 || stored[0].Name != names[i] || string(stored[0].Data) != string(want) {
				t.Fatalf("stored event %d: %+v %v\nwant data %s", i, stored, err, want)
			}
		}
	}
	n, b := tocsin.EventNotification, tocsin.EventUpdated

	t.Run("single", func(t *testing.T) {
		check(t, publish(t, s, copies("one")...), n)
	})
	t.Run("bulk", func(t *testing.T) {
		check(t, publish(t, s, copies("b1", `b"2`, "<b3>", "b&4", "ünï", "b1")...), n, n, n, n, n, n)
	})
	t.Run("bulk merged with concurrent publishes", func(t *testing.T) {
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := s.Publish(ctx, &tocsin.PublishRequest{Notifications: copies(fmt.Sprintf("m%d", w), "shared", "m<x>")})
				if err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
				check(t, res, n, n, n)
			}()
		}
		wg.Wait()
	})
	t.Run("grouped", func(t *testing.T) {
		group := func(ns []tocsin.Notification) []tocsin.Notification {
			for i := range ns {
				ns[i].GroupKey = "g<1>"
			}
			return ns
		}
		check(t, publish(t, s, group(copies("g1"))...), n)
		ns := group(copies("g1", "g2", "g<3>"))
		for i := range ns {
			ns[i].Title = "latest & greatest"
		}
		// g1's item takes the repeat (its event is notification:updated), the others
		// are new.
		check(t, publish(t, s, ns...), b, n, n)
	})
	t.Run("topic", func(t *testing.T) {
		tn := copies("")[0]
		tn.Topic = "deploys"
		res, err := s.Publish(ctx, &tocsin.PublishRequest{Notifications: []tocsin.Notification{tn}, Topic: "deploys"})
		if err != nil {
			t.Fatal(err)
		}
		check(t, res, n)
	})
	t.Run("replay", func(t *testing.T) {
		req := func() *tocsin.PublishRequest {
			return &tocsin.PublishRequest{Notifications: copies("r1", "r<2>"),
				IdempotencyScope: "app", IdempotencyKey: "encoding", RequestHash: "h"}
		}
		first, err := s.Publish(ctx, req())
		if err != nil {
			t.Fatal(err)
		}
		check(t, first, n, n)
		again, err := s.Publish(ctx, req())
		if err != nil || !again.Replayed || len(again.Notifications) != 2 {
			t.Fatalf("replay: %+v %v", again, err)
		}
		for i := range again.Notifications {
			got, err := tocsin.AppendNotificationJSON(nil, &again.Notifications[i])
			if err != nil || string(got) != string(first.Events[i].Data) {
				t.Fatalf("replayed notification %d encodes to %s (%v)\nwant %s", i, got, err, first.Events[i].Data)
			}
		}
	})
}
