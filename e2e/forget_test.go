package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// readRaw opens path as SSE with headers and returns the raw bytes of the response
// body read until done reports true of them (then for settle more, to catch
// anything that follows) or timeout passes.
func (n *node) readRaw(path string, done func([]byte) bool, settle, timeout time.Duration, headers ...string) []byte {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", n.URL+path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := n.httpClient().Do(req)
	if err != nil {
		n.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		n.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	var raw bytes.Buffer
	chunks := make(chan []byte)
	go func() {
		defer close(chunks)
		buf := make([]byte, 4096)
		for {
			k, err := resp.Body.Read(buf)
			if k > 0 {
				chunks <- append([]byte(nil), buf[:k]...)
			}
			if err != nil {
				return
			}
		}
	}()
	var settled <-chan time.Time
	for {
		select {
		case c, ok := <-chunks:
			if !ok {
				return raw.Bytes()
			}
			raw.Write(c)
			if settled == nil && done(raw.Bytes()) {
				settled = time.After(settle)
			}
		case <-settled:
			return raw.Bytes()
		case <-ctx.Done():
			if settled == nil {
				n.t.Fatalf("GET %s: not done within %v; read:\n%s", path, timeout, raw.Bytes())
			}
			return raw.Bytes()
		}
	}
}

// checkForgotten checks a resume's raw bytes: the secret appears nowhere, the events
// of the stream up to last are all there in order (same positions as before), and
// each event about the notification id is a bare notification:deleted.
func checkForgotten(t *testing.T, raw []byte, secret, epoch, id string, first, last uint64) {
	t.Helper()
	if bytes.Contains(raw, []byte(secret)) {
		t.Fatalf("the resume replayed the deleted content %q:\n%s", secret, raw)
	}
	frames := strings.Split(string(raw), "\n\n")
	next := first
	tomb := fmt.Sprintf(`{"id":%q}`, id)
	for _, f := range frames {
		if !strings.Contains(f, "\nid: ") && !strings.HasPrefix(f, "id: ") {
			continue
		}
		wantID := fmt.Sprintf("id: %s-%d\n", epoch, next)
		if !strings.HasPrefix(strings.TrimPrefix(f, "\n"), wantID) {
			t.Fatalf("frame %q, want the event at position %d next:\n%s", f, next, raw)
		}
		if !strings.Contains(f, "event: notification:deleted\n") || !strings.HasSuffix(f, "data: "+tomb) {
			t.Fatalf("frame %q is not a notification:deleted of %s", f, id)
		}
		next++
	}
	if next != last+1 {
		t.Fatalf("replay ended before position %d:\n%s", last, raw)
	}
}

// TestDeletedNotificationIsForgottenOnResume: once a notification is deleted (GET
// 404), a resume from before it never replays its title, body or data: every event
// of it in the log (created, seen, a group repeat that replaced its content) comes
// back as notification:deleted at its own position.
func TestDeletedNotificationIsForgottenOnResume(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	const user, secret, secret2 = "forget", "password reset code 913442", "password reset code 550017"
	tok := userToken(t, user)
	s := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok)
	initID := s.expect("init").ID
	epoch := initID[:strings.LastIndexByte(initID, '-')]

	pub := n.publish(user, map[string]any{"title": "Your " + secret, "body": secret,
		"data": map[string]any{"code": secret}, "groupKey": "reset"})
	s.expect("notification")
	expectUnread(t, s, 1)
	if r := n.do("PATCH", "/api/notifications/"+pub.ID, tok, map[string]any{"seen": true}); r.Status != 200 {
		t.Fatalf("patch: %d %s", r.Status, r.Body)
	}
	s.expect("notification:updated")
	// A repeat of the group replaces the content: notification:updated with it.
	if again := n.publish(user, map[string]any{"title": secret2, "body": secret2, "groupKey": "reset"}); again.ID != pub.ID {
		t.Fatalf("the repeat was not folded: %s", again.ID)
	}
	s.expect("notification:updated")
	if r := n.do("DELETE", "/api/notifications/"+pub.ID, tok, nil); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	del := s.expect("notification:deleted")
	expectUnread(t, s, 0)
	if r := n.do("GET", "/api/notifications/"+pub.ID, tok, nil); r.Status != 404 {
		t.Fatalf("GET after delete: %d", r.Status)
	}
	last := seqOf(t, del.ID)

	for _, from := range []string{initID, fmt.Sprintf("%s-%d", epoch, seqOf(t, initID)+1)} {
		raw := n.readRaw("/api/notifications/stream", func(b []byte) bool {
			return bytes.Contains(b, []byte(del.ID+"\n"))
		}, 200*time.Millisecond, 5*time.Second, "Authorization", "Bearer "+tok, "Last-Event-ID", from)
		checkForgotten(t, raw, secret, epoch, pub.ID, seqOf(t, from)+1, last)
		if bytes.Contains(raw, []byte(secret2)) {
			t.Fatalf("the resume replayed the folded content:\n%s", raw)
		}
	}
	// The WebSocket replay reads the same log.
	ws := n.dialWS("/api/notifications/ws?lastEventId="+initID, "Authorization", "Bearer "+tok)
	for seq := seqOf(t, initID) + 1; seq <= last; seq++ {
		f := <-ws.frames
		for f.Event == "unread" {
			f = <-ws.frames
		}
		if f.Event != "notification:deleted" || strings.Contains(f.raw, secret) || f.ID != fmt.Sprintf("%s-%d", epoch, seq) {
			t.Fatalf("WebSocket replay frame %s, want notification:deleted at %d", f.raw, seq)
		}
	}
}

// TestExpiredNotificationIsForgottenOnResume: an expired one-time code is gone from
// the log too: a resume from before it replays notification:deleted, never the code.
func TestExpiredNotificationIsForgottenOnResume(t *testing.T) {
	t.Parallel()
	n := startNode(t, "--expiry-interval", "100ms")
	const user, secret = "otp", "your one-time code is 284913"
	tok := userToken(t, user)
	s := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok)
	initID := s.expect("init").ID
	epoch := initID[:strings.LastIndexByte(initID, '-')]
	exp := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	pub := n.publish(user, map[string]any{"title": secret, "body": secret, "expiresAt": exp})
	s.expect("notification")
	expectUnread(t, s, 1)
	del := s.expect("notification:deleted") // the expiry sweep
	if del.Data != fmt.Sprintf(`{"id":%q}`, pub.ID) {
		t.Fatalf("expiry event data %s", del.Data)
	}
	expectUnread(t, s, 0)
	if r := n.do("GET", "/api/notifications/"+pub.ID, tok, nil); r.Status != 404 {
		t.Fatalf("GET after expiry: %d", r.Status)
	}
	raw := n.readRaw("/api/notifications/stream", func(b []byte) bool {
		return bytes.Contains(b, []byte(del.ID+"\n"))
	}, 200*time.Millisecond, 5*time.Second, "Authorization", "Bearer "+tok, "Last-Event-ID", initID)
	checkForgotten(t, raw, secret, epoch, pub.ID, seqOf(t, initID)+1, seqOf(t, del.ID))
}

// TestExpiredTopicNotificationIsForgotten: a topic notification is not an inbox item
// (nothing to delete), but its expiresAt is honoured in the topic's log: after it, a
// resume of the capability stream from before it replays nothing of it.
func TestExpiredTopicNotificationIsForgotten(t *testing.T) {
	t.Parallel()
	n := startNode(t, "--expiry-interval", "100ms")
	const secret = "door code 7731"
	var sub struct{ Token string }
	n.do("POST", "/api/tokens", apiKey, map[string]any{"stream": "topic:door", "scope": "subscribe"}).json(t, &sub)
	s := n.openStream("/api/stream/" + sub.Token)
	exp := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	if r := n.do("POST", "/api/notifications", apiKey, map[string]any{"topic": "door", "title": secret, "expiresAt": exp}); r.Status != 201 {
		t.Fatalf("topic publish: %d %s", r.Status, r.Body)
	}
	first := s.nextEvent()
	if !strings.Contains(first.Data, secret) {
		t.Fatalf("live event %s", first.Data)
	}
	epoch := first.ID[:strings.LastIndexByte(first.ID, '-')]
	if r := n.do("POST", "/api/notifications", apiKey, map[string]any{"topic": "door", "title": "after"}); r.Status != 201 {
		t.Fatalf("topic publish: %d %s", r.Status, r.Body)
	}
	s.nextEvent()
	time.Sleep(2 * time.Second) // past expiresAt and a sweep
	raw := n.readRaw("/api/stream/"+sub.Token, func(b []byte) bool { return bytes.Contains(b, []byte(`"after"`)) },
		200*time.Millisecond, 5*time.Second, "Last-Event-ID", epoch+"-0")
	if bytes.Contains(raw, []byte(secret)) {
		t.Fatalf("the expired topic notification was replayed:\n%s", raw)
	}
}
