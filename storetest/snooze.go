package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
)

// snooze patches user's item id to be snoozed until (nil: unsnoozed) at now.
func snooze(t *testing.T, s tocsin.Store, user, id string, until *time.Time, now time.Time) (tocsin.Notification, []tocsin.Event) {
	t.Helper()
	n, evs, err := s.Update(ctx, user, id, tocsin.Patch{SnoozedUntil: tocsin.SnoozeUntil(until)}, now)
	if err != nil {
		t.Fatalf("snooze %s until %v: %v", id, until, err)
	}
	return n, evs
}

// wakeJobs lists the pending wake jobs of notification ref.
func wakeJobs(t *testing.T, s tocsin.Store, ref string) []tocsin.Job {
	t.Helper()
	jobs, _, err := s.ListJobs(ctx, tocsin.JobQuery{Kind: tocsin.JobWake, Ref: ref, State: tocsin.JobPending, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

func wantCounts(t *testing.T, s tocsin.Store, user string, count int, unreadIDs ...string) {
	t.Helper()
	if c, err := s.UnreadCount(ctx, user); err != nil || c != count {
		t.Fatalf("UnreadCount = %d, %v; want %d", c, err, count)
	}
	page, err := s.List(ctx, user, tocsin.ListQuery{Status: tocsin.StatusUnread, Limit: 100, Now: base})
	if err != nil || page.UnreadCount != count || fmt.Sprint(listIDs(page.Notifications)) != fmt.Sprint(unreadIDs) {
		t.Fatalf("unread list %v (count %d), %v; want %v (count %d)", listIDs(page.Notifications), page.UnreadCount, err, unreadIDs, count)
	}
	snap, err := s.Snapshot(ctx, user, tocsin.ListQuery{Status: tocsin.StatusUnread, Limit: 100, Now: base})
	if err != nil || snap.UnreadCount != count || fmt.Sprint(listIDs(snap.Notifications)) != fmt.Sprint(unreadIDs) {
		t.Fatalf("snapshot %v (count %d), %v; want %v (count %d)", listIDs(snap.Notifications), snap.UnreadCount, err, unreadIDs, count)
	}
}

func listIDs(ns []tocsin.Notification) []string {
	out := []string{}
	for _, n := range ns {
		out = append(out, n.ID)
	}
	return out
}

// testSnooze: a snoozed item is out of the unread list, count and snapshot (still
// in "all", with its field) until its wake; the snooze and its wake job are one
// change; re-snoozing replaces the job, unsnoozing removes it; the wake brings it
// back unread exactly once, with the count on its event.
func testSnooze(t *testing.T, s tocsin.Store) {
	const u = "z1"
	a := publish(t, s, notification(u)).Notifications[0]
	b := publish(t, s, notification(u)).Notifications[0]
	until := base.Add(time.Hour)
	got, evs := snooze(t, s, u, a.ID, &until, base)
	if got.SnoozedUntil == nil || !got.SnoozedUntil.Equal(until) || got.ReadAt != nil || len(evs) != 1 ||
		evs[0].Name != tocsin.EventUpdated || evs[0].Unread != 1 {
		t.Fatalf("snooze: %+v %+v; want snoozedUntil set, not read, one update with unread 1", got, evs)
	}
	if want, _ := tocsin.AppendNotificationJSON(nil, &got); string(evs[0].Data) != string(want) {
		t.Fatalf("event data %s, want %s", evs[0].Data, want)
	}
	wantCounts(t, s, u, 1, b.ID)
	all, err := s.List(ctx, u, tocsin.ListQuery{Status: tocsin.StatusAll, Limit: 10, Now: base})
	if err != nil || len(all.Notifications) != 2 || all.Notifications[1].SnoozedUntil == nil || !all.Notifications[1].SnoozedUntil.Equal(until) {
		t.Fatalf("all: %+v %v; want both, the snoozed one with its snoozedUntil", all, err)
	}
	if jobs := wakeJobs(t, s, a.ID); len(jobs) != 1 || !jobs[0].DueAt.Equal(until) || jobs[0].UserID != u {
		t.Fatalf("wake jobs %+v; want one due at %v", jobs, until)
	}
	// Re-snoozing replaces the wake; the same time again changes nothing.
	later := until.Add(time.Hour)
	if _, evs := snooze(t, s, u, a.ID, &later, base); len(evs) != 1 || evs[0].Unread != tocsin.UnreadUnchanged {
		t.Fatalf("re-snooze: %+v; want one update, count unchanged", evs)
	}
	if _, evs := snooze(t, s, u, a.ID, &later, base); len(evs) != 0 {
		t.Fatalf("same snooze again: %+v; want no event", evs)
	}
	if jobs := wakeJobs(t, s, a.ID); len(jobs) != 1 || !jobs[0].DueAt.Equal(later) {
		t.Fatalf("wake jobs after re-snooze %+v; want one due at %v", jobs, later)
	}
	// A read-all leaves the snoozed item alone: it is not in the user's unread view.
	if read, _, err := s.ReadAll(ctx, u, base); err != nil || read != 1 {
		t.Fatalf("ReadAll read %d, %v; want 1 (not the snoozed one)", read, err)
	}
	wantCounts(t, s, u, 0)
	// A wake before its time changes nothing; at its time the item is unread again.
	if _, evs, err := s.Update(ctx, u, a.ID, tocsin.Patch{Wake: true}, later.Add(-time.Millisecond)); err != nil || len(evs) != 0 {
		t.Fatalf("early wake: %+v %v; want nothing", evs, err)
	}
	got, evs, err = s.Update(ctx, u, a.ID, tocsin.Patch{Wake: true}, later)
	if err != nil || got.SnoozedUntil != nil || got.ReadAt != nil || got.SeenAt != nil || len(evs) != 1 ||
		evs[0].Name != tocsin.EventUpdated || evs[0].Unread != 1 {
		t.Fatalf("wake: %+v %+v %v; want unread, unsnoozed, one update with unread 1", got, evs, err)
	}
	if _, evs, err := s.Update(ctx, u, a.ID, tocsin.Patch{Wake: true}, later); err != nil || len(evs) != 0 {
		t.Fatalf("second wake: %+v %v; want nothing", evs, err)
	}
	wantCounts(t, s, u, 1, a.ID)

	// A read item that is snoozed comes back unread and unseen.
	c := publish(t, s, notification(u)).Notifications[0]
	if _, _, err := s.Update(ctx, u, c.ID, tocsin.Patch{Read: yes(), SnoozedUntil: tocsin.SnoozeUntil(&until)}, base); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, s, u, 1, a.ID)
	if got, evs, _ := s.Update(ctx, u, c.ID, tocsin.Patch{Wake: true}, until); got.ReadAt != nil || got.SeenAt != nil || len(evs) != 1 || evs[0].Unread != 2 {
		t.Fatalf("wake of a read item: %+v %+v; want unread, count 2", got, evs)
	}
	wantCounts(t, s, u, 2, c.ID, a.ID)

	// Unsnoozing (null) ends the snooze and removes its wake, without reading.
	if _, evs := snooze(t, s, u, c.ID, &until, base); len(evs) != 1 || evs[0].Unread != 1 {
		t.Fatalf("snooze c: %+v", evs)
	}
	got, evs = snooze(t, s, u, c.ID, nil, base)
	if got.SnoozedUntil != nil || len(evs) != 1 || evs[0].Unread != 2 || len(wakeJobs(t, s, c.ID)) != 0 {
		t.Fatalf("unsnooze: %+v %+v, wake jobs %d; want unsnoozed, count 2, no wake", got, evs, len(wakeJobs(t, s, c.ID)))
	}
	wantCounts(t, s, u, 2, c.ID, a.ID)

	// A snoozed item that expires or is deleted leaves the count right.
	e := publish(t, s, notification(u, func(n *tocsin.Notification) { x := base.Add(time.Second); n.ExpiresAt = &x })).Notifications[0]
	snooze(t, s, u, e.ID, &until, base)
	d := publish(t, s, notification(u)).Notifications[0]
	snooze(t, s, u, d.ID, &until, base)
	if _, err := s.Delete(ctx, u, d.ID, base); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expire(ctx, base.Add(2*time.Second), 100); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, s, u, 2, c.ID, a.ID)
	_, _, err = s.Update(ctx, u, e.ID, tocsin.Patch{Wake: true}, until)
	wantCode(t, err, tocsin.ENotFound) // the wake job of a gone item finds nothing

	// A repeat of a group whose unread item is snoozed is a new item, not hidden in it.
	g := publish(t, s, notification(u, func(n *tocsin.Notification) { n.GroupKey = "k" })).Notifications[0]
	snooze(t, s, u, g.ID, &until, base)
	if res := publish(t, s, notification(u, func(n *tocsin.Notification) { n.GroupKey = "k" })); res.Events[0].Name != tocsin.EventNotification {
		t.Fatalf("repeat of a snoozed group: %s; want a new notification", res.Events[0].Name)
	}
	// Another user's item is not found, as a missing one.
	_, _, err = s.Update(ctx, "z2", a.ID, tocsin.Patch{SnoozedUntil: tocsin.SnoozeUntil(&until)}, base)
	wantCode(t, err, tocsin.ENotFound)
}

// testUpdateMany: a bulk update changes the user's selected items in one
// transaction and appends ONE notifications:updated event, whose data is the
// changed items' JSON; other users' and missing ids are passed over silently.
func testUpdateMany(t *testing.T, s tocsin.Store) {
	const u = "m1"
	var mine []tocsin.Notification
	for range 3 {
		mine = append(mine, publish(t, s, notification(u)).Notifications[0])
	}
	theirs := publish(t, s, notification("m2")).Notifications[0]
	want := []string{mine[2].ID, mine[0].ID, theirs.ID, ids.New(base)}
	changed, evs, err := s.UpdateMany(ctx, u, want, tocsin.Patch{Read: yes()}, base)
	if err != nil || len(changed) != 2 || changed[0].ID != mine[2].ID || changed[1].ID != mine[0].ID || changed[0].ReadAt == nil {
		t.Fatalf("UpdateMany: %+v %v; want items 2 and 0 read", changed, err)
	}
	data, _ := tocsin.UpdatedManyData(changed)
	if len(evs) != 1 || evs[0].Name != tocsin.EventUpdatedMany || evs[0].Unread != 1 || evs[0].Seq != 4 ||
		string(evs[0].Data) != string(data) || evs[0].Stream != tocsin.UserStream(u) {
		t.Fatalf("events %+v; want one %s at seq 4 with unread 1 and data %s", evs, tocsin.EventUpdatedMany, data)
	}
	if stored := events(t, s, tocsin.UserStream(u), 3); len(stored) != 1 || string(stored[0].Data) != string(data) || stored[0].Unread != 1 {
		t.Fatalf("stored %+v", stored)
	}
	if n, _ := s.Get(ctx, "m2", theirs.ID); n.ReadAt != nil {
		t.Fatal("another user's item was changed")
	}
	if head, _ := s.Head(ctx, tocsin.UserStream("m2")); head != 1 {
		t.Fatalf("other user's head %d, want 1", head)
	}
	// Deleting an item takes its content out of the bulk event too; the other stays.
	if _, err := s.Delete(ctx, u, mine[2].ID, base); err != nil {
		t.Fatal(err)
	}
	kept, _ := tocsin.UpdatedManyData(changed[1:])
	if stored := events(t, s, tocsin.UserStream(u), 3); len(stored) < 1 || stored[0].Name != tocsin.EventUpdatedMany ||
		string(stored[0].Data) != string(kept) {
		t.Fatalf("bulk event after deleting one of its items: %s; want %s", stored[0].Data, kept)
	}
	changed = changed[1:]
	// Nothing to change: no event.
	if changed, evs, err := s.UpdateMany(ctx, u, []string{mine[0].ID, mine[2].ID, theirs.ID}, tocsin.Patch{Read: yes()}, base); err != nil || len(changed) != 0 || len(evs) != 0 {
		t.Fatalf("no-op: %+v %+v %v", changed, evs, err)
	}
	// Seen only: the count does not move.
	if _, evs, _ := s.UpdateMany(ctx, u, []string{mine[1].ID}, tocsin.Patch{Seen: yes()}, base); len(evs) != 1 || evs[0].Unread != tocsin.UnreadUnchanged {
		t.Fatalf("seen: %+v", evs)
	}
	// The most a request may name, in one event.
	many := make([]tocsin.Notification, tocsin.MaxBulkIDs)
	for i := range many {
		many[i] = notification("m3")
	}
	publish(t, s, many...)
	all := make([]string, len(many))
	for i := range many {
		all[i] = many[i].ID
	}
	changed, evs, err = s.UpdateMany(ctx, "m3", all, tocsin.Patch{Archived: yes()}, base)
	if err != nil || len(changed) != len(many) || len(evs) != 1 || evs[0].Unread != 0 {
		t.Fatalf("archive %d: %d changed, %d events (%v), %v; want all in one event with unread 0", len(many), len(changed), len(evs), evs, err)
	}
	wantCounts(t, s, "m3", 0)
	for _, bad := range []struct {
		ids []string
		p   tocsin.Patch
	}{
		{nil, tocsin.Patch{Read: yes()}},
		{append(all, ids.New(base)), tocsin.Patch{Read: yes()}},
		{[]string{all[0], all[0]}, tocsin.Patch{Read: yes()}},
		{all[:1], tocsin.Patch{}},
		{all[:1], tocsin.Patch{SnoozedUntil: tocsin.SnoozeUntil(nil)}},
	} {
		_, _, err := s.UpdateMany(ctx, "m3", bad.ids, bad.p, base)
		wantCode(t, err, tocsin.EInvalid)
	}
}

// testForgetInBulk: an item that expires or is pruned leaves the bulk events that
// carried it, as a deleted one does; the last item's leaving makes the list empty.
func testForgetInBulk(t *testing.T, s tocsin.Store) {
	const u = "fb"
	soon := base.Add(time.Second)
	a := publish(t, s, notification(u, func(n *tocsin.Notification) { n.Title = "secret-a"; n.ExpiresAt = &soon })).Notifications[0]
	b := publish(t, s, notification(u, func(n *tocsin.Notification) { n.Title = "secret-b" })).Notifications[0]
	if _, evs, err := s.UpdateMany(ctx, u, []string{a.ID, b.ID}, tocsin.Patch{Seen: yes()}, base); err != nil || len(evs) != 1 {
		t.Fatalf("UpdateMany: %+v %v", evs, err)
	}
	if _, err := s.Expire(ctx, soon.Add(time.Second), 100); err != nil {
		t.Fatal(err)
	}
	stored := events(t, s, tocsin.UserStream(u), 2)
	if len(stored) < 1 || strings.Contains(string(stored[0].Data), "secret-a") || !strings.Contains(string(stored[0].Data), "secret-b") {
		t.Fatalf("bulk event after expiry: %s; want b only", stored[0].Data)
	}
	if _, _, err := s.Prune(ctx, base.Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	if stored, err := s.Events(ctx, tocsin.UserStream(u), 2, 10); err == nil && len(stored) > 0 && strings.Contains(string(stored[0].Data), "secret") {
		t.Fatalf("bulk event after prune: %s", stored[0].Data)
	}
}
