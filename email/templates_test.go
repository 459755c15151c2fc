package email

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tocsin/tocsin"
)

func TestSafeLink(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"https://app.example.com/x?y=1":        true,
		"http://app.example.com":               true,
		"HTTPS://APP.EXAMPLE.COM/":             true,
		"":                                     false,
		"javascript:alert(1)":                  false,
		"JavaScript://example.com/%0aalert(1)": false,
		"data:text/html,<b>":                   false,
		"/relative/path":                       false,
		"//example.com/x":                      false,
		"mailto:a@example.com":                 false,
		"https:///nohost":                      false,
		"ftp://example.com":                    false,
	} {
		if got := safeLink(in); got != want {
			t.Errorf("safeLink(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestCleanSubject(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", maxSubjectRunes+10)
	for in, want := range map[string]string{
		"Hello":                          "Hello",
		"a\r\nBcc: x@example.com":        "a Bcc: x@example.com",
		"  tabs\tand\n\nlines  ":         "tabs and lines",
		"nul\x00 esc\x1b[31m del\x7f":    "nul esc [31m del",
		"line\u2028separator\u0085next":  "line separator next",
		long:                             strings.Repeat("é", maxSubjectRunes-1) + "…",
		"<script>alert('x')</script> ok": "<script>alert('x')</script> ok", // a header is text, not HTML
	} {
		if got := cleanSubject(in); got != want {
			t.Errorf("cleanSubject(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExcerpt(t *testing.T) {
	t.Parallel()
	if got := excerpt("short", 10); got != "short" {
		t.Errorf("short: %q", got)
	}
	if got := excerpt("ünïcödé ünïcödé ünïcödé", 18); got != "ünïcödé ünïcödé…" {
		t.Errorf("cut at a space: %q", got)
	}
	if got := excerpt(strings.Repeat("x", 20), 10); got != strings.Repeat("x", 10)+"…" {
		t.Errorf("no space: %q", got)
	}
}

func TestDigestData(t *testing.T) {
	t.Parallel()
	m, err := New(Config{URL: "smtp://h", From: "a@example.com", PublicURL: "https://n.example.com", UnsubscribeKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	ns := make([]tocsin.Notification, MaxDigestItems+5)
	for i := range ns {
		ns[i] = note([]string{"a", "b"}[i%2], fmt.Sprintf("n%d", i), "", "")
	}
	d := m.data(alice, ns, 0)
	if !d.Digest || d.Count != len(ns) || len(d.Notifications) != MaxDigestItems || d.More != 5 || d.Subject != fmt.Sprintf("%d new notifications", len(ns)) {
		t.Errorf("digest %v count %d shown %d more %d subject %q", d.Digest, d.Count, len(d.Notifications), d.More, d.Subject)
	}
	if len(d.Types) != 2 || d.Types[0].Type != "a" || d.Types[1].Type != "b" || d.Notifications[1].UnsubscribeURL != d.Types[1].UnsubscribeURL {
		t.Errorf("types %+v", d.Types)
	}
	html, text, err := m.tpl.render(d)
	if err != nil || !strings.Contains(html, "and 5 more") || !strings.Contains(text, "and 5 more") || strings.Contains(text, "n50") {
		t.Errorf("render: %v\n%s", err, text)
	}
}

// A type that overrides only its HTML keeps the default text; types named like
// the reserved templates get the default.
func TestTemplateChoice(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, src := range map[string]string{
		"deploy.html":  "DEPLOY HTML {{.Notification.Title}}",
		"default.txt":  "MY DEFAULT {{.Notification.Heading}}",
		"digest.html":  "MY DIGEST {{.Count}}",
		"ignored.json": "{{",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	m, err := New(Config{URL: "smtp://h", From: "a@example.com", PublicURL: "https://n.example.com", UnsubscribeKey: testKey, Templates: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ns                   []tocsin.Notification
		wantHTML, wantText   string
		notHTMLPart, notText string
	}{
		{[]tocsin.Notification{note("deploy", "v2", "", "")}, "DEPLOY HTML v2", "MY DEFAULT v2", "", ""},
		{[]tocsin.Notification{note("other", "o", "", "")}, "View in app", "MY DEFAULT o", "DEPLOY", ""},
		{[]tocsin.Notification{note("digest", "d", "", "")}, "View in app", "MY DEFAULT d", "MY DIGEST", ""},
		{[]tocsin.Notification{note("deploy", "a", "", ""), note("deploy", "b", "", "")}, "MY DIGEST 2", "* a", "DEPLOY", "MY DEFAULT"},
	} {
		html, text, err := m.tpl.render(m.data(alice, tc.ns, 0))
		if err != nil || !strings.Contains(html, tc.wantHTML) || !strings.Contains(text, tc.wantText) ||
			tc.notHTMLPart != "" && strings.Contains(html, tc.notHTMLPart) || tc.notText != "" && strings.Contains(text, tc.notText) {
			t.Errorf("%s ×%d: %v\nHTML: %s\ntext: %s", tc.ns[0].Type, len(tc.ns), err, html, text)
		}
	}
}

// A title of white space only is no subject; a notification without a type still
// gets a link that verifies.
func TestDataWithoutTitleOrType(t *testing.T) {
	t.Parallel()
	m, err := New(Config{URL: "smtp://h", From: "a@example.com", PublicURL: "https://n.example.com", UnsubscribeKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []tocsin.Notification{note("", " \r\n\t ", "", ""), note("", "", "", "")} {
		d := m.data(alice, []tocsin.Notification{n}, 0)
		tok := strings.TrimPrefix(d.UnsubscribeURL, "https://n.example.com/api/unsubscribe?token=")
		if _, typ, err := VerifyUnsubscribe(testKey, tok); err != nil || typ != tocsin.DefaultType || d.Subject != tocsin.DefaultType {
			t.Errorf("title %q: subject %q, token type %q, %v", n.Title, d.Subject, typ, err)
		}
	}
}
