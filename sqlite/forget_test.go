package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
)

// TestUpgradeForgetsWhatWasDeleted: a database of the version before events were
// forgotten holds the content of items deleted back then; the upgrade rewrites those
// events to tombstones and leaves the rest (a kept item, a topic) alone.
func TestUpgradeForgetsWhatWasDeleted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tocsin.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	oldSchema(t, db, 7)
	for _, q := range []string{
		`INSERT INTO meta VALUES ('epoch', 'oldepoch')`,
		`INSERT INTO notifications (id, user_id, type, title, created_at) VALUES ('KEPT', 'u', 't', 'kept', 1)`,
		`INSERT INTO streams (stream, head) VALUES ('user:u', 4), ('topic:x', 1)`,
		`INSERT INTO events (stream, seq, name, data, created_at) VALUES
			('user:u', 1, 'notification', CAST('{"id":"GONE","title":"secret-1"}' AS BLOB), 1),
			('user:u', 2, 'notification', CAST('{"id":"KEPT","title":"kept"}' AS BLOB), 1),
			('user:u', 3, 'notification:updated', CAST('{"id":"GONE","title":"secret-1","seenAt":"x"}' AS BLOB), 1),
			('user:u', 4, 'notification:deleted', CAST('{"id":"GONE"}' AS BLOB), 1),
			('topic:x', 1, 'notification', CAST('{"id":"TOPIC","title":"broadcast"}' AS BLOB), 1)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s := open(t, path)
	defer s.Close()
	ctx := context.Background()
	evs, err := s.Events(ctx, tocsin.UserStream("u"), 0, 10)
	if err != nil || len(evs) != 4 {
		t.Fatalf("Events: %+v %v", evs, err)
	}
	for _, ev := range evs {
		if strings.Contains(string(ev.Data), "secret") {
			t.Fatalf("event %d still holds deleted content after the upgrade: %s", ev.Seq, ev.Data)
		}
	}
	if evs[0].Name != tocsin.EventDeleted || string(evs[0].Data) != `{"id":"GONE"}` || evs[2].Name != tocsin.EventDeleted ||
		evs[1].Name != tocsin.EventNotification || string(evs[1].Data) != `{"id":"KEPT","title":"kept"}` {
		t.Fatalf("after the upgrade: %+v", evs)
	}
	if topic, err := s.Events(ctx, tocsin.TopicStream("x"), 0, 10); err != nil || len(topic) != 1 || topic[0].Name != tocsin.EventNotification {
		t.Fatalf("topic after the upgrade: %+v %v", topic, err)
	}
	// The kept item, published before the upgrade, is forgotten by its ref.
	if _, err := s.Delete(ctx, "u", "KEPT", time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	if evs, _ := s.Events(ctx, tocsin.UserStream("u"), 1, 1); len(evs) != 1 || string(evs[0].Data) != `{"id":"KEPT"}` {
		t.Fatalf("deleting an item published before the upgrade: %+v", evs)
	}
}
