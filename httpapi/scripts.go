package httpapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// The JavaScript files tocsin serves (the client and its modules, <tocsin-inbox> and
// its modules, the dashboard's, the admin console's, the service worker) go out
// gzip-compressed to browsers that accept it, with a strong ETag: they are served with
// Cache-Control: no-cache, so a browser revalidates each one on every load and gets a
// 304 with no body while the file is unchanged. no-cache rather than a max-age:
// the modules import each other, and after an upgrade a page must never run a new
// module against an old cached one.

// script is one served file: its bytes, their gzip form and the two ETags, computed
// once, the first time the file is asked for.
type script struct {
	body, gz         []byte
	etag, etagGzip   string
	gzipIsWorthwhile bool // false when gzip would not make it smaller
}

func newScript(body []byte) *script {
	sum := sha256.Sum256(body)
	tag := hex.EncodeToString(sum[:16])
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // a valid level: never fails
	zw.Write(body)                                           // a bytes.Buffer never fails
	zw.Close()
	return &script{body: body, gz: buf.Bytes(), etag: `"` + tag + `"`, etagGzip: `"` + tag + `-gzip"`,
		gzipIsWorthwhile: buf.Len() < len(body)}
}

// scripts holds the files served so far, by name (the names are the route table's
// fixed files and the embedded inbox modules, so the map stays small).
type scripts struct {
	mu sync.Mutex
	m  map[string]*script
}

func (ss *scripts) get(name string, body []byte) *script {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	sc := ss.m[name]
	if sc == nil {
		if ss.m == nil {
			ss.m = map[string]*script{}
		}
		sc = newScript(body)
		ss.m[name] = sc
	}
	return sc
}

// writeScript answers r with the file name (whose bytes are body) after the caller
// has set its Content-Type, Cache-Control and other headers: gzip when the request
// accepts it, a 304 when If-None-Match names the representation it would get.
func (s *Server) writeScript(w http.ResponseWriter, r *http.Request, name string, body []byte) error {
	sc := s.scripts.get(name, body)
	h := w.Header()
	h.Add("Vary", "Accept-Encoding")
	out, tag := sc.body, sc.etag
	if sc.gzipIsWorthwhile && acceptsGzip(r.Header.Values("Accept-Encoding")) {
		out, tag = sc.gz, sc.etagGzip
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("ETag", tag)
	if noneMatch(r.Header.Values("If-None-Match"), tag) {
		h.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h.Set("Content-Length", strconv.Itoa(len(out)))
	_, err := w.Write(out)
	return err
}

// acceptsGzip reads Accept-Encoding (RFC 9110 §12.5.3): gzip (or x-gzip) with a
// non-zero q, or, when gzip is not named, "*" with a non-zero q.
func acceptsGzip(values []string) bool {
	gz, star := -1.0, -1.0 // -1: not named
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(item, ";")
			q := 1.0
			for _, p := range strings.Split(params, ";") {
				k, val, ok := strings.Cut(p, "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
					if err != nil {
						f = 0 // an unreadable weight is not a yes
					}
					q = f
				}
			}
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "gzip", "x-gzip":
				gz = q
			case "*":
				star = q
			}
		}
	}
	if gz >= 0 {
		return gz > 0
	}
	return star > 0
}

// noneMatch reports whether If-None-Match names tag (or is "*"), comparing weakly
// as RFC 9110 §13.1.2 says: a W/ prefix is ignored.
func noneMatch(values []string, tag string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
			if t == "*" || t == tag {
				return true
			}
		}
	}
	return false
}
