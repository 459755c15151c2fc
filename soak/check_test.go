package soak

import (
	"fmt"
	"slices"
	"time"
)

// history is everything the run recorded, read by the checker once every
// client and fault has finished.
type history struct {
	acks      []ack
	attempted map[string]string // idempotency key → user, of every publish tried
	subs      []*subscriberLog
	// stored is, per user, the notifications the store holds at the end (read
	// through the admin API); nil when it could not be read.
	stored map[string][]storedNotification
	faults []*fault
	bad5xx []string
}

type storedNotification struct{ id, key string }

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
		out = append(out, checkSubscriber(h, i, s, acked, byUser[s.user])...)
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
			if h.attempted[n.key] != user {
				out = append(out, anomaly{kind: "stored notification no publisher sent", detail: fmt.Sprintf("user %s id %s key %q", user, n.id, n.key)})
			}
		}
		for _, a := range byUser[user] {
			if !ids[a.id] {
				out = append(out, anomaly{kind: "acknowledged publish missing from the store", at: a.at,
					detail:  fmt.Sprintf("user %s key %s id %s acknowledged by node%d", user, a.key, a.id, a.node),
					context: faultsAround(h.faults, a.at)})
			}
		}
	}
	for user, as := range byUser {
		if _, ok := h.stored[user]; !ok && len(as) > 0 {
			out = append(out, anomaly{kind: "acknowledged publish missing from the store", at: as[0].at,
				detail: fmt.Sprintf("user %s: none of its %d acknowledged publishes is stored", user, len(as))})
		}
	}
	return out
}

// checkSubscriber walks one subscriber's receipts in order: every notification
// event continues its epoch at seq+1, is its own user's, is known to a publisher
// and is new to this subscriber; then every acknowledged publish of its user must
// have been received.
func checkSubscriber(h *history, index int, s *subscriberLog, acked map[string]*ack, mine []*ack) []anomaly {
	var out []anomaly
	report := func(kind string, i int, format string, args ...any) {
		out = append(out, anomaly{kind: kind, at: s.receipts[i].at,
			detail:  fmt.Sprintf("subscriber %d (user %s): ", index, s.user) + fmt.Sprintf(format, args...),
			context: append(receiptsAround(s, i, 4), faultsAround(h.faults, s.receipts[i].at)...)})
	}
	var epoch string
	var seq uint64
	positioned := false
	seen := map[string]int{} // notification id → receipt index
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
		case "reset":
			report("reset", i, "resume from %s answered with reset", s.conns[r.conn].lastEventID)
		case "notification":
			e, n, ok := parseEventID(r.eventID)
			switch {
			case !ok:
				report("notification without a valid id", i, "id %q", r.eventID)
			case !positioned:
				report("notification before init", i, "event %s", r.eventID)
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
			if j, dup := seen[r.notifID]; dup {
				report("notification received twice", i, "id %s (key %s) first at receipt %d as %s, again as %s",
					r.notifID, r.key, j, s.receipts[j].eventID, r.eventID)
			}
			seen[r.notifID] = i
			if r.user != s.user {
				report("another user's notification", i, "id %s of user %s", r.notifID, r.user)
			}
			if _, tried := h.attempted[r.key]; !tried {
				report("notification no publisher sent", i, "id %s key %q", r.notifID, r.key)
			}
		default:
			report("unexpected event", i, "event %q id %s", r.name, r.eventID)
		}
	}
	for _, a := range mine {
		if _, ok := seen[a.id]; ok {
			continue
		}
		i := receiptAt(s, a.at)
		ctx := []string{fmt.Sprintf("acknowledged %s by node%d after %d attempts (replayed=%v)", stamp(a.at), a.node, a.attempts, a.replayed)}
		if i >= 0 {
			ctx = append(ctx, receiptsAround(s, i, 4)...)
		}
		ctx = append(ctx, connectionsAround(s, a.at)...)
		out = append(out, anomaly{kind: "acknowledged publish never delivered", at: a.at,
			detail:  fmt.Sprintf("subscriber %d (user %s): key %s id %s", index, s.user, a.key, a.id),
			context: append(ctx, faultsAround(h.faults, a.at)...)})
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
