package httpapi_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestAdminPage: /admin and /admin.js are served without a credential, the page under
// a CSP that allows only this server and no inline script, and the page has no inline
// script to need one (every <script> has a src).
func TestAdminPage(t *testing.T) {
	c := newChannelsServer(t)
	resp, err := http.Get(c.ts.URL + "/admin")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /admin: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"default-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if i := strings.Index(csp, "script-src"); i >= 0 && strings.Contains(strings.SplitN(csp[i:], ";", 2)[0], "unsafe-inline") {
		t.Errorf("CSP allows inline script: %q", csp)
	}
	if got := resp.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("Referrer-Policy %q", got)
	}
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(string(body), -1) {
		if !strings.Contains(tag, `src="admin.js"`) {
			t.Errorf("a script other than admin.js: %s", tag)
		}
	}
	if m := regexp.MustCompile(`(?i)(src|href|action)="(https?:)?//`).Find(body); m != nil {
		t.Errorf("the page loads or links another host: %s", m)
	}
	resp, err = http.Get(c.ts.URL + "/admin.js")
	if err != nil {
		t.Fatal(err)
	}
	js, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") || len(js) == 0 {
		t.Fatalf("GET /admin.js: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if strings.Contains(string(js), "localStorage.setItem") {
		t.Error("admin.js writes localStorage")
	}
}
