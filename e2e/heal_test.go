package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/internal/pgtest"
	"github.com/tocsin/tocsin/internal/testenv"
	"github.com/tocsin/tocsin/postgres"
)

// TestHeadCheckHealsACommitNeverAnnounced: two nodes on PostgreSQL and Redis; a
// publish is committed to the store and never announced on the bus (its node died
// between the two), and it is the last event of its stream, so no later event
// reveals the gap. The subscribers of both nodes still receive it, at the next head
// check (--head-check-interval 1s, plus the grace for announcements in flight),
// exactly once, and each node counts the heal.
func TestHeadCheckHealsACommitNeverAnnounced(t *testing.T) {
	busURL := testenv.URL(t, "TOCSIN_TEST_REDIS_URL")
	storeURL := pgtest.FreshSchemaURL(t)
	t.Parallel()
	var nodes []*node
	var streams []*stream
	for range 2 {
		n := startNode(t, "--store", storeURL, "--bus", busURL, "--head-check-interval", "1s")
		s := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+userToken(t, "heal"))
		s.expect("init")
		nodes, streams = append(nodes, n), append(streams, s)
	}

	// The commit of the node that died: straight into the shared store.
	direct, err := postgres.Open(context.Background(), storeURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	now := time.Now().UTC().Truncate(time.Millisecond)
	var ids tocsin.IDGen
	res, err := direct.Publish(context.Background(), &tocsin.PublishRequest{Notifications: []tocsin.Notification{{
		ID: ids.New(now), UserID: "heal", Type: "system", Title: "never announced", Priority: 3, Count: 1, CreatedAt: now,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	committed := time.Now()
	want := res.Notifications[0].ID
	for k, s := range streams {
		ev := s.expect("notification")
		if got := decode[notification](t, ev.Data).ID; got != want || seqOf(t, ev.ID) != 1 {
			t.Fatalf("node %d: got %s at %s, want %s at position 1", k, got, ev.ID, want)
		}
		s.expect("unread") // the count the event carries
	}
	// One interval and the grace (0.5s), with room for a loaded machine.
	if waited := time.Since(committed); waited > 3*time.Second {
		t.Fatalf("the commit reached the streams after %v", waited)
	}
	for _, s := range streams {
		s.quiet(2500 * time.Millisecond) // two more checks: nothing repeated
	}
	for k, n := range nodes {
		r := n.do("GET", "/metrics", "", nil)
		if !strings.Contains(string(r.Body), "\ntocsin_stream_heals_total 1\n") {
			t.Errorf("node %d does not count one heal:\n%s", k, grepLines(string(r.Body), "tocsin_stream_heals"))
		}
	}
}
