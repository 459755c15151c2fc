package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/internal/pgtest"
)

var testIDs tocsin.IDGen

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), pgtest.FreshSchemaURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func note(user string, mod ...func(*tocsin.Notification)) tocsin.Notification {
	now := time.Now().UTC().Truncate(time.Millisecond)
	n := tocsin.Notification{ID: testIDs.New(now), UserID: user, Type: "t", Title: "title", Priority: 3, Count: 1, CreatedAt: now}
	for _, m := range mod {
		m(&n)
	}
	return n
}

func job(t *testing.T, req *tocsin.PublishRequest) *pubJob {
	t.Helper()
	j, err := newPubJob(context.Background(), req)
	if err != nil || j == nil {
		t.Fatalf("newPubJob: %v %v", j, err)
	}
	j.done = make(chan error, 1)
	return j
}

// TestOneBatchIsolatesFailures runs one batch by hand, so that its publishes are
// certainly grouped: the good ones commit in one transaction with gap-free sequences
// and the right unread counts, and each bad one fails alone, leaving nothing.
func TestOneBatchIsolatesFailures(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	existing, err := s.Publish(ctx, &tocsin.PublishRequest{Notifications: []tocsin.Notification{note("a")},
		IdempotencyScope: "app", IdempotencyKey: "known", RequestHash: "h1"})
	if err != nil {
		t.Fatal(err)
	}
	group := func(n *tocsin.Notification) { n.GroupKey = "g" }
	type want struct {
		err  error // nil, or the code / sentinel expected
		code tocsin.ErrorCode
	}
	cases := []struct {
		name string
		req  *tocsin.PublishRequest
		want want
	}{
		{"a", &tocsin.PublishRequest{Notifications: []tocsin.Notification{note("a")}}, want{}},
		{"nul-title", &tocsin.PublishRequest{Notifications: []tocsin.Notification{note("a", func(n *tocsin.Notification) { n.Title = "bad\x00" })}}, want{code: tocsin.EInternal}},
		{"a-b", &tocsin.PublishRequest{Notifications: []tocsin.Notification{note("a"), note("b")}}, want{}},
		{"dup-id", &tocsin.PublishRequest{Notifications: []tocsin.Notification{note("b", func(n *tocsin.Notification) { n.ID = existing.Notifications[0].ID })}}, want{code: tocsin.EInternal}},
		{"key-conflict", &tocsin.PublishRequest{Notifications: []tocsin.Notification{note("b")}, IdempotencyScope: "app", IdempotencyKey: "known", RequestHash: "other"}, want{code: tocsin.EConflict}},
		{"key-replay", &tocsin.PublishRequest{Notifications: []tocsin.Notification{note("b")}, IdempotencyScope: "app", IdempotencyKey: "known", RequestHash: "h1"}, want{}},
		{"key-new", &tocsin.PublishRequest{Notifications: []tocsin.Notification{note("c")}, IdempotencyScope: "app", IdempotencyKey: "new", RequestHash: "h"}, want{}},
		{"key-new-again", &tocsin.PublishRequest{Notifications: []tocsin.Notification{note("c")}, IdempotencyScope: "app", IdempotencyKey: "new", RequestHash: "h"}, want{err: errRetry}},
		{"topic", &tocsin.PublishRequest{Notifications: []tocsin.Notification{note("", func(n *tocsin.Notification) { n.Topic = "news" })}, Topic: "news"}, want{}},
		{"group-1", &tocsin.PublishRequest{Notifications: []tocsin.Notification{note("b", group)}}, want{}},
		{"group-2", &tocsin.PublishRequest{Notifications: []tocsin.Notification{note("b", group)}}, want{}},
		{"b", &tocsin.PublishRequest{Notifications: []tocsin.Notification{note("b")}}, want{}},
	}
	jobs := make([]*pubJob, len(cases))
	for i, c := range cases {
		jobs[i] = job(t, c.req)
	}
	commits0, _ := s.Stats()
	s.commitBatch(jobs)
	if commits, _ := s.Stats(); commits != commits0+1 || s.fallbacks.Load() != 1 {
		t.Fatalf("%d commits, %d runs one by one for one batch with failures", commits-commits0, s.fallbacks.Load())
	}
	// The batch's events by stream, as the callers were told.
	told := map[tocsin.StreamID][]tocsin.Event{}
	for i, c := range cases {
		err := <-jobs[i].done
		switch {
		case c.want.err != nil:
			if !errors.Is(err, c.want.err) {
				t.Fatalf("%s: error %v, want %v", c.name, err, c.want.err)
			}
			continue
		case c.want.code != "":
			if tocsin.ErrorCodeOf(err) != c.want.code {
				t.Fatalf("%s: error %v, want code %s", c.name, err, c.want.code)
			}
			continue
		case err != nil:
			t.Fatalf("%s: %v", c.name, err)
		}
		res := jobs[i].res
		if c.name == "key-replay" {
			if !res.Replayed || len(res.Events) != 0 || res.Notifications[0].ID != existing.Notifications[0].ID {
				t.Fatalf("replay: %+v", res)
			}
			continue
		}
		if len(res.Events) != len(c.req.Notifications) {
			t.Fatalf("%s: %d events for %d notifications", c.name, len(res.Events), len(c.req.Notifications))
		}
		for k, ev := range res.Events {
			var n tocsin.Notification
			if err := json.Unmarshal(ev.Data, &n); err != nil {
				t.Fatal(err)
			}
			if n.ID != res.Notifications[k].ID {
				t.Fatalf("%s: event %d carries %s, not its own notification %s", c.name, k, n.ID, res.Notifications[k].ID)
			}
			told[ev.Stream] = append(told[ev.Stream], ev)
		}
	}
	// Stored: exactly what the callers were told, gap-free, nothing of the failures.
	for stream, evs := range told {
		stored, err := s.Events(ctx, stream, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		bySeq := map[uint64]tocsin.Event{}
		for _, ev := range stored {
			bySeq[ev.Seq] = ev
		}
		for i, ev := range stored {
			if ev.Seq != uint64(i+1) {
				t.Fatalf("%s: stored seqs have a gap at %d: %+v", stream, i+1, stored)
			}
		}
		for _, ev := range evs {
			if got, ok := bySeq[ev.Seq]; !ok || string(got.Data) != string(ev.Data) || got.Unread != ev.Unread {
				t.Fatalf("%s/%d: told %s (unread %d), stored %s (unread %d)", stream, ev.Seq, ev.Data, ev.Unread, got.Data, got.Unread)
			}
		}
	}
	// a: 1 before, then "a" and "a-b": 3 events, 3 unread. b: "a-b", the group (one
	// item, folded once), "b": 4 events, 3 unread.
	for user, want := range map[string][2]int{"a": {3, 3}, "b": {4, 3}, "c": {1, 1}} {
		head, _ := s.Head(ctx, tocsin.UserStream(user))
		unread, _ := s.UnreadCount(ctx, user)
		if int(head) != want[0] || unread != want[1] {
			t.Errorf("user %s: head %d, unread %d; want %d, %d", user, head, unread, want[0], want[1])
		}
	}
	if head, _ := s.Head(ctx, tocsin.TopicStream("news")); head != 1 {
		t.Errorf("topic head %d, want 1", head)
	}
	// The unread count each event carries is the count right after it.
	a := told[tocsin.UserStream("a")]
	if len(a) != 2 || a[0].Unread != 2 || a[1].Unread != 3 {
		t.Errorf("user a's events carry unread %v", unreadOf(a))
	}
	// The retried one replays the first.
	res, err := s.Publish(ctx, cases[7].req)
	if err != nil || !res.Replayed || res.Notifications[0].ID != cases[6].req.Notifications[0].ID {
		t.Fatalf("rerun of the repeated key: %+v %v", res, err)
	}
}

func unreadOf(evs []tocsin.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, fmt.Sprint(ev.Seq, ":", ev.Unread))
	}
	return out
}

// TestOneBatchUnreadCounts: in one merged batch, each event carries its user's
// unread count as it was right after its own item: items published read, or
// expired at their time, do not count, nor do later items of the batch.
func TestOneBatchUnreadCounts(t *testing.T) {
	s := openTest(t)
	past := time.Now().Add(-time.Second)
	soon := time.Now().Add(time.Hour)
	read := time.Now()
	reqs := []*tocsin.PublishRequest{
		{Notifications: []tocsin.Notification{note("e")}},
		{Notifications: []tocsin.Notification{note("e", func(n *tocsin.Notification) { n.ExpiresAt = &past })}},
		{Notifications: []tocsin.Notification{note("e", func(n *tocsin.Notification) { n.ReadAt = &read })}},
		{Notifications: []tocsin.Notification{note("e", func(n *tocsin.Notification) { n.ExpiresAt = &soon }), note("f")}},
		{Notifications: []tocsin.Notification{note("e"), note("f")}},
	}
	want := map[tocsin.StreamID][]int{tocsin.UserStream("e"): {1, 1, 1, 2, 3}, tocsin.UserStream("f"): {1, 2}}
	jobs := make([]*pubJob, len(reqs))
	for i, r := range reqs {
		jobs[i] = job(t, r)
	}
	s.commitBatch(jobs)
	got := map[tocsin.StreamID][]int{}
	for _, j := range jobs {
		if err := <-j.done; err != nil {
			t.Fatal(err)
		}
		for _, ev := range j.res.Events {
			got[ev.Stream] = append(got[ev.Stream], ev.Unread)
			if uint64(len(got[ev.Stream])) != ev.Seq {
				t.Fatalf("%s: seq %d as event %d", ev.Stream, ev.Seq, len(got[ev.Stream]))
			}
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("unread counts %v, want %v", got, want)
	}
	if s.fallbacks.Load() != 0 {
		t.Fatal("the batch did not run merged")
	}
	for stream, counts := range want {
		evs, err := s.Events(context.Background(), stream, 0, 10)
		if err != nil || len(evs) != len(counts) {
			t.Fatalf("%s: %v %v", stream, evs, err)
		}
		for i, ev := range evs {
			if ev.Unread != counts[i] {
				t.Fatalf("%s/%d stored with unread %d, want %d", stream, ev.Seq, ev.Unread, counts[i])
			}
		}
	}
}
