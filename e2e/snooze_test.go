package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rawFrames reads a stream's bytes off the wire and sends each frame (the lines up
// to a blank line, as written) to the channel it returns, until ctx ends.
func rawFrames(ctx context.Context, t *testing.T, url, tok, lastID string) <-chan string {
	t.Helper()
	resp := openUserStream(ctx, t, url, tok, lastID)
	out := make(chan string, 64)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		r := bufio.NewReader(resp.Body)
		var frame strings.Builder
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\n" {
				out <- frame.String()
				frame.Reset()
				continue
			}
			frame.WriteString(line)
		}
	}()
	return out
}

// frameField returns the value of field ("id", "event", "data") in a raw frame.
func frameField(frame, field string) string {
	for _, l := range strings.Split(strings.TrimSuffix(frame, "\n"), "\n") {
		if v, ok := strings.CutPrefix(l, field+": "); ok {
			return v
		}
	}
	return ""
}

// nextFrame waits for the next frame whose event is one of names.
func nextFrame(t *testing.T, frames <-chan string, timeout time.Duration, names ...string) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case f, ok := <-frames:
			if !ok {
				t.Fatalf("stream ended waiting for %v", names)
			}
			for _, n := range names {
				if frameField(f, "event") == n {
					return f
				}
			}
		case <-deadline:
			t.Fatalf("no %v frame within %v", names, timeout)
		}
	}
}

// TestSnoozeWakesAfterKill9: a snooze is durable. Snoozed for 2 s, the server is
// killed with SIGKILL and restarted; the item comes back unread, and a client that
// resumes from before the wake gets its notification:updated (snoozedUntil null,
// readAt null) and the unread count, as bytes on the wire.
func TestSnoozeWakesAfterKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	addr, dir := freeAddr(t), t.TempDir()
	p := startProc(t, addr, dir)
	tok := userToken(t, "sz")
	n := p.node.publish("sz", map[string]any{"title": "later"})
	p.node.do("PATCH", "/api/notifications/"+n.ID, tok, map[string]any{"read": true, "seen": true})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	frames := rawFrames(ctx, t, p.URL, tok, "")
	nextFrame(t, frames, 5*time.Second, "init")
	until := time.Now().Add(2 * time.Second).UTC()
	r := p.node.do("PATCH", "/api/notifications/"+n.ID, tok, map[string]any{"snoozedUntil": until.Format(time.RFC3339Nano)})
	if r.Status != 200 || !strings.Contains(string(r.Body), `"snoozedUntil":"`) {
		t.Fatalf("snooze: %d %s", r.Status, r.Body)
	}
	snoozed := nextFrame(t, frames, 5*time.Second, "notification:updated")
	lastID := frameField(snoozed, "id")
	if !strings.Contains(frameField(snoozed, "data"), `"snoozedUntil":"`) || lastID == "" {
		t.Fatalf("snooze frame %q", snoozed)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.wait()
	cancel()

	p2 := startProc(t, addr, dir)
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	resumed := rawFrames(ctx2, t, p2.URL, tok, lastID)
	woke := nextFrame(t, resumed, 15*time.Second, "notification:updated")
	if at := time.Now(); at.Before(until) {
		t.Fatalf("woke at %v, before snoozedUntil %v", at, until)
	}
	var data map[string]any
	if err := json.Unmarshal([]byte(frameField(woke, "data")), &data); err != nil {
		t.Fatalf("wake frame %q: %v", woke, err)
	}
	if data["id"] != n.ID || data["snoozedUntil"] != nil || data["readAt"] != nil || data["seenAt"] != nil {
		t.Fatalf("wake frame data %s; want the item unsnoozed, unread, unseen", frameField(woke, "data"))
	}
	if u := nextFrame(t, resumed, 5*time.Second, "unread", "notification:updated"); frameField(u, "data") != `{"unreadCount":1}` {
		t.Fatalf("after the wake: %q; want the unread count 1", u)
	}
	var count struct{ UnreadCount int }
	p2.node.do("GET", "/api/notifications/unread-count", tok, nil).json(t, &count)
	if count.UnreadCount != 1 {
		t.Fatalf("unread count %d after the wake, want 1", count.UnreadCount)
	}
}

// TestBulkUpdateIsOneEvent: a bulk PATCH of 100 ids is ONE notifications:updated
// frame on the wire, then the unread count, and nothing else.
func TestBulkUpdateIsOneEvent(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	tok := userToken(t, "bk")
	var ids []string
	for range 100 {
		ids = append(ids, n.publish("bk", nil).ID)
	}
	n.publish("bk", nil) // one left unread
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	frames := rawFrames(ctx, t, n.URL, tok, "")
	nextFrame(t, frames, 5*time.Second, "init")
	r := n.do("PATCH", "/api/notifications", tok, map[string]any{"ids": ids, "read": true})
	var answer struct {
		Notifications []notification `json:"notifications"`
		UnreadCount   int            `json:"unreadCount"`
	}
	r.json(t, &answer)
	if r.Status != 200 || len(answer.Notifications) != 100 || answer.UnreadCount != 1 {
		t.Fatalf("bulk: %d, %d items, unread %d", r.Status, len(answer.Notifications), answer.UnreadCount)
	}
	f := <-frames
	if frameField(f, "event") != "notifications:updated" || frameField(f, "id") == "" {
		t.Fatalf("first frame after the bulk %q; want notifications:updated with an id", f)
	}
	var data struct {
		Notifications []notification `json:"notifications"`
	}
	if err := json.Unmarshal([]byte(frameField(f, "data")), &data); err != nil || len(data.Notifications) != 100 || data.Notifications[0].ReadAt == nil {
		t.Fatalf("bulk frame data: %d items, %v", len(data.Notifications), err)
	}
	if u := <-frames; frameField(u, "event") != "unread" || frameField(u, "data") != `{"unreadCount":1}` || frameField(u, "id") != "" {
		t.Fatalf("after the bulk %q; want unread 1 without an id", u)
	}
	select {
	case extra := <-frames:
		if !strings.HasPrefix(extra, ":") {
			t.Fatalf("another frame after the bulk: %q", extra)
		}
	case <-time.After(500 * time.Millisecond):
	}
}
