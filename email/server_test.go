package email

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// A real SMTP server (go-smtp) on 127.0.0.1 for the tests: STARTTLS or implicit
// TLS with a certificate made here, AUTH PLAIN, and replies the test chooses.

// received is one message the test server accepted.
type received struct {
	from, to string
	data     []byte
	user     string // who authenticated, "" for nobody
	tls      bool   // whether the message came over TLS
}

type serverOpts struct {
	cert      *tls.Certificate // nil: no TLS at all (no STARTTLS offered)
	implicit  bool             // TLS from the first byte (smtps)
	user      string           // when set, AUTH PLAIN with user/pass is required
	pass      string
	rcptErr   error         // the reply to RCPT TO, nil: 250
	dataDelay chan struct{} // when set, DATA waits for it to close
}

type testServer struct {
	addr string
	msgs chan received
}

// startServer runs a server until the test ends.
func startServer(t *testing.T, o serverOpts) *testServer {
	t.Helper()
	ts := &testServer{msgs: make(chan received, 16)}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{o: o, ts: ts, conn: c}, nil
	}))
	s.Domain = "localhost"
	s.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are what some tests want
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.MaxMessageBytes = 4 << 20
	var l net.Listener
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.cert != nil {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*o.cert}}
		if o.implicit {
			l = tls.NewListener(l, s.TLSConfig)
		}
	}
	ts.addr = l.Addr().String()
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return ts
}

// next returns the next message the server accepted.
func (ts *testServer) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-ts.msgs:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the server received no message")
		return received{}
	}
}

type session struct {
	o    serverOpts
	ts   *testServer
	conn *smtp.Conn
	user string
	from string
	to   string
}

func (s *session) AuthMechanisms() []string {
	if s.o.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.o.user || password != s.o.pass {
			return smtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.o.user != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.o.rcptErr != nil {
		return s.o.rcptErr
	}
	s.to = to
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.o.dataDelay != nil {
		<-s.o.dataDelay
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.ts.msgs <- received{from: s.from, to: s.to, data: b, user: s.user, tls: isTLS}
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", "" }
func (s *session) Logout() error { return nil }

// smtpError is a reply the test server gives.
func smtpError(code int, enhanced smtp.EnhancedCode, msg string) error {
	return &smtp.SMTPError{Code: code, EnhancedCode: enhanced, Message: msg}
}
