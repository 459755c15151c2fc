package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/pem"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/tocsin/tocsin/internal/testcert"
)

// smtpSink is a real SMTP server (go-smtp) on 127.0.0.1 speaking implicit TLS with a
// certificate made for the test; the binary trusts it through SSL_CERT_FILE.
type smtpSink struct {
	addr     string
	certFile string // the certificate, PEM, for the child's SSL_CERT_FILE
	msgs     chan sunk
}

type sunk struct {
	to  string
	msg *mail.Message
	raw []byte
}

func startSMTPS(t *testing.T) *smtpSink {
	t.Helper()
	cert, _ := testcert.New(t)
	certFile := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	sink := &smtpSink{certFile: certFile, msgs: make(chan sunk, 64)}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: sink}, nil }))
	s.Domain = "localhost"
	s.ErrorLog = log.New(io.Discard, "", 0)
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.MaxMessageBytes = 4 << 20
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink.addr = l.Addr().String()
	go func() { _ = s.Serve(tls.NewListener(l, s.TLSConfig)) }()
	t.Cleanup(func() { _ = s.Close() })
	return sink
}

type sinkSession struct {
	sink *smtpSink
	to   string
}

func (s *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = to
	return nil
}
func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		return err
	}
	s.sink.msgs <- sunk{to: s.to, msg: m, raw: b}
	return nil
}
func (s *sinkSession) Reset()        { s.to = "" }
func (s *sinkSession) Logout() error { return nil }

// next returns the next email the server accepted, failing after timeout.
func (s *smtpSink) next(t *testing.T, timeout time.Duration) sunk {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(timeout):
		t.Fatalf("no email within %v", timeout)
		return sunk{}
	}
}

// none checks that no email arrives within d.
func (s *smtpSink) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-s.msgs:
		t.Fatalf("unexpected email to %s: %s", m.to, m.msg.Header.Get("Subject"))
	case <-time.After(d):
	}
}

// startMailProc runs the binary sending email through sink over implicit TLS.
func startMailProc(t *testing.T, sink *smtpSink, extra ...string) *proc {
	t.Helper()
	addr := freeAddr(t)
	args := append([]string{"serve", "--addr", addr, "--data-dir", t.TempDir(), "--log-level", "warn",
		"--api-key", apiKey, "--jwt-secret", jwtSecret,
		"--smtp-url", "smtps://" + sink.addr, "--email-from", "Tocsin <notify@tocsin.test>"}, extra...)
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+sink.certFile, "SSL_CERT_DIR="+filepath.Dir(sink.certFile))
	return serveCmd(t, addr, cmd)
}

// text is the decoded text of every text part of m (headers excluded).
func text(t *testing.T, m *mail.Message) string {
	t.Helper()
	var b strings.Builder
	var walk func(h map[string][]string, body io.Reader)
	walk = func(h map[string][]string, body io.Reader) {
		hdr := mail.Header(h)
		mt, params, err := mime.ParseMediaType(hdr.Get("Content-Type"))
		if err != nil {
			mt = "text/plain"
		}
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(body, params["boundary"])
			for {
				p, err := mr.NextRawPart()
				if err != nil {
					return
				}
				walk(p.Header, p)
			}
		}
		switch strings.ToLower(hdr.Get("Content-Transfer-Encoding")) {
		case "quoted-printable":
			body = quotedprintable.NewReader(body)
		case "base64":
			body = base64.NewDecoder(base64.StdEncoding, body)
		}
		data, err := io.ReadAll(body)
		if err != nil {
			t.Fatalf("reading a part: %v", err)
		}
		b.Write(data)
		b.WriteByte('\n')
	}
	walk(m.Header, m.Body)
	return b.String()
}

// deliveryOf polls a notification's delivery log until its channel row leaves
// "scheduled", and returns that row.
func deliveryOf(t *testing.T, n *node, user, id, channel string) delivery {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := n.do("GET", "/api/users/"+user+"/notifications/"+id+"/deliveries", apiKey, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("deliveries of %s: %d %s", id, r.Status, r.Body)
		}
		var out struct{ Deliveries []delivery }
		r.json(t, &out)
		for _, d := range out.Deliveries {
			if d.Channel == channel && d.Status != "scheduled" {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s of %s still not decided: %s", channel, id, r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type delivery struct {
	Channel, Status, Reason string
	Attempts                int
}

func putProfile(t *testing.T, n *node, user, email string) {
	t.Helper()
	r := n.do("PUT", "/api/users/"+user, apiKey, map[string]any{"email": email, "timezone": "Europe/Berlin", "locale": "de-DE"})
	if r.Status != http.StatusOK {
		t.Fatalf("PUT profile: %d %s", r.Status, r.Body)
	}
}

// mailTest starts a parallel binary test: an SMTP server, a node with
// --email-digest digest sending through it, and user's profile with an address.
func mailTest(t *testing.T, digest, user string) (*smtpSink, *proc) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	sink := startSMTPS(t)
	p := startMailProc(t, sink, "--email-digest", digest)
	putProfile(t, p.node, user, user+"@example.test")
	return sink, p
}

// TestEmailEscalation: the binary escalates to email over implicit TLS to a real
// SMTP server. A notification read before its email delay is not emailed (logged
// skipped: read); the other is, with RFC 8058 headers; a GET of the unsubscribe
// link changes nothing, its one-click POST switches the type's email off, and the
// next notification of that type is skipped for the preference.
func TestEmailEscalation(t *testing.T) {
	sink, p := mailTest(t, "0", "mail-u1")
	n, user := p.node, "mail-u1"

	read := n.publish(user, map[string]any{"type": "mention", "title": "read in time", "channels": map[string]string{"email": "1s"}})
	sent := n.publish(user, map[string]any{"type": "mention", "title": "Escalated subject", "channels": map[string]string{"email": "1s"}})
	if r := n.do("PATCH", "/api/notifications/"+read.ID, userToken(t, user), map[string]any{"read": true}); r.Status != http.StatusOK {
		t.Fatalf("mark read: %d %s", r.Status, r.Body)
	}

	m := sink.next(t, 10*time.Second)
	h := m.msg.Header
	if m.to != "mail-u1@example.test" || !strings.Contains(h.Get("To"), "mail-u1@example.test") {
		t.Errorf("email to %q (To %q)", m.to, h.Get("To"))
	}
	if h.Get("Subject") != "Escalated subject" {
		t.Errorf("Subject %q", h.Get("Subject"))
	}
	if h.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post %q", h.Get("List-Unsubscribe-Post"))
	}
	link := strings.Trim(h.Get("List-Unsubscribe"), "<>")
	if !strings.HasPrefix(link, p.URL+"/api/unsubscribe?token=") {
		t.Fatalf("List-Unsubscribe %q does not point at this server", h.Get("List-Unsubscribe"))
	}
	if body := text(t, m.msg); !strings.Contains(body, "Escalated subject") {
		t.Errorf("the email's text lacks the title:\n%s", body)
	}
	sink.none(t, time.Second) // the read one never goes
	if d := deliveryOf(t, n, user, read.ID, "email"); d.Status != "skipped" || d.Reason != "read" {
		t.Errorf("read notification's email: %+v, want skipped/read", d)
	}
	if d := deliveryOf(t, n, user, sent.ID, "email"); d.Status != "sent" {
		t.Errorf("escalated notification's email: %+v, want sent", d)
	}

	// A GET (a link scanner, a prefetch) only shows the confirmation page.
	before := n.do("GET", "/api/users/"+user+"/preferences", apiKey, nil)
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET unsubscribe link: %d", resp.StatusCode)
	}
	// Its one-click form must not be framed (a page that frames it could trick a click).
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("the unsubscribe page's CSP %q lets other pages frame it", csp)
	}
	if after := n.do("GET", "/api/users/"+user+"/preferences", apiKey, nil); !bytes.Equal(before.Body, after.Body) {
		t.Fatalf("GET of the unsubscribe link changed the preferences:\n%s\n%s", before.Body, after.Body)
	}

	// A tampered token is refused and changes nothing.
	resp, err = http.Post(link+"x", "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("POST with a tampered token: %d, want 400", resp.StatusCode)
	}

	// The one-click POST, as a mail client sends it.
	resp, err = http.Post(link, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("one-click POST: %d", resp.StatusCode)
	}
	var prefs struct {
		Channels map[string]bool
		Types    map[string]map[string]bool
	}
	n.do("GET", "/api/users/"+user+"/preferences", apiKey, nil).json(t, &prefs)
	if on, ok := prefs.Types["mention"]["email"]; !ok || on {
		t.Fatalf("after unsubscribe types.mention.email is %v (set %v)", on, ok)
	}
	if on, ok := prefs.Channels["email"]; ok && !on { // absent is on
		t.Fatal("unsubscribing from one type turned all email off")
	}

	after := n.publish(user, map[string]any{"type": "mention", "title": "after unsubscribe", "channels": map[string]string{"email": "0s"}})
	if d := deliveryOf(t, n, user, after.ID, "email"); d.Status != "skipped" || !strings.HasPrefix(d.Reason, "preference") {
		t.Errorf("email after unsubscribe: %+v, want skipped/preference", d)
	}
	other := n.publish(user, map[string]any{"type": "billing", "title": "other type", "channels": map[string]string{"email": "0s"}})
	if m := sink.next(t, 10*time.Second); m.msg.Header.Get("Subject") != "other type" {
		t.Fatalf("next email is %q, want the other type's (the unsubscribed one was sent?)", m.msg.Header.Get("Subject"))
	}
	if d := deliveryOf(t, n, user, other.ID, "email"); d.Status != "sent" {
		t.Errorf("other type's email: %+v", d)
	}
}

// TestEmailDigest: escalations of one user within --email-digest go out as one
// email listing them all.
func TestEmailDigest(t *testing.T) {
	sink, p := mailTest(t, "2s", "digest-u1")
	n, user := p.node, "digest-u1"
	titles := []string{"Digest one", "Digest two", "Digest three"}
	var ids []string
	for _, title := range titles {
		ids = append(ids, n.publish(user, map[string]any{"title": title, "channels": map[string]string{"email": "0s"}}).ID)
	}
	m := sink.next(t, 15*time.Second)
	if m.to != "digest-u1@example.test" {
		t.Errorf("digest to %q", m.to)
	}
	body := text(t, m.msg)
	for _, title := range titles {
		if !strings.Contains(body, title) {
			t.Errorf("the digest lacks %q:\nSubject: %s\n%s", title, m.msg.Header.Get("Subject"), body)
		}
	}
	sink.none(t, 3*time.Second) // one email, not one each
	for _, id := range ids {
		if d := deliveryOf(t, n, user, id, "email"); d.Status != "sent" {
			t.Errorf("digested %s: %+v, want sent", id, d)
		}
	}
}

// TestEmailQuietHoursInTimezone: quiet hours are read in the user's timezone
// (Asia/Kathmandu, UTC+5:45, from the profile when the window names none). A
// window around Kathmandu's present defers a user's email (logged scheduled:
// quiet hours) except at priority 5; the same window read as UTC would not be
// quiet, and a window around UTC's present does not hold back a Kathmandu user.
func TestEmailQuietHoursInTimezone(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	sink := startSMTPS(t)
	p := startMailProc(t, sink, "--email-digest", "0")
	n := p.node
	ktm, err := time.LoadLocation("Asia/Kathmandu")
	if err != nil {
		t.Fatal(err)
	}
	// A window from 2 minutes before to 5 after the present, in zone loc.
	window := func(loc *time.Location) map[string]string {
		now := time.Now().In(loc)
		return map[string]string{"start": now.Add(-2 * time.Minute).Format("15:04"), "end": now.Add(5 * time.Minute).Format("15:04")}
	}
	put := func(user string, q map[string]string) {
		t.Helper()
		r := n.do("PUT", "/api/users/"+user, apiKey, map[string]any{"email": user + "@example.test", "timezone": "Asia/Kathmandu"})
		if r.Status != http.StatusOK {
			t.Fatalf("PUT profile: %d %s", r.Status, r.Body)
		}
		if r := n.do("PUT", "/api/users/"+user+"/preferences", apiKey, map[string]any{"quietHours": q}); r.Status != http.StatusOK {
			t.Fatalf("PUT preferences: %d %s", r.Status, r.Body)
		}
	}
	put("quiet-ktm", window(ktm))      // quiet now, in Kathmandu
	put("quiet-utc", window(time.UTC)) // quiet now in UTC, not in Kathmandu

	held := n.publish("quiet-ktm", map[string]any{"title": "held back", "channels": map[string]string{"email": "0s"}})
	urgent := n.publish("quiet-ktm", map[string]any{"title": "urgent", "priority": 5, "channels": map[string]string{"email": "0s"}})
	loud := n.publish("quiet-utc", map[string]any{"title": "not quiet there", "channels": map[string]string{"email": "0s"}})

	got := map[string]string{}
	for range 2 {
		m := sink.next(t, 10*time.Second)
		got[m.msg.Header.Get("Subject")] = m.to
	}
	if got["urgent"] != "quiet-ktm@example.test" || got["not quiet there"] != "quiet-utc@example.test" {
		t.Fatalf("emails sent: %v; want the priority 5 one and the UTC-window user's", got)
	}
	sink.none(t, 2*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var out struct{ Deliveries []delivery }
		n.do("GET", "/api/users/quiet-ktm/notifications/"+held.ID+"/deliveries", apiKey, nil).json(t, &out)
		if len(out.Deliveries) == 1 && out.Deliveries[0].Reason == "quiet hours" {
			if out.Deliveries[0].Status != "scheduled" {
				t.Fatalf("held email: %+v, want scheduled (quiet hours)", out.Deliveries[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("held email's log never said quiet hours: %+v", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range []struct{ user, id string }{{"quiet-ktm", urgent.ID}, {"quiet-utc", loud.ID}} {
		if d := deliveryOf(t, n, c.user, c.id, "email"); d.Status != "sent" {
			t.Errorf("%s's email: %+v, want sent", c.user, d)
		}
	}
}
