package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/internal/cputime"
	"github.com/tocsin/tocsin/postgres"
)

func openBench(b *testing.B) *postgres.Store {
	b.Helper()
	s, err := postgres.Open(context.Background(), freshSchemaURL(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func benchNote(ids *tocsin.IDGen, user string) tocsin.Notification {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return tocsin.Notification{ID: ids.New(now), UserID: user, Type: "comment", Title: "title", Body: "body",
		Priority: 3, Tags: []string{"x"}, Count: 1, CreatedAt: now}
}

// benchPublish runs b.N single-recipient publishes over users distinct users, from
// publishers goroutines (1: one after another), and reports throughput, the CPU of
// this process per publish, and the latency percentiles a publisher saw. With rate
// > 0 the publishers together start at most rate publishes a second (an open
// load, as scripts/bench-cluster.sh offers), so the latencies are those of that
// load, not of a saturated store.
func benchPublish(b *testing.B, publishers, users, rate int) {
	benchPublishOf(b, publishers, users, rate, benchNote)
}

// benchPublishOf is benchPublish of the notifications mk makes.
func benchPublishOf(b *testing.B, publishers, users, rate int, mk func(*tocsin.IDGen, string) tocsin.Notification) {
	s := openBench(b)
	ctx := context.Background()
	names := make([]string, users)
	for i := range names {
		names[i] = fmt.Sprintf("bench-%d", i)
	}
	var ids tocsin.IDGen
	var next atomic.Int64
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	var wg sync.WaitGroup
	t0 := time.Now()
	for range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					break
				}
				start := time.Now()
				if rate > 0 { // publish i is due at i/rate seconds
					due := t0.Add(time.Duration(i) * time.Second / time.Duration(rate))
					if wait := due.Sub(start); wait > 0 {
						time.Sleep(wait)
						start = due
					}
				}
				_, err := s.Publish(ctx, &tocsin.PublishRequest{Notifications: []tocsin.Notification{mk(&ids, names[int(i)%users])}})
				if err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(start))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	b.StopTimer()
	// CPU per publish holds still on a shared machine where wall time does not
	// (PostgreSQL's own CPU is not in it).
	b.ReportMetric(float64((cputime.Process()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "publishes/s")
	if commits, publishes := s.Stats(); commits > 0 {
		b.ReportMetric(float64(publishes)/float64(commits), "publishes/commit")
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// BenchmarkPublishSerial: one publisher, so one commit per publish whatever the
// store does.
func BenchmarkPublishSerial(b *testing.B) { benchPublish(b, 1, 1, 0) }

// BenchmarkPublishParallel: 64 publishers to one user's stream (all contend for its
// row lock).
func BenchmarkPublishParallel(b *testing.B) { benchPublish(b, 64, 1, 0) }

// BenchmarkPublishParallelUsers: 50 publishers to 2,000 users as fast as they can,
// the publishers and users of scripts/bench-cluster.sh.
func BenchmarkPublishParallelUsers(b *testing.B) { benchPublish(b, 50, 2000, 0) }

// BenchmarkPublishRate2000: that load at its 2,000 publishes a second: the store's
// share of the cluster's publish-to-receive latency.
func BenchmarkPublishRate2000(b *testing.B) { benchPublish(b, 50, 2000, 2000) }

// BenchmarkPublishBulk: one publish to 10,000 users.
func BenchmarkPublishBulk(b *testing.B) {
	s := openBench(b)
	var ids tocsin.IDGen
	b.ReportAllocs()
	cpu0 := cputime.Process()
	for i := range b.N {
		ns := make([]tocsin.Notification, 10000)
		for j := range ns {
			ns[j] = benchNote(&ids, fmt.Sprintf("bulk-%d-%d", i%2, j))
		}
		if _, err := s.Publish(context.Background(), &tocsin.PublishRequest{Notifications: ns}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cputime.Process()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// BenchmarkPublishParallelUsersText: BenchmarkPublishParallelUsers with the text of
// a real notification (a title, a two-sentence body, two tags) for the search index
// to take in.
func BenchmarkPublishParallelUsersText(b *testing.B) {
	benchPublishOf(b, 50, 2000, 0, func(ids *tocsin.IDGen, user string) tocsin.Notification {
		n := benchNote(ids, user)
		n.Title, n.Tags = "Payment failed for invoice INV-2041", []string{"billing", "urgent"}
		n.Body = "Your card ending in 4242 was declined by the bank. Update your payment method within 7 days to keep your subscription active."
		return n
	})
}
