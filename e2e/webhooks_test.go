package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// hookSink is an application's webhook endpoint: it verifies every request with the
// independent Standard Webhooks library and records the verified messages.
type hookSink struct {
	t    *testing.T
	srv  *httptest.Server
	mu   sync.Mutex
	wh   *standardwebhooks.Webhook // set once the endpoint is registered
	msgs chan hookMsg
	// failFirst answers this many requests 503 with Retry-After: 1 before accepting.
	failFirst int
	requests  atomic.Int32
	// hold, when set, keeps every request waiting until it is closed (a hung peer).
	hold chan struct{}
}

type hookMsg struct {
	ID        string // webhook-id
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Data      json.RawMessage
}

func newHookSink(t *testing.T, failFirst int) *hookSink {
	s := &hookSink{t: t, msgs: make(chan hookMsg, 256), failFirst: failFirst}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *hookSink) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	wh := s.wh
	s.mu.Unlock()
	if wh == nil {
		s.t.Errorf("webhook before the endpoint was registered: %s", body)
		http.Error(w, "not registered", http.StatusGone)
		return
	}
	if err := wh.Verify(body, r.Header); err != nil {
		s.t.Errorf("webhook signature does not verify: %v\n%s", err, body)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if s.hold != nil {
		s.requests.Add(1)
		select {
		case <-s.hold:
		case <-r.Context().Done():
		}
		http.Error(w, "gave up", http.StatusServiceUnavailable)
		return
	}
	if n := s.requests.Add(1); int(n) <= s.failFirst {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	var m hookMsg
	if err := json.Unmarshal(body, &m); err != nil {
		s.t.Errorf("webhook body is not JSON: %v", err)
	}
	m.ID = r.Header.Get("webhook-id")
	s.msgs <- m
	w.WriteHeader(http.StatusNoContent)
}

// register creates the endpoint on n for events and keeps its secret for verifying.
func (s *hookSink) register(n *node, events ...string) string {
	s.t.Helper()
	r := n.do("POST", "/api/webhooks", apiKey, map[string]any{"url": s.srv.URL + "/hook", "events": events})
	if r.Status != http.StatusCreated {
		s.t.Fatalf("register webhook: %d %s", r.Status, r.Body)
	}
	var out struct{ ID, Secret string }
	r.json(s.t, &out)
	wh, err := standardwebhooks.NewWebhook(out.Secret)
	if err != nil {
		s.t.Fatalf("the secret %q is not a Standard Webhooks secret: %v", out.Secret, err)
	}
	s.mu.Lock()
	s.wh = wh
	s.mu.Unlock()
	return out.ID
}

func (s *hookSink) next() hookMsg {
	s.t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(15 * time.Second):
		s.t.Fatal("no webhook within 15s")
		return hookMsg{}
	}
}

// TestWebhooks: the binary sends signed lifecycle events, custom events and the
// notification.deliver channel to a real endpoint, in order per user; an endpoint
// that fails twice gets the message on the third attempt, as its history shows;
// without --webhook-allow-private a loopback endpoint is refused.
func TestWebhooks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	p := startProc(t, freeAddr(t), t.TempDir(), "--webhook-allow-private")
	n, user := p.node, "hook-u1"
	putProfile(t, n, user, "hook-u1@example.test")
	sink := newHookSink(t, 0)
	sink.register(n, "notification.created", "notification.updated", "notification.deleted", "event.custom", "notification.deliver")
	flaky := newHookSink(t, 2)
	flakyID := flaky.register(n, "notification.created")

	a := n.publish(user, map[string]any{"title": "hooked"})
	if r := n.do("PATCH", "/api/notifications/"+a.ID, userToken(t, user), map[string]any{"read": true}); r.Status != http.StatusOK {
		t.Fatalf("mark read: %d %s", r.Status, r.Body)
	}
	if r := n.do("DELETE", "/api/notifications/"+a.ID, userToken(t, user), nil); r.Status/100 != 2 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if r := n.do("POST", "/api/users/"+user+"/events", apiKey, map[string]any{"type": "ORDER_SHIPPED", "body": map[string]string{"orderId": "A-17"}}); r.Status/100 != 2 {
		t.Fatalf("custom event: %d %s", r.Status, r.Body)
	}
	b := n.publish(user, map[string]any{"title": "deliver me", "channels": map[string]string{"webhook": "0s"}})

	type dataOf struct {
		ID           string `json:"id"`
		UserID       string `json:"userId"`
		Event        string `json:"event"`
		ReadAt       *string
		Body         any
		Notification notification
		User         struct{ UserID, Email string }
	}
	want := []struct {
		typ, id string
		check   func(d dataOf) bool
	}{
		{"notification.created", a.ID, func(d dataOf) bool { return d.UserID == user }},
		{"notification.updated", a.ID, func(d dataOf) bool { return d.ReadAt != nil }},
		{"notification.deleted", a.ID, func(d dataOf) bool { return d.UserID == user }},
		{"event.custom", "", func(d dataOf) bool {
			return d.UserID == user && d.Event == "ORDER_SHIPPED" && strings.Contains(string(mustJSON(d.Body)), `"orderId":"A-17"`)
		}},
		{"notification.created", b.ID, func(d dataOf) bool { return d.UserID == user }},
		{"notification.deliver", "", func(d dataOf) bool {
			return d.Notification.ID == b.ID && d.User.UserID == user && d.User.Email == "hook-u1@example.test"
		}},
	}
	ids := map[string]bool{}
	for i, w := range want {
		m := sink.next()
		var d dataOf
		if err := json.Unmarshal(m.Data, &d); err != nil {
			t.Fatalf("message %d data: %v", i, err)
		}
		if m.Type != w.typ || (w.id != "" && d.ID != w.id) || !w.check(d) {
			t.Fatalf("message %d is %s %s, want %s of %q", i, m.Type, m.Data, w.typ, w.id)
		}
		if _, err := time.Parse(time.RFC3339, m.Timestamp); err != nil {
			t.Errorf("message %d timestamp %q: %v", i, m.Timestamp, err)
		}
		if m.ID == "" || ids[m.ID] {
			t.Errorf("message %d webhook-id %q empty or repeated", i, m.ID)
		}
		ids[m.ID] = true
	}
	select {
	case m := <-sink.msgs:
		t.Fatalf("unexpected extra message %s %s", m.Type, m.Data)
	case <-time.After(500 * time.Millisecond):
	}
	if d := deliveryOf(t, n, user, b.ID, "webhook"); d.Status != "sent" {
		t.Errorf("notification.deliver logged %+v, want sent", d)
	}

	// The flaky endpoint: 503 twice (Retry-After: 1), then accepted, in order.
	for _, id := range []string{a.ID, b.ID} {
		m := flaky.next()
		var d dataOf
		_ = json.Unmarshal(m.Data, &d)
		if m.Type != "notification.created" || d.ID != id {
			t.Fatalf("flaky endpoint got %s %s, want notification.created of %s", m.Type, m.Data, id)
		}
	}
	if got := flaky.requests.Load(); got != 4 {
		t.Errorf("flaky endpoint saw %d requests, want 4 (2 refused, 2 accepted)", got)
	}
	r := n.do("GET", "/api/webhooks/"+flakyID+"/deliveries", apiKey, nil)
	var hist struct {
		Deliveries []struct {
			Event, Status string
			Attempts      int
			LastStatus    int
		}
	}
	r.json(t, &hist)
	if len(hist.Deliveries) != 2 {
		t.Fatalf("flaky history: %s", r.Body)
	}
	first := hist.Deliveries[len(hist.Deliveries)-1] // newest first
	if first.Status != "done" || first.Attempts != 3 || first.Event != "notification.created" {
		t.Errorf("the first message's history: %+v, want done after 3 attempts (%s)", first, r.Body)
	}
}

// TestWebhookPrivateRefused: without --webhook-allow-private a loopback or private
// address is a 400 at registration; a host name is accepted there (what it
// resolves to may change) and refused on every dial, so a name resolving to
// loopback never gets a request.
func TestWebhookPrivateRefused(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	for _, u := range []string{"http://127.0.0.1:9/hook", "http://10.0.0.1/hook", "http://[::1]:9/hook", "http://169.254.169.254/latest"} {
		r := n.do("POST", "/api/webhooks", apiKey, map[string]any{"url": u, "events": []string{"notification.created"}})
		if r.Status != http.StatusBadRequest {
			t.Errorf("register %s: %d %s, want 400", u, r.Status, r.Body)
		}
	}
	if r := n.do("GET", "/api/webhooks", apiKey, nil); !strings.Contains(string(r.Body), `"webhooks":[]`) {
		t.Errorf("refused endpoints were stored: %s", r.Body)
	}

	sink := newHookSink(t, 0)
	r := n.do("POST", "/api/webhooks", apiKey, map[string]any{
		"url": strings.Replace(sink.srv.URL, "127.0.0.1", "localhost", 1) + "/hook", "events": []string{"notification.created"},
	})
	if r.Status != http.StatusCreated {
		t.Fatalf("register a host name: %d %s", r.Status, r.Body)
	}
	var ep struct{ ID string }
	r.json(t, &ep)
	n.publish("private-u1", nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var hist struct {
			Deliveries []struct {
				Status, LastError string
				Attempts          int
			}
		}
		n.do("GET", "/api/webhooks/"+ep.ID+"/deliveries", apiKey, nil).json(t, &hist)
		if len(hist.Deliveries) == 1 && hist.Deliveries[0].Attempts > 0 && hist.Deliveries[0].LastError != "" {
			t.Logf("refused at dial: %+v", hist.Deliveries[0])
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no refused attempt in the history: %+v", hist)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := sink.requests.Load(); got != 0 {
		t.Fatalf("the loopback endpoint got %d requests", got)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// TestWebhookHungEndpointDelaysNothing: an endpoint that never answers holds back
// neither publishing nor another endpoint's messages, which arrive in order.
func TestWebhookHungEndpointDelaysNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	p := startProc(t, freeAddr(t), t.TempDir(), "--webhook-allow-private", "--webhook-timeout", "1m")
	n := p.node
	hung := newHookSink(t, 0)
	hung.hold = make(chan struct{})
	t.Cleanup(func() { close(hung.hold) }) // before the server closes (cleanups run last first)
	hung.register(n, "notification.created")
	good := newHookSink(t, 0)
	good.register(n, "notification.created")

	const count = 30
	var ids []string
	start := time.Now()
	for i := range count {
		ids = append(ids, n.publish(fmt.Sprintf("hung-u%d", i%3), nil).ID)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("%d publishes took %v with a hung endpoint", count, d)
	}
	got := map[string]int{}
	last := map[string]string{}
	for range count {
		m := good.next()
		var d struct{ ID, UserID string }
		_ = json.Unmarshal(m.Data, &d)
		if got[d.ID]++; got[d.ID] > 1 {
			t.Fatalf("%s delivered twice to the good endpoint", d.ID)
		}
		if d.ID <= last[d.UserID] {
			t.Fatalf("%s after %s for %s: out of order", d.ID, last[d.UserID], d.UserID)
		}
		last[d.UserID] = d.ID
	}
	for _, id := range ids {
		if got[id] != 1 {
			t.Fatalf("%s reached the good endpoint %d times", id, got[id])
		}
	}
	if r := hung.requests.Load(); r < 1 || r > 3 {
		t.Errorf("the hung endpoint has %d requests open, want one per user in flight at most", r)
	}
}
