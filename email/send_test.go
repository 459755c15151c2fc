package email

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/internal/testcert"
)

var testKey = bytes.Repeat([]byte("k"), 32)

const testPublicURL = "https://notify.example.com/base"

// newMailer makes a Mailer for the test server at url, trusting pool.
func newMailer(t *testing.T, smtpURL string, pool *x509.CertPool, mod ...func(*Config)) *Mailer {
	t.Helper()
	cfg := Config{
		URL: smtpURL, From: "Tocsin Alerts <alerts@example.com>", PublicURL: testPublicURL,
		UnsubscribeKey: testKey, TLSConfig: &tls.Config{RootCAs: pool}, Timeout: 5 * time.Second,
	}
	for _, f := range mod {
		f(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

// parsed is a received message taken apart.
type parsed struct {
	h          mail.Header
	subject    string
	text, html string
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a message: %v\n%s", err, data)
	}
	var p parsed
	p.h = msg.Header
	if p.subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q, want multipart/alternative", msg.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(part)
		switch ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type")); ct {
		case "text/plain":
			p.text = string(b)
		case "text/html":
			p.html = string(b)
		default:
			t.Fatalf("unexpected part %q", ct)
		}
	}
	if p.text == "" || p.html == "" {
		t.Fatalf("want a text and an HTML part:\n%s", data)
	}
	return p
}

// headerToken checks the RFC 8058 headers and returns the token of the
// List-Unsubscribe URL.
func headerToken(t *testing.T, p parsed) string {
	t.Helper()
	if got := p.h.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post = %q", got)
	}
	lu := p.h.Get("List-Unsubscribe")
	if !strings.HasPrefix(lu, "<"+testPublicURL+"/api/unsubscribe?token=") || !strings.HasSuffix(lu, ">") {
		t.Fatalf("List-Unsubscribe = %q", lu)
	}
	u, err := url.Parse(strings.Trim(lu, "<>"))
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token")
}

func note(typ, title, body, action string) tocsin.Notification {
	return tocsin.Notification{ID: "01JABCDEFGHJKMNPQRSTVWXYZ0", UserID: "user-1", Type: typ, Title: title,
		Body: body, ActionURL: action, CreatedAt: time.Now().UTC()}
}

var alice = tocsin.Profile{UserID: "user-1", Email: "alice@example.org"}

func TestSendSTARTTLSWithAuth(t *testing.T) {
	t.Parallel()
	cert, pool := testcert.New(t)
	srv := startServer(t, serverOpts{cert: &cert, user: "mailer", pass: "p@ss:w/rd"})
	m := newMailer(t, "smtp://mailer:p%40ss%3Aw%2Frd@"+srv.addr, pool)

	n := note("comment.created", "<script>alert(1)</script> Ana\r\nBcc: evil@example.com", "<b>bold</b> & \"quoted\"", "https://app.example.com/c/1?a=1&b=2")
	if err := m.Send(context.Background(), alice, []tocsin.Notification{n}, 4); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := srv.next(t)
	if !r.tls || r.user != "mailer" {
		t.Errorf("tls %v, user %q: want STARTTLS and AUTH as mailer", r.tls, r.user)
	}
	if r.from != "alerts@example.com" || r.to != "alice@example.org" {
		t.Errorf("envelope %q → %q", r.from, r.to)
	}
	p := parse(t, r.data)
	if got := p.h.Get("From"); !strings.Contains(got, "Tocsin Alerts") || !strings.Contains(got, "<alerts@example.com>") {
		t.Errorf("From = %q", got)
	}
	if got := p.h.Get("To"); got != "<alice@example.org>" && got != "alice@example.org" {
		t.Errorf("To = %q", got)
	}
	if want := "<script>alert(1)</script> Ana Bcc: evil@example.com"; p.subject != want {
		t.Errorf("Subject = %q, want %q (one line)", p.subject, want)
	}
	if p.h.Get("Bcc") != "" {
		t.Error("the title added a Bcc header")
	}
	if p.h.Get("Date") == "" || !strings.HasSuffix(p.h.Get("Message-Id"), "@example.com>") || p.h.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("Date %q, Message-ID %q, Auto-Submitted %q", p.h.Get("Date"), p.h.Get("Message-Id"), p.h.Get("Auto-Submitted"))
	}
	user, typ, err := VerifyUnsubscribe(testKey, headerToken(t, p))
	if err != nil || user != "user-1" || typ != "comment.created" {
		t.Errorf("header token: %q %q %v", user, typ, err)
	}
	if strings.Contains(p.html, "<script>") || strings.Contains(p.html, "<b>") {
		t.Errorf("HTML not escaped:\n%s", p.html)
	}
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;b&gt;bold&lt;/b&gt; &amp; &#34;quoted&#34;",
		`href="https://app.example.com/c/1?a=1&amp;b=2"`, `href="` + testPublicURL + `/"`, "4 unread", "Stop emails like this"} {
		if !strings.Contains(p.html, want) {
			t.Errorf("HTML lacks %q:\n%s", want, p.html)
		}
	}
	for _, want := range []string{"<b>bold</b>", "Open: https://app.example.com/c/1?a=1&b=2", "View in app: " + testPublicURL + "/",
		"Stop emails like this: " + testPublicURL + "/api/unsubscribe?token="} {
		if !strings.Contains(p.text, want) {
			t.Errorf("text lacks %q:\n%s", want, p.text)
		}
	}
}

func TestSendImplicitTLS(t *testing.T) {
	t.Parallel()
	cert, pool := testcert.New(t)
	srv := startServer(t, serverOpts{cert: &cert, implicit: true, user: "u", pass: "pw"})
	m := newMailer(t, "smtps://u:pw@"+srv.addr, pool)
	if err := m.Send(context.Background(), alice, []tocsin.Notification{note("deploy", "", "done", "")}, 0); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := srv.next(t)
	if !r.tls || r.user != "u" {
		t.Errorf("tls %v, user %q", r.tls, r.user)
	}
	p := parse(t, r.data)
	if p.subject != "deploy" {
		t.Errorf("Subject = %q, want the type when there is no title", p.subject)
	}
}

func TestSendUnsafeActionURLNotLinked(t *testing.T) {
	t.Parallel()
	srv := startServer(t, serverOpts{})
	m := newMailer(t, "smtp://"+srv.addr+"?starttls=none", nil)
	for _, action := range []string{"javascript:alert(document.cookie)", "JaVaScRiPt:alert(1)", "data:text/html,<script>x</script>", "/relative"} {
		if err := m.Send(context.Background(), alice, []tocsin.Notification{note("t", "Hi", "b", action)}, 0); err != nil {
			t.Fatal(err)
		}
		p := parse(t, srv.next(t).data)
		low := strings.ToLower(p.html + p.text)
		if strings.Contains(low, "javascript") || strings.Contains(low, "data:") || strings.Contains(low, "relative") || strings.Contains(p.text, "Open:") {
			t.Errorf("%q was linked:\n%s\n%s", action, p.html, p.text)
		}
	}
}

func TestSendTypeTemplateOverride(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("order.shipped.html", `<p class="custom">Shipped: {{.Notification.Title}} for {{.Profile.Email}}</p><a href="{{.UnsubscribeURL}}">stop</a>`)
	write("order.shipped.txt", `Custom shipped: {{.Notification.Title}}`)
	write("README.md", "not a template") // ignored
	srv := startServer(t, serverOpts{})
	m := newMailer(t, "smtp://"+srv.addr+"?starttls=none", nil, func(c *Config) { c.Templates = dir })

	if err := m.Send(context.Background(), alice, []tocsin.Notification{note("order.shipped", "<i>#42</i>", "", "")}, 0); err != nil {
		t.Fatal(err)
	}
	p := parse(t, srv.next(t).data)
	if !strings.Contains(p.html, `<p class="custom">Shipped: &lt;i&gt;#42&lt;/i&gt; for alice@example.org</p>`) {
		t.Errorf("override HTML not used or not escaped:\n%s", p.html)
	}
	if p.text != "Custom shipped: <i>#42</i>" {
		t.Errorf("override text not used: %q", p.text)
	}
	// Another type still gets the default.
	if err := m.Send(context.Background(), alice, []tocsin.Notification{note("order.paid", "Paid", "", "")}, 0); err != nil {
		t.Fatal(err)
	}
	if p := parse(t, srv.next(t).data); strings.Contains(p.html, "custom") || !strings.Contains(p.html, "View in app") {
		t.Errorf("the default was not used for another type:\n%s", p.html)
	}
}

func TestSendDigest(t *testing.T) {
	t.Parallel()
	srv := startServer(t, serverOpts{})
	m := newMailer(t, "smtp://"+srv.addr+"?starttls=none", nil)
	ns := []tocsin.Notification{
		note("comment", "First <one>", "body one", "https://app.example.com/1"),
		note("comment", "Second", "body two", "javascript:bad()"),
		note("mention", "Third", strings.Repeat("long ", 200), ""),
	}
	if err := m.Send(context.Background(), alice, ns, 7); err != nil {
		t.Fatal(err)
	}
	p := parse(t, srv.next(t).data)
	if p.subject != "3 new notifications" {
		t.Errorf("Subject = %q", p.subject)
	}
	for _, want := range []string{"First &lt;one&gt;", "Second", "Third", "body one", `href="https://app.example.com/1"`, "Stop all emails", "(mention)"} {
		if !strings.Contains(p.html, want) {
			t.Errorf("HTML lacks %q:\n%s", want, p.html)
		}
	}
	for _, want := range []string{"* First <one>", "* Second", "* Third", "7 unread", "Stop all emails: "} {
		if !strings.Contains(p.text, want) {
			t.Errorf("text lacks %q:\n%s", want, p.text)
		}
	}
	if strings.Contains(p.html, "javascript") || strings.Count(p.text, "long") > 100 {
		t.Errorf("unsafe link or an uncut body:\n%s", p.text)
	}
	// Two types: the header unsubscribes from all email.
	if user, typ, err := VerifyUnsubscribe(testKey, headerToken(t, p)); err != nil || user != "user-1" || typ != AllTypes {
		t.Errorf("header token: %q %q %v, want all email", user, typ, err)
	}

	// One type: the header stops that type only.
	if err := m.Send(context.Background(), alice, ns[:2], 0); err != nil {
		t.Fatal(err)
	}
	p = parse(t, srv.next(t).data)
	if _, typ, err := VerifyUnsubscribe(testKey, headerToken(t, p)); err != nil || typ != "comment" || p.subject != "2 new notifications" {
		t.Errorf("header token type %q (%v), subject %q", typ, err, p.subject)
	}
}

func TestSendFailures(t *testing.T) {
	t.Parallel()
	cert, pool := testcert.New(t)
	_, otherPool := testcert.New(t)
	down := func() string { // a port nobody listens on
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}()
	for _, tc := range []struct {
		name      string
		opts      *serverOpts // nil: nobody listens
		url       string      // %s is the address
		pool      *x509.CertPool
		permanent bool
		status    int
	}{
		{"550 mailbox unavailable", &serverOpts{rcptErr: smtpError(550, smtp.EnhancedCode{5, 1, 1}, "mailbox unavailable")}, "smtp://%s?starttls=none", nil, true, 550},
		{"451 try later", &serverOpts{rcptErr: smtpError(451, smtp.EnhancedCode{4, 3, 0}, "try again later")}, "smtp://%s?starttls=none", nil, false, 451},
		{"server down", nil, "smtp://%s?starttls=none", nil, false, 0},
		{"wrong password", &serverOpts{cert: &cert, user: "u", pass: "right"}, "smtp://u:wrong@%s", pool, true, 535},
		{"STARTTLS certificate of an unknown CA", &serverOpts{cert: &cert}, "smtp://%s", otherPool, true, 0},
		{"implicit TLS certificate of an unknown CA", &serverOpts{cert: &cert, implicit: true}, "smtps://%s", otherPool, true, 0},
		{"STARTTLS mandatory, not offered", &serverOpts{}, "smtp://%s", nil, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := down
			if tc.opts != nil {
				addr = startServer(t, *tc.opts).addr
			}
			m := newMailer(t, strings.Replace(tc.url, "%s", addr, 1), tc.pool)
			err := m.Send(context.Background(), alice, []tocsin.Notification{note("t", "x", "", "")}, 0)
			var se *tocsin.SendError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a *tocsin.SendError", err)
			}
			if se.Permanent != tc.permanent || se.Status != tc.status {
				t.Errorf("permanent %v status %d, want %v %d: %v", se.Permanent, se.Status, tc.permanent, tc.status, err)
			}
		})
	}
}

func TestSendNoAddress(t *testing.T) {
	t.Parallel()
	m := newMailer(t, "smtp://127.0.0.1:1?starttls=none", nil)
	err := m.Send(context.Background(), tocsin.Profile{UserID: "bob"}, []tocsin.Notification{note("t", "x", "", "")}, 0)
	if !tocsin.IsPermanent(err) || !strings.Contains(err.Error(), "no email address") {
		t.Errorf("err = %v, want a permanent error about the missing address", err)
	}
	if err := m.Send(context.Background(), alice, nil, 0); !tocsin.IsPermanent(err) {
		t.Errorf("no notifications: err = %v, want permanent", err)
	}
}

// A server that stops answering mid-message: Send returns by its timeout, or at
// once when its context is cancelled, and the failure is retryable.
func TestSendHungServer(t *testing.T) {
	t.Parallel()
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	srv := startServer(t, serverOpts{dataDelay: hang})
	m := newMailer(t, "smtp://"+srv.addr+"?starttls=none", nil, func(c *Config) { c.Timeout = time.Minute })

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	err := m.Send(ctx, alice, []tocsin.Notification{note("t", "x", "", "")}, 0)
	if err == nil || tocsin.IsPermanent(err) {
		t.Fatalf("err = %v, want retryable", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Send took %v after its context was cancelled", d)
	}

	m = newMailer(t, "smtp://"+srv.addr+"?starttls=none", nil, func(c *Config) { c.Timeout = 300 * time.Millisecond })
	start = time.Now()
	if err := m.Send(context.Background(), alice, []tocsin.Notification{note("t", "x", "", "")}, 0); err == nil || tocsin.IsPermanent(err) {
		t.Fatalf("err = %v, want retryable", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Send took %v with a timeout of 300ms", d)
	}
}
