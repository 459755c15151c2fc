package httpapi

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
)

// TestPublishBodyIsWriteJSON: the 201 body, built from the events' data of a publish
// or encoded anew for a replay, is byte for byte what writeJSON makes of the
// notifications; a result that breaks the Store contract is an error, not a body.
func TestPublishBodyIsWriteJSON(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	var ids tocsin.IDGen
	var res tocsin.PublishResult
	for _, u := range []string{"a", "<b>", "c&d"} {
		n := tocsin.Notification{ID: ids.New(now), UserID: u, Type: "t", Title: "x < y", Tags: []string{"k"},
			Data: json.RawMessage(`{"a": 1}`), Priority: 3, Count: 1, CreatedAt: now}
		ev, err := n.Event(tocsin.EventNotification, now)
		if err != nil {
			t.Fatal(err)
		}
		res.Notifications = append(res.Notifications, n)
		res.Events = append(res.Events, ev)
	}
	writeJSONBody := func(v any) string {
		w := httptest.NewRecorder()
		writeJSON(w, 201, v)
		return w.Body.String()
	}
	replay := tocsin.PublishResult{Notifications: res.Notifications, Replayed: true}
	for _, tc := range []struct {
		name string
		res  tocsin.PublishResult
		list bool
		want string
	}{
		{"list", res, true, writeJSONBody(map[string]any{"notifications": res.Notifications})},
		{"single", tocsin.PublishResult{Notifications: res.Notifications[:1], Events: res.Events[:1]}, false,
			writeJSONBody(res.Notifications[0])},
		{"replayed list", replay, true, writeJSONBody(map[string]any{"notifications": res.Notifications})},
		{"replayed single", tocsin.PublishResult{Notifications: res.Notifications[1:2], Replayed: true}, false,
			writeJSONBody(res.Notifications[1])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := publishBody(&tc.res, tc.list)
			if err != nil || string(got) != tc.want {
				t.Fatalf("publishBody = %s (%v)\nwant %s", got, err, tc.want)
			}
		})
	}
	for _, bad := range []tocsin.PublishResult{
		{Notifications: res.Notifications},                         // no events, not a replay
		{Notifications: res.Notifications, Events: res.Events[:2]}, // one missing
	} {
		if got, err := publishBody(&bad, true); err == nil {
			t.Errorf("a result of %d notifications and %d events made a body: %s", len(bad.Notifications), len(bad.Events), got)
		}
	}
}
