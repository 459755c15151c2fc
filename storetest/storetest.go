// Package storetest is the conformance suite of the tocsin.Store contract, run
// against every implementation (SQLite and PostgreSQL). Each test opens a fresh,
// empty store.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
)

// Open returns a new, empty store; the suite closes it.
type Open func(t *testing.T) tocsin.Store

// Run runs the suite.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s tocsin.Store)
	}{
		{"PublishAssignsSequences", testPublishSequences},
		{"PublishManyRecipients", testPublishMany},
		{"EventDataIsTheEncoding", testEventDataIsTheEncoding},
		{"Idempotency", testIdempotency},
		{"AppendCustom", testAppendCustom},
		{"UpdateAndUnread", testUpdate},
		{"Delete", testDelete},
		{"ReadAll", testReadAll},
		{"Snooze", testSnooze},
		{"UpdateMany", testUpdateMany},
		{"ForgetInBulk", testForgetInBulk},
		{"ListFiltersAndPages", testList},
		{"SearchWords", testSearchWords},
		{"SearchSyntaxIsText", testSearchSyntaxIsText},
		{"SearchFilters", testSearchFilters},
		{"SearchIsolationAndRemoval", testSearchIsolationAndRemoval},
		{"SearchGrouped", testSearchGrouped},
		{"SearchPaging", testSearchPaging},
		{"SearchRandomQueries", testSearchRandomQueries},
		{"Snapshot", testSnapshot},
		{"EventsBounds", testEventsBounds},
		{"Heads", testHeads},
		{"Tickets", testTickets},
		{"UserIsolation", testIsolation},
		{"Grouping", testGrouping},
		{"ConcurrentPublishesAreGapFree", testConcurrent},
		{"ConcurrentBadPublishFailsAlone", testConcurrentBad},
		{"CallerThatGivesUpIsToldTheTruth", testCallerThatGivesUp},
		{"ExpireAndPrune", testExpirePrune},
		{"TopicPublish", testTopicPublish},
		{"ForgetDeleted", testForgetDeleted},
		{"ForgetExpiredAndPruned", testForgetExpiredAndPruned},
		{"ForgetExpiredTopic", testForgetExpiredTopic},
		{"StreamTokens", testTokens},
		{"APIKeys", testAPIKeys},
		{"JobsAdd", testJobsAdd},
		{"JobsClaim", testJobsClaim},
		{"JobsOrderKey", testJobsOrderKey},
		{"JobsRetryAndFinish", testJobsRetryAndFinish},
		{"JobsCancel", testJobsCancel},
		{"JobsList", testJobsList},
		{"JobsNextDue", testJobsNextDue},
		{"JobsPrune", testJobsPrune},
		{"JobsConcurrentClaims", testJobsConcurrentClaims},
		{"Deliveries", testDeliveries},
		{"PendingDeliveries", testPendingDeliveries},
		{"Profiles", testProfiles},
		{"Webhooks", testWebhooks},
		{"PushRoundTrip", testPushRoundTrip},
		{"PushEndpointMoves", testPushEndpointMoves},
		{"PushIsolation", testPushIsolation},
		{"PushCap", testPushCap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				_ = s.Close()
				if gs := Lingering(s, 50*time.Millisecond); len(gs) > 0 {
					t.Errorf("goroutines of the store still run after Close returned:\n%s", strings.Join(gs, "\n\n"))
				}
			})
			if !tocsin.ValidEpoch(s.Epoch()) {
				t.Fatalf("epoch %q is not valid", s.Epoch())
			}
			tt.fn(t, s)
		})
	}
}

var (
	ctx  = context.Background()
	ids  tocsin.IDGen
	base = time.Now().UTC().Truncate(time.Millisecond)
)

func notification(user string, mod ...func(*tocsin.Notification)) tocsin.Notification {
	n := tocsin.Notification{
		ID: ids.New(base), UserID: user, Type: "comment", Title: "t", Body: "b",
		Priority: 3, Tags: []string{"x"}, Data: json.RawMessage(`{"k":1}`), Count: 1, CreatedAt: base,
	}
	for _, m := range mod {
		m(&n)
	}
	return n
}

func publish(t *testing.T, s tocsin.Store, ns ...tocsin.Notification) tocsin.PublishResult {
	t.Helper()
	res, err := s.Publish(ctx, &tocsin.PublishRequest{Notifications: ns})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return res
}

func wantCode(t *testing.T, err error, code tocsin.ErrorCode) {
	t.Helper()
	if got := tocsin.ErrorCodeOf(err); got != code {
		t.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}

func events(t *testing.T, s tocsin.Store, stream tocsin.StreamID, after uint64) []tocsin.Event {
	t.Helper()
	evs, err := s.Events(ctx, stream, after, 1000)
	if err != nil {
		t.Fatalf("Events(%s, %d): %v", stream, after, err)
	}
	return evs
}

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

func testPublishSequences(t *testing.T, s tocsin.Store) {
	stream := tocsin.UserStream("u1")
	for i := 1; i <= 3; i++ {
		res := publish(t, s, notification("u1"))
		ev := res.Events[0]
		if ev.Stream != stream || ev.Seq != uint64(i) || ev.Name != tocsin.EventNotification || ev.Unread != i {
			t.Fatalf("publish %d: event %+v, want seq %d with unread %d", i, ev, i, i)
		}
		var n tocsin.Notification
		if err := json.Unmarshal(ev.Data, &n); err != nil || n.ID != res.Notifications[0].ID {
			t.Fatalf("event data %s is not the notification", ev.Data)
		}
	}
	if head, err := s.Head(ctx, stream); err != nil || head != 3 {
		t.Fatalf("Head = %d, %v; want 3", head, err)
	}
	evs := events(t, s, stream, 0)
	if len(evs) != 3 || evs[0].Seq != 1 || evs[2].Seq != 3 || evs[2].Unread != 3 || evs[0].Time.IsZero() {
		t.Fatalf("stored events %+v", evs)
	}
	got, err := s.Get(ctx, "u1", mustID(t, evs[0]))
	if err != nil || got.Title != "t" || string(got.Data) != `{"k":1}` || len(got.Tags) != 1 {
		t.Fatalf("Get = %+v, %v", got, err)
	}
}

func mustID(t *testing.T, ev tocsin.Event) string {
	t.Helper()
	var n struct{ ID string }
	if err := json.Unmarshal(ev.Data, &n); err != nil {
		t.Fatal(err)
	}
	return n.ID
}

func testPublishMany(t *testing.T, s tocsin.Store) {
	const k = 500
	ns := make([]tocsin.Notification, k)
	for i := range ns {
		ns[i] = notification(fmt.Sprint("m", i))
	}
	publish(t, s, notification("m7")) // one user already has a stream
	res := publish(t, s, ns...)
	if len(res.Notifications) != k || len(res.Events) != k {
		t.Fatalf("%d notifications, %d events; want %d", len(res.Notifications), len(res.Events), k)
	}
	for i, ev := range res.Events {
		want := uint64(1)
		if i == 7 {
			want = 2
		}
		if ev.Stream != tocsin.UserStream(fmt.Sprint("m", i)) || ev.Seq != want || res.Notifications[i].UserID != fmt.Sprint("m", i) ||
			ev.Unread != int(want) || mustID(t, ev) != res.Notifications[i].ID {
			t.Fatalf("recipient %d: event %+v, want seq %d in request order", i, ev, want)
		}
	}
}

func testIdempotency(t *testing.T, s tocsin.Store) {
	req := func(hash string, scope string) *tocsin.PublishRequest {
		return &tocsin.PublishRequest{Notifications: []tocsin.Notification{notification("i1")},
			IdempotencyScope: scope, IdempotencyKey: "key-1", RequestHash: hash}
	}
	first, err := s.Publish(ctx, req("h1", "app"))
	if err != nil || first.Replayed {
		t.Fatalf("first: %+v %v", first, err)
	}
	again, err := s.Publish(ctx, req("h1", "app"))
	if err != nil || !again.Replayed || len(again.Events) != 0 || again.Notifications[0].ID != first.Notifications[0].ID {
		t.Fatalf("repeat: %+v %v; want the first result, replayed, no events", again, err)
	}
	_, err = s.Publish(ctx, req("h2", "app"))
	wantCode(t, err, tocsin.EConflict)
	other, err := s.Publish(ctx, req("h1", "other-key"))
	if err != nil || other.Replayed {
		t.Fatalf("another scope: %+v %v; want a new publish", other, err)
	}
	if head, _ := s.Head(ctx, tocsin.UserStream("i1")); head != 2 {
		t.Fatalf("head %d, want 2 (the repeat and the conflict changed nothing)", head)
	}
}

func testAppendCustom(t *testing.T, s tocsin.Store) {
	stream := tocsin.UserStream("c1")
	publish(t, s, notification("c1"))
	ev, err := s.AppendCustom(ctx, stream, "ORDER_SHIPPED", []byte(`{"o":1}`), base)
	if err != nil || ev.Seq != 2 || ev.Name != "ORDER_SHIPPED" || ev.Unread != tocsin.UnreadUnchanged {
		t.Fatalf("AppendCustom: %+v %v", ev, err)
	}
	evs := events(t, s, stream, 1)
	if len(evs) != 1 || string(evs[0].Data) != `{"o":1}` || evs[0].Name != "ORDER_SHIPPED" {
		t.Fatalf("stored %+v", evs)
	}
}

func testUpdate(t *testing.T, s tocsin.Store) {
	n := publish(t, s, notification("p1")).Notifications[0]
	publish(t, s, notification("p1"))
	now := base.Add(time.Second)
	got, evs, err := s.Update(ctx, "p1", n.ID, tocsin.Patch{Seen: yes()}, now)
	if err != nil || got.SeenAt == nil || len(evs) != 1 || evs[0].Unread != tocsin.UnreadUnchanged || evs[0].Name != tocsin.EventUpdated {
		t.Fatalf("seen: %+v %+v %v; want one update without a count", got, evs, err)
	}
	got, evs, err = s.Update(ctx, "p1", n.ID, tocsin.Patch{Read: yes()}, now)
	if err != nil || got.ReadAt == nil || len(evs) != 1 || evs[0].Unread != 1 || evs[0].Seq != 4 {
		t.Fatalf("read: %+v %+v %v; want seq 4 with unread 1", got, evs, err)
	}
	if _, evs, err = s.Update(ctx, "p1", n.ID, tocsin.Patch{Read: yes()}, now); err != nil || len(evs) != 0 {
		t.Fatalf("no-op patch: %+v %v; want no event", evs, err)
	}
	if _, evs, _ = s.Update(ctx, "p1", n.ID, tocsin.Patch{Read: no()}, now); len(evs) != 1 || evs[0].Unread != 2 {
		t.Fatalf("unread again: %+v", evs)
	}
	if c, err := s.UnreadCount(ctx, "p1"); err != nil || c != 2 {
		t.Fatalf("UnreadCount = %d, %v", c, err)
	}
	_, _, err = s.Update(ctx, "p1", ids.New(base), tocsin.Patch{Read: yes()}, now)
	wantCode(t, err, tocsin.ENotFound)
}

func testDelete(t *testing.T, s tocsin.Store) {
	n := publish(t, s, notification("d1")).Notifications[0]
	evs, err := s.Delete(ctx, "d1", n.ID, base)
	if err != nil || len(evs) != 1 || evs[0].Name != tocsin.EventDeleted || evs[0].Unread != 0 ||
		string(evs[0].Data) != `{"id":"`+n.ID+`"}` {
		t.Fatalf("Delete: %+v %v", evs, err)
	}
	_, err = s.Get(ctx, "d1", n.ID)
	wantCode(t, err, tocsin.ENotFound)
	_, err = s.Delete(ctx, "d1", n.ID, base)
	wantCode(t, err, tocsin.ENotFound)
}

func testReadAll(t *testing.T, s tocsin.Store) {
	var ns []tocsin.Notification
	for range 3 {
		ns = append(ns, publish(t, s, notification("r1")).Notifications[0])
	}
	if _, _, err := s.Update(ctx, "r1", ns[1].ID, tocsin.Patch{Archived: yes()}, base); err != nil { // seq 4
		t.Fatal(err)
	}
	at := base.Add(time.Second)
	read, evs, err := s.ReadAll(ctx, "r1", at)
	want := fmt.Sprintf(`{"ids":[%q,%q],"readAt":%q}`, ns[0].ID, ns[2].ID, tocsin.FormatTimestamp(at))
	if err != nil || read != 2 || len(evs) != 1 || evs[0].Name != tocsin.EventRead || evs[0].Seq != 5 ||
		evs[0].Unread != 0 || evs[0].Stream != tocsin.UserStream("r1") || string(evs[0].Data) != want {
		t.Fatalf("ReadAll: %d %+v %v; want 2 read, one %s event at seq 5 with unread 0 and data %s", read, evs, err, tocsin.EventRead, want)
	}
	if stored := events(t, s, tocsin.UserStream("r1"), 4); len(stored) != 1 || string(stored[0].Data) != want || stored[0].Name != tocsin.EventRead {
		t.Fatalf("stored: %+v", stored)
	}
	for i, n := range ns {
		got, err := s.Get(ctx, "r1", n.ID)
		if err != nil || (i != 1) != (got.ReadAt != nil && got.ReadAt.Equal(at) && got.SeenAt != nil) {
			t.Fatalf("item %d after ReadAll: %+v %v (the archived one stays unread)", i, got, err)
		}
	}
	if read, evs, err := s.ReadAll(ctx, "r1", at); err != nil || read != 0 || len(evs) != 0 {
		t.Fatalf("second ReadAll: %d %+v %v; want nothing read, no event", read, evs, err)
	}
	if head, _ := s.Head(ctx, tocsin.UserStream("r1")); head != 5 {
		t.Fatalf("head %d after a ReadAll that read nothing, want 5", head)
	}

	// Past ReadAllMaxIDs: one event naming the newest item read.
	many := make([]tocsin.Notification, tocsin.ReadAllMaxIDs+1)
	for i := range many {
		many[i] = notification("r2")
	}
	publish(t, s, many...)
	read, evs, err = s.ReadAll(ctx, "r2", at)
	want = fmt.Sprintf(`{"before":%q,"readAt":%q}`, many[len(many)-1].ID, tocsin.FormatTimestamp(at))
	if err != nil || read != len(many) || len(evs) != 1 || evs[0].Name != tocsin.EventRead || string(evs[0].Data) != want ||
		evs[0].Unread != 0 || evs[0].Seq != uint64(len(many)+1) {
		t.Fatalf("ReadAll of %d: %d %+v %v; want one event with data %s", len(many), read, evs, err, want)
	}
	if c, _ := s.UnreadCount(ctx, "r2"); c != 0 {
		t.Fatalf("unread count %d after ReadAll", c)
	}
}

func testList(t *testing.T, s tocsin.Store) {
	var all []tocsin.Notification
	for i := range 5 {
		typ := "comment"
		if i%2 == 1 {
			typ = "mention"
		}
		all = append(all, publish(t, s, notification("l1", func(n *tocsin.Notification) {
			n.Type = typ
			n.Tags = []string{fmt.Sprint("tag", i)}
		})).Notifications[0])
	}
	s.Update(ctx, "l1", all[0].ID, tocsin.Patch{Read: yes()}, base)
	s.Update(ctx, "l1", all[1].ID, tocsin.Patch{Archived: yes()}, base)
	page := func(q tocsin.ListQuery) []string {
		t.Helper()
		q.Now = base
		p, err := s.List(ctx, "l1", q)
		if err != nil {
			t.Fatalf("List(%+v): %v", q, err)
		}
		if p.UnreadCount != 3 {
			t.Fatalf("unread count %d, want 3", p.UnreadCount)
		}
		var out []string
		for _, n := range p.Notifications {
			out = append(out, n.ID)
		}
		return out
	}
	eq := func(got []string, want ...tocsin.Notification) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("got %v, want %d items", got, len(want))
		}
		for i := range want {
			if got[i] != want[i].ID {
				t.Fatalf("item %d = %s, want %s (newest first)", i, got[i], want[i].ID)
			}
		}
	}
	eq(page(tocsin.ListQuery{Status: tocsin.StatusAll}), all[4], all[3], all[2], all[0])
	eq(page(tocsin.ListQuery{Status: tocsin.StatusUnread}), all[4], all[3], all[2])
	eq(page(tocsin.ListQuery{Status: tocsin.StatusRead}), all[0])
	eq(page(tocsin.ListQuery{Status: tocsin.StatusArchived}), all[1])
	eq(page(tocsin.ListQuery{Types: []string{"mention"}}), all[3])
	eq(page(tocsin.ListQuery{Tag: "tag2"}), all[2])
	eq(page(tocsin.ListQuery{Limit: 2}), all[4], all[3])
	eq(page(tocsin.ListQuery{Limit: 2, Before: all[3].ID}), all[2], all[0])
	p, _ := s.List(ctx, "l1", tocsin.ListQuery{Limit: 2, Now: base})
	if p.NextBefore != all[3].ID {
		t.Fatalf("NextBefore %q, want %q", p.NextBefore, all[3].ID)
	}
	p, _ = s.List(ctx, "l1", tocsin.ListQuery{Limit: 10, Now: base})
	if p.NextBefore != "" {
		t.Fatalf("NextBefore %q on the last page", p.NextBefore)
	}
	// A last page exactly limit long has no cursor: it would lead to an empty page.
	for _, q := range []tocsin.ListQuery{
		{Status: tocsin.StatusAll, Limit: 4, Now: base},
		{Status: tocsin.StatusAll, Limit: 2, Before: all[3].ID, Now: base},
		{Status: tocsin.StatusUnread, Limit: 3, Now: base},
	} {
		if p, err := s.List(ctx, "l1", q); err != nil || p.NextBefore != "" || len(p.Notifications) != q.Limit {
			t.Fatalf("List(%+v): %d items, NextBefore %q, %v; want %d and no cursor", q, len(p.Notifications), p.NextBefore, err, q.Limit)
		}
	}
}

func testSnapshot(t *testing.T, s tocsin.Store) {
	a := publish(t, s, notification("s1")).Notifications[0]
	b := publish(t, s, notification("s1")).Notifications[0]
	s.Update(ctx, "s1", a.ID, tocsin.Patch{Read: yes()}, base)
	snap, err := s.Snapshot(ctx, "s1", tocsin.ListQuery{Status: tocsin.StatusUnread, Limit: 10, Now: base})
	if err != nil || snap.Head != 3 || snap.UnreadCount != 1 || len(snap.Notifications) != 1 || snap.Notifications[0].ID != b.ID {
		t.Fatalf("Snapshot = %+v, %v", snap, err)
	}
	empty, err := s.Snapshot(ctx, "nobody", tocsin.ListQuery{Status: tocsin.StatusUnread, Limit: 10})
	if err != nil || empty.Head != 0 || empty.UnreadCount != 0 || len(empty.Notifications) != 0 {
		t.Fatalf("empty Snapshot = %+v, %v", empty, err)
	}
}

func testEventsBounds(t *testing.T, s tocsin.Store) {
	stream := tocsin.UserStream("e1")
	if evs := events(t, s, stream, 0); len(evs) != 0 {
		t.Fatalf("empty stream has %d events", len(evs))
	}
	for range 5 {
		publish(t, s, notification("e1"))
	}
	evs, err := s.Events(ctx, stream, 1, 2)
	if err != nil || len(evs) != 2 || evs[0].Seq != 2 || evs[1].Seq != 3 {
		t.Fatalf("Events(after 1, limit 2) = %+v, %v", evs, err)
	}
	if evs := events(t, s, stream, 5); len(evs) != 0 {
		t.Fatalf("after the head: %d events", len(evs))
	}
	_, err = s.Events(ctx, stream, 6, 10)
	wantCode(t, err, tocsin.EGone)
}

func testIsolation(t *testing.T, s tocsin.Store) {
	n := publish(t, s, notification("alice")).Notifications[0]
	_, err := s.Get(ctx, "bob", n.ID)
	wantCode(t, err, tocsin.ENotFound)
	_, _, err = s.Update(ctx, "bob", n.ID, tocsin.Patch{Read: yes()}, base)
	wantCode(t, err, tocsin.ENotFound)
	_, err = s.Delete(ctx, "bob", n.ID, base)
	wantCode(t, err, tocsin.ENotFound)
	if p, _ := s.List(ctx, "bob", tocsin.ListQuery{}); len(p.Notifications) != 0 {
		t.Fatalf("bob lists alice's items")
	}
	if read, evs, _ := s.ReadAll(ctx, "bob", base); read != 0 || len(evs) != 0 {
		t.Fatal("bob's ReadAll touched alice's items")
	}
	if got, err := s.Get(ctx, "alice", n.ID); err != nil || got.ReadAt != nil {
		t.Fatalf("alice's item changed: %+v %v", got, err)
	}
}

func testGrouping(t *testing.T, s tocsin.Store) {
	group := func(n *tocsin.Notification) { n.GroupKey = "post:1" }
	first := publish(t, s, notification("g1", group)).Notifications[0]
	res := publish(t, s, notification("g1", group, func(n *tocsin.Notification) { n.Title = "latest" }))
	got := res.Notifications[0]
	if got.ID != first.ID || got.Count != 2 || got.Title != "latest" || res.Events[0].Name != tocsin.EventUpdated ||
		res.Events[0].Unread != tocsin.UnreadUnchanged {
		t.Fatalf("fold: %+v %+v", got, res.Events[0])
	}
	if c, _ := s.UnreadCount(ctx, "g1"); c != 1 {
		t.Fatalf("unread %d after a fold, want 1", c)
	}
	// Concurrent repeats all fold, none lost.
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Publish(ctx, &tocsin.PublishRequest{Notifications: []tocsin.Notification{notification("g1", group)}}); err != nil {
				t.Errorf("Publish: %v", err)
			}
		}()
	}
	wg.Wait()
	if n, _ := s.Get(ctx, "g1", first.ID); n.Count != 22 {
		t.Fatalf("count %d after 22 repeats", n.Count)
	}
}

func testConcurrent(t *testing.T, s tocsin.Store) {
	const writers, each = 20, 10
	stream := tocsin.UserStream("hot")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var seqs []uint64
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				res, err := s.Publish(ctx, &tocsin.PublishRequest{Notifications: []tocsin.Notification{notification("hot")}})
				if err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
				mu.Lock()
				seqs = append(seqs, res.Events[0].Seq)
				mu.Unlock()
			}
		}()
	}
	// A reader running alongside never sees a gap.
	done := make(chan struct{})
	go func() {
		defer close(done)
		var last uint64
		for last < writers*each {
			evs, err := s.Events(ctx, stream, last, 1000)
			if err != nil {
				t.Errorf("Events: %v", err)
				return
			}
			for _, ev := range evs {
				if ev.Seq != last+1 {
					t.Errorf("reader saw seq %d after %d: a gap", ev.Seq, last)
					return
				}
				last = ev.Seq
			}
		}
	}()
	wg.Wait()
	<-done
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for i, q := range seqs {
		if q != uint64(i+1) {
			t.Fatalf("sequences %v are not 1..%d exactly once", seqs, writers*each)
		}
	}
}

func testExpirePrune(t *testing.T, s tocsin.Store) {
	soon := base.Add(time.Second)
	exp := publish(t, s, notification("x1", func(n *tocsin.Notification) { n.ExpiresAt = &soon })).Notifications[0]
	keep := publish(t, s, notification("x1")).Notifications[0]
	if evs, err := s.Expire(ctx, base, 100); err != nil || len(evs) != 0 {
		t.Fatalf("Expire before the time: %+v %v", evs, err)
	}
	// Past its time but not yet swept: no longer counted, nor listed.
	if p, err := s.List(ctx, "x1", tocsin.ListQuery{Now: soon}); err != nil || len(p.Notifications) != 1 {
		t.Fatalf("List after expiry, before the sweep: %+v %v", p, err)
	}
	evs, err := s.Expire(ctx, soon, 100)
	if err != nil || len(evs) != 1 || evs[0].Name != tocsin.EventDeleted || evs[0].Seq != 3 || evs[0].Unread != 1 ||
		string(evs[0].Data) != `{"id":"`+exp.ID+`"}` {
		t.Fatalf("Expire: %+v %v", evs, err)
	}
	if c, _ := s.UnreadCount(ctx, "x1"); c != 1 {
		t.Fatalf("unread count %d after expiry, want 1", c)
	}
	if _, err := s.Get(ctx, "x1", keep.ID); err != nil {
		t.Fatalf("the unexpiring item: %v", err)
	}
	for range 5 {
		publish(t, s, notification("x1"))
	}
	// Keep the last 2 events of 8: resume from 6 works, from 5 is gone.
	_, removed, err := s.Prune(ctx, base.Add(-time.Hour), 2)
	if err != nil || removed != 6 {
		t.Fatalf("Prune: removed %d, %v; want 6", removed, err)
	}
	if evs := events(t, s, tocsin.UserStream("x1"), 6); len(evs) != 2 || evs[0].Seq != 7 {
		t.Fatalf("after pruning, from 6: %+v", evs)
	}
	_, err = s.Events(ctx, tocsin.UserStream("x1"), 5, 10)
	wantCode(t, err, tocsin.EGone)
	// Age: everything created before the cutoff goes, notifications included.
	ns, _, err := s.Prune(ctx, base.Add(time.Hour), 0)
	if err != nil || ns != 6 {
		t.Fatalf("Prune by age removed %d notifications, %v; want 6", ns, err)
	}
	if c, err := s.UnreadCount(ctx, "x1"); err != nil || c != 0 {
		t.Fatalf("unread count %d, %v after pruning every notification", c, err)
	}
	if head, _ := s.Head(ctx, tocsin.UserStream("x1")); head != 8 {
		t.Fatalf("head %d after pruning, want 8 (positions are never reused)", head)
	}
	if evs := events(t, s, tocsin.UserStream("x1"), 8); len(evs) != 0 {
		t.Fatal("events left after pruning everything")
	}
}

func testTopicPublish(t *testing.T, s tocsin.Store) {
	n := notification("", func(n *tocsin.Notification) { n.Topic = "deploys" })
	req := &tocsin.PublishRequest{Notifications: []tocsin.Notification{n}, Topic: "deploys",
		IdempotencyScope: "app", IdempotencyKey: "t-1", RequestHash: "h"}
	res, err := s.Publish(ctx, req)
	stream := tocsin.TopicStream("deploys")
	if err != nil || len(res.Events) != 1 || res.Events[0].Stream != stream || res.Events[0].Seq != 1 ||
		res.Events[0].Unread != tocsin.UnreadUnchanged || res.Notifications[0].Topic != "deploys" {
		t.Fatalf("topic publish: %+v %v", res, err)
	}
	again, err := s.Publish(ctx, req)
	if err != nil || !again.Replayed || again.Notifications[0].ID != n.ID {
		t.Fatalf("topic publish repeat: %+v %v", again, err)
	}
	if evs := events(t, s, stream, 0); len(evs) != 1 || mustID(t, evs[0]) != n.ID {
		t.Fatalf("topic stream: %+v", evs)
	}
}
