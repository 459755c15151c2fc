package e2e

import (
	"crypto/tls"
	"net/http"
	"testing"
)

// TestSecurityHeaders: every response the server writes (JSON answers and errors,
// streams, the dashboard and its scripts, the mux's own 405) carries
// X-Content-Type-Options: nosniff; over TLS every response also carries HSTS, and
// over plain HTTP none does (a browser ignores it there, and it would be a lie).
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t)
	plain := startNode(t)
	secure := startNode(t, "--tls-cert", certFile, "--tls-key", keyFile)
	h1 := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}},
		TLSNextProto:    map[string]func(string, *tls.Conn) http.RoundTripper{}, // taken-over streams
	}}
	h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	for _, tc := range []struct {
		name   string
		n      *node
		client *http.Client
		hsts   bool
	}{
		{"http", plain, http.DefaultClient, false},
		{"https http/1.1", secure, h1, true},
		{"https h2", secure, h2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.n.client = tc.client
			tok := userToken(t, "hd")
			checkHeaders := func(what string, h http.Header) {
				t.Helper()
				if h.Get("X-Content-Type-Options") != "nosniff" {
					t.Errorf("%s: no X-Content-Type-Options: nosniff (%v)", what, h)
				}
				if got := h.Get("Strict-Transport-Security"); (got == "max-age=31536000") != tc.hsts || (!tc.hsts && got != "") {
					t.Errorf("%s: Strict-Transport-Security %q, want HSTS %v", what, got, tc.hsts)
				}
			}
			for _, rq := range []struct{ method, path, bearer string }{
				{"GET", "/healthz", ""},
				{"GET", "/api/notifications", tok},
				{"GET", "/api/notifications", ""},               // 401
				{"GET", "/no/such/thing", ""},                   // 404
				{"PUT", "/api/notifications/unread-count", tok}, // 405 from the mux
				{"POST", "/api/notifications", apiKey},          // 400
				{"GET", "/", ""},
				{"GET", "/client.js", ""},
				{"GET", "/client-rest.js", ""},
				{"GET", "/api/openapi.json", ""},
			} {
				r := tc.n.do(rq.method, rq.path, rq.bearer, nil)
				checkHeaders(rq.method+" "+rq.path, r.Header)
			}
			s := tc.n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok)
			checkHeaders("SSE stream ("+s.resp.Proto+")", s.resp.Header)
			s.close()
			_, status, _ := tc.n.tryStream("/api/notifications/stream")
			if status != 401 {
				t.Fatalf("stream without a token: %d", status)
			}
		})
	}
	// The WebSocket upgrade (plain HTTP).
	_, resp, err := plain.tryWS("/api/notifications/ws", "Authorization", "Bearer "+userToken(t, "hd"))
	if err != nil || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("WebSocket upgrade: %v %v", err, resp)
	}
}
