package httpapi

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
)

// TestEncodedResultIsWriteJSON: the response built from the events' data is byte for
// byte what writeJSON makes of the notifications.
func TestEncodedResultIsWriteJSON(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	var ids tocsin.IDGen
	var res tocsin.PublishResult
	for _, u := range []string{"a", "<b>", "c&d"} {
		n := tocsin.Notification{ID: ids.New(now), UserID: u, Type: "t", Title: "x < y", Tags: []string{"k"},
			Data: json.RawMessage(`{"a": 1}`), Priority: 3, Count: 1, CreatedAt: now}
		data, _ := json.Marshal(&n)
		res.Notifications = append(res.Notifications, n)
		res.Events = append(res.Events, tocsin.Event{Data: data})
	}
	list, _ := json.Marshal(map[string]any{"notifications": res.Notifications})
	if got := encodedResult(&res, true); string(got) != string(list)+"\n" {
		t.Fatalf("list\n%s\nwant\n%s", got, list)
	}
	one := tocsin.PublishResult{Notifications: res.Notifications[:1], Events: res.Events[:1]}
	single, _ := json.Marshal(one.Notifications[0])
	if got := encodedResult(&one, false); string(got) != string(single)+"\n" {
		t.Fatalf("single\n%s\nwant\n%s", got, single)
	}
	// Events that are not these notifications (or none, on a replay) are not used.
	res.Events[1], res.Events[2] = res.Events[2], res.Events[1]
	if got := encodedResult(&res, true); got != nil {
		t.Fatalf("mismatched events used: %s", got)
	}
	if got := encodedResult(&tocsin.PublishResult{Notifications: res.Notifications}, true); got != nil {
		t.Fatalf("a result without events used: %s", got)
	}
}
