package email

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tocsin/tocsin"
)

func TestParseServerURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url  string
		want server
	}{
		{"smtp://mail.example.com", server{host: "mail.example.com", port: 587, startTLS: StartTLSMandatory}},
		{"smtp://u:p%40ss@mail.example.com:2525/", server{host: "mail.example.com", port: 2525, startTLS: StartTLSMandatory, user: "u", pass: "p@ss", hasAuth: true}},
		{"smtps://u%40x.org:s3cret@mail.example.com", server{host: "mail.example.com", port: 465, implicit: true, user: "u@x.org", pass: "s3cret", hasAuth: true}},
		{"smtp://localhost:1025?starttls=none", server{host: "localhost", port: 1025, startTLS: StartTLSNone}},
		{"smtp://u:p@127.0.0.1:25?starttls=opportunistic", server{host: "127.0.0.1", port: 25, startTLS: StartTLSOpportunistic, user: "u", pass: "p", hasAuth: true}},
		{"smtp://relay.internal?starttls=opportunistic", server{host: "relay.internal", port: 587, startTLS: StartTLSOpportunistic}},
		{"smtp://[::1]:25?starttls=none", server{host: "::1", port: 25, startTLS: StartTLSNone}},
	} {
		got, err := parseServerURL(tc.url)
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v", tc.url, got, err, tc.want)
		}
	}
}

func TestParseServerURLErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ url, want string }{
		{"", "is required"},
		{"mail.example.com:587", "scheme must be smtp"},
		{"http://mail.example.com", "scheme must be smtp"},
		{"smtp://", "has no host"},
		{"smtp:mail.example.com", "has no host"},
		{"smtp://mail.example.com:0", "port must be 1 to 65535"},
		{"smtp://mail.example.com:70000", "port must be 1 to 65535"},
		{"smtp://mail.example.com:abc", "is not a URL"},
		{"smtp://user:pa ss@mail.example.com", "is not a URL"},
		{"smtp://user:sec%zzret@mail.example.com", "is not a URL"},
		{"smtp://:secret@mail.example.com", "password but no user"},
		{"smtp://mail.example.com/inbox", "path"},
		{"smtp://mail.example.com?starttls=maybe", "starttls must be mandatory, opportunistic or none"},
		{"smtp://mail.example.com?starttls=none&starttls=none", "more than once"},
		{"smtp://mail.example.com?tls=1", `unknown parameter "tls"`},
		{"smtps://mail.example.com?starttls=none", "smtp:// only"},
		{"smtp://u:secret@mail.example.com?starttls=none", "clear text"},
		{"smtp://u:secret@mail.example.com?starttls=opportunistic", "clear text"},
	} {
		_, err := parseServerURL(tc.url)
		if err == nil {
			t.Errorf("%q: no error, want %q", tc.url, tc.want)
			continue
		}
		msg := err.Error()
		if tocsin.ErrorCodeOf(err) != tocsin.EInvalid || !strings.Contains(msg, "--smtp-url") || !strings.Contains(msg, tc.want) {
			t.Errorf("%q: %v, want EInvalid naming --smtp-url and %q", tc.url, err, tc.want)
		}
		if strings.Contains(msg, "secret") || strings.Contains(msg, "sec%zzret") {
			t.Errorf("%q: the error repeats the password: %v", tc.url, err)
		}
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"smtp://u:secret@mail.example.com:587": "smtp://u:xxxxx@mail.example.com:587",
		"smtps://mail.example.com":             "smtps://mail.example.com",
		"smtp://u:sec%zzret@h":                 "(unparsable URL)",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, s string) string {
		d := filepath.Join(dir, strings.NewReplacer("/", "_", ".", "_").Replace(name))
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return d
	}
	valid := Config{URL: "smtp://mail.example.com", From: "alerts@example.com", PublicURL: "https://n.example.com", UnsubscribeKey: testKey}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no URL", func(c *Config) { c.URL = "" }, "--smtp-url"},
		{"no From", func(c *Config) { c.From = "" }, "--email-from is required"},
		{"bad From", func(c *Config) { c.From = "not an address" }, "--email-from"},
		{"From with a newline", func(c *Config) { c.From = "a@example.com\r\nBcc: b@example.com" }, "--email-from"},
		{"no public URL", func(c *Config) { c.PublicURL = "" }, "--public-url"},
		{"public URL not http", func(c *Config) { c.PublicURL = "ftp://n.example.com" }, "--public-url"},
		{"public URL relative", func(c *Config) { c.PublicURL = "/tocsin" }, "--public-url"},
		{"short key", func(c *Config) { c.UnsubscribeKey = testKey[:31] }, "at least 32 bytes"},
		{"negative timeout", func(c *Config) { c.Timeout = -1 }, "timeout"},
		{"missing templates dir", func(c *Config) { c.Templates = filepath.Join(dir, "nope") }, "--templates"},
		{"template syntax", func(c *Config) { c.Templates = write("order.html", "{{if}}") }, "order.html"},
		{"template unknown field", func(c *Config) { c.Templates = write("digest.txt", "{{.Nope}}") }, "digest.txt"},
		{"template unknown item field", func(c *Config) { c.Templates = write("t.txt", "{{.Notification.Nope}}") }, "t.txt"},
		{"template name not a type", func(c *Config) { c.Templates = write("bad name.html", "x") }, "bad name.html"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid
			tc.mod(&cfg)
			_, err := New(cfg)
			if err == nil || tocsin.ErrorCodeOf(err) != tocsin.EInvalid || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want EInvalid mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := New(valid); err != nil {
		t.Errorf("valid config: %v", err)
	}
}
