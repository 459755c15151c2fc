package httpapi_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"testing"
)

// TestInboxModules: /inbox.js and every module it imports, followed through their
// relative imports as a browser resolves them (./inbox/util.js, ../client.js), are
// served with the client's headers (a page on any origin imports them); names
// outside web/inbox/*.js are 404.
func TestInboxModules(t *testing.T) {
	c := newChannelsServer(t)
	imports := regexp.MustCompile(`(?m)^(?:import|export) [^;]*? from "(\.{1,2}/[^"]+)";`)
	base, err := url.Parse(c.ts.URL + "/inbox.js")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	queue := []*url.URL{base}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		if seen[u.Path] {
			continue
		}
		seen[u.Path] = true
		resp, err := http.Get(u.String())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != 200 || h.Get("Content-Type") != "text/javascript; charset=utf-8" || h.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s: %d, headers %v", u.Path, resp.StatusCode, h)
			continue
		}
		for _, m := range imports.FindAllSubmatch(body, -1) {
			ref, err := url.Parse(string(m[1]))
			if err != nil {
				t.Fatal(err)
			}
			queue = append(queue, u.ResolveReference(ref))
		}
	}
	for _, p := range []string{"/inbox.js", "/inbox/util.js", "/inbox/style.js", "/inbox/item.js", "/inbox/prefs.js", "/inbox/states.js", "/client.js"} {
		if !seen[p] {
			t.Errorf("%s is not among the modules /inbox.js loads (%v): does the import pattern still match?", p, seen)
		}
	}
	for _, p := range []string{"/inbox/nope.js", "/inbox/util.txt", "/inbox/..%2fclient.js", "/inbox/", "/inbox/inbox.js", "/inbox/ticket.js"} {
		if st, _ := c.do("GET", p, "", ""); st != 404 {
			t.Errorf("%s: %d, want 404", p, st)
		}
	}
}
