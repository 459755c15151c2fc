package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/hub"
	"github.com/tocsin/tocsin/webpush"
)

// recPush records the push messages the engine sends; fail decides each call's
// outcome (nil: accepted).
type recPush struct {
	mu    sync.Mutex
	calls []pushCall
	fail  func(c pushCall) error
}

type pushCall struct {
	Endpoint string
	Msg      pushMessage
	Raw      string
	Opts     webpush.Options
	OK       bool
}

func (r *recPush) Send(_ context.Context, sub webpush.Subscription, payload []byte, opts webpush.Options) (int, error) {
	c := pushCall{Endpoint: sub.Endpoint, Raw: string(payload), Opts: opts}
	if err := json.Unmarshal(payload, &c.Msg); err != nil {
		return 0, tocsin.PermanentError(0, err)
	}
	r.mu.Lock()
	fail := r.fail
	r.mu.Unlock()
	var err error
	if fail != nil {
		err = fail(c)
	}
	c.OK = err == nil
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	if err != nil {
		return statusOf(err), err
	}
	return 201, nil
}

func (r *recPush) SetFail(f func(c pushCall) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = f
}

func (r *recPush) Calls() []pushCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func pushRig(t *testing.T, mk rigMaker) (*rig, *recPush) {
	rp := &recPush{}
	return mk(t, func(c *Config) { c.Push = rp }), rp
}

func (r *rig) subscribe(user, id string) tocsin.PushSubscription {
	r.t.Helper()
	s, err := r.store.PutPushSubscription(r.ctx, tocsin.PushSubscription{ID: id, UserID: user,
		Endpoint: "https://push.example.com/" + id, P256dh: "k-" + id, Auth: "a-" + id, CreatedAt: r.clock.Now()})
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

func pushNow(user string, mod func(*tocsin.PublishInput)) tocsin.PublishInput {
	in := tocsin.PublishInput{UserID: user, Title: "t", Body: "b", Priority: 4,
		Data: json.RawMessage(`{"k":"v"}`), Channels: map[string]string{tocsin.ChannelPush: "0s"}}
	if mod != nil {
		mod(&in)
	}
	return in
}

// TestPushWithoutSubscriptionIsSkipped: while no user has a subscription, push
// adds no timer (no row); once one does, a user without one is logged skipped
// with the reason.
func TestPushWithoutSubscriptionIsSkipped(t *testing.T) {
	r, rp := pushRig(t, newRig)
	res, _ := r.publish(pushNow("u1", nil), hub.Idempotency{})
	id := res.Notifications[0].ID
	if jobs, _, err := r.store.ListJobs(r.ctx, tocsin.JobQuery{Kind: tocsin.JobChannel, Ref: id, Limit: 10}); err != nil || len(jobs) != 0 {
		t.Fatalf("push timers with no subscription anywhere: %+v, %v", jobs, err)
	}
	r.subscribe("u2", "ps_u2")
	r.eng.PushSubscribed()
	res, _ = r.publish(pushNow("u1", nil), hub.Idempotency{})
	r.deliveryWhy("u1", res.Notifications[0].ID, tocsin.ChannelPush, tocsin.DeliverySkipped, ReasonNoPushSubscription)
	if c := rp.Calls(); len(c) != 0 {
		t.Fatalf("pushed %+v", c)
	}
}

// TestPushPerSubscription: one push per subscription, with the notification's
// options; a message too large is sent again without data, then without body; a
// gone subscription is deleted; the log says sent since one browser took it.
func TestPushPerSubscription(t *testing.T) { bothStores(t, testPushPerSubscription) }

func testPushPerSubscription(t *testing.T, mk rigMaker) {
	r, rp := pushRig(t, mk)
	big, gone := r.subscribe("u1", "ps_big"), r.subscribe("u1", "ps_gone")
	r.subscribe("u2", "ps_other")
	rp.SetFail(func(c pushCall) error {
		switch {
		case c.Endpoint == gone.Endpoint:
			return tocsin.PermanentError(410, webpush.ErrGone)
		case c.Endpoint == big.Endpoint && strings.Contains(c.Raw, `"body"`):
			return tocsin.PermanentError(413, webpush.ErrTooLarge)
		}
		return nil
	})
	exp := r.clock.Now().Add(time.Hour)
	res, _ := r.publish(pushNow("u1", func(in *tocsin.PublishInput) { in.ExpiresAt = &exp }), hub.Idempotency{})
	n := res.Notifications[0]
	r.delivery("u1", n.ID, tocsin.ChannelPush, tocsin.DeliverySent)
	var calls []pushCall
	waitFor(func() bool { calls = rp.Calls(); return len(calls) == 4 })
	if len(calls) != 4 {
		t.Fatalf("calls %+v, want 4 (gone once, big three times)", calls)
	}
	var bigCalls []pushCall
	for _, c := range calls {
		if c.Endpoint == big.Endpoint {
			bigCalls = append(bigCalls, c)
		}
		if c.Msg.Type != "notification" || c.Msg.UnreadCount != 1 || c.Opts.Urgency != webpush.UrgencyHigh ||
			c.Opts.Topic != webpush.TopicOf(n.ID) || c.Opts.TTL <= 50*time.Minute || c.Opts.TTL > time.Hour {
			t.Errorf("call %+v: want a notification push, unreadCount 1, high, its topic, TTL ~1h", c)
		}
	}
	if len(bigCalls) != 3 {
		t.Fatalf("big subscription got %d calls, want 3", len(bigCalls))
	}
	_, hasData0 := bigCalls[0].Msg.Notification["data"]
	_, hasData1 := bigCalls[1].Msg.Notification["data"]
	_, hasBody2 := bigCalls[2].Msg.Notification["body"]
	if !hasData0 || hasData1 || hasBody2 || !bigCalls[2].OK {
		t.Errorf("shrinking: data in 1st %v, 2nd %v; body in 3rd %v; 3rd ok %v", hasData0, hasData1, hasBody2, bigCalls[2].OK)
	}
	if string(bigCalls[2].Msg.Notification["id"]) != `"`+n.ID+`"` {
		t.Errorf("shrunk push lost the id: %s", bigCalls[2].Raw)
	}
	// The 410's subscription is deleted just after the push service answered (the
	// call is recorded first): wait for it.
	var subs []tocsin.PushSubscription
	var err error
	waitFor(func() bool {
		subs, err = r.store.PushSubscriptions(r.ctx, "u1")
		return err == nil && len(subs) == 1 && subs[0].ID == big.ID
	})
	if err != nil || len(subs) != 1 || subs[0].ID != big.ID {
		t.Fatalf("after 410: %+v, %v; want only %s", subs, err, big.ID)
	}
	if others, _ := r.store.PushSubscriptions(r.ctx, "u2"); len(others) != 1 {
		t.Errorf("another user's subscription changed: %+v", others)
	}
}

// TestPushRetriesThenFailsLogged: a retryable answer is retried; a permanent
// refusal fails the row (no browser took it).
func TestPushRetriesThenFails(t *testing.T) {
	r, rp := pushRig(t, newRig)
	r.subscribe("u1", "ps_1")
	var n int
	rp.SetFail(func(c pushCall) error {
		n++
		if n == 1 {
			return tocsin.RetryableError(503, 50*time.Millisecond, errors.New("busy"))
		}
		return nil
	})
	res, _ := r.publish(pushNow("u1", nil), hub.Idempotency{})
	r.delivery("u1", res.Notifications[0].ID, tocsin.ChannelPush, tocsin.DeliverySent)
	if c := rp.Calls(); len(c) != 2 || c[0].OK || !c[1].OK {
		t.Fatalf("calls %+v, want a refused then an accepted one", c)
	}
	rp.SetFail(func(pushCall) error { return tocsin.PermanentError(403, errors.New("bad key")) })
	res, _ = r.publish(pushNow("u1", nil), hub.Idempotency{})
	r.delivery("u1", res.Notifications[0].ID, tocsin.ChannelPush, tocsin.DeliveryFailed)
	if subs, _ := r.store.PushSubscriptions(r.ctx, "u1"); len(subs) != 1 {
		t.Errorf("a 403 removed the subscription: %+v", subs)
	}
}

// TestPushDismiss: reading, archiving or deleting a pushed notification pushes a
// dismiss to every subscription; one never pushed, or a user without
// subscriptions, gets none.
func TestPushDismiss(t *testing.T) { bothStores(t, testPushDismiss) }

func testPushDismiss(t *testing.T, mk rigMaker) {
	r, rp := pushRig(t, mk)
	r.subscribe("u1", "ps_1")
	r.subscribe("u1", "ps_2")
	pushed := func() tocsin.Notification {
		res, _ := r.publish(pushNow("u1", nil), hub.Idempotency{})
		n := res.Notifications[0]
		r.delivery("u1", n.ID, tocsin.ChannelPush, tocsin.DeliverySent)
		return n
	}
	a, b, c := pushed(), pushed(), pushed()
	quiet, _ := r.publish(tocsin.PublishInput{UserID: "u1", Title: "inbox only", Channels: map[string]string{}}, hub.Idempotency{})
	base := len(rp.Calls())
	dismisses := func(want int) []pushCall {
		t.Helper()
		var ds []pushCall
		waitFor(func() bool {
			ds = nil
			for _, c := range rp.Calls()[base:] {
				if c.Msg.Type == "dismiss" {
					ds = append(ds, c)
				}
			}
			return len(ds) >= want
		})
		if len(ds) != want {
			t.Fatalf("dismisses %+v, want %d", ds, want)
		}
		base = len(rp.Calls())
		return ds
	}
	read := true
	if _, err := r.hub.Update(r.ctx, "u1", a.ID, tocsin.Patch{Read: &read}); err != nil {
		t.Fatal(err)
	}
	for _, d := range dismisses(2) {
		if !slices.Equal(d.Msg.IDs, []string{a.ID}) || d.Msg.UnreadCount != 3 || d.Opts.Topic != webpush.TopicOf(a.ID) ||
			d.Opts.TTL != dismissTTL || d.Opts.Urgency != webpush.UrgencyNormal {
			t.Errorf("dismiss of read %s: %+v", a.ID, d)
		}
	}
	if err := r.hub.Delete(r.ctx, "u1", b.ID); err != nil {
		t.Fatal(err)
	}
	for _, d := range dismisses(2) {
		if !slices.Equal(d.Msg.IDs, []string{b.ID}) || d.Msg.UnreadCount != 2 {
			t.Errorf("dismiss of deleted %s: %+v", b.ID, d)
		}
	}
	// Read-all: c was pushed, quiet was not.
	if _, err := r.hub.ReadAll(r.ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	for _, d := range dismisses(2) {
		if !slices.Equal(d.Msg.IDs, []string{c.ID}) || d.Msg.UnreadCount != 0 {
			t.Errorf("dismiss of read-all (%s, not %s): %+v", c.ID, quiet.Notifications[0].ID, d)
		}
	}
}

// TestPushDismissLargeReadAll: a read-all too large to list its ids ("before")
// dismisses the newest pushed notifications it read, at most maxDismissIDs.
func TestPushDismissLargeReadAll(t *testing.T) {
	r, rp := pushRig(t, newRig)
	r.subscribe("u1", "ps_1")
	var ids []string
	for range tocsin.ReadAllMaxIDs + 5 {
		res, _ := r.publish(pushNow("u1", nil), hub.Idempotency{})
		ids = append(ids, res.Notifications[0].ID)
	}
	for _, id := range ids {
		r.delivery("u1", id, tocsin.ChannelPush, tocsin.DeliverySent)
	}
	if _, err := r.hub.ReadAll(r.ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	var d *pushCall
	waitFor(func() bool {
		for _, c := range rp.Calls() {
			if c.Msg.Type == "dismiss" {
				d = &c
				return true
			}
		}
		return false
	})
	if d == nil {
		t.Fatal("no dismiss after a large read-all")
	}
	// The newest by push message (the workers push in parallel, so not exactly
	// the newest ids): maxDismissIDs distinct ids, each one of the read ones.
	got := slices.Compact(slices.Sorted(slices.Values(d.Msg.IDs)))
	inRead := func(id string) bool { return slices.Contains(ids, id) }
	if len(got) != maxDismissIDs || !allOf(got, inRead) || d.Msg.UnreadCount != 0 || d.Opts.Topic != "" {
		t.Fatalf("dismiss has %d distinct ids, unread %d, topic %q; want %d of the read ones", len(got), d.Msg.UnreadCount, d.Opts.Topic, maxDismissIDs)
	}
}

func allOf(ids []string, ok func(string) bool) bool {
	for _, id := range ids {
		if !ok(id) {
			return false
		}
	}
	return true
}
