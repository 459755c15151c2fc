package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

type initData struct {
	Notifications []notification `json:"notifications"`
	UnreadCount   int            `json:"unreadCount"`
}

type unreadData struct {
	UnreadCount *int `json:"unreadCount"`
}

func expectUnread(t *testing.T, s *stream, want int) {
	t.Helper()
	ev := s.expect("unread")
	if ev.SetID {
		t.Fatalf("unread event carries id %q; it must not move the resume point", ev.ID)
	}
	u := decode[unreadData](t, ev.Data)
	if u.UnreadCount == nil || *u.UnreadCount != want {
		t.Fatalf("unread data %s, want unreadCount %d", ev.Data, want)
	}
}

// TestStreamRawBytes checks the exact bytes of a fresh stream: headers, the retry
// hint first, then init.
func TestStreamRawBytes(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	tok := userToken(t, "raw")
	req, _ := http.NewRequest("GET", n.URL+"/api/notifications/stream", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	for h, want := range map[string]string{
		"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	buf := make([]byte, 0, 512)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(string(buf), "\n\nid: ") || !strings.HasSuffix(string(buf), "\n\n") {
		if time.Now().After(deadline) {
			t.Fatalf("no init frame; got %q", buf)
		}
		chunk := make([]byte, 512)
		k, err := resp.Body.Read(chunk)
		buf = append(buf, chunk[:k]...)
		if err != nil {
			break
		}
	}
	got := string(buf)
	if !strings.HasPrefix(got, "retry: 3000\n\n") {
		t.Fatalf("stream must start with the retry hint; got %q", got)
	}
	frame := strings.TrimPrefix(got, "retry: 3000\n\n")
	lines := strings.Split(strings.TrimSuffix(frame, "\n\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "id: ") || lines[1] != "event: init" ||
		lines[2] != `data: {"notifications":[],"unreadCount":0,"userId":"raw"}` {
		t.Fatalf("init frame = %q", frame)
	}
	if !strings.HasSuffix(lines[0], "-0") {
		t.Fatalf("init of an empty stream has id %q, want position 0", lines[0])
	}
}

// TestStreamLifecycle follows one notification through every event name, checking
// each event's data against the REST object.
func TestStreamLifecycle(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	user := "alice"
	tok := userToken(t, user)
	pre := n.publish(user, map[string]any{"title": "before connect"})

	s := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok)
	init := decode[initData](t, s.expect("init").Data)
	if init.UnreadCount != 1 || len(init.Notifications) != 1 || init.Notifications[0].ID != pre.ID {
		t.Fatalf("init = %+v, want the one unread notification %s", init, pre.ID)
	}

	created := n.publish(user, map[string]any{"title": "hello", "tags": []string{"a", "b"}, "data": map[string]any{"k": 1}})
	ev := s.expect("notification")
	got := decode[notification](t, ev.Data)
	rest := n.do("GET", "/api/notifications/"+created.ID, tok, nil)
	if strings.TrimSpace(string(rest.Body)) != ev.Data {
		t.Fatalf("notification event data differs from the REST object:\nevent %s\nrest  %s", ev.Data, rest.Body)
	}
	if got.ID != created.ID || got.Title != "hello" || ev.ID == "" {
		t.Fatalf("notification event = %+v (id %q)", got, ev.ID)
	}
	expectUnread(t, s, 2)

	r := n.do("PATCH", "/api/notifications/"+created.ID, tok, map[string]any{"read": true})
	if r.Status != 200 {
		t.Fatalf("patch: %d %s", r.Status, r.Body)
	}
	upd := s.expect("notification:updated")
	if strings.TrimSpace(string(r.Body)) != upd.Data {
		t.Fatalf("updated event data differs from the PATCH answer:\nevent %s\nrest  %s", upd.Data, r.Body)
	}
	if decode[notification](t, upd.Data).ReadAt == nil {
		t.Fatalf("updated event lacks readAt: %s", upd.Data)
	}
	expectUnread(t, s, 1)

	// seen changes no count: an updated event and no unread event.
	if r := n.do("PATCH", "/api/notifications/"+pre.ID, tok, map[string]any{"seen": true}); r.Status != 200 {
		t.Fatalf("patch seen: %d %s", r.Status, r.Body)
	}
	s.expect("notification:updated")

	if r := n.do("DELETE", "/api/notifications/"+pre.ID, tok, nil); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	del := s.expect("notification:deleted")
	if del.Data != fmt.Sprintf(`{"id":%q}`, pre.ID) {
		t.Fatalf("deleted data = %s", del.Data)
	}
	expectUnread(t, s, 0)

	// read-all over two new items: one notifications:read naming both, then unread 0.
	r1 := n.publish(user, nil)
	r2 := n.publish(user, nil)
	s.expect("notification")
	expectUnread(t, s, 1)
	s.expect("notification")
	expectUnread(t, s, 2)
	if r := n.do("POST", "/api/notifications/read-all", tok, nil); r.Status != 200 {
		t.Fatalf("read-all: %d %s", r.Status, r.Body)
	}
	if got := decode[readData](t, s.expect("notifications:read").Data); fmt.Sprint(got.IDs) != fmt.Sprint([]string{r1.ID, r2.ID}) {
		t.Fatalf("notifications:read ids %v, want %s %s", got.IDs, r1.ID, r2.ID)
	}
	expectUnread(t, s, 0)

	// custom event: the body plus an ISO-8601 timestamp.
	r = n.do("POST", "/api/users/"+user+"/events", apiKey, map[string]any{"type": "ORDER_SHIPPED", "body": map[string]any{"orderId": "o1"}})
	if r.Status != 201 {
		t.Fatalf("custom event: %d %s", r.Status, r.Body)
	}
	cu := s.expect("ORDER_SHIPPED")
	body := decode[map[string]any](t, cu.Data)
	ts, _ := body["timestamp"].(string)
	if body["orderId"] != "o1" || ts == "" {
		t.Fatalf("custom event data = %s", cu.Data)
	}
	if _, err := time.Parse(time.RFC3339, ts); err != nil {
		t.Fatalf("timestamp %q is not ISO-8601: %v", ts, err)
	}
	s.quiet(200 * time.Millisecond)
}

// TestResumeExact disconnects a client, publishes while it is away, and checks the
// reconnect gets exactly the missed events, in order, then unread, then live events.
func TestResumeExact(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	tok := userToken(t, "bob")
	s := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok)
	s.expect("init")
	first := n.publish("bob", map[string]any{"title": "1"})
	last := s.expect("notification").ID
	expectUnread(t, s, 1)
	s.close()

	var missed []notification
	for i := 2; i <= 6; i++ {
		missed = append(missed, n.publish("bob", map[string]any{"title": fmt.Sprint(i)}))
	}
	_ = first
	s2 := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok, "Last-Event-ID", last)
	prev := seqOf(t, last)
	for i, want := range missed {
		ev := s2.expect("notification")
		if got := decode[notification](t, ev.Data); got.ID != want.ID {
			t.Fatalf("replayed event %d is %s, want %s", i, got.ID, want.ID)
		}
		if seq := seqOf(t, ev.ID); seq != prev+1 {
			t.Fatalf("replayed event id %q follows position %d: gap or repeat", ev.ID, prev)
		}
		prev++
		expectUnread(t, s2, i+2)
	}
	expectUnread(t, s2, 6) // the count after the replay
	live := n.publish("bob", map[string]any{"title": "live"})
	if got := decode[notification](t, s2.expect("notification").Data); got.ID != live.ID {
		t.Fatalf("live event %s, want %s", got.ID, live.ID)
	}
	expectUnread(t, s2, 7)
	s2.quiet(200 * time.Millisecond)
}

// TestResumeQuery resumes with ?lastEventId= (clients that cannot set the header).
func TestResumeQuery(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	tok := userToken(t, "q")
	s := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok)
	initID := s.expect("init").ID
	s.close()
	a := n.publish("q", nil)
	b := n.publish("q", nil)
	s2 := n.openStream("/api/notifications/stream?lastEventId="+initID, "Authorization", "Bearer "+tok)
	for _, want := range []notification{a, b} {
		if got := decode[notification](t, s2.expect("notification").Data); got.ID != want.ID {
			t.Fatalf("got %s, want %s", got.ID, want.ID)
		}
		s2.expect("unread")
	}
	expectUnread(t, s2, 2)
	s2.quiet(200 * time.Millisecond)
}

// TestResetWhenIDCannotBeHonoured: an id from another history or beyond the head
// gets reset, then init.
func TestResetWhenIDCannotBeHonoured(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	tok := userToken(t, "r")
	n.publish("r", nil)
	s := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok)
	epoch := strings.Split(s.expect("init").ID, "-")[0]
	s.close()
	for name, id := range map[string]string{
		"other epoch": "zzzzzzzz-1",
		"beyond head": epoch + "-99",
		"malformed":   "not-an-id-x",
	} {
		t.Run(name, func(t *testing.T) {
			s := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok, "Last-Event-ID", id)
			reset := s.expect("reset")
			if reset.SetID || !strings.Contains(reset.Data, `"reason":`) {
				t.Fatalf("reset = id %q data %s", reset.ID, reset.Data)
			}
			in := decode[initData](t, s.expect("init").Data)
			if in.UnreadCount != 1 || len(in.Notifications) != 1 {
				t.Fatalf("init after reset = %+v", in)
			}
		})
	}
}

// TestTypesFilter: ?types= delivers only those types; unread still follows.
func TestTypesFilter(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	tok := userToken(t, "f")
	s := n.openStream("/api/notifications/stream?types=mention,alert", "Authorization", "Bearer "+tok)
	s.expect("init")
	n.publish("f", map[string]any{"type": "comment"})
	expectUnread(t, s, 1) // the comment itself is filtered out
	m := n.publish("f", map[string]any{"type": "mention"})
	if got := decode[notification](t, s.expect("notification").Data); got.ID != m.ID {
		t.Fatalf("got %s, want the mention %s", got.ID, m.ID)
	}
	expectUnread(t, s, 2)
	r := n.do("GET", "/api/notifications/stream?types=bad%0Atype", userToken(t, "f"), nil)
	if r.Status != 400 {
		t.Fatalf("types with a newline: %d, want 400", r.Status)
	}
}

// TestHeartbeat: an idle stream gets ": heartbeat" comments at the configured period.
func TestHeartbeat(t *testing.T) {
	t.Parallel()
	n := startNode(t, "--heartbeat", "100ms")
	s := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+userToken(t, "hb"))
	s.expect("init")
	ev := s.next(3 * time.Second)
	if !isComment(ev) || commentText(ev) != "heartbeat" {
		t.Fatalf("want a heartbeat comment, got %+v", ev)
	}
}

// TestUserIsolation: a user's stream never carries another user's events, and
// another user's notification answers 404 exactly like a missing one.
func TestUserIsolation(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	alice, eve := userToken(t, "alice"), userToken(t, "eve")
	se := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+eve)
	se.expect("init")
	a := n.publish("alice", map[string]any{"title": "secret"})
	se.quiet(300 * time.Millisecond)

	missing := n.do("GET", "/api/notifications/01ARZ3NDEKTSV4RRFFQ69G5FAV", eve, nil)
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/notifications/" + a.ID, nil},
		{"PATCH", "/api/notifications/" + a.ID, map[string]any{"read": true}},
		{"DELETE", "/api/notifications/" + a.ID, nil},
	} {
		r := n.do(tc.method, tc.path, eve, tc.body)
		if r.Status != 404 || string(r.Body) != string(missing.Body) {
			t.Errorf("%s by another user: %d %s; want exactly the missing answer %d %s", tc.method, r.Status, r.Body, missing.Status, missing.Body)
		}
	}
	var list struct {
		Notifications []notification `json:"notifications"`
	}
	n.do("GET", "/api/notifications", eve, nil).json(t, &list)
	if len(list.Notifications) != 0 {
		t.Fatalf("eve lists alice's notifications: %s", ids(list.Notifications))
	}
	got := n.do("GET", "/api/notifications/"+a.ID, alice, nil)
	var still notification
	got.json(t, &still)
	if got.Status != 200 || still.ReadAt != nil {
		t.Fatalf("alice's notification changed by eve: %d %s", got.Status, got.Body)
	}
}

// TestManySubscribersOneUser: every tab of a user sees every event, in order.
func TestManySubscribersOneUser(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	tok := userToken(t, "tabs")
	var streams []*stream
	for i := 0; i < 5; i++ {
		s := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok)
		s.expect("init")
		streams = append(streams, s)
	}
	const count = 40
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < count/4; j++ {
				n.publish("tabs", nil)
			}
		}()
	}
	wg.Wait()
	for _, s := range streams {
		var prev uint64
		for i := 0; i < count; i++ {
			ev := s.expect("notification")
			if seq := seqOf(t, ev.ID); seq != prev+1 {
				t.Fatalf("event %q after position %d: out of order, gap or repeat", ev.ID, prev)
			}
			prev++
			s.expect("unread")
		}
	}
}
