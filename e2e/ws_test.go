package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsFrame is a server frame as a client reads it.
type wsFrame struct {
	ID    string          `json:"id"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
	raw   string
}

type wsConn struct {
	t      *testing.T
	c      *websocket.Conn
	frames chan wsFrame
	closed chan error // the read error (a websocket.CloseError when closed by the server)
}

// dialWS opens the WebSocket stream at path (with query) and reads frames in the
// background. headers are name, value pairs.
func (n *node) dialWS(path string, headers ...string) *wsConn {
	n.t.Helper()
	c, resp, err := n.tryWS(path, headers...)
	if err != nil {
		n.t.Fatalf("dial %s: %v (%v)", path, err, resp)
	}
	return c
}

func (n *node) tryWS(path string, headers ...string) (*wsConn, *http.Response, error) {
	n.t.Helper()
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Set(headers[i], headers[i+1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(n.URL, "http")+path, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, resp, err
	}
	w := &wsConn{t: n.t, c: c, frames: make(chan wsFrame, 1024), closed: make(chan error, 1)}
	go func() {
		for {
			typ, msg, err := c.Read(context.Background())
			if err != nil {
				w.closed <- err
				close(w.frames)
				return
			}
			var f wsFrame
			if typ != websocket.MessageText || json.Unmarshal(msg, &f) != nil {
				f = wsFrame{Event: "<not JSON>"}
			}
			f.raw = string(msg)
			w.frames <- f
		}
	}()
	n.t.Cleanup(func() { c.CloseNow() })
	return w, resp, nil
}

func (w *wsConn) send(v string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, []byte(v)); err != nil {
		w.t.Fatalf("send %s: %v", v, err)
	}
}

func (w *wsConn) expect(event string) wsFrame {
	w.t.Helper()
	select {
	case f, ok := <-w.frames:
		if !ok {
			w.t.Fatalf("connection closed (%v), want %q", <-w.closed, event)
		}
		if f.Event != event {
			w.t.Fatalf("got frame %s, want event %q", f.raw, event)
		}
		return f
	case <-time.After(5 * time.Second):
		w.t.Fatalf("no frame within 5s, want %q", event)
	}
	return wsFrame{}
}

// closedWith waits for the server to close the connection and checks the code.
func (w *wsConn) closedWith(code websocket.StatusCode) string {
	w.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-w.frames:
			if ok {
				continue
			}
			err := <-w.closed
			var ce websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != code {
				w.t.Fatalf("closed with %v, want code %d", err, code)
			}
			return ce.Reason
		case <-deadline:
			w.t.Fatalf("still open, want close %d", code)
		}
	}
}

func TestWebSocketEventsMatchTheStream(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	tok := userToken(t, "w1")
	ws := n.dialWS("/api/notifications/ws", "Authorization", "Bearer "+tok)
	init := ws.expect("init")
	if init.ID == "" || string(init.Data) != `{"notifications":[],"unreadCount":0,"userId":"w1"}` {
		t.Fatalf("init frame %s", init.raw)
	}
	pub := n.publish("w1", map[string]any{"title": "over ws"})
	ev := ws.expect("notification")
	if got := decode[notification](t, string(ev.Data)); got.ID != pub.ID || got.Title != "over ws" {
		t.Fatalf("notification frame %s", ev.raw)
	}
	if seqOf(t, ev.ID) != seqOf(t, init.ID)+1 {
		t.Fatalf("id %s does not follow init %s", ev.ID, init.ID)
	}
	if u := ws.expect("unread"); u.raw != `{"event":"unread","data":{"unreadCount":1}}` {
		t.Fatalf("unread frame %s, want no id and the count", u.raw)
	}
	ws.send(`{"type":"ping"}`)
	if f := ws.expect("pong"); f.raw != `{"event":"pong"}` {
		t.Fatalf("pong frame %s", f.raw)
	}
}

func TestWebSocketReadFramesChangeTheInboxEverywhere(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	tok := userToken(t, "w2")
	a := n.publish("w2", nil)
	b := n.publish("w2", nil)
	c := n.publish("w2", nil)
	ws := n.dialWS("/api/notifications/ws?deviceId=phone", "Authorization", "Bearer "+tok)
	ws.expect("init")
	sse := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok)
	sse.expect("init")

	ws.send(`{"type":"notification:seen","id":"` + a.ID + `"}`)
	got := decode[notification](t, sse.expect("notification:updated").Data)
	if got.ID != a.ID || got.SeenAt == nil || got.ReadAt != nil {
		t.Fatalf("seen: %+v", got)
	}
	ws.expect("notification:updated") // the sender's own connection is told too

	ws.send(`{"type":"notification:read","id":"` + a.ID + `"}`)
	if got := decode[notification](t, sse.expect("notification:updated").Data); got.ID != a.ID || got.ReadAt == nil {
		t.Fatalf("read: %+v", got)
	}
	expectUnread(t, sse, 2)
	ws.expect("notification:updated")
	ws.expect("unread")

	ws.send(`{"type":"notification:read_all"}`)
	if got := decode[readData](t, sse.expect("notifications:read").Data); strings.Join(got.IDs, " ") != b.ID+" "+c.ID {
		t.Fatalf("read_all: notifications:read ids %v, want %s and %s", got.IDs, b.ID, c.ID)
	}
	expectUnread(t, sse, 0)
	r := n.do("GET", "/api/notifications/unread-count", tok, nil)
	if !strings.Contains(string(r.Body), `"unreadCount":0`) {
		t.Fatalf("unread count after read_all: %s", r.Body)
	}
	conns := n.do("GET", "/api/users/w2/connections", apiKey, nil)
	if !strings.Contains(string(conns.Body), `"deviceId":"phone"`) || !strings.Contains(string(conns.Body), `"transport":"ws"`) {
		t.Fatalf("connections: %s", conns.Body)
	}
}

func TestWebSocketBadFramesGetErrorFrames(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	tok := userToken(t, "w3")
	other := n.publish("someone-else", nil)
	ws := n.dialWS("/api/notifications/ws", "Authorization", "Bearer "+tok)
	ws.expect("init")
	for _, tc := range []struct{ frame, code string }{
		{`not json`, "invalid_request"},
		{`{"type":"notification:read"}`, "invalid_request"},
		{`{"type":"notification:read","id":"x\r\nevent: evil"}`, "invalid_request"},
		{`{"type":"explode"}`, "invalid_request"},
		{`{"type":"ping","extra":1}`, "invalid_request"},
		{`{"type":"notification:read","id":"` + other.ID + `"}`, "not_found"}, // another user's: as missing
	} {
		ws.send(tc.frame)
		f := ws.expect("error")
		var e struct{ Code, Message string }
		if err := json.Unmarshal(f.Data, &e); err != nil || e.Code != tc.code || e.Message == "" || f.ID != "" {
			t.Fatalf("frame %s: error frame %s, want code %s", tc.frame, f.raw, tc.code)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ws.c.Write(ctx, websocket.MessageBinary, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	ws.expect("error")
	ws.send(`{"type":"ping"}`) // still open after all that
	ws.expect("pong")
	if r := n.do("GET", "/api/users/someone-else/notifications", apiKey, nil); !strings.Contains(string(r.Body), `"readAt":null`) {
		t.Fatalf("another user's notification changed: %s", r.Body)
	}
	ws.send(`{"type":"` + strings.Repeat("x", 8<<10) + `"}`) // over the read limit
	ws.closedWith(websocket.StatusMessageTooBig)
}

func TestWebSocketResumeIsExact(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	tok := userToken(t, "w4")
	ws := n.dialWS("/api/notifications/ws", "Authorization", "Bearer "+tok)
	ws.expect("init")
	n.publish("w4", nil)
	last := ws.expect("notification").ID
	ws.c.CloseNow()
	var missed []string
	for range 3 {
		missed = append(missed, n.publish("w4", nil).ID)
	}
	custom := n.do("POST", "/api/users/w4/events", apiKey, `{"type":"ORDER_SHIPPED","body":{"orderId":7}}`)
	if custom.Status != http.StatusCreated && custom.Status != http.StatusAccepted && custom.Status != http.StatusOK {
		t.Fatalf("custom event: %d %s", custom.Status, custom.Body)
	}
	ws2 := n.dialWS("/api/notifications/ws?lastEventId="+last, "Authorization", "Bearer "+tok)
	prev := seqOf(t, last)
	for _, id := range missed {
		f := ws2.expect("notification")
		if got := decode[notification](t, string(f.Data)); got.ID != id || seqOf(t, f.ID) != prev+1 {
			t.Fatalf("replayed %s, want %s after seq %d", f.raw, id, prev)
		}
		prev++
		ws2.expect("unread")
	}
	f := ws2.expect("ORDER_SHIPPED")
	if seqOf(t, f.ID) != prev+1 || !strings.Contains(string(f.Data), `"orderId":7`) || !strings.Contains(string(f.Data), `"timestamp":"`) {
		t.Fatalf("custom event frame %s", f.raw)
	}
	ws2.expect("unread") // the count after the replay
}

func TestWebSocketAuthAndSlots(t *testing.T) {
	t.Parallel()
	n := startNode(t, "--max-streams-per-user", "2")
	t.Run("no credential", func(t *testing.T) {
		n.dialWS("/api/notifications/ws").closedWith(4401)
	})
	t.Run("bad token", func(t *testing.T) {
		n.dialWS("/api/notifications/ws?token=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.").closedWith(4401)
	})
	t.Run("API key", func(t *testing.T) {
		n.dialWS("/api/notifications/ws", "Authorization", "Bearer "+apiKey).closedWith(4403)
	})
	t.Run("cookie from a foreign page", func(t *testing.T) {
		_, resp, err := n.tryWS("/api/notifications/ws", "Cookie", "tocsin_token="+userToken(t, "w5"), "Origin", "https://evil.example")
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("cross-site WebSocket with a cookie: err %v, resp %v; want 403", err, resp)
		}
	})
	t.Run("cookie from the same origin", func(t *testing.T) {
		ws := n.dialWS("/api/notifications/ws", "Cookie", "tocsin_token="+userToken(t, "w5"), "Origin", n.URL)
		ws.expect("init")
	})
	t.Run("past the slot limit", func(t *testing.T) {
		tok := userToken(t, "w6")
		for range 2 {
			n.dialWS("/api/notifications/ws", "Authorization", "Bearer "+tok).expect("init")
		}
		reason := n.dialWS("/api/notifications/ws", "Authorization", "Bearer "+tok).closedWith(4429)
		if !strings.Contains(reason, "streams") {
			t.Fatalf("close reason %q", reason)
		}
	})
}
