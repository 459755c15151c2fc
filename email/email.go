// Package email is the email channel's sender: it renders a user's notifications
// into one message (HTML and text) and submits it to an SMTP server. Whether and
// when to email is the delivery engine's business; this package only sends, and
// says whether a failure is worth retrying (tocsin.RetryableError) or not
// (tocsin.PermanentError).
//
// # One email or a digest
//
// Send takes a list: one notification becomes one email whose subject is its
// title; several become a digest ("3 new notifications") listing them. The engine
// collects the escalations of one user within --email-digest into one Send because
// an inbox that gets an email per notification teaches its owner to ignore (or
// report as spam) all of them; one message per burst is read.
//
// # Unsubscribing
//
// Every email carries a "Stop emails like this" link and the RFC 8058 headers
//
//	List-Unsubscribe: <https://host/api/unsubscribe?token=...>
//	List-Unsubscribe-Post: List-Unsubscribe=One-Click
//
// which let the mail client offer its own Unsubscribe button. The token (see
// VerifyUnsubscribe) names the user and the type whose email to stop; for a digest
// of several types the header's token is for AllTypes ("*": all of the user's
// email), and the body has one link per type besides.
//
// One-click is a POST because of what else follows links in email: spam filters,
// link scanners and previewers fetch every URL of a message with GET before a
// person sees it. If a GET unsubscribed, they would unsubscribe users who never
// asked. RFC 8058 therefore has the mail client POST "List-Unsubscribe=One-Click"
// to the URL, which no scanner does, and the handler must act on that POST alone;
// a GET (a person clicking the body's link) shows a page whose button POSTs. The
// RFC also wants the header's URL to be https: --public-url should be.
//
// # Templates
//
// The embedded templates (templates/ in this package) are replaced, per file, by
// those of --templates DIR: <type>.html and <type>.txt for one notification type,
// default.html and default.txt for every other single notification, digest.html and
// digest.txt for digests. A type with only a .html keeps the default text. All are
// parsed and tried on sample data at start, so a broken one stops the server
// there, naming its file. Data documents what they receive.
//
// # Safety
//
// Everything from a notification is data: html/template escapes it in the HTML
// part, an actionUrl is linked only when it is http: or https:, and the subject is
// the title with every control character (CR, LF) removed, so no notification can
// add a header; go-mail also encodes non-ASCII headers (RFC 2047).
package email

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"

	"github.com/tocsin/tocsin"
)

// maxSubjectRunes bounds a subject: a title may be 1024 bytes, but mail clients
// show about 80 characters and some servers refuse very long header lines.
const maxSubjectRunes = 200

// Mailer sends the email channel's messages. It is safe for concurrent use: each
// Send opens its own connection (one message per connection keeps a failure of
// one from touching another, and notification email is not bulk mail).
type Mailer struct {
	srv       server
	from      *mail.Address
	domain    string // of From: the right side of Message-IDs
	publicURL string
	key       []byte
	tls       *tls.Config
	timeout   time.Duration
	tpl       *templates
	log       *slog.Logger
}

// New checks cfg and parses the templates. Its errors are tocsin.EInvalid and name
// the flag at fault; none of them repeats the SMTP password.
func New(cfg Config) (*Mailer, error) {
	srv, err := parseServerURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	from, err := parseFrom(cfg.From)
	if err != nil {
		return nil, err
	}
	pub, err := parsePublicURL(cfg.PublicURL)
	if err != nil {
		return nil, err
	}
	if len(cfg.UnsubscribeKey) < MinKeyLen {
		return nil, tocsin.Errorf(tocsin.EInvalid, "email: the unsubscribe key must be at least %d bytes", MinKeyLen)
	}
	if cfg.Timeout < 0 {
		return nil, tocsin.Errorf(tocsin.EInvalid, "email: timeout must not be negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	tpl, err := loadTemplates(cfg.Templates)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{}
	if cfg.TLSConfig != nil {
		tc = cfg.TLSConfig.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = srv.host
	}
	if tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Mailer{
		srv: srv, from: from, publicURL: pub, key: append([]byte(nil), cfg.UnsubscribeKey...),
		tls: tc, timeout: cfg.Timeout, tpl: tpl, log: cfg.Logger,
	}
	m.domain = from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	m.log.Info("email: sending through", "smtp", RedactURL(cfg.URL), "from", from.String())
	return m, nil
}

// Send emails ns to the user of to: one notification as itself, several as a
// digest. unread is the user's unread count, for the templates. A failure is a
// *tocsin.SendError: permanent for an SMTP 5xx reply, a certificate that does not
// verify, a server without STARTTLS when it is mandatory, or a user without an
// address; retryable for a 4xx reply, a refused or broken connection, a timeout.
func (m *Mailer) Send(ctx context.Context, to tocsin.Profile, ns []tocsin.Notification, unread int) error {
	if to.Email == "" {
		return tocsin.PermanentError(0, fmt.Errorf("email: user %q has no email address in their profile", to.UserID))
	}
	if len(ns) == 0 {
		return tocsin.PermanentError(0, errors.New("email: no notifications to send"))
	}
	msg, err := m.message(to, ns, unread)
	if err != nil {
		return tocsin.PermanentError(0, err) // the same input would fail the same way
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	c, err := m.client(ctx)
	if err != nil {
		return tocsin.PermanentError(0, fmt.Errorf("email: %w", err))
	}
	err = c.DialAndSendWithContext(ctx, msg)
	if err != nil && msg.IsDelivered() {
		// The server took the message; only RSET or QUIT failed. Retrying would send
		// it twice.
		m.log.Debug("email: sent, closing the connection failed", "user", to.UserID, "err", err)
		err = nil
	}
	if err != nil {
		return classify(ctx, err)
	}
	m.log.Debug("email: sent", "user", to.UserID, "notifications", len(ns), "messageId", msg.GetMessageID())
	return nil
}

// message builds the email of ns for to.
func (m *Mailer) message(to tocsin.Profile, ns []tocsin.Notification, unread int) (*gomail.Msg, error) {
	data := m.data(to, ns, unread)
	html, text, err := m.tpl.render(data)
	if err != nil {
		return nil, err
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(m.from)
	if err := msg.To(to.Email); err != nil {
		return nil, fmt.Errorf("email: recipient %q: %w", to.Email, err)
	}
	msg.Subject(data.Subject)
	msg.SetDate()
	var id [16]byte
	_, _ = rand.Read(id[:])
	msg.SetMessageIDWithValue(hex.EncodeToString(id[:]) + "@" + m.domain)
	msg.SetGenHeader(gomail.HeaderListUnsubscribe, "<"+data.UnsubscribeURL+">")
	msg.SetGenHeader(gomail.HeaderListUnsubscribePost, "List-Unsubscribe=One-Click")
	// RFC 3834: an automatic message; out-of-office responders must not answer it.
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, text)
	msg.AddAlternativeString(gomail.TypeTextHTML, html)
	return msg, nil
}

// data is the template data of ns for to.
func (m *Mailer) data(to tocsin.Profile, ns []tocsin.Notification, unread int) *Data {
	d := &Data{Digest: len(ns) > 1, Count: len(ns), Profile: to, AppURL: m.publicURL + "/", Unread: unread}
	shown := ns
	if len(shown) > MaxDigestItems {
		shown, d.More = shown[:MaxDigestItems], len(ns)-MaxDigestItems
	}
	// A type without a name (never stored so: tocsin.DefaultType) would make a token
	// VerifyUnsubscribe refuses.
	typeOf := func(n *tocsin.Notification) string { return cmp.Or(n.Type, tocsin.DefaultType) }
	links := map[string]string{}
	for i := range ns {
		if typ := typeOf(&ns[i]); links[typ] == "" {
			links[typ] = m.UnsubscribeURL(to.UserID, typ)
			d.Types = append(d.Types, TypeLink{Type: typ, UnsubscribeURL: links[typ]})
		}
	}
	d.Notifications = make([]Item, len(shown))
	for i := range shown {
		d.Notifications[i] = newItem(shown[i], links[typeOf(&shown[i])])
	}
	d.Notification = d.Notifications[0]
	if d.Digest {
		d.Subject = fmt.Sprintf("%d new notifications", len(ns))
	} else {
		d.Subject = cleanSubject(d.Notification.Heading)
	}
	// The header's link: the one type, or all email when the digest mixes types (a
	// mail client's Unsubscribe button stops "these emails", which were all of them).
	d.UnsubscribeURL = d.Types[0].UnsubscribeURL
	if len(d.Types) > 1 {
		d.UnsubscribeURL = m.UnsubscribeURL(to.UserID, AllTypes)
	}
	return d
}

// cleanSubject makes a title a subject: control characters (CR and LF above all,
// which would end the header) and runs of white space become one space, and it is
// cut to maxSubjectRunes.
func cleanSubject(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > maxSubjectRunes {
		s = string([]rune(s)[:maxSubjectRunes-1]) + "…"
	}
	return s
}

// client makes the go-mail client of one Send. Its connections are closed when
// ctx ends, so a cancelled Send returns at once even in the middle of a reply
// (go-mail's own deadline is only per connection).
func (m *Mailer) client(ctx context.Context) (*gomail.Client, error) {
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		d := &net.Dialer{}
		var conn net.Conn
		var err error
		if m.srv.implicit {
			conn, err = (&tls.Dialer{NetDialer: d, Config: m.tls}).DialContext(dctx, network, addr)
		} else {
			conn, err = d.DialContext(dctx, network, addr)
		}
		if err != nil {
			return nil, err
		}
		context.AfterFunc(ctx, func() { _ = conn.Close() })
		return conn, nil
	}
	timeout := m.timeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	policy := gomail.NoTLS // smtps: the connection is TLS already; no STARTTLS inside it
	if !m.srv.implicit {
		policy = map[string]gomail.TLSPolicy{
			StartTLSMandatory: gomail.TLSMandatory, StartTLSOpportunistic: gomail.TLSOpportunistic, StartTLSNone: gomail.NoTLS,
		}[m.srv.startTLS]
	}
	opts := []gomail.Option{
		gomail.WithPort(m.srv.port), gomail.WithTimeout(timeout), gomail.WithTLSConfig(m.tls),
		gomail.WithTLSPolicy(policy), gomail.WithDialContextFunc(dial),
	}
	if m.srv.hasAuth {
		// Preferred mechanisms, strongest first. go-mail's PLAIN and LOGIN refuse a
		// connection that is not TLS (except to localhost), so the password does not
		// leave in clear text whatever the server offers.
		opts = append(opts, gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1,
			gomail.SMTPAuthCramMD5, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(m.srv.user), gomail.WithPassword(m.srv.pass))
	}
	return gomail.NewClient(m.srv.host, opts...)
}

// classify turns go-mail's error into a tocsin.SendError.
func classify(ctx context.Context, err error) error {
	err = fmt.Errorf("email: %w", err)
	if code := replyCode(err); code >= 500 {
		return tocsin.PermanentError(code, err)
	} else if code >= 400 {
		return tocsin.RetryableError(code, 0, err)
	}
	var se *gomail.SendError
	if errors.As(err, &se) && (se.Reason == gomail.ErrGetSender || se.Reason == gomail.ErrGetRcpts || se.Reason == gomail.ErrNoUnencoded) {
		return tocsin.PermanentError(0, err) // the message itself is at fault
	}
	if ctx.Err() == nil && (badCertificate(err) || strings.Contains(err.Error(), "does not support STARTTLS")) {
		// Retrying cannot make a certificate valid or a server offer STARTTLS: the
		// operator must act (fix the server, or --smtp-url's starttls).
		return tocsin.PermanentError(0, err)
	}
	return tocsin.RetryableError(0, 0, err) // connection refused or lost, timeout
}

// replyCode is the SMTP reply code of err, 0 when the server gave none.
func replyCode(err error) int {
	var se *gomail.SendError
	if errors.As(err, &se) && se.ErrorCode() != 0 {
		return se.ErrorCode()
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

// badCertificate reports whether err is a TLS certificate that did not verify.
func badCertificate(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}
