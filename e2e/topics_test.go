package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tocsin/tocsin/auth"
)

type tokenOut struct {
	ID, Token, URL, Stream, Scope string
	RevokedAt                     *string
}

func (n *node) mintToken(stream, scope string) tokenOut {
	n.t.Helper()
	r := n.do("POST", "/api/tokens", apiKey, map[string]string{"stream": stream, "scope": scope})
	if r.Status != http.StatusCreated {
		n.t.Fatalf("mint token: %d %s", r.Status, r.Body)
	}
	var t tokenOut
	r.json(n.t, &t)
	return t
}

// capEvent is what a capability stream's data holds, at least.
type capEvent struct {
	ID        string   `json:"id"`
	Title     string   `json:"title"`
	Message   string   `json:"message"`
	Priority  int      `json:"priority"`
	Tags      []string `json:"tags"`
	Timestamp string   `json:"timestamp"`
	Topic     string   `json:"topic"`
}

func TestTopicsTokensAndHooks(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	sub := n.mintToken("topic:deploys", "subscribe")
	hook := n.mintToken("topic:deploys", "publish")
	if !strings.HasPrefix(sub.URL, "/api/stream/") || !strings.HasPrefix(hook.URL, "/api/hooks/") || sub.Token == "" {
		t.Fatalf("tokens: %+v %+v", sub, hook)
	}
	s := n.openStream(sub.URL)
	if s.resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("capability stream CORS: %v", s.resp.Header)
	}

	// Publish with the API key and topic, then through the hook, plain text and JSON.
	pub := n.do("POST", "/api/notifications", apiKey, `{"topic":"deploys","title":"v1.2 out","body":"all green","tags":["prod"]}`)
	if pub.Status != http.StatusCreated || !strings.Contains(string(pub.Body), `"topic":"deploys"`) {
		t.Fatalf("topic publish: %d %s", pub.Status, pub.Body)
	}
	h := n.do("POST", hook.URL, "", "disk almost full", "Content-Type", "text/plain", "Title", "Alert", "Priority", "urgent", "Tags", "disk, ops")
	if h.Status != http.StatusCreated {
		t.Fatalf("hook text: %d %s", h.Status, h.Body)
	}
	hj := n.do("POST", hook.URL, "", `{"title":"json hook","body":"b","priority":2}`)
	if hj.Status != http.StatusCreated {
		t.Fatalf("hook json: %d %s", hj.Status, hj.Body)
	}
	want := []capEvent{
		{Title: "v1.2 out", Message: "all green", Priority: 3, Tags: []string{"prod"}},
		{Title: "Alert", Message: "disk almost full", Priority: 5, Tags: []string{"disk", "ops"}},
		{Title: "json hook", Message: "b", Priority: 2, Tags: []string{}},
	}
	var lastID string
	for i, w := range want {
		ev := s.nextEvent()
		if ev.Name != "message" {
			t.Fatalf("event %d is named %q; capability events are unnamed (onmessage)", i, ev.Name)
		}
		var got capEvent
		if err := json.Unmarshal([]byte(ev.Data), &got); err != nil {
			t.Fatal(err)
		}
		if _, err := time.Parse(time.RFC3339Nano, got.Timestamp); err != nil || got.ID == "" || got.Title != w.Title ||
			got.Message != w.Message || got.Priority != w.Priority || strings.Join(got.Tags, ",") != strings.Join(w.Tags, ",") ||
			got.Topic != "deploys" {
			t.Fatalf("event %d data %s, want %+v", i, ev.Data, w)
		}
		lastID = ev.ID
	}
	s.close()
	// Exact resume.
	n.do("POST", hook.URL, "", "after", "Content-Type", "text/plain", "Title", "missed")
	s2 := n.openStream(sub.URL, "Last-Event-ID", lastID)
	var got capEvent
	json.Unmarshal([]byte(s2.nextEvent().Data), &got)
	if got.Title != "missed" {
		t.Fatalf("resume: %+v", got)
	}

	// Scopes: a subscribe token cannot publish, a hook token cannot subscribe.
	if r := n.do("POST", "/api/hooks/"+sub.Token, "", "x", "Content-Type", "text/plain"); r.Status != http.StatusForbidden {
		t.Fatalf("publish with a subscribe token: %d", r.Status)
	}
	if _, status, _ := n.tryStream("/api/stream/" + hook.Token); status != http.StatusForbidden {
		t.Fatalf("subscribe with a hook token: %d", status)
	}
	// Bad input through the hook.
	for _, tc := range []struct {
		body    string
		headers []string
	}{
		{"x", []string{"Content-Type", "text/plain", "Priority", "9"}},
		{"x", []string{"Content-Type", "text/plain", "Priority", "loud"}},
		{`{"userId":"someone","title":"x"}`, nil},
		{`{"title":`, nil},
	} {
		if r := n.do("POST", hook.URL, "", tc.body, tc.headers...); r.Status != http.StatusBadRequest {
			t.Fatalf("hook %q %v: %d %s, want 400", tc.body, tc.headers, r.Status, r.Body)
		}
	}
	if _, status, _ := n.tryStream("/api/stream/tks_not_a_real_token"); status != http.StatusUnauthorized {
		t.Fatalf("unknown token: %d", status)
	}

	// Listing shows ids, never tokens.
	list := n.do("GET", "/api/tokens", apiKey, nil)
	if strings.Contains(string(list.Body), sub.Token) || !strings.Contains(string(list.Body), sub.ID) {
		t.Fatalf("token list: %s", list.Body)
	}

	// Revoking closes the open stream and refuses the token from then on.
	s3 := n.openStream(sub.URL)
	if r := n.do("DELETE", "/api/tokens/"+sub.Token, apiKey, nil); r.Status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	s3.ended(5 * time.Second)
	if _, status, _ := n.tryStream(sub.URL); status != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d", status)
	}
	if r := n.do("DELETE", "/api/tokens/"+hook.ID, apiKey, nil); r.Status != http.StatusNoContent {
		t.Fatalf("revoke by id: %d", r.Status)
	}
	if r := n.do("POST", hook.URL, "", "x", "Content-Type", "text/plain"); r.Status != http.StatusUnauthorized {
		t.Fatalf("revoked hook: %d", r.Status)
	}
}

func TestUserCapabilityAndTopicClaim(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	// A capability stream of a user's stream: notifications only, unnamed.
	sub := n.mintToken("user:42", "subscribe")
	s := n.openStream(sub.URL)
	a := n.publish("42", map[string]any{"title": "hello 42"})
	n.do("PATCH", "/api/notifications/"+a.ID, userToken(t, "42"), `{"read":true}`) // not a notification event
	b := n.publish("42", map[string]any{"title": "second"})
	for _, want := range []notification{a, b} {
		ev := s.nextEvent()
		var got capEvent
		json.Unmarshal([]byte(ev.Data), &got)
		if ev.Name != "message" || got.ID != want.ID {
			t.Fatalf("got %q %s, want unnamed %s", ev.Name, ev.Data, want.ID)
		}
	}

	// A JWT granting topics streams them at /api/topics/{name}/stream.
	tok, err := auth.MintJWT([]byte(jwtSecret), "ops-user", time.Hour, time.Now(), "deploys")
	if err != nil {
		t.Fatal(err)
	}
	ts := n.openStream("/api/topics/deploys/stream", "Authorization", "Bearer "+tok)
	n.do("POST", "/api/notifications", apiKey, `{"topic":"deploys","title":"t1"}`)
	if ev := ts.expect("notification"); !strings.Contains(ev.Data, `"title":"t1"`) {
		t.Fatalf("topic stream: %+v", ev)
	}
	if _, status, _ := n.tryStream("/api/topics/secret/stream", "Authorization", "Bearer "+tok); status != http.StatusForbidden {
		t.Fatalf("ungranted topic: %d", status)
	}
	if _, status, _ := n.tryStream("/api/topics/deploys/stream", "Authorization", "Bearer "+userToken(t, "plain")); status != http.StatusForbidden {
		t.Fatalf("token without topics: %d", status)
	}
	for _, body := range []string{`{"topic":"bad topic","title":"x"}`, `{"topic":"a","userId":"b"}`} {
		if r := n.do("POST", "/api/notifications", apiKey, body); r.Status != http.StatusBadRequest {
			t.Fatalf("%s: %d", body, r.Status)
		}
	}
	if r := n.do("POST", "/api/tokens", apiKey, `{"stream":"everything","scope":"subscribe"}`); r.Status != http.StatusBadRequest {
		t.Fatalf("bad stream: %d", r.Status)
	}
	if r := n.do("POST", "/api/tokens", apiKey, `{"stream":"topic:x","scope":"admin"}`); r.Status != http.StatusBadRequest {
		t.Fatalf("bad scope: %d", r.Status)
	}
	if r := n.do("POST", "/api/tokens", userToken(t, "u"), `{"stream":"topic:x","scope":"subscribe"}`); r.Status != http.StatusForbidden {
		t.Fatalf("user minting tokens: %d", r.Status)
	}
}
