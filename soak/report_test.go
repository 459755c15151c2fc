package soak

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// report renders the run: seed, faults by kind, operations checked, recovery
// times and anomalies, one line each.
func report(seed uint64, d time.Duration, bus string, h *history, exits []selfExit, codes map[int]int, transportErrors int, anomalies []anomaly) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	add("seed %d, faults for %v, bus %s (rerun: TOCSIN_SOAK=%v TOCSIN_SOAK_SEED=%d TOCSIN_SOAK_BUS=%s)", seed, d, bus, d, seed, bus)
	byKind := map[string]int{}
	for _, f := range h.faults {
		byKind[f.kind]++
	}
	var counts []string
	for _, kind := range allFaultKinds {
		if byKind[kind] > 0 || !isNetFault(kind) {
			counts = append(counts, fmt.Sprintf("%d %s", byKind[kind], kind))
		}
	}
	add("faults: %s; %d processes exited on their own and were restarted", strings.Join(counts, ", "), len(exits))

	attempts, replayed := 0, 0
	for _, a := range h.acks {
		attempts += a.attempts
		if a.replayed {
			replayed++
		}
	}
	kinds := map[string]int{}
	for _, a := range h.acks {
		kinds[a.kind]++
	}
	add("publishes: %d recipients acknowledged (%d %s, %d %s, %d of %s, %d %s; %d attempts, %d answered by an idempotent replay), %d keys tried in all",
		len(h.acks), kinds[publishSingle], publishSingle, kinds[publishScheduled], publishScheduled, kinds[publishBulk], publishBulk, kinds[publishTopic], publishTopic,
		attempts, replayed, len(h.attempted))
	add("inbox changes by %d devices: %s", len(h.devices), formatChanges(h.devices))
	conns, resumes, deliveries, overWebSocket, inboxEvents, topicSubs := 0, 0, 0, 0, 0, 0
	for _, s := range h.subs {
		if s.transport == overWS {
			overWebSocket++
		}
		if strings.HasPrefix(s.user, "topic:") {
			topicSubs++
		}
		for _, c := range s.conns {
			if c.opened() {
				conns++
				if c.lastEventID != "" {
					resumes++
				}
			}
		}
		for _, r := range s.receipts {
			switch r.name {
			case "notification":
				deliveries++
			case "notification:updated", "notification:deleted", "notifications:read", "unread":
				inboxEvents++
			}
		}
	}
	stored := 0
	for _, items := range h.stored {
		stored += len(items)
	}
	add("subscribers: %d (%d over WebSocket, %d of topics), %d streams opened (%d resumes with Last-Event-ID), %d notification and %d inbox events checked; %d notifications in the store checked",
		len(h.subs), overWebSocket, topicSubs, conns, resumes, deliveries, inboxEvents, stored)
	add("HTTP statuses: %s; %d transport errors or timeouts", formatCodes(codes), transportErrors)

	add("recovery (p50 / p99 / max, n):")
	add("  publish, first attempt to 201:        %s", summary(publishLatencies(h)))
	add("  delivery, 201 to each subscriber:     %s", summary(deliveryLags(h)))
	add("  subscriber, stream broken to reopened: %s", summary(reopenTimes(h)))
	for _, kind := range allFaultKinds {
		if isNetFault(kind) && byKind[kind] == 0 {
			continue
		}
		pub, del, missing := faultRecovery(h, kind)
		add("  after %-16s publish %s; live delivery %s; %d faults with no publish after", kind, summary(pub), summary(del), missing)
	}
	add("slowest deliveries (not anomalies; an event the live path missed shows here when a resume healed it):")
	for _, line := range slowestDeliveries(h, 3) {
		add("  %s", line)
	}
	add("anomalies: %d", len(anomalies))
	for _, a := range anomalies {
		at := ""
		if !a.at.IsZero() {
			at = stamp(a.at) + " "
		}
		add("  %s%s: %s", at, a.kind, a.detail)
		for _, c := range a.context {
			add("      %s", c)
		}
	}
	return out
}

func formatCodes(codes map[int]int) string {
	keys := make([]int, 0, len(codes))
	for k := range codes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d×%d", k, codes[k])
	}
	return strings.Join(parts, " ")
}

// summary renders p50 / p99 / max of ds.
func summary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "- (n=0)"
	}
	slices.Sort(ds)
	q := func(p float64) time.Duration {
		return ds[min(len(ds)-1, int(p*float64(len(ds))))].Round(time.Millisecond)
	}
	return fmt.Sprintf("%v / %v / %v (n=%d)", q(0.5), q(0.99), ds[len(ds)-1].Round(time.Millisecond), len(ds))
}

func publishLatencies(h *history) []time.Duration {
	out := make([]time.Duration, len(h.acks))
	for i, a := range h.acks {
		out[i] = a.at.Sub(a.first)
	}
	return out
}

// deliveryLags is, for every notification event of an acknowledged publish, the
// time from its 201 to its receipt (0 when it arrived before the 201 did).
func deliveryLags(h *history) []time.Duration {
	at := map[string]time.Time{}
	for _, a := range h.acks {
		at[a.id] = a.at
	}
	var out []time.Duration
	for _, s := range h.subs {
		for _, r := range s.receipts {
			if t, ok := at[r.notifID]; ok && r.name == "notification" {
				out = append(out, max(0, r.at.Sub(t)))
			}
		}
	}
	return out
}

// reopenTimes is, for every stream that broke, the time until its subscriber had
// a stream open again.
func reopenTimes(h *history) []time.Duration {
	var out []time.Duration
	for _, s := range h.subs {
		for i, c := range s.conns {
			if c.broke.IsZero() {
				continue
			}
			for _, next := range s.conns[i+1:] {
				if next.opened() {
					out = append(out, next.at.Sub(c.broke))
					break
				}
			}
		}
	}
	return out
}

// faultRecovery measures, for each fault of kind, the time from its heal to the
// first 201 of a publish attempted after the heal (through the faulted node, or
// any node for the bus and PostgreSQL), and to the first receipt of such a publish
// by any subscriber (for the bus and PostgreSQL, by a subscriber on another node
// than the one that acknowledged it: an event that crossed the bus). missing
// counts faults after which no such publish came (the run ended first).
func faultRecovery(h *history, kind string) (publish, delivery []time.Duration, missing int) {
	ackOf := map[string]*ack{}
	for i := range h.acks {
		ackOf[h.acks[i].id] = &h.acks[i]
	}
	for _, f := range h.faults {
		if f.kind != kind || f.healed.IsZero() {
			continue
		}
		var first time.Time
		for _, a := range h.acks {
			if !a.lastTry.Before(f.healed) && (f.target < 0 || a.node == f.target) && (first.IsZero() || a.at.Before(first)) {
				first = a.at
			}
		}
		if first.IsZero() {
			missing++
			continue
		}
		publish = append(publish, first.Sub(f.healed))
		var got time.Time
		for _, s := range h.subs {
			for _, r := range s.receipts {
				a := ackOf[r.notifID]
				if r.name != "notification" || a == nil || a.lastTry.Before(f.healed) {
					continue
				}
				if f.target >= 0 && a.node != f.target || f.target < 0 && s.conns[r.conn].node == a.node {
					continue
				}
				if got.IsZero() || r.at.Before(got) {
					got = r.at
				}
				break // receipts are in time order
			}
		}
		if !got.IsZero() {
			delivery = append(delivery, got.Sub(f.healed))
		}
	}
	return publish, delivery, missing
}

// slowestDeliveries describes the n receipts that came longest after their 201,
// with the subscriber's connections and the faults around each.
func slowestDeliveries(h *history, n int) []string {
	at := map[string]time.Time{}
	for _, a := range h.acks {
		at[a.id] = a.at
	}
	type late struct {
		sub, i int
		lag    time.Duration
	}
	var all []late
	for si, s := range h.subs {
		for i, r := range s.receipts {
			if t, ok := at[r.notifID]; ok && r.name == "notification" {
				all = append(all, late{si, i, r.at.Sub(t)})
			}
		}
	}
	slices.SortFunc(all, func(a, b late) int { return cmp.Compare(b.lag, a.lag) })
	var out []string
	for _, l := range all[:min(n, len(all))] {
		s := h.subs[l.sub]
		r := s.receipts[l.i]
		c := s.conns[r.conn]
		how := "live"
		if c.lastEventID != "" && c.at.After(at[r.notifID]) {
			how = "replayed on a resume from " + c.lastEventID
		}
		out = append(out, fmt.Sprintf("%v: subscriber %d (%s) got %s (%s) at %s on node%d, %s",
			l.lag.Round(time.Millisecond), l.sub, s.user, r.eventID, r.key, stamp(r.at), c.node, how))
		for i, c := range s.conns {
			if c.opened() && !c.at.After(at[r.notifID]) && (c.broke.IsZero() || c.broke.After(at[r.notifID])) {
				out = append(out, fmt.Sprintf("    at the 201 its stream was conn %d on node%d, open %s..%s (%s)",
					i, c.node, stamp(c.at), stamp(c.broke), c.why))
			}
		}
		for _, f := range h.faults {
			if !f.start.After(r.at) && !f.ready.Before(at[r.notifID]) {
				out = append(out, fmt.Sprintf("    fault %s target=%d %s..%s ready %s", f.kind, f.target, stamp(f.start), stamp(f.healed), stamp(f.ready)))
			}
		}
	}
	return out
}
