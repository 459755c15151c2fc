package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// raw sends a request with headers added as given (a header may repeat).
func (n *node) raw(method, path, body string, headers ...string) response {
	n.t.Helper()
	req, err := http.NewRequest(method, n.URL+path, strings.NewReader(body))
	if err != nil {
		n.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header[headers[i]] = append(req.Header[headers[i]], headers[i+1]) // not canonicalised
	}
	resp, err := n.httpClient().Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// TestTrustedHeaderExactNames: with --trusted-user-header X-Forwarded-User, only that
// name (in any letter case) is an identity: the dash-less XForwardedUser, which no
// gateway strips, and X_Forwarded_User are no one. Several names may be listed; a
// request naming two users, or one header twice, is refused.
func TestTrustedHeaderExactNames(t *testing.T) {
	t.Parallel()
	n := startNode(t, "--trusted-user-header", "X-Forwarded-User")
	for _, tc := range []struct {
		header string
		status int
	}{
		{"X-Forwarded-User", 200}, {"x-forwarded-user", 200},
		{"XForwardedUser", 401}, {"X_Forwarded_User", 401}, {"X-Forwarded-Users", 401}, {"Forwarded-User", 401},
	} {
		r := n.raw("GET", "/api/notifications/unread-count", "", tc.header, "alice")
		if r.Status != tc.status {
			t.Errorf("%s: alice → %d %s, want %d", tc.header, r.Status, r.Body, tc.status)
		}
	}

	m := startNode(t, "--trusted-user-header", "Member-ID,MemberId")
	for _, tc := range []struct {
		name    string
		headers []string
		status  int
	}{
		{"first name", []string{"Member-Id", "m1"}, 200},
		{"second name", []string{"Memberid", "m1"}, 200},
		{"both, same member", []string{"Member-Id", "m1", "Memberid", "m1"}, 200},
		{"both, different members", []string{"Member-Id", "m1", "Memberid", "m2"}, 400},
		{"one header twice", []string{"Member-Id", "m1", "Member-Id", "m2"}, 400},
		{"look-alike", []string{"Member_ID", "m1"}, 401},
	} {
		if r := m.raw("GET", "/api/notifications/unread-count", "", tc.headers...); r.Status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, r.Status, r.Body, tc.status)
		}
	}
}

// TestTrustedHeaderFromForeignPages: a browser behind the gateway sends the gateway's
// session with requests any page makes, so a header-authenticated change or stream
// from a foreign page (Origin not allowed, or Sec-Fetch-Site: cross-site) is 403, as
// with the cookie; the same from the server's own page or a non-browser client works.
func TestTrustedHeaderFromForeignPages(t *testing.T) {
	t.Parallel()
	n := startNode(t, "--trusted-user-header", "Member-ID,MemberId", "--cors-origins", "https://app.example")
	id := "fp"
	foreign := [][]string{
		{"Origin", "https://evil.example"},
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"},
		{"Origin", "null"},
	}
	allowed := [][]string{nil, {"Origin", n.URL}, {"Origin", "https://app.example"}, {"Sec-Fetch-Site", "same-origin"}}
	for _, h := range foreign {
		hs := append([]string{"Member-ID", id}, h...)
		if r := n.do("POST", "/events", "", `{"event":{"type":"FORGED"}}`, hs...); r.Status != 403 {
			t.Errorf("POST /events with %v: %d %s, want 403", h, r.Status, r.Body)
		}
		if r := n.do("POST", "/api/notifications/read-all", "", nil, hs...); r.Status != 403 {
			t.Errorf("read-all with %v: %d, want 403", h, r.Status)
		}
		for _, path := range []string{"/events", "/api/notifications/stream"} {
			if _, status, _ := n.tryStream(path, hs...); status != 403 {
				t.Errorf("stream %s with %v: %d, want 403", path, h, status)
			}
		}
	}
	for _, h := range allowed {
		hs := append([]string{"Member-ID", id}, h...)
		if r := n.do("POST", "/events", "", `{"event":{"type":"OWN"}}`, hs...); r.Status != 201 {
			t.Errorf("POST /events with %v: %d %s, want 201", h, r.Status, r.Body)
		}
		n.openStream("/events", hs...).close()
	}
	// Reads are not refused: CORS keeps a foreign page from seeing the answer.
	if r := n.do("GET", "/api/notifications/unread-count", "", nil, "Member-ID", id, "Origin", "https://evil.example"); r.Status != 200 || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("a read from a foreign page: %d %v", r.Status, r.Header)
	}
}

// TestCORSWildcardIsBearerOnly: --cors-origins '*' lets any page call with a bearer
// token (Access-Control-Allow-Origin: *, never with credentials); the cookie's origin
// check stays on for changes, streams and WebSockets. An origin listed by name beside
// '*' still gets credentials.
func TestCORSWildcardIsBearerOnly(t *testing.T) {
	t.Parallel()
	n := startNode(t, "--cors-origins", "*,https://app.example")
	tok := userToken(t, "cw")
	pre := n.do("OPTIONS", "/api/notifications", "", nil, "Origin", "https://evil.example",
		"Access-Control-Request-Method", "DELETE", "Access-Control-Request-Headers", "authorization")
	if pre.Status != 204 || pre.Header.Get("Access-Control-Allow-Origin") != "*" || pre.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("preflight from any page: %d %v, want * without credentials", pre.Status, pre.Header)
	}
	r := n.do("GET", "/api/notifications/unread-count", tok, nil, "Origin", "https://evil.example")
	if r.Status != 200 || r.Header.Get("Access-Control-Allow-Origin") != "*" || r.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("bearer read from any page: %d %v", r.Status, r.Header)
	}
	listed := n.do("GET", "/api/notifications/unread-count", tok, nil, "Origin", "https://app.example")
	if listed.Header.Get("Access-Control-Allow-Origin") != "https://app.example" || listed.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("listed origin: %v", listed.Header)
	}

	a := n.publish("cw", nil)
	cookie := "tocsin_token=" + tok
	if r := n.do("DELETE", "/api/notifications/"+a.ID, "", nil, "Cookie", cookie, "Origin", "https://evil.example"); r.Status != 403 {
		t.Fatalf("cookie DELETE from evil.example under '*': %d %s, want 403", r.Status, r.Body)
	}
	if _, status, _ := n.tryStream("/api/notifications/stream", "Cookie", cookie, "Origin", "https://evil.example"); status != 403 {
		t.Fatalf("cookie stream from evil.example under '*': %d, want 403", status)
	}
	_, resp, err := n.tryWS("/api/notifications/ws", "Cookie", cookie, "Origin", "https://evil.example")
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cookie WebSocket from evil.example under '*': err %v resp %v, want 403", err, resp)
	}
	// A bearer token (or ?token=) from any page works: it is not ambient.
	n.dialWS("/api/notifications/ws?token="+tok, "Origin", "https://evil.example").expect("init")
	// The listed origin may use the cookie.
	if r := n.do("DELETE", "/api/notifications/"+a.ID, "", nil, "Cookie", cookie, "Origin", "https://app.example"); r.Status != 204 {
		t.Fatalf("cookie DELETE from the listed origin: %d %s", r.Status, r.Body)
	}
	n.dialWS("/api/notifications/ws", "Cookie", cookie, "Origin", "https://app.example").expect("init")
}

// TestCrossSiteCookieStreams: a foreign page cannot open streams with the victim's
// cookie (each would take one of the user's stream slots): SSE, WebSocket and topic
// streams with the cookie and a foreign Origin or Sec-Fetch-Site: cross-site are 403,
// and the user's own streams still open afterwards.
func TestCrossSiteCookieStreams(t *testing.T) {
	t.Parallel()
	n := startNode(t, "--max-streams-per-user", "2")
	tok := userToken(t, "victim")
	cookie := "tocsin_token=" + tok
	for _, h := range [][]string{{"Origin", "https://evil.example"}, {"Sec-Fetch-Site", "cross-site"}, {"Sec-Fetch-Site", "same-site"}} {
		for range 3 {
			if _, status, body := n.tryStream("/api/notifications/stream", append([]string{"Cookie", cookie}, h...)...); status != 403 {
				t.Fatalf("cookie stream with %v: %d %s, want 403", h, status, body)
			}
		}
		_, resp, err := n.tryWS("/api/notifications/ws", append([]string{"Cookie", cookie}, h...)...)
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("cookie WebSocket with %v: %v %v, want 403", h, err, resp)
		}
	}
	// The user's own pages and clients still have both slots.
	n.openStream("/api/notifications/stream", "Cookie", cookie, "Sec-Fetch-Site", "same-origin").expect("init")
	n.dialWS("/api/notifications/ws", "Cookie", cookie, "Origin", n.URL).expect("init")
}

// TestCORSPreflightRefusedSaysWhy: a preflight from a page the server does not
// allow is a 403 naming the flag that allows it (it was a 404), and error text
// quotes "<" as "<", not "\u003c".
func TestCORSPreflightRefusedSaysWhy(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	pre := n.do("OPTIONS", "/api/notifications", "", nil, "Origin", "https://app.example",
		"Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization")
	if pre.Status != 403 || pre.Header.Get("Access-Control-Allow-Origin") != "" ||
		!strings.Contains(string(pre.Body), "--cors-origins https://app.example") {
		t.Fatalf("refused preflight: %d %v %s", pre.Status, pre.Header, pre.Body)
	}
	// A same-page request with an Origin header is not a preflight: unchanged.
	if r := n.do("GET", "/healthz", "", nil, "Origin", "https://app.example"); r.Status != 200 {
		t.Fatalf("a plain request with an Origin: %d", r.Status)
	}
	bad := n.do("GET", "/api/notifications?type=%3Cb%3E", userToken(t, "u"), nil)
	if bad.Status != 400 || !strings.Contains(string(bad.Body), `<b>`) || strings.Contains(string(bad.Body), `\u003c`) {
		t.Fatalf("error text: %d %s, want 400 without \\u003c", bad.Status, bad.Body)
	}
}
