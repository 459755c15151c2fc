package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/migrations"
)

var ids tocsin.IDGen

func note(user string, now time.Time) tocsin.Notification {
	return tocsin.Notification{ID: ids.New(now), UserID: user, Type: "t", Title: "hi", Priority: 3, Count: 1, CreatedAt: now}
}

func openTest(t *testing.T) *Store {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(context.Background(), filepath.Join(dir, "tocsin.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		CheckClosedDir(t, dir, 20*time.Millisecond)
	})
	return s
}

type outcome struct {
	res tocsin.PublishResult
	err error
}

// oneBatch publishes reqs so that the writer takes them all into one transaction:
// it holds the writer inside a change until every request is queued.
func oneBatch(t *testing.T, s *Store, reqs ...*tocsin.PublishRequest) []outcome {
	t.Helper()
	release, running := make(chan struct{}), make(chan struct{})
	go s.write(context.Background(), func(*wtx) error { close(running); <-release; return nil })
	<-running
	out := make([]outcome, len(reqs))
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].res, out[i].err = s.Publish(context.Background(), req)
		}()
		for len(s.queued) < i+1 { // queued in request order
			time.Sleep(time.Millisecond)
		}
	}
	commits, _ := s.Stats()
	close(release)
	wg.Wait()
	if after, _ := s.Stats(); after != commits+2 {
		t.Fatalf("%d commits for the held change and the batch; want 2", after-commits)
	}
	return out
}

func single(n tocsin.Notification) *tocsin.PublishRequest {
	return &tocsin.PublishRequest{Notifications: []tocsin.Notification{n}}
}

// TestMergedBatchSequences: publishes merged into one transaction, with recipients
// repeated within and across requests, get each stream's next sequences and unread
// counts in queue order, as one-by-one publishes would.
func TestMergedBatchSequences(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if _, err := s.Publish(ctx, single(note("a", now))); err != nil { // a has seq 1 already
		t.Fatal(err)
	}
	bulk := make([]tocsin.Notification, 10) // the bulk's recipients: b, a, c0..c7
	bulk[0], bulk[1] = note("b", now), note("a", now)
	for i := 2; i < len(bulk); i++ {
		bulk[i] = note(fmt.Sprint("c", i-2), now)
	}
	out := oneBatch(t, s,
		single(note("a", now)),
		&tocsin.PublishRequest{Notifications: bulk},
		single(note("a", now)),
		single(note("b", now)),
	)
	type want struct {
		stream string
		seq    uint64
		unread int
	}
	check := func(o outcome, ws ...want) {
		t.Helper()
		if o.err != nil || len(o.res.Events) != len(ws) || len(o.res.Notifications) != len(ws) {
			t.Fatalf("result %+v, %v; want %d events", o.res, o.err, len(ws))
		}
		for i, w := range ws {
			ev := o.res.Events[i]
			var n tocsin.Notification
			if err := json.Unmarshal(ev.Data, &n); err != nil || n.ID != o.res.Notifications[i].ID {
				t.Fatalf("event %d data %s is not notification %s", i, ev.Data, o.res.Notifications[i].ID)
			}
			if string(ev.Stream) != w.stream || ev.Seq != w.seq || ev.Unread != w.unread || ev.Name != tocsin.EventNotification {
				t.Fatalf("event %d: %s seq %d unread %d; want %s seq %d unread %d", i, ev.Stream, ev.Seq, ev.Unread, w.stream, w.seq, w.unread)
			}
		}
	}
	check(out[0], want{"user:a", 2, 2})
	bw := []want{{"user:b", 1, 1}, {"user:a", 3, 3}}
	for i := range 8 {
		bw = append(bw, want{fmt.Sprint("user:c", i), 1, 1})
	}
	check(out[1], bw...)
	check(out[2], want{"user:a", 4, 4})
	check(out[3], want{"user:b", 2, 2})

	evs, err := s.Events(ctx, "user:a", 0, 100)
	if err != nil || len(evs) != 4 {
		t.Fatalf("stored events of a: %+v %v", evs, err)
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) || ev.Unread != i+1 {
			t.Fatalf("stored event %d: seq %d unread %d", i, ev.Seq, ev.Unread)
		}
	}
	if n, err := s.UnreadCount(ctx, "a"); err != nil || n != 4 {
		t.Fatalf("unread count of a: %d %v", n, err)
	}
}

// TestMergedFailureRunsOneByOne: when the merged run fails (here a notification id
// used twice), the transaction starts over with each publish on its own: the others
// commit, only the faulty one fails.
func TestMergedFailureRunsOneByOne(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	dup := note("x", now)
	again := note("y", now)
	again.ID = dup.ID
	out := oneBatch(t, s, single(note("w", now)), single(dup), single(again), single(note("x", now)))
	for i, o := range out {
		if (o.err != nil) != (i == 2) {
			t.Fatalf("publish %d: %v; only the repeated id should fail", i, o.err)
		}
	}
	if out[3].res.Events[0].Seq != 2 || out[3].res.Events[0].Unread != 2 {
		t.Fatalf("x's second event: %+v", out[3].res.Events[0])
	}
	for user, head := range map[string]uint64{"w": 1, "x": 2, "y": 0} {
		if h, err := s.Head(ctx, tocsin.UserStream(user)); err != nil || h != head {
			t.Fatalf("head of %s: %d %v; want %d", user, h, err, head)
		}
	}
}

// TestMergedIdempotency: a key repeated within one batch replays the first result;
// the same key with another request conflicts; neither changes anything.
func TestMergedIdempotency(t *testing.T) {
	s := openTest(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	req := func(hash string) *tocsin.PublishRequest {
		return &tocsin.PublishRequest{Notifications: []tocsin.Notification{note("i", now)},
			IdempotencyScope: "app", IdempotencyKey: "k", RequestHash: hash}
	}
	out := oneBatch(t, s, req("h"), req("h"), req("other"), single(note("i", now)))
	first, again, conflict := out[0], out[1], out[2]
	if first.err != nil || first.res.Replayed || len(first.res.Events) != 1 {
		t.Fatalf("first: %+v %v", first.res, first.err)
	}
	if again.err != nil || !again.res.Replayed || len(again.res.Events) != 0 ||
		again.res.Notifications[0].ID != first.res.Notifications[0].ID {
		t.Fatalf("repeat: %+v %v; want the first result, replayed", again.res, again.err)
	}
	if tocsin.ErrorCodeOf(conflict.err) != tocsin.EConflict {
		t.Fatalf("another request with the key: %v; want a conflict", conflict.err)
	}
	if ev := out[3].res.Events[0]; ev.Seq != 2 {
		t.Fatalf("the publish after them has seq %d; want 2", ev.Seq)
	}
	// Later, in a batch of its own, the key still replays.
	if o := oneBatch(t, s, req("h"))[0]; o.err != nil || !o.res.Replayed {
		t.Fatalf("later repeat: %+v %v", o.res, o.err)
	}
}

// TestMergedUnreadLessExpired: an expired item the sweep has not removed yet is not
// counted in the unread count a merged publish reports.
func TestMergedUnreadLessExpired(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	old := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Minute)
	gone := note("e", old)
	exp := old.Add(time.Second)
	gone.ExpiresAt = &exp
	if _, err := s.Publish(ctx, single(gone)); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	out := oneBatch(t, s, single(note("e", now)), single(note("f", now)))
	if ev := out[0].res.Events[0]; ev.Seq != 2 || ev.Unread != 1 {
		t.Fatalf("event %+v; want seq 2 with unread 1 (the expired item not counted)", ev)
	}
	if ev := out[1].res.Events[0]; ev.Unread != 1 {
		t.Fatalf("event %+v; want unread 1", ev)
	}
}

// TestMigrationKeepsUnreadCounts: step 6 moves the unread counters into the
// streams' rows.
func TestMigrationKeepsUnreadCounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tocsin.db")
	ctx := context.Background()
	db, err := sql.Open("sqlite", dsn(path, "full", roleWriter))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	steps, err := migrations.Steps(migrations.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range steps {
		if st.Version <= 5 {
			if err := (migrationTarget{db}).Apply(ctx, st.Version, st.SQL); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := db.Exec(`INSERT INTO streams (stream, head) VALUES ('user:u1', 7), ('topic:t', 3);
		INSERT INTO unread_counts (user_id, n) VALUES ('u1', 5), ('u2', 2)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for user, want := range map[string]int{"u1": 5, "u2": 2, "u3": 0} {
		if n, err := s.UnreadCount(ctx, user); err != nil || n != want {
			t.Fatalf("unread count of %s: %d %v; want %d", user, n, err, want)
		}
	}
	for stream, want := range map[tocsin.StreamID]uint64{"user:u1": 7, "user:u2": 0, "topic:t": 3} {
		if h, err := s.Head(ctx, stream); err != nil || h != want {
			t.Fatalf("head of %s: %d %v; want %d", stream, h, err, want)
		}
	}
	res, err := s.Publish(ctx, single(note("u2", time.Now().UTC().Truncate(time.Millisecond))))
	if err != nil || res.Events[0].Seq != 1 || res.Events[0].Unread != 3 {
		t.Fatalf("publish after the migration: %+v %v", res.Events, err)
	}
}

// TestCheckpointsReuseTheWAL: under a steady stream of writes the checkpointer copies
// the WAL and the writer starts it over, so the file stays far below what the
// writes add up to (and below the writer's own backstop threshold).
func TestCheckpointsReuseTheWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tocsin.db")
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now().UTC().Truncate(time.Millisecond)
	// Writers that keep the queue full: the writer never pauses between commits.
	const writers, bulks, each = 8, 15, 250
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range bulks {
				ns := make([]tocsin.Notification, each)
				for i := range ns {
					ns[i] = note(fmt.Sprintf("w%d-%d-%d", w, b, i), now)
					ns[i].Body = strings.Repeat("x", 200)
				}
				if _, err := s.Publish(context.Background(), &tocsin.PublishRequest{Notifications: ns}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	// Each bulk adds about 2 MiB of frames: 30 MiB if the WAL were never reused.
	if fi.Size() > 16<<20 {
		t.Fatalf("WAL is %d MiB after %d rows: it is not being reused", fi.Size()>>20, writers*bulks*each)
	}
	t.Logf("WAL %.1f MiB after %d rows", float64(fi.Size())/(1<<20), writers*bulks*each)
}

// TestBulkEncodingIsJSONMarshal: the events of a publish to many users carry each
// notification's JSON exactly as encoding/json writes it (the shared part of the
// recipients' encodings is reused, ids and user ids that need escaping are not).
func TestBulkEncodingIsJSONMarshal(t *testing.T) {
	s := openTest(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	exp := now.Add(time.Hour)
	tmpl := note("", now)
	tmpl.Tags, tmpl.Data, tmpl.Body, tmpl.ExpiresAt = []string{"a", "<b>"}, json.RawMessage(`{"k": [1, "x"]}`), "a & b", &exp
	tmpl.Normalize()
	users := []string{"plain", `quo"te`, "<html>", "ünï", "back\\slash", "amp&", "tab\tx", "last"}
	ns := make([]tocsin.Notification, len(users))
	for i, u := range users {
		ns[i] = tmpl
		ns[i].ID, ns[i].UserID = ids.New(now), u
	}
	if j, err := newPubJob(&tocsin.PublishRequest{Notifications: slices.Clone(ns)}, nil); err != nil || !j.shared {
		t.Fatalf("the recipients of one template are not seen as such: %v", err)
	}
	res, err := s.Publish(context.Background(), &tocsin.PublishRequest{Notifications: ns})
	if err != nil {
		t.Fatal(err)
	}
	for i := range res.Notifications {
		want, _ := json.Marshal(&res.Notifications[i])
		if got := res.Events[i].Data; string(got) != string(want) {
			t.Fatalf("event %d data\n%s\nwant\n%s", i, got, want)
		}
	}
	evs, err := s.Events(context.Background(), tocsin.UserStream(`quo"te`), 0, 10)
	if err != nil || len(evs) != 1 || string(evs[0].Data) != string(res.Events[1].Data) {
		t.Fatalf("stored event %+v %v", evs, err)
	}
	got, err := s.Get(context.Background(), "<html>", ns[2].ID)
	if err != nil || got.Body != "a & b" || len(got.Tags) != 2 || got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp) {
		t.Fatalf("stored notification %+v %v", got, err)
	}
}
