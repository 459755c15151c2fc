package client

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
)

const (
	idA = "01JD0000000000000000000001"
	idB = "01JD0000000000000000000002"
	idC = "01JD0000000000000000000003"
	idZ = "01JDZZZZZZZZZZZZZZZZZZZZZZ"
)

func TestParseNotificationsRead(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name, data string
		want       NotificationsRead
		bad        bool
	}{
		{name: "ids", data: `{"ids":["` + idA + `","` + idC + `"],"readAt":"2026-01-02T03:04:05Z"}`,
			want: NotificationsRead{IDs: []string{idA, idC}, ReadAt: at}},
		{name: "no ids", data: `{"ids":[],"readAt":"2026-01-02T03:04:05Z"}`, want: NotificationsRead{IDs: []string{}, ReadAt: at}},
		{name: "before", data: `{"before":"` + idB + `","readAt":"2026-01-02T03:04:05Z"}`, want: NotificationsRead{Before: idB, ReadAt: at}},
		{name: "unknown fields are ignored", data: `{"before":"` + idB + `","readAt":"2026-01-02T03:04:05Z","n":150}`,
			want: NotificationsRead{Before: idB, ReadAt: at}},
		{name: "both", data: `{"ids":["` + idA + `"],"before":"` + idB + `","readAt":"2026-01-02T03:04:05Z"}`, bad: true},
		{name: "neither", data: `{"readAt":"2026-01-02T03:04:05Z"}`, bad: true},
		{name: "null ids", data: `{"ids":null,"readAt":"2026-01-02T03:04:05Z"}`, bad: true},
		{name: "no readAt", data: `{"before":"` + idB + `"}`, bad: true},
		{name: "bad readAt", data: `{"before":"` + idB + `","readAt":"yesterday"}`, bad: true},
		{name: "empty before", data: `{"before":"","readAt":"2026-01-02T03:04:05Z"}`, bad: true},
		{name: "not an id", data: `{"ids":["x\n"],"readAt":"2026-01-02T03:04:05Z"}`, bad: true},
		{name: "not an object", data: `[1]`, bad: true},
		{name: "not JSON", data: `{`, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseNotificationsRead([]byte(tc.data))
			if tc.bad {
				if err == nil {
					t.Fatalf("accepted: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g, w := mustJSON(t, got), mustJSON(t, tc.want); g != w {
				t.Fatalf("got %s, want %s", g, w)
			}
		})
	}
}

func TestEventNotificationsRead(t *testing.T) {
	ev := Event{ID: "ep-9", Name: EventNotificationsRead, Data: json.RawMessage(`{"before":"` + idB + `","readAt":"2026-01-02T03:04:05Z"}`)}
	r, err := ev.NotificationsRead()
	if err != nil || r.Before != idB {
		t.Fatalf("%+v, %v", r, err)
	}
	if _, err := (Event{Name: "notification:updated", Data: ev.Data}).NotificationsRead(); err == nil {
		t.Fatal("decoded a notification:updated as notifications:read")
	}
}

func TestNotificationsReadCovers(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	earlier := at.Add(-time.Hour)
	unread := func(id string) tocsin.Notification { return tocsin.Notification{ID: id} }
	read := tocsin.Notification{ID: idA, ReadAt: &earlier}
	archived := tocsin.Notification{ID: idA, ArchivedAt: &earlier}

	byIDs := NotificationsRead{IDs: []string{idA, idC}, ReadAt: at}
	before := NotificationsRead{Before: idB, ReadAt: at}
	for _, tc := range []struct {
		name string
		r    NotificationsRead
		n    tocsin.Notification
		want bool
	}{
		{"listed", byIDs, unread(idA), true},
		{"not listed", byIDs, unread(idB), false},
		{"none listed", NotificationsRead{IDs: []string{}, ReadAt: at}, unread(idA), false},
		{"older", before, unread(idA), true},
		{"at before", before, unread(idB), true},
		{"newer", before, unread(idC), false},
		{"newer by letters (Crockford order)", before, unread(idZ), false},
		{"already read", before, read, false},
		{"archived", before, archived, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.Covers(tc.n); got != tc.want {
				t.Fatalf("Covers = %v, want %v", got, tc.want)
			}
			n := tc.n
			changed := tc.r.Apply(&n)
			if want := tc.want && tc.n.ReadAt == nil; changed != want {
				t.Fatalf("Apply changed = %v, want %v", changed, want)
			}
			if changed && (n.ReadAt == nil || !n.ReadAt.Equal(at)) {
				t.Fatalf("readAt %v, want %v", n.ReadAt, at)
			}
			if !changed && tc.n.ReadAt != n.ReadAt {
				t.Fatal("Apply changed readAt without saying so")
			}
		})
	}
}

// FuzzParseNotificationsRead: the parser never panics, and what it accepts has
// exactly one of IDs and Before, every id a notification id, and survives a round
// trip through the wire form.
func FuzzParseNotificationsRead(f *testing.F) {
	f.Add([]byte(`{"ids":["` + idA + `"],"readAt":"2026-01-02T03:04:05Z"}`))
	f.Add([]byte(`{"before":"` + idB + `","readAt":"2026-01-02T03:04:05.123Z"}`))
	f.Add([]byte(`{"ids":[],"before":null,"readAt":"2026-01-02T03:04:05+02:00"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseNotificationsRead(data)
		if err != nil {
			return
		}
		if (r.IDs != nil) == (r.Before != "") {
			t.Fatalf("accepted %q as %+v", data, r)
		}
		for _, id := range r.IDs {
			if !tocsin.ValidNotificationID(id) {
				t.Fatalf("accepted id %q", id)
			}
		}
		wire := map[string]any{"readAt": r.ReadAt}
		if r.IDs != nil {
			wire["ids"] = r.IDs
		} else {
			wire["before"] = r.Before
		}
		b, _ := json.Marshal(wire)
		again, err := ParseNotificationsRead(b)
		if err != nil || mustJSON(t, again) != mustJSON(t, r) {
			t.Fatalf("round trip of %s: %+v, %v", b, again, err)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
