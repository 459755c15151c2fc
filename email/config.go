package email

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tocsin/tocsin"
)

// Config configures a Mailer. The flag each field comes from is in its comment.
type Config struct {
	// URL (--smtp-url) is the submission server:
	//
	//	smtp://user:pass@host:port   STARTTLS (port 587 when omitted)
	//	smtps://user:pass@host:port  TLS from the first byte (port 465 when omitted)
	//
	// user and pass are URL-escaped ("p%40ss" for "p@ss") and optional together
	// (a relay that trusts the network). smtp:// takes ?starttls=:
	//
	//	mandatory      (the default) the server must offer STARTTLS and present a
	//	               certificate the system (or TLSConfig) trusts, else nothing is sent
	//	opportunistic  STARTTLS when offered, plain text otherwise
	//	none           never STARTTLS: for a relay on the same host (a local
	//	               Postfix, Mailpit in development)
	//
	// The default is mandatory everywhere, loopback included: a guess that a
	// connection is safe to send in clear text is the one guess a mailer must not
	// make, and "?starttls=none" says it explicitly. A password is never sent
	// without TLS to a host that is not loopback: New refuses user:pass with
	// starttls=none or opportunistic on such a host.
	URL string
	// From (--email-from) is the sender: "alerts@example.com" or
	// "Example Alerts <alerts@example.com>".
	From string
	// Templates (--templates) is an optional directory of templates that replace the
	// embedded ones (see the package documentation); "" uses only the embedded.
	Templates string
	// PublicURL (--public-url) is the server's address as users reach it, with any
	// base path (https://notify.example.com/tocsin): the base of the unsubscribe
	// links and of "View in app".
	PublicURL string
	// UnsubscribeKey signs unsubscribe tokens: at least MinKeyLen (32) random bytes,
	// the same on every node and kept across restarts (else old links stop working).
	UnsubscribeKey []byte
	// TLSConfig verifies the server (nil: the system roots). Its ServerName is set
	// to the URL's host when empty.
	TLSConfig *tls.Config
	// Timeout bounds one Send, connection to QUIT (0: DefaultTimeout).
	Timeout time.Duration
	Logger  *slog.Logger
}

// DefaultTimeout is a Send's bound when Config.Timeout is 0.
const DefaultTimeout = 30 * time.Second

// STARTTLS policies of an smtp:// URL.
const (
	StartTLSMandatory     = "mandatory"
	StartTLSOpportunistic = "opportunistic"
	StartTLSNone          = "none"
)

// server is a parsed --smtp-url.
type server struct {
	host     string
	port     int
	implicit bool   // smtps://
	startTLS string // smtp:// only: StartTLSMandatory, StartTLSOpportunistic, StartTLSNone
	user     string
	pass     string
	hasAuth  bool
}

// parseServerURL parses --smtp-url. Its errors never repeat the URL: it may hold a
// password, and the error goes to a terminal and to logs.
func parseServerURL(raw string) (server, error) {
	bad := func(format string, args ...any) (server, error) {
		return server{}, tocsin.Errorf(tocsin.EInvalid, "--smtp-url: "+format, args...)
	}
	if raw == "" {
		return bad("is required (smtp://user:pass@host:587 or smtps://user:pass@host:465)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error's own message quotes the whole URL, password and all
		}
		return bad("is not a URL (%v); escape special characters in user and password (@ is %%40)", err)
	}
	var s server
	switch u.Scheme {
	case "smtp":
		s.port = 587
	case "smtps":
		s.port, s.implicit = 465, true
	default:
		return bad("scheme must be smtp:// (STARTTLS) or smtps:// (implicit TLS), not %q", u.Scheme)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return bad("has no host (smtp://user:pass@host:port)")
	}
	if u.Path != "" && u.Path != "/" || u.Fragment != "" {
		return bad("must not have a path or a fragment")
	}
	s.host = u.Hostname()
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return bad("port must be 1 to 65535")
		}
		s.port = n
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
		if s.user == "" {
			return bad("has a password but no user")
		}
		s.hasAuth = true
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("has a malformed query")
	}
	for k, v := range q {
		if k != "starttls" {
			return bad("unknown parameter %q (only starttls)", k)
		}
		if s.implicit {
			return bad("starttls applies to smtp:// only; smtps:// is TLS from the start")
		}
		if len(v) != 1 {
			return bad("starttls given more than once")
		}
	}
	if !s.implicit {
		s.startTLS = StartTLSMandatory
		if v := q.Get("starttls"); v != "" {
			if v != StartTLSMandatory && v != StartTLSOpportunistic && v != StartTLSNone {
				return bad("starttls must be mandatory, opportunistic or none, not %q", v)
			}
			s.startTLS = v
		}
	}
	if s.hasAuth && s.startTLS != "" && s.startTLS != StartTLSMandatory && !isLoopback(s.host) {
		return bad("starttls=%s would send the password in clear text to %s; use mandatory or smtps://", s.startTLS, s.host)
	}
	return s, nil
}

// isLoopback reports whether host names this machine: localhost or a loopback IP.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// RedactURL returns u without its password, for logs: smtp://user:xxxxx@host:587.
// A string that is not a URL comes back as "(unparsable URL)", since it may hold a
// password anywhere.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}

// parseFrom checks --email-from and returns it in the form a header takes.
func parseFrom(from string) (*mail.Address, error) {
	if from == "" {
		return nil, tocsin.Errorf(tocsin.EInvalid, "--email-from is required (alerts@example.com or \"Example <alerts@example.com>\")")
	}
	a, err := mail.ParseAddress(from)
	if err != nil || strings.ContainsAny(from, "\r\n") {
		return nil, tocsin.Errorf(tocsin.EInvalid, "--email-from %q is not an address such as alerts@example.com or \"Example <alerts@example.com>\"", from)
	}
	return a, nil
}

// parsePublicURL checks --public-url and returns it without a trailing slash.
func parsePublicURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", tocsin.Errorf(tocsin.EInvalid, "--public-url %q must be an http:// or https:// URL such as https://notify.example.com", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}
