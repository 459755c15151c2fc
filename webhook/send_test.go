package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/internal/outbound"
)

func endpoint(t *testing.T, url string) tocsin.WebhookEndpoint {
	t.Helper()
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return tocsin.WebhookEndpoint{ID: "wh_1", URL: url, Events: []string{tocsin.WebhookCreated}, Secret: secret}
}

func privateSender(timeout time.Duration) *Sender {
	return NewSender(outbound.New(outbound.Config{AllowPrivate: true, Timeout: timeout}), nil)
}

// Every request is checked by the official Standard Webhooks Go library, an
// implementation independent of this package's signing.
func TestSendVerifiedByReferenceLibrary(t *testing.T) {
	ep := endpoint(t, "")
	verifier, err := standardwebhooks.NewWebhook(ep.Secret)
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		body   []byte
		header http.Header
		err    error
	}
	var mu sync.Mutex
	var received []got
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		verr := verifier.Verify(body, r.Header)
		mu.Lock()
		received = append(received, got{body, r.Header.Clone(), verr})
		mu.Unlock()
		if verr != nil {
			http.Error(w, verr.Error(), http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	ep.URL = srv.URL + "/hook"
	s := privateSender(5 * time.Second)

	now := time.Now()
	bodies := [][]byte{
		Body(tocsin.WebhookCreated, now, []byte(`{"id":"n1","title":"Hello"}`)),
		Body(tocsin.WebhookDeliver, now, []byte(`{"title":"Grüße, 世界 🚀","body":"naïve café – \u00e9\u2028"}`)),
		Body(tocsin.WebhookCustom, now, []byte(`{"type":"ORDER_SHIPPED","body":{"items":[1,2,3],"note":"a.b.c"}}`)),
		Body(tocsin.WebhookDeleted, now, nil),
		[]byte(`{"test": 2432232314}`),
		bytes.Repeat([]byte("x"), 100<<10),
	}
	for i, body := range bodies {
		msgID := "msg_" + strings.Repeat("a", i+1)
		status, err := s.Send(context.Background(), ep, msgID, now, body)
		if err != nil || status != http.StatusNoContent {
			t.Fatalf("body %d: status %d, err %v", i, status, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(received) != len(bodies) {
		t.Fatalf("received %d requests, want %d", len(received), len(bodies))
	}
	for i, r := range received {
		if r.err != nil {
			t.Errorf("request %d: reference verifier: %v", i, r.err)
		}
		if !bytes.Equal(r.body, bodies[i]) {
			t.Errorf("request %d: body changed in transit", i)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("request %d: Content-Type %q", i, ct)
		}
		if ua := r.header.Get("User-Agent"); ua != "tocsin" {
			t.Errorf("request %d: User-Agent %q", i, ua)
		}
	}

	// The verifier does reject what it should: a changed body, or another secret.
	sig, _ := Sign(ep.Secret, "msg_x", now, []byte("{}"))
	h := http.Header{}
	h.Set(HeaderID, "msg_x")
	h.Set(HeaderTimestamp, received[0].header.Get(HeaderTimestamp))
	h.Set(HeaderSignature, sig)
	if err := verifier.Verify([]byte("{}"), h); err != nil {
		t.Fatalf("reference verifier rejects Sign's output: %v", err)
	}
	if err := verifier.Verify([]byte("{ }"), h); err == nil {
		t.Fatal("reference verifier accepts a changed body")
	}
	other, _ := NewSecret()
	sig, _ = Sign(other, "msg_x", now, []byte("{}"))
	h.Set(HeaderSignature, sig)
	if err := verifier.Verify([]byte("{}"), h); err == nil {
		t.Fatal("reference verifier accepts another secret's signature")
	}
}

func TestSendClassification(t *testing.T) {
	hang := make(chan struct{})
	mux := http.NewServeMux()
	status := func(code int, header ...string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i+1 < len(header); i += 2 {
				w.Header().Set(header[i], header[i+1])
			}
			w.WriteHeader(code)
			io.WriteString(w, "because")
		}
	}
	mux.Handle("/200", status(200))
	mux.Handle("/204", status(204))
	mux.Handle("/301", status(301, "Location", "https://elsewhere.example/hook"))
	mux.Handle("/302", status(302, "Location", "/200"))
	mux.Handle("/400", status(400))
	mux.Handle("/404", status(404))
	mux.Handle("/408", status(408))
	mux.Handle("/409", status(409))
	mux.Handle("/410", status(410))
	mux.Handle("/425", status(425))
	mux.Handle("/429", status(429, "Retry-After", "7"))
	mux.Handle("/429-long", status(429, "Retry-After", "86400"))
	mux.Handle("/429-date", status(429, "Retry-After", time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat)))
	mux.Handle("/500", status(500))
	mux.Handle("/502", status(502, "Retry-After", "30")) // only 429 and 503 are believed
	mux.Handle("/503", status(503, "Retry-After", "120"))
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		// Reading the body first lets the server notice the client hanging up
		// (it watches the connection only once the body is consumed).
		io.Copy(io.Discard, r.Body)
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(hang) // before srv.Close, which waits for handlers

	const (
		ok        = "ok"
		permanent = "permanent"
		retryable = "retryable"
	)
	cases := []struct {
		path       string
		status     int
		outcome    string
		retryAfter time.Duration // exact, or a lower bound when approx
		approx     bool
	}{
		{"/200", 200, ok, 0, false},
		{"/204", 204, ok, 0, false},
		{"/301", 301, permanent, 0, false},
		{"/302", 302, retryable, 0, false},
		{"/400", 400, permanent, 0, false},
		{"/404", 404, permanent, 0, false},
		{"/408", 408, retryable, 0, false},
		{"/409", 409, retryable, 0, false},
		{"/410", 410, permanent, 0, false},
		{"/425", 425, retryable, 0, false},
		{"/429", 429, retryable, 7 * time.Second, false},
		{"/429-long", 429, retryable, time.Hour, false},
		{"/429-date", 429, retryable, 80 * time.Second, true},
		{"/500", 500, retryable, 0, false},
		{"/502", 502, retryable, 0, false},
		{"/503", 503, retryable, 2 * time.Minute, false},
		{"/hang", 0, retryable, 0, false},
		{"/close", 0, retryable, 0, false},
	}
	s := privateSender(300 * time.Millisecond)
	for _, c := range cases {
		t.Run(strings.TrimPrefix(c.path, "/"), func(t *testing.T) {
			ep := endpoint(t, srv.URL+c.path)
			start := time.Now()
			st, err := s.Send(context.Background(), ep, "msg_1", time.Now(), []byte(`{}`))
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			if st != c.status {
				t.Errorf("status %d, want %d", st, c.status)
			}
			if c.outcome == ok {
				if err != nil {
					t.Fatalf("err %v, want nil", err)
				}
				return
			}
			var se *tocsin.SendError
			if !errors.As(err, &se) {
				t.Fatalf("err %v (%T), want a *tocsin.SendError", err, err)
			}
			if se.Permanent != (c.outcome == permanent) || tocsin.IsPermanent(err) != se.Permanent {
				t.Errorf("err %v: permanent=%v, want %s", err, se.Permanent, c.outcome)
			}
			if se.Status != c.status {
				t.Errorf("SendError.Status %d, want %d", se.Status, c.status)
			}
			if c.approx {
				if se.RetryAfter < c.retryAfter || se.RetryAfter > 90*time.Second {
					t.Errorf("RetryAfter %v, want about 90s", se.RetryAfter)
				}
			} else if se.RetryAfter != c.retryAfter {
				t.Errorf("RetryAfter %v, want %v", se.RetryAfter, c.retryAfter)
			}
			if c.path == "/hang" && !outbound.IsTimeout(err) {
				t.Errorf("hang: %v is not a timeout", err)
			}
			if c.status >= 400 && !strings.Contains(err.Error(), "because") {
				t.Errorf("error %q does not quote the response body", err)
			}
		})
	}
}

func TestSendPermanentBeforeSending(t *testing.T) {
	reached := false
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reached = true
		mu.Unlock()
	}))
	defer srv.Close()

	guarded := NewSender(outbound.New(outbound.Config{}), nil)
	good := endpoint(t, srv.URL)
	cases := []struct {
		name   string
		sender *Sender
		ep     tocsin.WebhookEndpoint
		forbid bool
	}{
		{"loopback refused", guarded, good, true},
		{"localhost refused at dial", guarded, tocsin.WebhookEndpoint{ID: "wh", URL: strings.Replace(srv.URL, "127.0.0.1", "localhost", 1), Secret: good.Secret}, true},
		{"metadata refused", guarded, tocsin.WebhookEndpoint{ID: "wh", URL: "http://169.254.169.254/latest", Secret: good.Secret}, true},
		{"bad scheme", privateSender(time.Second), tocsin.WebhookEndpoint{ID: "wh", URL: "ftp://example.com/", Secret: good.Secret}, false},
		{"userinfo", privateSender(time.Second), tocsin.WebhookEndpoint{ID: "wh", URL: strings.Replace(srv.URL, "://", "://u:p@", 1), Secret: good.Secret}, false},
		{"bad secret", privateSender(time.Second), tocsin.WebhookEndpoint{ID: "wh", URL: srv.URL, Secret: "whsec_!!"}, false},
		{"empty secret", privateSender(time.Second), tocsin.WebhookEndpoint{ID: "wh", URL: srv.URL}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := c.sender.Send(context.Background(), c.ep, "msg_1", time.Now(), []byte(`{}`))
			if st != 0 || !tocsin.IsPermanent(err) {
				t.Fatalf("status %d, err %v; want 0 and a permanent error", st, err)
			}
			if errors.Is(err, outbound.ErrForbiddenAddress) != c.forbid {
				t.Fatalf("err %v: forbidden address want %v", err, c.forbid)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if reached {
		t.Fatal("the server was reached by a request that should not have been sent")
	}
}
