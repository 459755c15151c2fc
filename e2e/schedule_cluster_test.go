package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tocsin/tocsin/internal/pgtest"
	"github.com/tocsin/tocsin/internal/testenv"
)

// TestScheduledExactlyOnceAcrossSIGKILL: two real nodes on one PostgreSQL schema and
// a Redis bus. Node A alone claims a batch of scheduled notifications when they fall
// due and is killed with SIGKILL while it holds their leases, part of them
// published; node B takes the rest over when the leases end. The user's stream on B
// gets every scheduled id exactly once, at consecutive positions, and nothing is
// left scheduled.
//
// Only A claims at the due time because B polls rarely (--delivery-poll 12s, its
// first claim at its start, before anything is scheduled); A polls every 100ms
// with one worker, so its claimed batch drains one publish at a time and the kill
// lands mid-batch. The store is checked right after the kill: some jobs must still
// be pending under A's lease, or the test would prove no takeover.
func TestScheduledExactlyOnceAcrossSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two server processes")
	}
	t.Parallel()
	busURL := testenv.URL(t, "TOCSIN_TEST_REDIS_URL")
	store := pgtest.FreshSchemaURL(t)
	const lease = 3 * time.Second
	common := []string{"--store", store, "--bus", busURL, "--delivery-lease", lease.String()}

	b := startProc(t, freeAddr(t), t.TempDir(), append(common, "--delivery-poll", "12s")...)
	bStarted := time.Now()
	a := startProc(t, freeAddr(t), t.TempDir(), append(common, "--delivery-poll", "100ms", "--delivery-workers", "1")...)

	const user, n = "sched-k9", 150
	r := follow(t, b.URL, user, "")
	initID := r.waitInit()

	// Scheduled by 8 clients at once, so that all are stored well before they fall
	// due even on a loaded machine (were some late, A would claim what is due: the
	// test would still hold, with a smaller batch).
	due := time.Now().Add(3 * time.Second).UTC().Truncate(time.Millisecond)
	var mu sync.Mutex
	want := map[string]bool{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				body := fmt.Sprintf(`{"userId":%q,"title":"s%d","deliverAt":%q}`, user, i, due.Format(time.RFC3339Nano))
				req, _ := http.NewRequest("POST", a.URL+"/api/notifications", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+apiKey)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Errorf("schedule %d: %v", i, err)
					return
				}
				var got struct{ ID, Status string }
				err = json.NewDecoder(resp.Body).Decode(&got)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusCreated || got.Status != "scheduled" || got.ID == "" {
					t.Errorf("schedule %d: %d %v %+v", i, resp.StatusCode, err, got)
					return
				}
				mu.Lock()
				want[got.ID] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if late := time.Since(due); late > 0 {
		t.Logf("scheduling ended %v after the due time", late)
	}
	if l := listScheduled(t, b.node, user); len(l) != n {
		t.Fatalf("GET /api/scheduled on B lists %d, want %d", len(l), n)
	}

	// The first scheduled notification on B's stream (from A, over the bus): A holds
	// the batch; kill it now.
	seen := map[string]int{}
	prev := seqOf(t, initID)
	take := func(ev collected) {
		t.Helper()
		if ev.Name != "notification" {
			return
		}
		id := decode[notification](t, ev.Data).ID
		if !want[id] {
			t.Fatalf("unexpected notification %s on the stream", id)
		}
		if seen[id]++; seen[id] > 1 {
			t.Fatalf("notification %s delivered twice", id)
		}
		if seq := seqOf(t, ev.ID); seq != prev+1 {
			t.Fatalf("position %d follows %d: gap or repeat", seq, prev)
		}
		prev++
	}
	select {
	case ev := <-r.events:
		take(ev)
	case <-time.After(time.Until(due) + 10*time.Second):
		t.Fatal("no scheduled notification arrived")
	}
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = a.wait()
	if since := time.Since(bStarted); since > 11*time.Second {
		t.Logf("A was killed %v after B started: B may have claimed at its second poll", since)
	}
	leased, pending := jobCounts(t, store)
	t.Logf("at the kill: %d of %d seen on B, %d jobs pending (%d under a lease)", len(seen), n, pending, leased)
	if pending == 0 {
		t.Fatal("A had published every scheduled notification before the kill: the test proves no takeover")
	}

	// B takes over at its next poll after the leases end: every id, once.
	deadline := time.After(12*time.Second + lease + 30*time.Second)
	for len(seen) < n {
		select {
		case ev := <-r.events:
			take(ev)
		case <-deadline:
			t.Fatalf("after the takeover %d of %d scheduled notifications arrived", len(seen), n)
		}
	}
	r.quietFor(t, time.Second) // and nothing more: no duplicate published late
	if l := listScheduled(t, b.node, user); len(l) != 0 {
		t.Fatalf("GET /api/scheduled still lists %d after delivery", len(l))
	}
	if all := b.node.listAll(t, user); len(all) != n {
		t.Fatalf("the inbox holds %d notifications, want %d", len(all), n)
	}
}

// quietFor fails if a notification event arrives within d.
func (r *streamReader) quietFor(t *testing.T, d time.Duration) {
	t.Helper()
	end := time.After(d)
	for {
		select {
		case ev := <-r.events:
			if ev.Name == "notification" {
				t.Fatalf("unexpected notification event %s %s", ev.ID, ev.Data)
			}
		case <-end:
			return
		}
	}
}

// listScheduled returns every scheduled notification of user (GET /api/scheduled).
func listScheduled(t *testing.T, n *node, user string) []notification {
	t.Helper()
	var all []notification
	cursor := ""
	for {
		r := n.do("GET", "/api/scheduled?userId="+user+"&limit=100&cursor="+cursor, apiKey, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("GET /api/scheduled: %d %s", r.Status, r.Body)
		}
		var page struct {
			Scheduled  []notification `json:"scheduled"`
			NextCursor string         `json:"nextCursor"`
		}
		r.json(t, &page)
		all = append(all, page.Scheduled...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
}

// jobCounts reads the scheduled jobs still pending in the store, and how many of
// them a claim holds.
func jobCounts(t *testing.T, storeURL string) (leased, pending int) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, storeURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	now := time.Now().UnixMilli()
	err = conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE lease_until IS NOT NULL AND lease_until > $1), count(*)
		FROM jobs WHERE kind = 'scheduled' AND state = 'pending'`, now).Scan(&leased, &pending)
	if err != nil {
		t.Fatal(err)
	}
	return leased, pending
}

// TestScheduleCancelAndRestart: on one node (SQLite), a scheduled notification
// arrives on time; a cancelled one never does; those pending when the process is
// killed are delivered once after it restarts on the same data dir; DELETE of a
// delivered or cancelled one is a 404.
func TestScheduleCancelAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	addr, dir := freeAddr(t), t.TempDir()
	p := startProc(t, addr, dir)
	const user = "sched-r1"
	schedule := func(n *node, at time.Time, title string) string {
		t.Helper()
		r := n.do("POST", "/api/notifications", apiKey, map[string]any{"userId": user, "title": title, "deliverAt": at.Format(time.RFC3339Nano)})
		var got struct{ ID, Status string }
		r.json(t, &got)
		if r.Status != http.StatusCreated || got.Status != "scheduled" {
			t.Fatalf("schedule: %d %s", r.Status, r.Body)
		}
		return got.ID
	}

	// On time: within a second of deliverAt (half a second of slack for -race).
	r := follow(t, p.URL, user, "")
	initID := r.waitInit()
	at := time.Now().Add(1500 * time.Millisecond)
	onTime := schedule(p.node, at, "on time")
	cancelled := schedule(p.node, at, "cancelled")
	if st := p.node.do("DELETE", "/api/scheduled/"+cancelled, apiKey, nil).Status; st != http.StatusNoContent {
		t.Fatalf("cancel: %d", st)
	}
	last := r.expectNotifications(initID, []string{onTime})
	if late := time.Since(at); late > 1500*time.Millisecond {
		t.Errorf("delivered %v after deliverAt", late)
	}
	r.quietFor(t, time.Second) // the cancelled one never comes
	for _, id := range []string{onTime, cancelled} {
		if st := p.node.do("DELETE", "/api/scheduled/"+id, apiKey, nil).Status; st != http.StatusNotFound {
			t.Errorf("DELETE /api/scheduled/%s after its time: %d, want 404", id, st)
		}
	}

	// Pending across a SIGKILL: delivered once after the restart.
	at = time.Now().Add(1500 * time.Millisecond)
	pending := []string{schedule(p.node, at, "p1"), schedule(p.node, at, "p2")}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.wait()
	time.Sleep(time.Until(at))
	p2 := startProc(t, addr, dir)
	r2 := follow(t, p2.URL, user, last)
	// Two due at the same time come in either order (their ids decide).
	if err := r2.expectSet(last, pending); err != "" {
		t.Fatal(err)
	}
	r2.quietFor(t, time.Second)
	if l := listScheduled(t, p2.node, user); len(l) != 0 {
		t.Fatalf("still scheduled after the restart: %d", len(l))
	}
}

// expectSet reads len(ids) notification events after lastID and checks they are ids
// in any order, at consecutive positions; it returns what is wrong, or "".
func (r *streamReader) expectSet(lastID string, ids []string) string {
	r.t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	prev := seqOf(r.t, lastID)
	for range ids {
		var ev collected
		for ev.Name != "notification" {
			select {
			case ev = <-r.events:
			case <-time.After(10 * time.Second):
				return fmt.Sprintf("%s: still waiting for %v", r.user, want)
			}
		}
		id := decode[notification](r.t, ev.Data).ID
		if !want[id] {
			return fmt.Sprintf("%s: unexpected or repeated %s", r.user, id)
		}
		delete(want, id)
		if seq := seqOf(r.t, ev.ID); seq != prev+1 {
			return fmt.Sprintf("%s: position %d follows %d", r.user, seq, prev)
		}
		prev++
	}
	return ""
}
