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
	tests := []checkCase{
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
	runCheckCases(t, cleanHistory, tests)
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

// inboxHistory extends cleanHistory with what a device did after n2: it read n1
// (notification:updated), deleted n2 (whose earlier "notification" a later
// resume would replay as notification:deleted), and a bulk publish k4 reached u0
// (n4) and u1, then a read-all read it.
func inboxHistory() *history {
	h := cleanHistory()
	s := h.subs[0]
	at := s.receipts[3].at
	ms := func(n int) time.Time { return at.Add(time.Duration(n) * time.Millisecond) }
	h.attempted["k4"] = []string{"u0", "u1"}
	h.acks = append(h.acks,
		ack{key: "k4", user: "u0", id: "n4", kind: publishBulk, first: ms(4), lastTry: ms(4), at: ms(5), attempts: 1},
		ack{key: "k4", user: "u1", id: "n5", kind: publishBulk, first: ms(4), lastTry: ms(4), at: ms(5), attempts: 1})
	s.receipts = append(s.receipts,
		receipt{at: ms(1), conn: 1, name: "notification:updated", eventID: "ep-3", notifID: "n1"},
		receipt{at: ms(2), conn: 1, name: "unread", count: 1},
		receipt{at: ms(3), conn: 1, name: "notification:deleted", eventID: "ep-4", notifID: "n2"},
		receipt{at: ms(3), conn: 1, name: "unread", count: 0},
		receipt{at: ms(6), conn: 1, name: "notification", eventID: "ep-5", notifID: "n4", key: "k4", user: "u0", unread: true},
		receipt{at: ms(6), conn: 1, name: "unread", count: 1},
		receipt{at: ms(7), conn: 1, name: "notifications:read", eventID: "ep-6", ids: []string{"n4"}},
		receipt{at: ms(7), conn: 1, name: "unread", count: 0})
	h.deleted = map[string]bool{"n2": true}
	h.stored = map[string][]storedNotification{
		"u0": {{id: "n4", key: "k4", read: true}, {id: "n1", key: "k1", read: true}},
		"u1": {{id: "n5", key: "k4"}},
	}
	h.unread = map[string]int{"u0": 0, "u1": 1}
	return h
}

func TestCheckInbox(t *testing.T) {
	tests := []checkCase{
		{"clean", func(*history) {}, nil},
		{"a deleted notification replayed as notification:deleted is delivered", func(h *history) {
			s := h.subs[0]
			s.receipts[2] = receipt{at: s.receipts[2].at, conn: 1, name: "notification:deleted", eventID: "ep-2", notifID: "n2"}
		}, nil},
		{"read-all by before", func(h *history) {
			h.subs[0].receipts[10].ids, h.subs[0].receipts[10].before = nil, "n4"
		}, nil},
		{"a missed read leaves the count and the set behind the store", func(h *history) {
			s := h.subs[0]
			s.receipts = s.receipts[:len(s.receipts)-2]
		}, []string{"unread count differs from the store", "unread notifications differ from the store"}},
		{"the last count is stale", func(h *history) {
			h.subs[0].receipts[11].count = 1
		}, []string{"unread count differs from the store"}},
		{"an update out of order", func(h *history) {
			h.subs[0].receipts[6].eventID = "ep-3"
		}, []string{"event repeated or out of order", "gap in the stream"}},
		{"a gap before an inbox event", func(h *history) {
			h.subs[0].receipts[10].eventID = "ep-7"
		}, []string{"gap in the stream"}},
		{"an unread event with an id", func(h *history) {
			h.subs[0].receipts[5].eventID = "ep-9"
		}, []string{"unread event with an id"}},
		{"unknown event name", func(h *history) {
			h.subs[0].receipts[4].name = "notification:exploded"
		}, []string{"unexpected event", "gap in the stream", "unread notifications differ from the store"}},
		{"a bulk recipient's delivery lost", func(h *history) {
			s := h.subs[0]
			s.receipts = slices.Delete(s.receipts, 8, 10)
		}, []string{"acknowledged publish never delivered", "gap in the stream"}},
		{"a bulk recipient stored twice under its key", func(h *history) {
			h.stored["u1"] = append(h.stored["u1"], storedNotification{id: "n6", key: "k4", read: true})
		}, []string{"idempotency key stored twice"}},
		{"a deleted notification is not missing from the store", func(h *history) {
			h.deleted = nil
		}, []string{"acknowledged publish missing from the store"}},
	}
	runCheckCases(t, inboxHistory, tests)
}

// topicHistory: topic t0 with a primer k0 published before its subscriber was
// positioned, then k1 and k2; the subscriber's first event (k1, on a fresh
// connect: a topic stream has no init) positions it.
func topicHistory() *history {
	t0 := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	return &history{
		acks: []ack{
			{key: "k0", user: "topic:t0", id: "n0", kind: publishTopic, first: at(1), lastTry: at(1), at: at(2), attempts: 1},
			{key: "k1", user: "topic:t0", id: "n1", kind: publishTopic, first: at(10), lastTry: at(10), at: at(20), attempts: 1},
			{key: "k2", user: "topic:t0", id: "n2", kind: publishTopic, first: at(30), lastTry: at(30), at: at(40), attempts: 2},
		},
		attempted: map[string][]string{"k0": {"topic:t0"}, "k1": {"topic:t0"}, "k2": {"topic:t0"}},
		stored:    map[string][]storedNotification{},
		subs: []*subscriberLog{{
			user:  "topic:t0",
			conns: []connection{{node: 0, at: at(5), status: 200, broke: at(25)}, {node: 1, at: at(26), status: 200, lastEventID: "tp-8"}},
			receipts: []receipt{
				{at: at(21), conn: 0, name: "notification", eventID: "tp-8", notifID: "n1", key: "k1", user: "topic:t0"},
				{at: at(41), conn: 1, name: "notification", eventID: "tp-9", notifID: "n2", key: "k2", user: "topic:t0"},
			},
		}},
	}
}

func TestCheckTopic(t *testing.T) {
	tests := []checkCase{
		{"clean", func(*history) {}, nil},
		{"lost after positioning", func(h *history) {
			h.subs[0].receipts = h.subs[0].receipts[:1]
		}, []string{"acknowledged publish never delivered"}},
		{"a gap", func(h *history) {
			h.subs[0].receipts[1].eventID = "tp-10"
		}, []string{"gap in the stream"}},
		{"a user's notification on a topic stream", func(h *history) {
			h.subs[0].receipts[1].user = "u0"
		}, []string{"another stream's notification"}},
		{"a first event on a resume is not a positioning", func(h *history) {
			h.subs[0].receipts[0].conn = 1
		}, []string{"event before init"}},
	}
	runCheckCases(t, topicHistory, tests)
}

// checkCase spoils a clean history; want is the anomaly kinds check must then
// find, in order.
type checkCase struct {
	name  string
	spoil func(h *history)
	want  []string
}

func runCheckCases(t *testing.T, clean func() *history, tests []checkCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := clean()
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
