package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// readData is the data of a notifications:read event.
type readData struct {
	IDs    []string `json:"ids"`
	Before string   `json:"before"`
	ReadAt string   `json:"readAt"`
}

// publishMany publishes count notifications to user with concurrent requests and
// returns their ids, oldest first.
func (n *node) publishMany(user string, count int) []string {
	n.t.Helper()
	const workers = 16
	var mu sync.Mutex
	var out []string
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(count) {
				body := fmt.Sprintf(`{"userId":%q,"type":"comment","title":"t","body":"b"}`, user)
				req, _ := http.NewRequest("POST", n.URL+"/api/notifications", stringsReader(body))
				req.Header.Set("Authorization", "Bearer "+apiKey)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					n.t.Errorf("publish: %v", err)
					return
				}
				var got notification
				err = json.NewDecoder(resp.Body).Decode(&got)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated || err != nil {
					n.t.Errorf("publish: %d %v", resp.StatusCode, err)
					return
				}
				mu.Lock()
				out = append(out, got.ID)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if n.t.Failed() {
		n.t.FailNow()
	}
	sort.Strings(out)
	return out
}

// TestReadAllOfManyIsOneEvent: a read-all of 10,000 unread items reaches every open
// stream of the user (SSE and WebSocket) as ONE notifications:read event, then unread
// 0, and no stream is cut as a slow consumer (one event per item overflowed every
// stream's queue of 256).
func TestReadAllOfManyIsOneEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes 10,000 notifications")
	}
	t.Parallel()
	n := startNode(t, "--rate-publish", "0", "--rate-user", "0", "--rate-connect", "0")
	const user, count = "many", 10000
	tok := userToken(t, user)
	all := n.publishMany(user, count)

	sse := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok)
	if in := decode[initData](t, sse.expect("init").Data); in.UnreadCount != count {
		t.Fatalf("init unreadCount %d, want %d", in.UnreadCount, count)
	}
	ws := n.dialWS("/api/notifications/ws", "Authorization", "Bearer "+tok)
	ws.expect("init")

	var ra struct{ Updated, UnreadCount int }
	r := n.do("POST", "/api/notifications/read-all", tok, nil)
	r.json(t, &ra)
	if r.Status != 200 || ra.Updated != count || ra.UnreadCount != 0 {
		t.Fatalf("read-all: %d %s", r.Status, r.Body)
	}

	ev := sse.expect("notifications:read")
	if !ev.SetID || ev.ID == "" {
		t.Fatal("notifications:read has no id: it is a stored event and must move the resume point")
	}
	got := decode[readData](t, ev.Data)
	if got.Before != all[count-1] || len(got.IDs) != 0 {
		t.Fatalf("notifications:read data %s, want before = the newest id %s and no ids", ev.Data, all[count-1])
	}
	if _, err := time.Parse(time.RFC3339, got.ReadAt); err != nil {
		t.Fatalf("readAt %q: %v", got.ReadAt, err)
	}
	expectUnread(t, sse, 0)
	sse.quiet(300 * time.Millisecond) // neither more events nor the end of the stream

	f := ws.expect("notifications:read")
	if f.ID != ev.ID || string(f.Data) != ev.Data {
		t.Fatalf("WebSocket frame %s differs from the SSE event %s %s", f.raw, ev.ID, ev.Data)
	}
	if u := ws.expect("unread"); string(u.Data) != `{"unreadCount":0}` {
		t.Fatalf("WebSocket unread %s", u.raw)
	}
	select {
	case f, ok := <-ws.frames:
		if ok {
			t.Fatalf("unexpected WebSocket frame %s", f.raw)
		}
		t.Fatalf("WebSocket closed: %v", <-ws.closed)
	case <-time.After(300 * time.Millisecond):
	}

	// Both streams are still live.
	n.publish(user, nil)
	sse.expect("notification")
	ws.expect("notification")

	// A second read-all reads one item, and nothing after that.
	r = n.do("POST", "/api/notifications/read-all", tok, nil)
	r.json(t, &ra)
	if ra.Updated != 1 {
		t.Fatalf("second read-all: %s", r.Body)
	}
	expectUnread(t, sse, 1)
	if got := decode[readData](t, sse.expect("notifications:read").Data); len(got.IDs) != 1 || got.Before != "" {
		t.Fatalf("second notifications:read: %+v", got)
	}
	expectUnread(t, sse, 0)
	r = n.do("POST", "/api/notifications/read-all", tok, nil)
	r.json(t, &ra)
	if ra.Updated != 0 {
		t.Fatalf("read-all with nothing unread: %s", r.Body)
	}
	sse.quiet(300 * time.Millisecond)
}

// TestReadAllEventThroughFilters: the notifications:read event of a small read-all
// lists the ids, reaches a ?types= stream (it is about every type) and a batching
// stream, and never a capability stream (which carries new notifications only).
func TestReadAllEventThroughFilters(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	const user = "rf"
	tok := userToken(t, user)
	a := n.publish(user, map[string]any{"type": "comment"})
	b := n.publish(user, map[string]any{"type": "mention"})

	typed := n.openStream("/api/notifications/stream?types=mention", "Authorization", "Bearer "+tok)
	typed.expect("init")
	batched := n.openStream("/api/notifications/stream?batch=100ms", "Authorization", "Bearer "+tok)
	batched.expect("init")
	var tk struct{ Token string }
	r := n.do("POST", "/api/tokens", apiKey, map[string]any{"stream": "user:" + user, "scope": "subscribe"})
	r.json(t, &tk)
	capab := n.openStream("/api/stream/" + tk.Token)

	if r := n.do("POST", "/api/notifications/read-all", tok, nil); r.Status != 200 {
		t.Fatalf("read-all: %d %s", r.Status, r.Body)
	}
	want := []string{a.ID, b.ID}
	sort.Strings(want)
	check := func(data string) {
		t.Helper()
		got := decode[readData](t, data)
		if fmt.Sprint(got.IDs) != fmt.Sprint(want) || got.Before != "" {
			t.Fatalf("notifications:read data %s, want ids %v", data, want)
		}
	}
	check(typed.expect("notifications:read").Data)
	expectUnread(t, typed, 0)
	check(batched.expect("notifications:read").Data) // a lone event of its window: as itself
	expectUnread(t, batched, 0)

	// A capability stream gets the next new notification and nothing before it.
	n.publish(user, map[string]any{"title": "after"})
	ev := capab.nextEvent()
	if d := decode[map[string]any](t, ev.Data); ev.Name != "message" || d["title"] != "after" {
		t.Fatalf("capability stream: first event %q %s, want the new notification", ev.Name, ev.Data)
	}
}
