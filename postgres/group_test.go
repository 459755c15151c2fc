package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/postgres"
)

// TestGroupCommitConcurrentNodes: two stores (two nodes) on one database, many
// goroutines publishing through both to the same hot streams and to streams of
// their own, with multi-recipient, topic, group-key and idempotent publishes and
// bad ones mixed in. Every stream stays gap-free while it is written (a reader
// checks), no stream position is told to two callers, every caller is told exactly
// the events stored for its own notifications, unread counts are those of the
// events' positions, bad publishes fail alone, and publishes did share commits.
func TestGroupCommitConcurrentNodes(t *testing.T) {
	u := freshSchemaURL(t)
	ctx := context.Background()
	var nodes [2]*postgres.Store
	for i := range nodes {
		s, err := postgres.Open(ctx, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		nodes[i] = s
	}
	const goroutines, each = 48, 28
	hot := []string{"h0", "h1", "h2"}
	var ids tocsin.IDGen
	mk := func(user string, mod ...func(*tocsin.Notification)) tocsin.Notification {
		now := time.Now().UTC().Truncate(time.Millisecond)
		n := tocsin.Notification{ID: ids.New(now), UserID: user, Type: "t", Title: "x", Priority: 3, Count: 1, CreatedAt: now}
		for _, m := range mod {
			m(&n)
		}
		return n
	}

	var mu sync.Mutex
	told := map[tocsin.StreamID]map[uint64]string{} // stream → seq → event data
	tell := func(t *testing.T, res tocsin.PublishResult) {
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range res.Events {
			m := told[ev.Stream]
			if m == nil {
				m = map[uint64]string{}
				told[ev.Stream] = m
			}
			if _, dup := m[ev.Seq]; dup {
				t.Errorf("%s/%d was told to two callers", ev.Stream, ev.Seq)
			}
			m[ev.Seq] = string(ev.Data)
		}
	}

	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() { // reads the hot streams while they are written: never a gap
		defer close(readerDone)
		last := map[string]uint64{}
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, h := range hot {
				evs, err := nodes[0].Events(ctx, tocsin.UserStream(h), last[h], 1000)
				if err != nil {
					t.Errorf("Events: %v", err)
					return
				}
				for _, ev := range evs {
					if ev.Seq != last[h]+1 {
						t.Errorf("reader saw %s seq %d after %d", h, ev.Seq, last[h])
						return
					}
					last[h] = ev.Seq
				}
			}
		}
	}()

	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := fmt.Sprint("p", g)
			var mine []string // this goroutine's stored notification ids
			for i := range each {
				s := nodes[(g+i)%2]
				var req *tocsin.PublishRequest
				bad := false
				switch i % 7 {
				case 0:
					req = &tocsin.PublishRequest{Notifications: []tocsin.Notification{mk(hot[i%3])}}
				case 1:
					req = &tocsin.PublishRequest{Notifications: []tocsin.Notification{mk(hot[0]), mk(own), mk(hot[1])}}
				case 2:
					req = &tocsin.PublishRequest{Notifications: []tocsin.Notification{mk(own)}}
				case 3: // reuses one of its notification ids: fails, alone
					if len(mine) == 0 {
						continue
					}
					req = &tocsin.PublishRequest{Notifications: []tocsin.Notification{
						mk(hot[2], func(n *tocsin.Notification) { n.ID = mine[0] })}}
					bad = true
				case 4: // idempotent, repeated through the other node: one publish
					key := fmt.Sprint("k", g, "-", i)
					req = &tocsin.PublishRequest{Notifications: []tocsin.Notification{mk(hot[1])},
						IdempotencyScope: "app", IdempotencyKey: key, RequestHash: "h"}
					first, err := s.Publish(ctx, req)
					if err != nil {
						t.Errorf("keyed publish: %v", err)
						return
					}
					tell(t, first)
					again, err := nodes[(g+i+1)%2].Publish(ctx, req)
					if err != nil || !again.Replayed || again.Notifications[0].ID != first.Notifications[0].ID {
						t.Errorf("repeat of %s: %+v %v", key, again, err)
					}
					continue
				case 5:
					req = &tocsin.PublishRequest{Topic: "t0", Notifications: []tocsin.Notification{
						mk("", func(n *tocsin.Notification) { n.Topic = "t0" })}}
				case 6:
					req = &tocsin.PublishRequest{Notifications: []tocsin.Notification{
						mk(hot[2], func(n *tocsin.Notification) { n.GroupKey = "grp" })}}
				}
				res, err := s.Publish(ctx, req)
				if bad {
					if err == nil {
						t.Errorf("a publish reusing an id succeeded: %+v", res)
					}
					continue
				}
				if err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
				if len(res.Events) != len(req.Notifications) {
					t.Errorf("%d events for %d notifications", len(res.Events), len(req.Notifications))
					return
				}
				for k, ev := range res.Events {
					var n tocsin.Notification
					if err := json.Unmarshal(ev.Data, &n); err != nil || n.ID != res.Notifications[k].ID {
						t.Errorf("event %s/%d carries %s, not the caller's %s", ev.Stream, ev.Seq, ev.Data, res.Notifications[k].ID)
					}
					if req.Notifications[0].GroupKey == "" && n.ID != req.Notifications[k].ID {
						t.Errorf("caller got notification %s for its %s", n.ID, req.Notifications[k].ID)
					}
				}
				if i%7 == 2 {
					mine = append(mine, res.Notifications[0].ID)
				}
				tell(t, res)
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-readerDone
	if t.Failed() {
		return
	}

	for stream, byseq := range told {
		stored, err := nodes[1].Events(ctx, stream, 0, 100000)
		if err != nil {
			t.Fatal(err)
		}
		if len(stored) != len(byseq) {
			t.Fatalf("%s: %d events stored, %d told", stream, len(stored), len(byseq))
		}
		unread := 0
		for i, ev := range stored {
			if ev.Seq != uint64(i+1) {
				t.Fatalf("%s: seq %d at position %d", stream, ev.Seq, i+1)
			}
			if byseq[ev.Seq] != string(ev.Data) {
				t.Fatalf("%s/%d: stored %s, told %s", stream, ev.Seq, ev.Data, byseq[ev.Seq])
			}
			// Nothing is read or deleted here: an item's event counts one more.
			want := tocsin.UnreadUnchanged
			if ev.Name == tocsin.EventNotification && stream != tocsin.TopicStream("t0") {
				unread++
				want = unread
			}
			if ev.Unread != want {
				t.Fatalf("%s/%d (%s): unread %d, want %d", stream, ev.Seq, ev.Name, ev.Unread, want)
			}
		}
	}
	var commits, publishes int64
	for _, s := range nodes {
		c, p := s.Stats()
		commits, publishes = commits+c, publishes+p
	}
	t.Logf("%d publishes in %d batch commits", publishes, commits)
	if publishes <= commits {
		t.Errorf("%d publishes in %d commits: concurrent publishes were not grouped", publishes, commits)
	}
}

// TestStuckBatchDoesNotStallOthers: a batch waiting for a stream that another
// transaction holds (another node's, or a long change) does not hold up the
// publishes to other streams queued behind it: another writer takes them.
func TestStuckBatchDoesNotStallOthers(t *testing.T) {
	u := freshSchemaURL(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ids tocsin.IDGen
	req := func(user string) *tocsin.PublishRequest {
		now := time.Now().UTC().Truncate(time.Millisecond)
		return &tocsin.PublishRequest{Notifications: []tocsin.Notification{
			{ID: ids.New(now), UserID: user, Type: "t", Priority: 3, Count: 1, CreatedAt: now}}}
	}
	if _, err := s.Publish(ctx, req("stuck")); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM streams WHERE stream = $1 FOR UPDATE`, string(tocsin.UserStream("stuck"))); err != nil {
		t.Fatal(err)
	}
	stuck := make(chan tocsin.PublishResult, 1)
	go func() {
		res, err := s.Publish(ctx, req("stuck"))
		if err != nil {
			t.Error(err)
		}
		stuck <- res
	}()
	time.Sleep(100 * time.Millisecond) // its batch now waits for the lock
	for i := range 5 {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		res, err := s.Publish(pctx, req("free"))
		cancel()
		if err != nil || res.Events[0].Seq != uint64(i+1) {
			t.Fatalf("publish %d to another stream while one batch is stuck: %+v %v", i, res, err)
		}
	}
	select {
	case res := <-stuck:
		t.Fatalf("the stuck publish finished while its stream was locked: %+v", res)
	default:
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if res := <-stuck; len(res.Events) != 1 || res.Events[0].Seq != 2 {
		t.Fatalf("the stuck publish, once free: %+v", res)
	}
}

// TestCloseCommitsQueuedAndRefusesLater: Close lets the queued publishes commit;
// a publish after Close fails as unavailable.
func TestCloseCommitsQueuedAndRefusesLater(t *testing.T) {
	u := freshSchemaURL(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids tocsin.IDGen
	req := func() *tocsin.PublishRequest {
		now := time.Now().UTC().Truncate(time.Millisecond)
		return &tocsin.PublishRequest{Notifications: []tocsin.Notification{
			{ID: ids.New(now), UserID: "c", Type: "t", Priority: 3, Count: 1, CreatedAt: now}}}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := 0
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Publish(ctx, req())
			switch {
			case err == nil:
				mu.Lock()
				acked++
				mu.Unlock()
			case tocsin.ErrorCodeOf(err) != tocsin.EUnavailable:
				t.Errorf("publish during Close: %v", err)
			}
		}()
	}
	time.Sleep(5 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if _, err := s.Publish(ctx, req()); tocsin.ErrorCodeOf(err) != tocsin.EUnavailable {
		t.Fatalf("publish after Close: %v", err)
	}
	other, err := postgres.Open(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if head, err := other.Head(ctx, tocsin.UserStream("c")); err != nil || int(head) != acked {
		t.Fatalf("head %d, %v after Close; %d publishes were acknowledged", head, err, acked)
	}
}
