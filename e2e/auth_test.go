package e2e

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tocsin/tocsin/auth"
)

func TestAuthRefusals(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	b64 := base64.RawURLEncoding.EncodeToString
	claims := fmt.Sprintf(`{"sub":"victim","exp":%d}`, time.Now().Add(time.Hour).Unix())
	algNone := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64([]byte(claims)) + "."
	otherSecret, _ := auth.MintJWT([]byte("some-other-secret-of-enough-length"), "victim", time.Hour, time.Now())
	expired, _ := auth.MintJWT([]byte(jwtSecret), "victim", -time.Minute, time.Now().Add(-time.Hour))
	good := userToken(t, "victim")

	for _, tc := range []struct {
		name, method, path, bearer string
		status                     int
	}{
		{"stream without credentials", "GET", "/api/notifications/stream", "", 401},
		{"stream alg none", "GET", "/api/notifications/stream", algNone, 401},
		{"stream wrong signature", "GET", "/api/notifications/stream", otherSecret, 401},
		{"stream expired", "GET", "/api/notifications/stream", expired, 401},
		{"stream garbage", "GET", "/api/notifications/stream", "a.b.c", 401},
		{"inbox with API key", "GET", "/api/notifications", apiKey, 403},
		{"publish with user JWT", "POST", "/api/notifications", good, 403},
		{"publish with wrong key", "POST", "/api/notifications", "tk_wrong", 401},
		{"publish with key prefix", "POST", "/api/notifications", apiKey[:len(apiKey)-1], 401},
		{"publish without key", "POST", "/api/notifications", "", 401},
		{"admin list with user JWT", "GET", "/api/users/victim/notifications", good, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := n.do(tc.method, tc.path, tc.bearer, nil)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			code := r.errCode(t)
			if (tc.status == 401) != (code == "unauthorized") {
				t.Fatalf("code %q for status %d", code, tc.status)
			}
			if strings.Contains(string(r.Body), tc.bearer) && tc.bearer != "" {
				t.Fatalf("error echoes the credential: %s", r.Body)
			}
		})
	}
	if r := n.do("GET", "/api/notifications/stream", "", nil); r.Header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
}

// TestStreamCredentials: the JWT by cookie and by ?token= both open the stream.
func TestStreamCredentials(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	tok := userToken(t, "c")
	n.openStream("/api/notifications/stream", "Cookie", "tocsin_token="+tok).expect("init")
	n.openStream("/api/notifications/stream?token=" + tok).expect("init")
}

// TestCookieCSRF: a cookie-authenticated change from another site is refused.
func TestCookieCSRF(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	tok := userToken(t, "cs")
	a := n.publish("cs", nil)
	r := n.do("PATCH", "/api/notifications/"+a.ID, "", map[string]any{"read": true},
		"Cookie", "tocsin_token="+tok, "Origin", "https://evil.example")
	if r.Status != 403 {
		t.Fatalf("cross-site cookie PATCH: %d %s", r.Status, r.Body)
	}
	r = n.do("PATCH", "/api/notifications/"+a.ID, "", map[string]any{"read": true},
		"Cookie", "tocsin_token="+tok, "Origin", n.URL)
	if r.Status != 200 {
		t.Fatalf("same-origin cookie PATCH: %d %s", r.Status, r.Body)
	}
}

// TestStreamTicket: a ticket opens the stream once, within its lifetime.
func TestStreamTicket(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	tok := userToken(t, "tix")
	r := n.do("POST", "/api/notifications/stream-ticket", tok, nil)
	if r.Status != 201 {
		t.Fatalf("mint: %d %s", r.Status, r.Body)
	}
	var tk struct {
		Ticket    string    `json:"ticket"`
		ExpiresAt time.Time `json:"expiresAt"`
	}
	r.json(t, &tk)
	if tk.Ticket == "" || time.Until(tk.ExpiresAt) > 61*time.Second || time.Until(tk.ExpiresAt) < 50*time.Second {
		t.Fatalf("ticket %+v", tk)
	}
	s := n.openStream("/api/notifications/stream?ticket=" + tk.Ticket)
	s.expect("init")
	a := n.publish("tix", nil)
	if got := decode[notification](t, s.expect("notification").Data); got.ID != a.ID || got.UserID != "tix" {
		t.Fatalf("ticket stream got %+v", got)
	}
	if _, status, body := n.tryStream("/api/notifications/stream?ticket=" + tk.Ticket); status != 401 {
		t.Fatalf("reused ticket: %d %s", status, body)
	}
	if _, status, _ := n.tryStream("/api/notifications/stream?ticket=made-up"); status != 401 {
		t.Fatalf("unknown ticket: %d", status)
	}
	if r := n.do("POST", "/api/notifications/stream-ticket", apiKey, nil); r.Status != http.StatusForbidden {
		t.Fatalf("ticket minted with an API key: %d", r.Status)
	}
}

// TestStreamSlots: the 11th stream of one user is refused with 429.
func TestStreamSlots(t *testing.T) {
	t.Parallel()
	n := startNode(t, "--max-streams-per-user", "3")
	tok := userToken(t, "slots")
	for i := 0; i < 3; i++ {
		n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok).expect("init")
	}
	_, status, body := n.tryStream("/api/notifications/stream", "Authorization", "Bearer "+tok)
	if status != 429 || !strings.Contains(string(body), "rate_limited") {
		t.Fatalf("4th stream: %d %s", status, body)
	}
	var conns struct {
		Connections []struct{ Transport string } `json:"connections"`
	}
	n.do("GET", "/api/users/slots/connections", apiKey, nil).json(t, &conns)
	if len(conns.Connections) != 3 || conns.Connections[0].Transport != "sse" {
		t.Fatalf("connections: %+v", conns)
	}
}
