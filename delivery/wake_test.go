package delivery

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/hub"
	"github.com/tocsin/tocsin/internal/pgtest"
	"github.com/tocsin/tocsin/postgres"
)

func TestSnoozeWakesOnce(t *testing.T) { bothStores(t, testSnoozeWakesOnce) }

// testSnoozeWakesOnce: a snooze's wake job fires at its time through the hub: the
// item is unread again, with exactly one notification:updated (and its count) on
// the stream and one notification.updated webhook; running the job again changes
// nothing.
func testSnoozeWakesOnce(t *testing.T, mk rigMaker) {
	r := mk(t, nil)
	if _, err := r.eng.CreateWebhook(r.ctx, "https://example.com/hook", []string{tocsin.WebhookUpdated}); err != nil {
		t.Fatal(err)
	}
	res, _ := r.publish(tocsin.PublishInput{UserID: "ana", Title: "later"}, hub.Idempotency{})
	id := res.Notifications[0].ID
	until := r.clock.Now().Add(400 * time.Millisecond)
	n, err := r.hub.Update(r.ctx, "ana", id, tocsin.Patch{SnoozedUntil: tocsin.SnoozeUntil(&until)})
	if err != nil || n.SnoozedUntil == nil {
		t.Fatalf("snooze: %+v %v", n, err)
	}
	if c, _ := r.store.UnreadCount(r.ctx, "ana"); c != 0 {
		t.Fatalf("unread count %d while snoozed, want 0", c)
	}
	if !waitFor(func() bool { c, _ := r.store.UnreadCount(r.ctx, "ana"); return c == 1 }) {
		t.Fatal("the snoozed item never came back")
	}
	got := r.inbox("ana")[0]
	if got.SnoozedUntil != nil || got.ReadAt != nil || got.SeenAt != nil {
		t.Fatalf("woken item %+v; want unsnoozed, unread, unseen", got)
	}
	if late := time.Since(until); late > 2*time.Second {
		t.Errorf("woke %v after snoozedUntil", late)
	}
	stream := tocsin.UserStream("ana")
	evs, err := r.store.Events(r.ctx, stream, 2, 100) // after the publish (1) and the snooze (2)
	if err != nil || len(evs) != 1 || evs[0].Name != tocsin.EventUpdated || evs[0].Unread != 1 {
		t.Fatalf("events after the snooze: %+v %v; want one notification:updated with unread 1", evs, err)
	}
	var data tocsin.Notification
	if err := json.Unmarshal(evs[0].Data, &data); err != nil || data.ID != id || data.SnoozedUntil != nil {
		t.Fatalf("wake event data %s", evs[0].Data)
	}
	var jobs []tocsin.Job
	if !waitFor(func() bool {
		jobs, _, err = r.store.ListJobs(r.ctx, tocsin.JobQuery{Kind: tocsin.JobWake, Ref: id, Limit: 10})
		return err == nil && len(jobs) == 1 && jobs[0].State == tocsin.JobDone
	}) {
		t.Fatalf("wake jobs %+v %v; want one, done", jobs, err)
	}
	// A second run (a lease that ended mid-job) changes nothing.
	if err := r.eng.runWake(r.ctx, jobs[0]); err != nil {
		t.Fatal(err)
	}
	if head, _ := r.store.Head(r.ctx, stream); head != 3 {
		t.Fatalf("head %d after a second wake, want 3", head)
	}
	// The webhook: one notification.updated for the snooze, one for the wake.
	if !waitFor(func() bool { return len(okCalls(r)) == 2 }) {
		t.Fatalf("webhook calls %+v; want 2", r.wh.Calls())
	}
	var woke tocsin.Notification
	if err := json.Unmarshal(okCalls(r)[1].Body["data"], &woke); err != nil || woke.ID != id || woke.SnoozedUntil != nil || woke.ReadAt != nil {
		t.Fatalf("wake webhook data %s", okCalls(r)[1].Body["data"])
	}

	// Unsnoozing removes the pending wake; a deleted item's wake is a no-op.
	far := r.clock.Now().Add(time.Hour)
	if _, err := r.hub.Update(r.ctx, "ana", id, tocsin.Patch{SnoozedUntil: tocsin.SnoozeUntil(&far)}); err != nil {
		t.Fatal(err)
	}
	pending, _, _ := r.store.ListJobs(r.ctx, tocsin.JobQuery{Kind: tocsin.JobWake, Ref: id, State: tocsin.JobPending, Limit: 10})
	if len(pending) != 1 {
		t.Fatalf("pending wakes %+v, want 1", pending)
	}
	if _, err := r.hub.Update(r.ctx, "ana", id, tocsin.Patch{SnoozedUntil: tocsin.SnoozeUntil(nil)}); err != nil {
		t.Fatal(err)
	}
	if pending, _, _ := r.store.ListJobs(r.ctx, tocsin.JobQuery{Kind: tocsin.JobWake, Ref: id, State: tocsin.JobPending, Limit: 10}); len(pending) != 0 {
		t.Fatalf("pending wakes after unsnooze %+v, want none", pending)
	}
	if err := r.hub.Delete(r.ctx, "ana", id); err != nil {
		t.Fatal(err)
	}
	if err := r.eng.runWake(r.ctx, pending0(jobs[0])); err != nil {
		t.Fatalf("wake of a deleted item: %v", err)
	}

	// Snoozes out of bounds are refused by the hub.
	for _, bad := range []time.Time{r.clock.Now().Add(-time.Second), r.clock.Now().Add(tocsin.MaxSnooze + time.Hour)} {
		if _, err := r.hub.Update(r.ctx, "ana", id, tocsin.Patch{SnoozedUntil: tocsin.SnoozeUntil(&bad)}); tocsin.ErrorCodeOf(err) != tocsin.EInvalid {
			t.Errorf("snooze until %v: %v, want invalid", bad, err)
		}
	}
}

// pending0 is j as a claim would hand it over again.
func pending0(j tocsin.Job) tocsin.Job { j.State = tocsin.JobPending; return j }

func okCalls(r *rig) []whCall {
	var out []whCall
	for _, c := range r.wh.Calls() {
		if c.OK {
			out = append(out, c)
		}
	}
	return out
}

func TestBulkUpdateWebhookAndDismissIDs(t *testing.T) {
	r := newRig(t, nil)
	if _, err := r.eng.CreateWebhook(r.ctx, "https://example.com/hook", []string{tocsin.WebhookUpdated}); err != nil {
		t.Fatal(err)
	}
	a, _ := r.publish(tocsin.PublishInput{UserID: "ana", Title: "a"}, hub.Idempotency{})
	b, _ := r.publish(tocsin.PublishInput{UserID: "ana", Title: "b"}, hub.Idempotency{})
	yes := true
	ns, err := r.hub.UpdateMany(r.ctx, "ana", []string{a.Notifications[0].ID, b.Notifications[0].ID, a.Notifications[0].ID}, tocsin.Patch{Read: &yes})
	if err != nil || len(ns) != 2 {
		t.Fatalf("UpdateMany: %+v %v", ns, err)
	}
	if !waitFor(func() bool { return len(okCalls(r)) == 1 }) {
		t.Fatalf("webhook calls %+v; want one", r.wh.Calls())
	}
	var data struct {
		Notifications []tocsin.Notification `json:"notifications"`
		UserID        string                `json:"userId"`
	}
	c := okCalls(r)[0]
	if err := json.Unmarshal(c.Body["data"], &data); err != nil || data.UserID != "ana" || len(data.Notifications) != 2 ||
		string(c.Body["type"]) != `"`+tocsin.WebhookUpdated+`"` {
		t.Fatalf("bulk webhook %s: %s", c.Body["type"], c.Body["data"])
	}
	evs, _ := r.store.Events(r.ctx, tocsin.UserStream("ana"), 2, 10)
	if len(evs) != 1 {
		t.Fatalf("events %+v", evs)
	}
	ids, before := dismissCandidates(&evs[0])
	if len(ids) != 2 || before != "" {
		t.Fatalf("dismiss candidates %v %q; want both ids", ids, before)
	}
}

// TestWakeFiresOnceInACluster: two nodes (hub and engine each) on one PostgreSQL
// store: a snooze's wake runs on one of them, once: one notification:updated.
func TestWakeFiresOnceInACluster(t *testing.T) {
	st, err := postgres.Open(context.Background(), pgtest.FreshSchemaURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fast := func(c *Config) { c.Poll = 20 * time.Millisecond }
	a, b := startRig(t, st, fast), startRig(t, st, fast)
	stream := tocsin.UserStream("ana")
	var ids []string
	for range 20 {
		res, _ := a.publish(tocsin.PublishInput{UserID: "ana", Title: "x"}, hub.Idempotency{})
		ids = append(ids, res.Notifications[0].ID)
	}
	// Far enough ahead that twenty snoozes are all in before it, even on a loaded
	// CI machine under -race (300 ms was not: "snoozedUntil must be in the future").
	until := a.clock.Now().Add(1500 * time.Millisecond)
	for i, id := range ids {
		r := a
		if i%2 == 1 {
			r = b
		}
		if _, err := r.hub.Update(r.ctx, "ana", id, tocsin.Patch{SnoozedUntil: tocsin.SnoozeUntil(&until)}); err != nil {
			t.Fatal(err)
		}
	}
	if !waitFor(func() bool { c, _ := st.UnreadCount(a.ctx, "ana"); return c == len(ids) }) {
		t.Fatal("the snoozed items never all came back")
	}
	// Every wake finished (a second run, if any, would have appended by then).
	if !waitFor(func() bool {
		pending, _, err := st.ListJobs(a.ctx, tocsin.JobQuery{Kind: tocsin.JobWake, State: tocsin.JobPending, Limit: 1})
		return err == nil && len(pending) == 0
	}) {
		t.Fatal("wake jobs still pending")
	}
	evs, err := st.Events(a.ctx, stream, uint64(2*len(ids)), 1000) // after the publishes and the snoozes
	if err != nil || len(evs) != len(ids) {
		t.Fatalf("%d events after the snoozes (%v), want %d: one wake each", len(evs), err, len(ids))
	}
	woken := map[string]bool{}
	for _, ev := range evs {
		var n tocsin.Notification
		if err := json.Unmarshal(ev.Data, &n); err != nil || ev.Name != tocsin.EventUpdated || woken[n.ID] {
			t.Fatalf("event %s %s: not one wake per item", ev.Name, ev.Data)
		}
		woken[n.ID] = true
	}
}
