package storetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
)

// secretNote is a notification whose title, body and data hold secret.
func secretNote(user, secret string, mod ...func(*tocsin.Notification)) tocsin.Notification {
	return notification(user, append([]func(*tocsin.Notification){func(n *tocsin.Notification) {
		n.Title, n.Body = "title "+secret, "body "+secret
		n.Data = json.RawMessage(fmt.Sprintf(`{"code":%q}`, secret))
	}}, mod...)...)
}

// checkForgotten reads stream from its start and checks that no event holds any of
// secrets, that positions run 1…head without a gap, and that the events at the
// positions in gone are notification:deleted {"id": id}.
func checkForgotten(t *testing.T, s tocsin.Store, stream tocsin.StreamID, secrets []string, gone map[uint64]string) []tocsin.Event {
	t.Helper()
	evs := events(t, s, stream, 0)
	head, err := s.Head(ctx, stream)
	if err != nil || uint64(len(evs)) != head {
		t.Fatalf("%s: %d events, head %d, %v", stream, len(evs), head, err)
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("%s: event %d has seq %d", stream, i, ev.Seq)
		}
		for _, secret := range secrets {
			if bytes.Contains(ev.Data, []byte(secret)) {
				t.Fatalf("%s: event %d (%s) still holds %q: %s", stream, ev.Seq, ev.Name, secret, ev.Data)
			}
		}
		if id, ok := gone[ev.Seq]; ok && (ev.Name != tocsin.EventDeleted || string(ev.Data) != `{"id":"`+id+`"}`) {
			t.Fatalf("%s: event %d is %s %s, want %s {\"id\":%q}", stream, ev.Seq, ev.Name, ev.Data, tocsin.EventDeleted, id)
		}
	}
	return evs
}

// testForgetDeleted: publish, update, fold a group repeat into an item, delete it:
// Events from 0 holds none of its title, body or data, at the same positions.
func testForgetDeleted(t *testing.T, s tocsin.Store) {
	const user = "f1"
	stream := tocsin.UserStream(user)
	group := func(n *tocsin.Notification) { n.GroupKey = "reset" }
	a := publish(t, s, secretNote(user, "alpha-913442")).Notifications[0]                    // 1 (merged path)
	if _, _, err := s.Update(ctx, user, a.ID, tocsin.Patch{Seen: yes()}, base); err != nil { // 2
		t.Fatal(err)
	}
	keep := publish(t, s, notification(user, func(n *tocsin.Notification) { n.Title = "kept" })).Notifications[0] // 3
	g := publish(t, s, secretNote(user, "beta-550017", group)).Notifications[0]                                   // 4 (one by one)
	if res := publish(t, s, secretNote(user, "gamma-771203", group)); res.Notifications[0].ID != g.ID {           // 5: folded
		t.Fatalf("not folded: %+v", res.Notifications[0])
	}
	if _, err := s.AppendCustom(ctx, stream, "ORDER_SHIPPED", []byte(`{"o":1}`), base); err != nil { // 6
		t.Fatal(err)
	}
	if _, _, err := s.Update(ctx, user, a.ID, tocsin.Patch{Read: yes()}, base); err != nil { // 7
		t.Fatal(err)
	}
	evs, err := s.Delete(ctx, user, a.ID, base) // 8
	if err != nil || len(evs) != 1 || evs[0].Seq != 8 {
		t.Fatalf("Delete: %+v %v", evs, err)
	}
	if _, err := s.Delete(ctx, user, g.ID, base); err != nil { // 9
		t.Fatal(err)
	}
	all := checkForgotten(t, s, stream, []string{"alpha-913442", "beta-550017", "gamma-771203"},
		map[uint64]string{1: a.ID, 2: a.ID, 4: g.ID, 5: g.ID, 7: a.ID, 8: a.ID, 9: g.ID})
	if all[2].Name != tocsin.EventNotification || mustID(t, all[2]) != keep.ID || !bytes.Contains(all[2].Data, []byte("kept")) {
		t.Fatalf("the kept item's event changed: %s %s", all[2].Name, all[2].Data)
	}
	if all[5].Name != "ORDER_SHIPPED" || string(all[5].Data) != `{"o":1}` {
		t.Fatalf("the custom event changed: %s %s", all[5].Name, all[5].Data)
	}
	if all[0].Type != "comment" || all[0].Unread != 1 {
		t.Fatalf("a forgotten event keeps its type and unread count: %+v", all[0])
	}
	if got, err := s.Get(ctx, user, keep.ID); err != nil || got.Title != "kept" {
		t.Fatalf("the kept item: %+v %v", got, err)
	}
}

// testForgetExpiredAndPruned: an expired item and an item removed by retention leave
// no content in the log either (the pruned item's later events outlive it).
func testForgetExpiredAndPruned(t *testing.T, s tocsin.Store) {
	const user = "f2"
	stream := tocsin.UserStream(user)
	soon := base.Add(time.Second)
	e := publish(t, s, secretNote(user, "otp-284913", func(n *tocsin.Notification) { n.ExpiresAt = &soon })).Notifications[0] // 1
	if _, _, err := s.Update(ctx, user, e.ID, tocsin.Patch{Seen: yes()}, base); err != nil {                                  // 2
		t.Fatal(err)
	}
	evs, err := s.Expire(ctx, soon, 100) // 3
	if err != nil || len(evs) != 1 || evs[0].Seq != 3 {
		t.Fatalf("Expire: %+v %v", evs, err)
	}
	checkForgotten(t, s, stream, []string{"otp-284913"}, map[uint64]string{1: e.ID, 2: e.ID, 3: e.ID})

	old := base.Add(-2 * time.Hour)
	p := publish(t, s, secretNote(user, "old-660031", func(n *tocsin.Notification) { n.CreatedAt = old })).Notifications[0] // 4
	if _, _, err := s.Update(ctx, user, p.ID, tocsin.Patch{Read: yes()}, base); err != nil {                                // 5
		t.Fatal(err)
	}
	ns, _, err := s.Prune(ctx, base.Add(-time.Hour), 0)
	if err != nil || ns != 1 {
		t.Fatalf("Prune: %d %v", ns, err)
	}
	left, err := s.Events(ctx, stream, 4, 100)
	if err != nil || len(left) != 1 || left[0].Seq != 5 || left[0].Name != tocsin.EventDeleted ||
		string(left[0].Data) != `{"id":"`+p.ID+`"}` {
		t.Fatalf("after pruning the item, its later event: %+v %v; want notification:deleted", left, err)
	}
}

// testForgetExpiredTopic: a topic notification is not an inbox item (nothing to
// delete), but one with expiresAt is forgotten in its topic's log at that time, and
// a notification:deleted follows.
func testForgetExpiredTopic(t *testing.T, s tocsin.Store) {
	soon := base.Add(time.Second)
	topic := func(exp *time.Time) tocsin.Notification {
		return secretNote("", "topic-118822", func(n *tocsin.Notification) { n.Topic, n.ExpiresAt = "codes", exp })
	}
	stream := tocsin.TopicStream("codes")
	exp := topic(&soon)
	for _, n := range []tocsin.Notification{exp, topic(nil)} {
		if _, err := s.Publish(ctx, &tocsin.PublishRequest{Notifications: []tocsin.Notification{n}, Topic: "codes"}); err != nil {
			t.Fatal(err)
		}
	}
	if evs, err := s.Expire(ctx, base, 100); err != nil || len(evs) != 0 {
		t.Fatalf("Expire before the time: %+v %v", evs, err)
	}
	evs, err := s.Expire(ctx, soon, 100)
	if err != nil || len(evs) != 1 || evs[0].Stream != stream || evs[0].Seq != 3 || evs[0].Name != tocsin.EventDeleted ||
		string(evs[0].Data) != `{"id":"`+exp.ID+`"}` || evs[0].Unread != tocsin.UnreadUnchanged {
		t.Fatalf("Expire: %+v %v; want one notification:deleted on the topic", evs, err)
	}
	all := events(t, s, stream, 0)
	if len(all) != 3 || all[0].Name != tocsin.EventDeleted || string(all[0].Data) != `{"id":"`+exp.ID+`"}` ||
		all[1].Name != tocsin.EventNotification || !bytes.Contains(all[1].Data, []byte("topic-118822")) {
		t.Fatalf("topic log after expiry: %+v", all)
	}
	if evs, err := s.Expire(ctx, soon.Add(time.Hour), 100); err != nil || len(evs) != 0 {
		t.Fatalf("a second Expire: %+v %v", evs, err)
	}
}
