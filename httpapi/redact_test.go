package httpapi

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// redactURL is redactRequest on a raw path and query, so that the tests and the fuzzer
// can give any text (a request's URL must parse first).
func redactURL(s string) string {
	path, query, hasQuery := strings.Cut(s, "?")
	path = redactPath(path)
	if !hasQuery {
		return path
	}
	return path + "?" + redactQuery(query)
}

func TestRedactURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"/api/notifications", "/api/notifications"},
		{"/api/stream/tks_abc", "/api/stream/[redacted]"},
		{"/api/stream/tks_abc/junk", "/api/stream/[redacted]"},
		{"/api/hooks/tkp_abc", "/api/hooks/[redacted]"},
		{"/api/tokens/tks_abc", "/api/tokens/[redacted]"},
		{"/api/tokens", "/api/tokens"},
		{"/api/tokens/", "/api/tokens/"},
		{"/notify/api/stream/tks_abc", "/notify/api/stream/[redacted]"},
		{"/API/Stream/tks_abc", "/API/Stream/[redacted]"},
		{"/api/topics/deploys/stream", "/api/topics/deploys/stream"},
		{"/x/api/hooks/a/api/stream/b", "/x/api/hooks/[redacted]"},
		{"/api/notifications/stream?token=eyJ.a.b", "/api/notifications/stream?token=[redacted]"},
		{"/api/notifications/stream?ticket=t1&batch=1s", "/api/notifications/stream?ticket=[redacted]&batch=1s"},
		{"/s?batch=1s&TOKEN=x&Ticket=y", "/s?batch=1s&TOKEN=[redacted]&Ticket=[redacted]"},
		{"/s?%74oken=x", "/s?%74oken=[redacted]"},
		{"/s?token", "/s?token"},
		{"/s?token=", "/s?token="},
		{"/s?types=comment", "/s?types=comment"},
		{"/api/stream/tks_abc?token=x", "/api/stream/[redacted]?token=[redacted]"},
		{"/ünï/api/hooks/İx", "/ünï/api/hooks/[redacted]"},
		{"", ""},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got := redactURL(tt.in)
			if got != tt.want {
				t.Fatalf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if again := redactURL(got); again != got {
				t.Fatalf("not idempotent: %q then %q", got, again)
			}
		})
	}
}

func TestRedactRequest(t *testing.T) {
	r := httptest.NewRequest("GET", "/api/stream/tks_secret/junk?ticket=tk2&types=a", nil)
	got := redactRequest(r)
	if strings.Contains(got, "tks_secret") || strings.Contains(got, "tk2") || got != "/api/stream/[redacted]?ticket=[redacted]&types=a" {
		t.Fatalf("redactRequest = %q", got)
	}
}

func FuzzRedactURL(f *testing.F) {
	for _, s := range []string{"/api/stream/tks_abc", "/api/hooks/x/y?token=z", "/a?%74oken=1&ticket=2", "/API/TOKENS/k", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := redactURL(s)
		if again := redactURL(got); again != got {
			t.Fatalf("not idempotent: %q → %q → %q", s, got, again)
		}
		// Whatever followed a capability prefix in the path is gone: after any prefix
		// left in the output comes [redacted] or nothing.
		gotPath, _, _ := strings.Cut(got, "?")
		for _, prefix := range capabilityPrefixes {
			if i := indexFold(gotPath, prefix); i >= 0 {
				if rest := gotPath[i+len(prefix):]; rest != "" && rest != redacted {
					t.Fatalf("redactURL(%q) = %q keeps %q after %s", s, got, rest, prefix)
				}
			}
		}
		// So do the values of credential parameters.
		if _, q, ok := strings.Cut(got, "?"); ok {
			for _, part := range strings.Split(q, "&") {
				name, value, _ := strings.Cut(part, "=")
				if n, err := url.QueryUnescape(name); err == nil {
					name = n
				}
				if (strings.EqualFold(name, "token") || strings.EqualFold(name, "ticket")) && value != "" && value != redacted {
					t.Fatalf("redactURL(%q) = %q keeps the value of %s", s, got, name)
				}
			}
		}
	})
}
