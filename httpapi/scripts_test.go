package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"testing"

	"github.com/tocsin/tocsin/web"
)

// TestScriptsGzipAndETag: every JavaScript file is served gzip-compressed when the
// request accepts it (the body decodes to the embedded bytes), as it is otherwise,
// with Vary: Accept-Encoding and a strong ETag per representation; If-None-Match
// with that ETag answers 304 with no body, and a changed one gets the file again.
func TestScriptsGzipAndETag(t *testing.T) {
	c := newChannelsServer(t)
	files := map[string][]byte{"/client.js": web.ClientJS, "/inbox.js": web.InboxJS, "/app.js": web.AppJS,
		"/admin.js": web.AdminJS, "/sw.js": web.ServiceWorkerJS}
	for _, name := range []string{"client-inbox.js", "client-rest.js", "client-push.js"} {
		files["/"+name], _ = web.ClientModule(name)
	}
	for _, name := range []string{"util.js", "style.js", "item.js", "prefs.js", "states.js"} {
		b, ok := web.InboxModule(name)
		if !ok {
			t.Fatalf("web.InboxModule(%q) missing", name)
		}
		files["/inbox/"+name] = b
	}
	// No transparent decompression: the test reads what goes over the wire.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	get := func(path string, header ...string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", c.ts.URL+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	for path, want := range files {
		// Identity: no Accept-Encoding, gzip refused, or only an unknown coding.
		var plainTag string
		for _, ae := range []string{"", "gzip;q=0, br", "identity", "*;q=0", "br, *;q=0.5, gzip;q=0"} {
			resp, body := get(path, "Accept-Encoding", ae)
			h := resp.Header
			if resp.StatusCode != 200 || !bytes.Equal(body, want) || h.Get("Content-Encoding") != "" ||
				h.Get("Vary") != "Accept-Encoding" || h.Get("Cache-Control") != "no-cache" || h.Get("ETag") == "" {
				t.Fatalf("%s (Accept-Encoding %q): %d, %d bytes (want %d), headers %v", path, ae, resp.StatusCode, len(body), len(want), h)
			}
			if plainTag != "" && h.Get("ETag") != plainTag {
				t.Errorf("%s: ETag %s then %s for the same bytes", path, plainTag, h.Get("ETag"))
			}
			plainTag = h.Get("ETag")
		}
		// gzip: smaller, decodes to the same bytes, its own ETag.
		var gzTag string
		for _, ae := range []string{"gzip, deflate, br, zstd", "br;q=1.0, GZIP;q=0.8", "*"} {
			resp, body := get(path, "Accept-Encoding", ae)
			h := resp.Header
			if resp.StatusCode != 200 || h.Get("Content-Encoding") != "gzip" || h.Get("Vary") != "Accept-Encoding" || len(body) >= len(want) {
				t.Fatalf("%s (Accept-Encoding %q): %d, %d bytes of %d, headers %v", path, ae, resp.StatusCode, len(body), len(want), h)
			}
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			plain, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(plain, want) {
				t.Fatalf("%s: the gzip body decodes to %d bytes (err %v), want the %d embedded ones", path, len(plain), err, len(want))
			}
			gzTag = h.Get("ETag")
		}
		if gzTag == plainTag || len(gzTag) < 10 || gzTag[0] != '"' {
			t.Errorf("%s: ETags %s (identity) and %s (gzip): want two strong, distinct ones", path, plainTag, gzTag)
		}
		// Revalidation: the matching ETag (weak or in a list too) → 304, no body.
		for _, tc := range []struct{ ae, inm string }{
			{"gzip", gzTag}, {"gzip", `"nope", W/` + gzTag}, {"", plainTag}, {"", "*"},
		} {
			resp, body := get(path, "Accept-Encoding", tc.ae, "If-None-Match", tc.inm)
			if resp.StatusCode != 304 || len(body) != 0 || resp.Header.Get("ETag") == "" || resp.Header.Get("Content-Encoding") != "" {
				t.Errorf("%s (If-None-Match %s): %d, %d bytes, headers %v; want 304", path, tc.inm, resp.StatusCode, len(body), resp.Header)
			}
		}
		// Another representation's ETag, or a stale one: the file again.
		for _, tc := range []struct{ ae, inm string }{{"gzip", plainTag}, {"", gzTag}, {"gzip", `"0000"`}} {
			if resp, _ := get(path, "Accept-Encoding", tc.ae, "If-None-Match", tc.inm); resp.StatusCode != 200 {
				t.Errorf("%s (Accept-Encoding %q, If-None-Match %s): %d, want 200", path, tc.ae, tc.inm, resp.StatusCode)
			}
		}
	}
	// The service worker keeps its own headers; modules stay importable from any origin.
	if resp, _ := get("/sw.js", "Accept-Encoding", "gzip"); resp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("/sw.js lost its CSP: %v", resp.Header)
	}
	if resp, _ := get("/inbox/util.js", "Accept-Encoding", "gzip", "If-None-Match", "*"); resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("a 304 of a module lacks Access-Control-Allow-Origin: %v", resp.Header)
	}
}
