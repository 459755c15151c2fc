package e2e

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestHookTokenGuessesAreLimited runs the real binary with the limit set by its
// environment variable: bogus hook tokens from one address are 401 up to the
// budget, then 429 with Retry-After (a valid token included) and counted in
// /metrics; another address still publishes with the valid token.
func TestHookTokenGuessesAreLimited(t *testing.T) {
	addr := freeAddr(t)
	cmd := exec.Command(binary(t), "serve", "--addr", addr, "--data-dir", t.TempDir(), "--log-level", "warn",
		"--api-key", apiKey, "--jwt-secret", jwtSecret)
	cmd.Env = append(os.Environ(), "TOCSIN_AUTH_FAILURE_LIMIT=3")
	p := serveCmd(t, addr, cmd)
	n := p.node
	var hook struct{ Token string }
	n.do("POST", "/api/tokens", apiKey, map[string]any{"stream": "user:guess", "scope": "publish"}).json(t, &hook)
	bogus := "/api/hooks/" + strings.Repeat("z", len(hook.Token))
	for i := range 3 {
		if r := n.do("POST", bogus, "", map[string]any{"title": "x"}); r.Status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %s", i, r.Status, r.Body)
		}
	}
	r := n.do("POST", bogus, "", map[string]any{"title": "x"})
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || !strings.Contains(string(r.Body), "failed credential checks") {
		t.Fatalf("past the budget: %d Retry-After %q %s", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	if r := n.do("POST", "/api/hooks/"+hook.Token, "", map[string]any{"title": "x"}); r.Status != http.StatusTooManyRequests {
		t.Fatalf("valid token from the limited address: %d %s", r.Status, r.Body)
	}
	// 127.0.0.2 is another client address on the same loopback (Linux routes 127/8).
	other := &node{t: t, URL: p.URL, client: &http.Client{Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext,
	}}}
	if r := other.do("POST", "/api/hooks/"+hook.Token, "", map[string]any{"title": "x"}); r.Status != http.StatusCreated {
		t.Fatalf("valid token from another address: %d %s", r.Status, r.Body)
	}
	m := n.do("GET", "/metrics", "", nil)
	if !strings.Contains(string(m.Body), "tocsin_auth_failure_refused_total 2") {
		t.Fatalf("metrics lack the refused count:\n%s", grepLines(string(m.Body), "auth_failure"))
	}
}
