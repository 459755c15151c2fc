package soak

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// cleanHistory is a run without anomalies: user u0 with two publishes (k1, k2),
// followed by one subscriber that read them across one resume on another node.
func cleanHistory() *history {
	t0 := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	return &history{
		acks: []ack{
			{key: "k1", user: "u0", id: "n1", node: 0, first: at(10), lastTry: at(10), at: at(20), attempts: 1},
			{key: "k2", user: "u0", id: "n2", node: 1, first: at(30), lastTry: at(30), at: at(40), attempts: 1},
		},
		attempted: map[string][]string{"k1": {"u0"}, "k2": {"u0"}, "k3": {"u0"}},
		stored:    map[string][]storedNotification{"u0": {{id: "n2", key: "k2"}, {id: "n1", key: "k1"}}},
		unread:    map[string]int{"u0": 2},
		subs: []*subscriberLog{{
			user: "u0",
			conns: []connection{
				{node: 0, at: at(0), status: 200, broke: at(25)},
				{node: 2, at: at(26), status: 200, lastEventID: "ep-1"},
			},
			receipts: []receipt{
				{at: at(1), conn: 0, name: "init", eventID: "ep-0"},
				{at: at(21), conn: 0, name: "notification", eventID: "ep-1", notifID: "n1", key: "k1", user: "u0", unread: true},
				{at: at(41), conn: 1, name: "notification", eventID: "ep-2", notifID: "n2", key: "k2", user: "u0", unread: true},
				{at: at(42), conn: 1, name: "unread", count: 2},
			},
		}},
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(h *history)
		want  []string // anomaly kinds, in order
	}{
		{"clean", func(*history) {}, nil},
		{"an unacknowledged publish that exists is fine", func(h *history) {
			s := h.subs[0]
			s.receipts = append(s.receipts, receipt{at: s.receipts[3].at.Add(time.Millisecond), conn: 1,
				name: "notification", eventID: "ep-3", notifID: "n3", key: "k3", user: "u0", unread: true},
				receipt{at: s.receipts[3].at.Add(2 * time.Millisecond), conn: 1, name: "unread", count: 3})
			h.stored["u0"] = append(h.stored["u0"], storedNotification{id: "n3", key: "k3"})
			h.unread["u0"] = 3
		}, nil},
		{"lost", func(h *history) {
			h.subs[0].receipts = slices.Delete(h.subs[0].receipts, 2, 3)
		}, []string{"acknowledged publish never delivered", "unread notifications differ from the store"}},
		{"gap", func(h *history) {
			h.subs[0].receipts[2].eventID = "ep-3"
		}, []string{"gap in the stream"}},
		{"repeated event", func(h *history) {
			s := h.subs[0]
			s.receipts = append(s.receipts, s.receipts[2])
		}, []string{"event repeated or out of order", "notification received twice"}},
		{"same notification under a new event id", func(h *history) {
			s := h.subs[0]
			dup := s.receipts[2]
			dup.eventID = "ep-3"
			s.receipts = append(s.receipts, dup)
		}, []string{"notification received twice"}},
		{"reset and init on resume", func(h *history) {
			s := h.subs[0]
			s.receipts = slices.Insert(s.receipts, 2,
				receipt{at: s.receipts[1].at.Add(time.Millisecond), conn: 1, name: "reset"},
				receipt{at: s.receipts[1].at.Add(2 * time.Millisecond), conn: 1, name: "init", eventID: "ep-1", ids: []string{"n1"}, count: 1})
		}, []string{"reset"}},
		{"init on resume without reset", func(h *history) {
			s := h.subs[0]
			s.receipts = slices.Insert(s.receipts, 2,
				receipt{at: s.receipts[1].at.Add(time.Millisecond), conn: 1, name: "init", eventID: "ep-1", ids: []string{"n1"}, count: 1})
		}, []string{"init on a resume without reset"}},
		{"epoch change", func(h *history) {
			h.subs[0].receipts[2].eventID = "other-2"
		}, []string{"epoch changed without reset"}},
		{"another user's event", func(h *history) {
			h.subs[0].receipts[2].user = "u1"
		}, []string{"another stream's notification"}},
		{"missing from the store", func(h *history) {
			h.stored["u0"] = h.stored["u0"][:1]
		}, []string{"acknowledged publish missing from the store", "unread notifications differ from the store"}},
		{"key stored twice", func(h *history) {
			h.stored["u0"] = append(h.stored["u0"], storedNotification{id: "n9", key: "k1", read: true})
		}, []string{"idempotency key stored twice"}},
		{"stored but never sent", func(h *history) {
			h.stored["u0"] = append(h.stored["u0"], storedNotification{id: "n9", key: "zz", read: true})
		}, []string{"stored notification no publisher sent"}},
		{"500", func(h *history) {
			h.bad5xx = []string{"publish on node1: 500"}
		}, []string{"5xx other than 503 with Retry-After"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := cleanHistory()
			tt.spoil(h)
			var got []string
			for _, a := range check(h) {
				got = append(got, a.kind)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("anomalies %q, want %q", got, tt.want)
			}
		})
	}
}

// TestReportNamesTheAnomaly: the report carries the seed and each anomaly with
// the events around it.
func TestReportNamesTheAnomaly(t *testing.T) {
	h := cleanHistory()
	h.subs[0].receipts = slices.Delete(h.subs[0].receipts, 2, 3)
	lines := report(7, time.Minute, "redis", h, nil, map[int]int{201: 2}, 0, check(h))
	text := strings.Join(lines, "\n")
	for _, want := range []string{"seed 7", "anomalies: 2", "never delivered", "key k2 id n2", "=> 08:00:00.042 conn 1 on node2", "unread notifications differ"} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
}
