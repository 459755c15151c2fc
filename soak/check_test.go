package soak

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// history is everything the run recorded, read by the checker once every
// client and fault has finished.
type history struct {
	acks      []ack
	attempted map[string][]string // idempotency key → its recipients' streams, of every publish tried
	subs      []*subscriberLog
	devices   []*deviceLog
	// deleted holds every notification id a device tried to delete: it may be
	// gone from the store and its events.
	deleted map[string]bool
	// stored is, per user, the notifications the store holds at the end (read
	// through the admin API), archived ones included, and unread the user's
	// unread count; nil when they could not be read.
	stored map[string][]storedNotification
	unread map[string]int
	faults []*fault
	bad5xx []string
}

type storedNotification struct {
	id, key        string
	read, archived bool
}

// anomaly is one broken promise, with the events around it.
type anomaly struct {
	kind    string
	at      time.Time
	detail  string
	context []string
}

// check returns every anomaly in h: an acknowledged publish missing from the
// store, stored twice, or not delivered exactly once, in order, to every
// subscriber of its user; an event repeated or skipped within an epoch; a reset
// (with no pruning, nothing is ever too old to resume); and any 5xx but a 503
// with Retry-After.
func check(h *history) []anomaly {
	var out []anomaly
	acked := map[string]*ack{} // notification id → ack
	byUser := map[string][]*ack{}
	for i := range h.acks {
		a := &h.acks[i]
		if prev := acked[a.id]; prev != nil {
			out = append(out, anomaly{kind: "one id acknowledged for two publishes", at: a.at,
				detail: fmt.Sprintf("id %s for keys %s and %s", a.id, prev.key, a.key)})
			continue
		}
		acked[a.id] = a
		byUser[a.user] = append(byUser[a.user], a)
	}
	out = append(out, checkStore(h, byUser)...)
	for i, s := range h.subs {
		out = append(out, checkSubscriber(h, i, s, byUser[s.user])...)
	}
	for _, b := range h.bad5xx {
		out = append(out, anomaly{kind: "5xx other than 503 with Retry-After", detail: b})
	}
	slices.SortStableFunc(out, func(a, b anomaly) int { return a.at.Compare(b.at) })
	return out
}

// checkStore: every acknowledged publish is stored exactly once, and nothing
// stored is unknown to the publishers or stored twice under one key.
func checkStore(h *history, byUser map[string][]*ack) []anomaly {
	if h.stored == nil {
		return nil
	}
	var out []anomaly
	for user, items := range h.stored {
		ids, keys := map[string]bool{}, map[string]string{}
		for _, n := range items {
			if ids[n.id] {
				out = append(out, anomaly{kind: "notification listed twice", detail: fmt.Sprintf("user %s id %s", user, n.id)})
			}
			ids[n.id] = true
			if other, dup := keys[n.key]; dup {
				out = append(out, anomaly{kind: "idempotency key stored twice", detail: fmt.Sprintf("user %s key %s: ids %s and %s", user, n.key, other, n.id)})
			}
			keys[n.key] = n.id
			if !slices.Contains(h.attempted[n.key], user) {
				out = append(out, anomaly{kind: "stored notification no publisher sent", detail: fmt.Sprintf("user %s id %s key %q", user, n.id, n.key)})
			}
		}
		for _, a := range byUser[user] {
			if !ids[a.id] && !h.deleted[a.id] {
				out = append(out, anomaly{kind: "acknowledged publish missing from the store", at: a.at,
					detail:  fmt.Sprintf("user %s key %s id %s acknowledged by node%d", user, a.key, a.id, a.node),
					context: faultsAround(h.faults, a.at)})
			}
		}
	}
	for user, as := range byUser {
		if _, ok := h.stored[user]; !ok && len(as) > 0 && !strings.HasPrefix(user, "topic:") {
			out = append(out, anomaly{kind: "acknowledged publish missing from the store", at: as[0].at,
				detail: fmt.Sprintf("user %s: none of its %d acknowledged publishes is stored", user, len(as))})
		}
	}
	return out
}

// checkSubscriber walks one subscriber's receipts in order: every event with an
// id continues its epoch at seq+1; every notification event is its own stream's,
// known to a publisher and new to this subscriber; then every acknowledged
// publish of its stream must have been received (or, once deleted, its
// "notification:deleted" in its place), published after the subscriber was
// positioned; and a user's stream must end showing the store's inbox (see
// checkConverged).
func checkSubscriber(h *history, index int, s *subscriberLog, mine []*ack) []anomaly {
	var out []anomaly
	report := func(kind string, i int, format string, args ...any) {
		out = append(out, anomaly{kind: kind, at: s.receipts[i].at,
			detail:  fmt.Sprintf("subscriber %d (%s): ", index, s.user) + fmt.Sprintf(format, args...),
			context: append(receiptsAround(s, i, 4), faultsAround(h.faults, s.receipts[i].at)...)})
	}
	topic := strings.HasPrefix(s.user, "topic:")
	var epoch string
	var seq uint64
	positioned := false
	var since time.Time       // when the subscriber was positioned: it must get every publish after
	seen := map[string]int{}  // notification id → receipt index
	gone := map[string]bool{} // notification ids whose deletion it received
	for i, r := range s.receipts {
		switch r.name {
		case "init":
			if s.conns[r.conn].lastEventID != "" && (i == 0 || s.receipts[i-1].name != "reset") {
				report("init on a resume without reset", i, "resumed from %s", s.conns[r.conn].lastEventID)
			}
			e, n, ok := parseEventID(r.eventID)
			if !ok {
				report("init without a valid id", i, "id %q", r.eventID)
				continue
			}
			epoch, seq, positioned = e, n, true
			if since.IsZero() {
				since = r.at
			}
			continue
		case "reset":
			report("reset", i, "resume from %s answered with reset", s.conns[r.conn].lastEventID)
			continue
		case "unread":
			if r.eventID != "" {
				report("unread event with an id", i, "id %s", r.eventID)
			}
			continue
		case "notification", "notification:updated", "notification:deleted", "notifications:read":
		default:
			report("unexpected event", i, "event %q id %s", r.name, r.eventID)
			continue
		}
		e, n, ok := parseEventID(r.eventID)
		switch {
		case !ok:
			report("event without a valid id", i, "%s id %q", r.name, r.eventID)
		case !positioned && topic && s.conns[r.conn].lastEventID == "":
			// A topic stream has no init: its first event positions it.
			since = r.at
		case !positioned:
			report("event before init", i, "%s %s", r.name, r.eventID)
		case e != epoch:
			report("epoch changed without reset", i, "from %s to %s", epoch, e)
		case n <= seq:
			report("event repeated or out of order", i, "event %s after %s-%d", r.eventID, epoch, seq)
		case n > seq+1:
			report("gap in the stream", i, "events %s-%d..%d never received before %s", epoch, seq+1, n-1, r.eventID)
		}
		if ok {
			epoch, seq, positioned = e, n, true
		}
		if r.name == "notification:deleted" {
			gone[r.notifID] = true
		}
		if r.name != "notification" {
			continue
		}
		if j, dup := seen[r.notifID]; dup {
			report("notification received twice", i, "id %s (key %s) first at receipt %d as %s, again as %s",
				r.notifID, r.key, j, s.receipts[j].eventID, r.eventID)
		}
		seen[r.notifID] = i
		if r.user != s.user {
			report("another stream's notification", i, "id %s of %s", r.notifID, r.user)
		}
		if _, tried := h.attempted[r.key]; !tried {
			report("notification no publisher sent", i, "id %s key %q", r.notifID, r.key)
		}
	}
	for _, a := range mine {
		if _, ok := seen[a.id]; ok || gone[a.id] || since.IsZero() || a.first.Before(since) {
			continue
		}
		i := receiptAt(s, a.at)
		ctx := []string{fmt.Sprintf("acknowledged %s by node%d after %d attempts (replayed=%v)", stamp(a.at), a.node, a.attempts, a.replayed)}
		if i >= 0 {
			ctx = append(ctx, receiptsAround(s, i, 4)...)
		}
		ctx = append(ctx, connectionsAround(s, a.at)...)
		out = append(out, anomaly{kind: "acknowledged publish never delivered", at: a.at,
			detail:  fmt.Sprintf("subscriber %d (%s): %s publish key %s id %s", index, s.user, a.kind, a.key, a.id),
			context: append(ctx, faultsAround(h.faults, a.at)...)})
	}
	if !topic {
		out = append(out, checkConverged(h, index, s)...)
	}
	return out
}

// checkConverged: a user's subscriber, once the run is quiet, shows the store's
// inbox: the unreadCount of its last init or "unread" event is the store's, and
// the unread notifications it derives from its events (created unread; updated
// read, unread or archived; deleted; read by a read-all) are the store's unread
// ones. An init lists at most a page of unread notifications: when it lists fewer
// than its count, the derived set is not compared.
func checkConverged(h *history, index int, s *subscriberLog) []anomaly {
	if h.stored == nil || len(s.receipts) == 0 {
		return nil
	}
	unread, count, complete := map[string]bool{}, -1, true
	last := 0
	for i, r := range s.receipts {
		switch r.name {
		case "init":
			clear(unread)
			for _, id := range r.ids {
				unread[id] = true
			}
			count, complete, last = r.count, len(r.ids) == r.count, i
		case "unread":
			count, last = r.count, i
		case "notification", "notification:updated":
			if r.unread {
				unread[r.notifID] = true
			} else {
				delete(unread, r.notifID)
			}
		case "notification:deleted":
			delete(unread, r.notifID)
		case "notifications:read":
			for _, id := range r.ids {
				delete(unread, id)
			}
			for id := range unread {
				if r.before != "" && id <= r.before {
					delete(unread, id)
				}
			}
		}
	}
	want := map[string]bool{}
	for _, n := range h.stored[s.user] {
		if !n.read && !n.archived {
			want[n.id] = true
		}
	}
	var out []anomaly
	at := s.receipts[len(s.receipts)-1].at
	if count != h.unread[s.user] {
		out = append(out, anomaly{kind: "unread count differs from the store", at: at,
			detail: fmt.Sprintf("subscriber %d (%s): its last count %d (receipt %d), the store's %d (%d unread listed)",
				index, s.user, count, last, h.unread[s.user], len(want)),
			context: receiptsAround(s, last, 4)})
	}
	if !complete {
		return out
	}
	var extra, missing []string
	for id := range unread {
		if !want[id] {
			extra = append(extra, id)
		}
	}
	for id := range want {
		if !unread[id] {
			missing = append(missing, id)
		}
	}
	if len(extra)+len(missing) > 0 {
		slices.Sort(extra)
		slices.Sort(missing)
		out = append(out, anomaly{kind: "unread notifications differ from the store", at: at,
			detail: fmt.Sprintf("subscriber %d (%s): unread by its events but not in the store %v; unread in the store but not by its events %v",
				index, s.user, extra, missing)})
	}
	return out
}

// receiptAt is the index of the first receipt at or after t (the last one if none).
func receiptAt(s *subscriberLog, t time.Time) int {
	i, _ := slices.BinarySearchFunc(s.receipts, t, func(r receipt, t time.Time) int { return r.at.Compare(t) })
	return min(i, len(s.receipts)-1)
}

func receiptsAround(s *subscriberLog, i, n int) []string {
	var out []string
	for j := max(0, i-n); j < min(len(s.receipts), i+n+1); j++ {
		r := s.receipts[j]
		c := s.conns[r.conn]
		mark := "  "
		if j == i {
			mark = "=>"
		}
		out = append(out, fmt.Sprintf("%s %s conn %d on node%d (resume from %q): %s %s %s %s",
			mark, stamp(r.at), r.conn, c.node, c.lastEventID, r.name, r.eventID, r.notifID, r.key))
	}
	return out
}

// connectionsAround lists the subscriber's connections open within 10 s of t.
func connectionsAround(s *subscriberLog, t time.Time) []string {
	var out []string
	for i, c := range s.conns {
		end := c.broke
		if end.IsZero() {
			end = t.Add(time.Hour)
		}
		if c.at.After(t.Add(10*time.Second)) || end.Before(t.Add(-10*time.Second)) {
			continue
		}
		out = append(out, fmt.Sprintf("   conn %d node%d opened %s from %q status %d %s broke %s (%s)",
			i, c.node, stamp(c.at), c.lastEventID, c.status, c.err, stamp(c.broke), c.why))
	}
	return out
}

// faultsAround lists the faults in progress from 10 s before t to 1 s after.
func faultsAround(faults []*fault, t time.Time) []string {
	var out []string
	for _, f := range faults {
		end := f.ready
		if end.IsZero() {
			end = f.start.Add(time.Minute)
		}
		if f.start.After(t.Add(time.Second)) || end.Before(t.Add(-10*time.Second)) {
			continue
		}
		out = append(out, fmt.Sprintf("   fault %s target=%d %s..%s ready %s", f.kind, f.target, stamp(f.start), stamp(f.healed), stamp(f.ready)))
	}
	return out
}
