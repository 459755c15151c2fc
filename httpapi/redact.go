package httpapi

import (
	"net/http"
	"net/url"
	"strings"
)

// Capability tokens are credentials carried in URLs: /api/stream/{token},
// /api/hooks/{token}, /api/tokens/{token}, and the ?token= (a user JWT) and ?ticket=
// query parameters. Whatever the server writes about a request (log lines, error
// messages) goes through redactPath and redactQuery (redactRequest), so none of them
// can leak that way.

// redacted replaces a hidden credential.
const redacted = "[redacted]"

// capabilityPrefixes are the path prefixes whose rest is a credential. The rest of
// the path is hidden whole (a trailing junk segment too), and the match ignores ASCII
// case (a mistyped /API/STREAM/... carries the real token all the same).
var capabilityPrefixes = [...]string{"/api/stream/", "/api/hooks/", "/api/tokens/"}

// secretParams are the query parameters whose values are credentials (compared
// without ASCII case, after unescaping the name: %74oken is token).
var secretParams = [...]string{"token", "ticket"}

// redactRequest returns a request's path and query with every capability token and
// credential parameter replaced by [redacted], the form logs use. Redacting is pure
// and total: any input gives an output, and redacting twice changes nothing more.
func redactRequest(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return redactPath(r.URL.Path)
	}
	return redactPath(r.URL.Path) + "?" + redactQuery(r.URL.RawQuery)
}

func redactPath(p string) string {
	cut := -1
	for _, prefix := range capabilityPrefixes {
		if i := indexFold(p, prefix); i >= 0 && (cut < 0 || i+len(prefix) < cut) {
			cut = i + len(prefix)
		}
	}
	if cut < 0 || cut == len(p) || p[cut:] == redacted {
		return p
	}
	return p[:cut] + redacted
}

func redactQuery(q string) string {
	if q == "" {
		return q
	}
	parts := strings.Split(q, "&")
	changed := false
	for i, part := range parts {
		name, value, hasValue := strings.Cut(part, "=")
		if !hasValue || value == "" || value == redacted {
			continue
		}
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		for _, secret := range secretParams {
			if strings.EqualFold(name, secret) {
				parts[i] = part[:len(part)-len(value)] + redacted
				changed = true
			}
		}
	}
	if !changed {
		return q
	}
	return strings.Join(parts, "&")
}

// indexFold is strings.Index ignoring ASCII case (prefix is lower-case ASCII). Byte
// offsets stay those of s, whatever else s holds.
func indexFold(s, prefix string) int {
	for i := 0; i+len(prefix) <= len(s); i++ {
		match := true
		for j := 0; j < len(prefix); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != prefix[j] {
				match = false
				break
			}
		}
		if match {
			return i
		}
	}
	return -1
}
