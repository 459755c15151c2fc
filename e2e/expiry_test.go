package e2e

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tocsin/tocsin/auth"
)

// noExpToken is a user JWT without exp, signed with the test secret.
func noExpToken(t *testing.T, user string) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": user, "iat": time.Now().Unix()}).SignedString([]byte(jwtSecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// expiringToken mints a token for user whose exp is a whole second, at least min from
// now, and returns it with that instant.
func expiringToken(t *testing.T, user string, min time.Duration) (string, time.Time) {
	t.Helper()
	now := time.Now()
	exp := now.Add(min).Truncate(time.Second).Add(time.Second)
	tok, err := auth.MintJWT([]byte(jwtSecret), user, exp.Sub(now), now)
	if err != nil {
		t.Fatal(err)
	}
	return tok, exp
}

// TestJWTWithoutExp: a user JWT without exp is refused with 401 saying so, on REST,
// SSE and WebSocket; --jwt-allow-no-exp accepts it.
func TestJWTWithoutExp(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	tok := noExpToken(t, "ne")
	r := n.do("GET", "/api/notifications", tok, nil)
	if r.Status != 401 || r.errCode(t) != "unauthorized" || !strings.Contains(string(r.Body), "no exp") {
		t.Fatalf("no-exp JWT: %d %s, want 401 saying the token has no exp", r.Status, r.Body)
	}
	if _, status, body := n.tryStream("/api/notifications/stream?token=" + tok); status != 401 || !strings.Contains(string(body), "no exp") {
		t.Fatalf("no-exp JWT stream: %d %s", status, body)
	}
	if reason := n.dialWS("/api/notifications/ws?token=" + tok).closedWith(4401); !strings.Contains(reason, "no exp") {
		t.Fatalf("no-exp JWT WebSocket: reason %q", reason)
	}

	open := startNode(t, "--jwt-allow-no-exp")
	if r := open.do("GET", "/api/notifications", tok, nil); r.Status != 200 {
		t.Fatalf("--jwt-allow-no-exp: %d %s", r.Status, r.Body)
	}
	open.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok).expect("init")
}

// TestStreamsEndWhenTheirTokenExpires: SSE streams opened with a JWT (header, cookie,
// ?token=), with a ticket minted from it, and a WebSocket, all with a token that
// expires in about 2 s, are ended by the server within a second after exp: SSE
// cleanly, the WebSocket with 4401 "token expired". The same token then opens
// nothing; a fresh one resumes without a gap. Streams of a gateway's header and of a
// capability token have no expiry and stay open.
func TestStreamsEndWhenTheirTokenExpires(t *testing.T) {
	t.Parallel()
	n := startNode(t, "--trusted-user-header", "Member-ID")
	user := "exp"
	tok, exp := expiringToken(t, user, 2*time.Second)
	var tick struct{ Ticket string }
	n.do("POST", "/api/notifications/stream-ticket", tok, nil).json(t, &tick)
	var capTok struct{ Token string }
	n.do("POST", "/api/tokens", apiKey, map[string]any{"stream": "user:" + user, "scope": "subscribe"}).json(t, &capTok)

	sse := map[string]*stream{
		"header": n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok),
		"cookie": n.openStream("/api/notifications/stream", "Cookie", "tocsin_token="+tok),
		"query":  n.openStream("/api/notifications/stream?token=" + tok),
		"ticket": n.openStream("/api/notifications/stream?ticket=" + tick.Ticket),
	}
	ws := n.dialWS("/api/notifications/ws?token=" + tok)
	ws.expect("init")
	gateway := n.openStream("/events", "Member-ID", user)
	capability := n.openStream("/api/stream/" + capTok.Token)
	for _, s := range sse {
		s.expect("init")
	}
	pub := n.publish(user, nil) // delivered to all while the token is valid
	last := ""
	for name, s := range sse {
		ev := s.expect("notification")
		if decode[notification](t, ev.Data).ID != pub.ID {
			t.Fatalf("%s: got %s", name, ev.Data)
		}
		last = ev.ID
		s.expect("unread")
	}

	// Every stream's end, timed as it happens.
	type end struct {
		name string
		at   time.Time
		err  error
	}
	ends := make(chan end, len(sse)+1)
	for name, s := range sse {
		go func() {
			for range s.events {
			}
			ends <- end{name, time.Now(), <-s.errs}
		}()
	}
	go func() {
		for range ws.frames {
		}
		ends <- end{"websocket", time.Now(), <-ws.closed}
	}()
	timeout := time.After(time.Until(exp) + 3*time.Second)
	for range len(sse) + 1 {
		var e end
		select {
		case e = <-ends:
		case <-timeout:
			t.Fatalf("streams still open 3s after exp")
		}
		if late := e.at.Sub(exp); late < 0 || late > 1300*time.Millisecond {
			t.Errorf("%s stream ended %v after exp, want within about a second", e.name, late)
		}
		if e.name == "websocket" {
			var ce websocket.CloseError
			if !errors.As(e.err, &ce) || ce.Code != 4401 || ce.Reason != "token expired" {
				t.Errorf("WebSocket ended with %v, want close 4401 \"token expired\"", e.err)
			}
		} else if !errors.Is(e.err, io.EOF) {
			t.Errorf("%s stream ended with %v, want a clean end (io.EOF)", e.name, e.err)
		}
	}

	// The expired token opens nothing more; a fresh one resumes exactly.
	if _, status, _ := n.tryStream("/api/notifications/stream", "Authorization", "Bearer "+tok); status != http.StatusUnauthorized {
		t.Fatalf("the expired token: %d, want 401", status)
	}
	missed := n.publish(user, map[string]any{"title": "while away"})
	s := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+userToken(t, user), "Last-Event-ID", last)
	if ev := s.expect("notification"); decode[notification](t, ev.Data).ID != missed.ID || seqOf(t, ev.ID) != seqOf(t, last)+1 {
		t.Fatalf("resumed with %s %s, want the missed notification right after %s", ev.ID, ev.Data, last)
	}

	// No expiry for the gateway's header and the capability token: still delivering.
	after := n.publish(user, map[string]any{"title": "after exp"})
	for name, s := range map[string]*stream{"gateway": gateway, "capability": capability} {
		for {
			ev := s.nextEvent()
			if strings.Contains(ev.Data, after.ID) {
				break
			}
			if ev.Name == "" && ev.Data == "" {
				t.Fatalf("%s stream ended", name)
			}
		}
	}
}
