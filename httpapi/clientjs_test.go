package httpapi_test

import (
	"bytes"
	"io"
	"net/http"
	"regexp"
	"testing"

	"github.com/tocsin/tocsin/web"
)

// TestClientModules: /client.js and every module it imports are served with the same
// headers (a page on any origin imports them as CORS requests), and every relative
// import in them names a module the server serves: a missing one would break the
// client in every browser while node, reading files, would not notice.
func TestClientModules(t *testing.T) {
	c := newChannelsServer(t)
	imports := regexp.MustCompile(`(?m)^(?:import|export) [^;]*? from "\./([^"]+)";`)
	served := map[string][]byte{"client.js": web.ClientJS}
	for _, name := range []string{"client-inbox.js", "client-rest.js", "client-push.js"} {
		body, ok := web.ClientModule(name)
		if !ok {
			t.Fatalf("web.ClientModule(%q) missing", name)
		}
		served[name] = body
	}
	for name, want := range served {
		resp, err := http.Get(c.ts.URL + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != 200 || !bytes.Equal(body, want) || h.Get("Content-Type") != "text/javascript; charset=utf-8" ||
			h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Cache-Control") != "no-cache" {
			t.Errorf("/%s: %d, %d bytes, headers %v", name, resp.StatusCode, len(body), h)
		}
		for _, m := range imports.FindAllSubmatch(want, -1) {
			if _, ok := served[string(m[1])]; !ok {
				t.Errorf("%s imports ./%s, which the server does not serve", name, m[1])
			}
		}
	}
	if n := len(imports.FindAllSubmatch(web.ClientJS, -1)); n < 3 {
		t.Errorf("client.js: %d relative imports found, want its 3 modules (does the pattern still match?)", n)
	}
	if st, _ := c.do("GET", "/client-nope.js", "", ""); st != 404 {
		t.Errorf("/client-nope.js: %d, want 404", st)
	}
}
