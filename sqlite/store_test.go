package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/internal/cputime"
	"github.com/tocsin/tocsin/sqlite"
	"github.com/tocsin/tocsin/storetest"
)

func open(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tocsin.Store {
		dir := t.TempDir()
		s := open(t, filepath.Join(dir, "tocsin.db"))
		// Cleanups run last first: the suite's Close, this check, then the
		// removal of dir (which failed now and then when the store wrote after
		// Close: close_test.go).
		t.Cleanup(func() {
			s.Close()
			sqlite.CheckClosedDir(t, dir, 20*time.Millisecond)
		})
		return s
	})
}

func note(user string) tocsin.Notification {
	var ids tocsin.IDGen
	now := time.Now().UTC().Truncate(time.Millisecond)
	return tocsin.Notification{ID: ids.New(now), UserID: user, Type: "t", Priority: 3, Count: 1, CreatedAt: now}
}

func TestReopenKeepsDataHeadsAndEpoch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tocsin.db")
	s := open(t, path)
	res, err := s.Publish(context.Background(), &tocsin.PublishRequest{Notifications: []tocsin.Notification{note("u")}})
	if err != nil {
		t.Fatal(err)
	}
	epoch := s.Epoch()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	defer s.Close()
	if s.Epoch() != epoch {
		t.Fatalf("epoch changed across a reopen: %s → %s", epoch, s.Epoch())
	}
	if head, _ := s.Head(context.Background(), tocsin.UserStream("u")); head != 1 {
		t.Fatalf("head %d after reopen", head)
	}
	if _, err := s.Get(context.Background(), "u", res.Notifications[0].ID); err != nil {
		t.Fatalf("notification lost across a reopen: %v", err)
	}
	other := open(t, filepath.Join(t.TempDir(), "other.db"))
	defer other.Close()
	if other.Epoch() == epoch {
		t.Fatal("two databases share an epoch")
	}
}

// TestGroupCommit: concurrent publishes share commits (one fsync for many).
func TestGroupCommit(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "tocsin.db"))
	defer s.Close()
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Publish(context.Background(), &tocsin.PublishRequest{
				Notifications: []tocsin.Notification{note(string(rune('a' + i%26)))}}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	commits, changes := s.Stats()
	if changes < n || commits >= changes {
		t.Fatalf("%d changes in %d commits: concurrent publishes were not grouped", changes, commits)
	}
	t.Logf("%d changes in %d commits", changes, commits)
}

func TestClosedStoreRefuses(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "tocsin.db"))
	s.Close()
	_, err := s.Publish(context.Background(), &tocsin.PublishRequest{Notifications: []tocsin.Notification{note("u")}})
	if err == nil {
		t.Fatal("publish on a closed store succeeded")
	}
}

// benchPublish publishes to users distinct users in turn (their index entries and
// counters land on different pages, as a real API's traffic does).
func benchPublish(b *testing.B, parallel bool, users int) { benchPublishOf(b, parallel, users, note) }

// benchPublishOf is benchPublish of the notifications mk makes.
func benchPublishOf(b *testing.B, parallel bool, users int, mk func(string) tocsin.Notification) {
	s := open(b, filepath.Join(b.TempDir(), "tocsin.db"))
	defer s.Close()
	ctx := context.Background()
	names := make([]string, users)
	for i := range names {
		names[i] = fmt.Sprintf("bench-%d", i)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	pub := func(user string) {
		if _, err := s.Publish(ctx, &tocsin.PublishRequest{Notifications: []tocsin.Notification{mk(user)}}); err != nil {
			b.Fatal(err)
		}
	}
	if parallel {
		b.SetParallelism(32) // many concurrent requests, as a busy API sees
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				pub(names[int(next.Add(1))%users])
			}
		})
	} else {
		for i := range b.N {
			pub(names[i%users])
		}
	}
	b.StopTimer()
	// CPU per publish holds still on a shared machine where wall time does not.
	b.ReportMetric(float64((cputime.Process()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "publishes/s")
	commits, changes := s.Stats()
	b.ReportMetric(float64(changes)/float64(max(commits, 1)), "changes/commit")
}

// BenchmarkPublishSerial: one publisher, so one fsync (synchronous=FULL) per publish.
func BenchmarkPublishSerial(b *testing.B) { benchPublish(b, false, 1) }

// BenchmarkPublishParallel: 32×GOMAXPROCS publishers share commits (group commit).
func BenchmarkPublishParallel(b *testing.B) { benchPublish(b, true, 1) }

// BenchmarkPublishParallelUsers: as BenchmarkPublishParallel, to 5,000 users (the
// load of bench publish: 50 publishers × 100 users each).
func BenchmarkPublishParallelUsers(b *testing.B) { benchPublish(b, true, 5000) }

// BenchmarkPublishBulk: one publish to 10,000 users (the bulk path).
func BenchmarkPublishBulk(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "tocsin.db"))
	defer s.Close()
	b.ReportAllocs()
	cpu0 := cputime.Process()
	defer func() { b.ReportMetric(float64((cputime.Process()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op") }()
	for i := range b.N {
		// As the hub makes them: copies of one template, sharing its tags and data.
		tmpl := note("")
		tmpl.Title, tmpl.Tags, tmpl.Data = "bulk", []string{"b"}, []byte(`{"sentNs":1764456000000000000}`)
		var ids tocsin.IDGen
		ns := make([]tocsin.Notification, 10000)
		for j := range ns {
			ns[j] = tmpl
			ns[j].ID, ns[j].UserID = ids.New(tmpl.CreatedAt), fmt.Sprintf("bulk-%d-%d", i%2, j)
		}
		if _, err := s.Publish(context.Background(), &tocsin.PublishRequest{Notifications: ns}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHeads: one head check's batch, 500 stream ids of which half have events
// (the cost a node pays per 500 open stream ids per --head-check-interval).
func BenchmarkHeads(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "tocsin.db"))
	defer s.Close()
	streams := make([]tocsin.StreamID, tocsin.HeadsBatch)
	for i := range streams {
		user := fmt.Sprint("heads", i)
		streams[i] = tocsin.UserStream(user)
		if i%2 == 0 {
			if _, err := s.Publish(context.Background(), &tocsin.PublishRequest{Notifications: []tocsin.Notification{note(user)}}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		heads, err := s.Heads(context.Background(), streams)
		if err != nil || heads[0] != 1 || heads[1] != 0 {
			b.Fatalf("Heads = %v…, %v", heads[:2], err)
		}
	}
}

// BenchmarkPublishParallelUsersText: BenchmarkPublishParallelUsers with the text of
// a real notification (a title, a two-sentence body, two tags) for the search index
// to take in.
func BenchmarkPublishParallelUsersText(b *testing.B) {
	benchPublishOf(b, true, 5000, func(user string) tocsin.Notification {
		n := note(user)
		n.Title, n.Tags = "Payment failed for invoice INV-2041", []string{"billing", "urgent"}
		n.Body = "Your card ending in 4242 was declined by the bank. Update your payment method within 7 days to keep your subscription active."
		return n
	})
}
