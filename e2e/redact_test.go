package e2e

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log destination shared by the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestCapabilityTokensNeverReachTheLog: with the server logging at debug level, the
// capability URLs (valid, revoked, unknown, mistyped, with a trailing segment that
// 404s), ?token= and ?ticket= are requested; no token, JWT or ticket appears in any
// log line or any response body (error messages included).
func TestCapabilityTokensNeverReachTheLog(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	n := startNodeLog(t, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	mint := func(scope string) string {
		var tk struct{ Token string }
		r := n.do("POST", "/api/tokens", apiKey, map[string]any{"stream": "user:rd", "scope": scope})
		r.json(t, &tk)
		if tk.Token == "" {
			t.Fatalf("mint %s token: %d %s", scope, r.Status, r.Body)
		}
		return tk.Token
	}
	sub, hook, revoked := mint("subscribe"), mint("publish"), mint("subscribe")
	unknown := "tks_" + strings.Repeat("U", 32)
	jwt := userToken(t, "rd")
	var tick struct{ Ticket string }
	n.do("POST", "/api/notifications/stream-ticket", jwt, nil).json(t, &tick)
	secrets := map[string]string{"subscribe token": sub, "hook token": hook, "revoked token": revoked,
		"unknown token": unknown, "JWT": jwt, "ticket": tick.Ticket}

	if r := n.do("DELETE", "/api/tokens/"+revoked, apiKey, nil); r.Status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	var bodies []string
	check := func(method, path string, bearer string, body any, want int) {
		t.Helper()
		r := n.do(method, path, bearer, body)
		if r.Status != want {
			t.Fatalf("%s %s: %d %s, want %d", method, redactForTest(path, secrets), r.Status, r.Body, want)
		}
		bodies = append(bodies, string(r.Body))
	}
	check("GET", "/api/stream/"+revoked, "", nil, 401)
	check("GET", "/api/stream/"+unknown, "", nil, 401)
	check("GET", "/api/stream/"+sub+"/junk", "", nil, 404)
	check("GET", "/API/STREAM/"+sub, "", nil, 404)
	check("POST", "/api/hooks/"+hook, "", `{"title":"hello"}`, 201)
	check("POST", "/api/hooks/"+hook+"/junk", "", `{"title":"hello"}`, 404)
	check("POST", "/api/hooks/"+unknown, "", `{"title":"hello"}`, 401)
	check("DELETE", "/api/tokens/"+unknown, apiKey, nil, 404)
	check("DELETE", "/api/tokens/"+revoked+"/x", apiKey, nil, 404)
	check("GET", "/api/notifications/stream/x?token="+jwt, "", nil, 404)
	check("GET", "/api/notifications?token="+jwt+"&ticket="+tick.Ticket, "", nil, 200)

	// Streams that open: the capability URL, ?token= and the ticket (then reused: 401).
	for _, path := range []string{"/api/stream/" + sub, "/api/notifications/stream?token=" + jwt,
		"/api/notifications/stream?ticket=" + tick.Ticket} {
		s := n.openStream(path)
		s.close()
	}
	if _, status, body := n.tryStream("/api/notifications/stream?ticket=" + tick.Ticket); status != 401 {
		t.Fatalf("reused ticket: %d", status)
	} else {
		bodies = append(bodies, string(body))
	}
	n.dialWS("/api/notifications/ws?token=" + jwt).expect("init")

	time.Sleep(100 * time.Millisecond) // the streams' ends are logged as they close
	out := logs.String()
	if !strings.Contains(out, "[redacted]") || !strings.Contains(out, "level=DEBUG") {
		t.Fatalf("the debug log holds no redacted request line; the test would prove nothing:\n%s", out)
	}
	for name, secret := range secrets {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds the %s:\n%s", name, redactForTest(out, secrets))
		}
		for _, b := range bodies {
			if strings.Contains(b, secret) {
				t.Errorf("a response holds the %s: %s", name, redactForTest(b, secrets))
			}
		}
	}
}

// redactForTest hides the test's secrets from its own failure messages.
func redactForTest(s string, secrets map[string]string) string {
	for name, v := range secrets {
		s = strings.ReplaceAll(s, v, "<"+name+">")
	}
	return s
}
