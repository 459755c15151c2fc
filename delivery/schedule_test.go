package delivery

import (
	"sync"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/hub"
)

func TestScheduledPublishedOnceAtItsTime(t *testing.T) {
	bothStores(t, testScheduledPublishedOnceAtItsTime)
}

func testScheduledPublishedOnceAtItsTime(t *testing.T, mk rigMaker) {
	// The default poll (500ms): the loop sleeps until the job is due, not until
	// the next poll after it.
	r := mk(t, func(c *Config) { c.Poll = 0 })
	at := r.clock.Now().Add(700 * time.Millisecond)
	res, scheduled := r.publish(tocsin.PublishInput{UserIDs: []string{"ana", "bob"}, Title: "later", DeliverAt: &at}, hub.Idempotency{})
	if !scheduled || len(res.Notifications) != 2 {
		t.Fatalf("scheduled=%v, %d notifications", scheduled, len(res.Notifications))
	}
	ana := res.Notifications[0]
	if ana.UserID != "ana" || !ana.CreatedAt.Equal(at.Truncate(time.Millisecond)) || !tocsin.ValidNotificationID(ana.ID) {
		t.Fatalf("scheduled notification %+v", ana)
	}
	list, _, err := r.eng.ListScheduled(r.ctx, "ana", "", 10)
	if err != nil || len(list) != 1 || list[0].ID != ana.ID || list[0].Title != "later" {
		t.Fatalf("ListScheduled = %+v, %v", list, err)
	}
	if got := r.inbox("ana"); len(got) != 0 {
		t.Fatalf("inbox before deliverAt: %+v", got)
	}
	if !waitFor(func() bool { return len(r.inbox("ana")) == 1 && len(r.inbox("bob")) == 1 }) {
		t.Fatal("scheduled notifications never delivered")
	}
	got := r.inbox("ana")[0]
	if got.ID != ana.ID {
		t.Errorf("delivered id %s, scheduled %s", got.ID, ana.ID)
	}
	if late := got.CreatedAt.Sub(at.Truncate(time.Millisecond)); late < 0 || late > time.Second {
		t.Errorf("delivered %v after deliverAt, want at once (within a second at worst)", late)
	}
	// The job is finished just after the publish it made (the inbox can show the
	// notification a moment before).
	list = nil
	if !waitFor(func() bool { list, _, _ = r.eng.ListScheduled(r.ctx, "ana", "", 10); return len(list) == 0 }) {
		t.Errorf("still listed as scheduled: %+v", list)
	}

	// A second run of the same job (a node that lost its lease mid-publish) is a
	// replay: the notification is in the inbox once.
	jobs, _, err := r.store.ListJobs(r.ctx, tocsin.JobQuery{Kind: tocsin.JobScheduled, UserID: "ana", Limit: 10})
	if err != nil || len(jobs) != 1 || jobs[0].State != tocsin.JobDone {
		t.Fatalf("jobs %+v, %v", jobs, err)
	}
	if err := r.eng.runScheduled(r.ctx, jobs[0]); err != nil {
		t.Fatal(err)
	}
	if got := r.inbox("ana"); len(got) != 1 {
		t.Fatalf("after a second run the inbox holds %d", len(got))
	}
}

func TestScheduledRepeatSchedulesNothingNew(t *testing.T) {
	bothStores(t, testScheduledRepeatSchedulesNothingNew)
}

func testScheduledRepeatSchedulesNothingNew(t *testing.T, mk rigMaker) {
	r := mk(t, nil)
	at := r.clock.Now().Add(time.Hour)
	idem := hub.Idempotency{Scope: "key1", Key: "abc", RequestHash: "h1"}
	in := tocsin.PublishInput{UserIDs: []string{"ana", "bob"}, Title: "once", DeliverAt: &at}
	first, _ := r.publish(in, idem)
	again, _ := r.publish(in, idem)
	if first.Replayed || !again.Replayed {
		t.Errorf("replayed: first %v, again %v", first.Replayed, again.Replayed)
	}
	for i := range first.Notifications {
		if first.Notifications[i].ID != again.Notifications[i].ID {
			t.Errorf("repeat answered id %s, first %s", again.Notifications[i].ID, first.Notifications[i].ID)
		}
	}
	for _, u := range []string{"ana", "bob"} {
		list, _, err := r.eng.ListScheduled(r.ctx, u, "", 10)
		if err != nil || len(list) != 1 {
			t.Errorf("%s: %d scheduled, %v", u, len(list), err)
		}
	}
	// Another key schedules anew.
	other, _ := r.publish(in, hub.Idempotency{Scope: "key1", Key: "def", RequestHash: "h1"})
	if other.Replayed || other.Notifications[0].ID == first.Notifications[0].ID {
		t.Errorf("another key: %+v", other)
	}
}

func TestCancelScheduled(t *testing.T) { bothStores(t, testCancelScheduled) }

func testCancelScheduled(t *testing.T, mk rigMaker) {
	r := mk(t, nil)
	at := r.clock.Now().Add(300 * time.Millisecond)
	res, _ := r.publish(tocsin.PublishInput{UserID: "ana", Title: "never", DeliverAt: &at}, hub.Idempotency{})
	id := res.Notifications[0].ID
	if err := r.eng.CancelScheduled(r.ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := r.eng.CancelScheduled(r.ctx, id); tocsin.ErrorCodeOf(err) != tocsin.ENotFound {
		t.Errorf("second cancel: %v, want not_found", err)
	}
	if err := r.eng.CancelScheduled(r.ctx, "garbage"); tocsin.ErrorCodeOf(err) != tocsin.ENotFound {
		t.Errorf("cancel of garbage: %v, want not_found", err)
	}
	// One delivered meanwhile cannot be cancelled.
	soon := r.clock.Now().Add(100 * time.Millisecond)
	res2, _ := r.publish(tocsin.PublishInput{UserID: "ana", Title: "soon", DeliverAt: &soon}, hub.Idempotency{})
	if !waitFor(func() bool { return len(r.inbox("ana")) == 1 }) {
		t.Fatal("the other notification never came")
	}
	if err := r.eng.CancelScheduled(r.ctx, res2.Notifications[0].ID); tocsin.ErrorCodeOf(err) != tocsin.ENotFound {
		t.Errorf("cancel after delivery: %v, want not_found", err)
	}
	time.Sleep(400 * time.Millisecond) // past the cancelled one's time
	if got := r.inbox("ana"); len(got) != 1 || got[0].Title != "soon" {
		t.Errorf("inbox %+v: the cancelled notification came", got)
	}
}

// The observer hears of claims, lateness per kind and finished jobs.
func TestObserverMeasures(t *testing.T) {
	obs := &recObserver{late: map[string]time.Duration{}, finished: map[string]int{}}
	r := newRig(t, func(c *Config) { c.Observer = obs })
	at := r.clock.Now().Add(200 * time.Millisecond)
	r.publish(tocsin.PublishInput{UserID: "ana", DeliverAt: &at}, hub.Idempotency{})
	if !waitFor(func() bool { obs.mu.Lock(); defer obs.mu.Unlock(); return obs.finished["scheduled/done"] == 1 }) {
		t.Fatal("no finished scheduled job observed")
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if d, ok := obs.late["scheduled"]; !ok || d < 0 || d > time.Second {
		t.Errorf("lateness of the scheduled job: %v (observed %v)", d, ok)
	}
	if obs.claimed < 1 {
		t.Errorf("%d jobs claimed", obs.claimed)
	}
}

type recObserver struct {
	NopObserver
	mu       sync.Mutex
	late     map[string]time.Duration
	finished map[string]int
	claimed  int
}

func (o *recObserver) JobLateness(kind string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.late[kind] = d
}

func (o *recObserver) JobsClaimed(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.claimed += n
}

func (o *recObserver) JobFinished(kind, state string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.finished[kind+"/"+state]++
}
