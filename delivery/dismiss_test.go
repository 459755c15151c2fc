package delivery

import (
	"slices"
	"testing"

	"github.com/tocsin/tocsin"
)

// TestDismissCandidates: which ids an event takes off the user's devices.
func TestDismissCandidates(t *testing.T) {
	const t0 = `"2026-01-01T00:00:00.000Z"`
	tests := []struct {
		name, event, data string
		ids               []string
		before            string
	}{
		{"read", tocsin.EventUpdated, `{"id":"a","readAt":` + t0 + `,"archivedAt":null,"snoozedUntil":null}`, []string{"a"}, ""},
		{"archived", tocsin.EventUpdated, `{"id":"a","readAt":null,"archivedAt":` + t0 + `}`, []string{"a"}, ""},
		{"snoozed", tocsin.EventUpdated, `{"id":"a","readAt":null,"archivedAt":null,"snoozedUntil":` + t0 + `}`, []string{"a"}, ""},
		{"unread again", tocsin.EventUpdated, `{"id":"a","readAt":null,"archivedAt":null,"snoozedUntil":null}`, nil, ""},
		{"deleted", tocsin.EventDeleted, `{"id":"a"}`, []string{"a"}, ""},
		{"read-all ids", tocsin.EventRead, `{"ids":["a","b"],"readAt":` + t0 + `}`, []string{"a", "b"}, ""},
		{"read-all before", tocsin.EventRead, `{"before":"b","readAt":` + t0 + `}`, nil, "b"},
		{"bulk", tocsin.EventUpdatedMany, `{"notifications":[{"id":"a","readAt":` + t0 + `},{"id":"b","readAt":null},{"id":"c","snoozedUntil":` + t0 + `}]}`, []string{"a", "c"}, ""},
		{"created", tocsin.EventNotification, `{"id":"a","readAt":null}`, nil, ""},
		{"bad data", tocsin.EventUpdated, `{`, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := tocsin.Event{Name: tt.event, Data: []byte(tt.data)}
			ids, before := dismissCandidates(&ev)
			if !slices.Equal(ids, tt.ids) || before != tt.before {
				t.Fatalf("got %v %q, want %v %q", ids, before, tt.ids, tt.before)
			}
		})
	}
}
