package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/postgres"
)

// TestUpgradeForgetsWhatWasDeleted: a database of the version before events were
// forgotten holds the content of items deleted back then; the upgrade rewrites those
// events to tombstones and leaves the rest (a kept item, a topic) alone.
func TestUpgradeForgetsWhatWasDeleted(t *testing.T) {
	u, conn := oldSchema(t, 7)
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO meta VALUES ('epoch', 'oldepoch')`,
		`INSERT INTO notifications (id, user_id, type, title, created_at) VALUES ('KEPT', 'u', 't', 'kept', 1)`,
		`INSERT INTO streams (stream, head) VALUES ('user:u', 4), ('topic:x', 1)`,
		`INSERT INTO events (stream, seq, name, data, created_at) VALUES
			('user:u', 1, 'notification', convert_to('{"id":"GONE","title":"secret-1"}', 'UTF8'), 1),
			('user:u', 2, 'notification', convert_to('{"id":"KEPT","title":"kept"}', 'UTF8'), 1),
			('user:u', 3, 'notification:updated', convert_to('{"id":"GONE","title":"secret-1","seenAt":"x"}', 'UTF8'), 1),
			('user:u', 4, 'notification:deleted', convert_to('{"id":"GONE"}', 'UTF8'), 1),
			('topic:x', 1, 'notification', convert_to('{"id":"TOPIC","title":"broadcast"}', 'UTF8'), 1)`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close(ctx)

	s, err := postgres.Open(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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
