package webpush

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/internal/outbound"
)

// pushService is a push service endpoint (RFC 8030 §5) in the test: it checks
// every header of each request, verifies the VAPID token against the server's
// origin and the sender's public key, decrypts the body with the subscription's
// private key, and answers with status (and Retry-After, when set).
type pushService struct {
	t          *testing.T
	srv        *httptest.Server
	ua         testUA
	vapidKey   string // the k= the subscription was made with
	status     atomic.Int32
	retryAfter string
	want       http.Header // headers a request must carry, exactly
	requests   atomic.Int32
	got        chan []byte
}

func newPushService(t *testing.T, vapidKey string) *pushService {
	p := &pushService{t: t, ua: newTestUA(t), vapidKey: vapidKey, got: make(chan []byte, 10)}
	p.status.Store(http.StatusCreated)
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *pushService) sub() Subscription { return p.ua.sub(p.srv.URL + "/push/abc123") }

func (p *pushService) serve(w http.ResponseWriter, r *http.Request) {
	t := p.t
	p.requests.Add(1)
	if r.Method != http.MethodPost || r.URL.Path != "/push/abc123" {
		t.Errorf("request %s %s", r.Method, r.URL.Path)
	}
	for name, want := range p.want {
		if got := r.Header.Values(name); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
	if r.Header.Get("Content-Encoding") != "aes128gcm" || r.Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("content headers %q %q", r.Header.Get("Content-Encoding"), r.Header.Get("Content-Type"))
	}
	if _, err := strconv.ParseUint(r.Header.Get("TTL"), 10, 32); err != nil {
		t.Errorf("TTL %q is not delta-seconds", r.Header.Get("TTL"))
	}
	claims, k := verifyVAPID(t, r.Header.Get("Authorization"), p.srv.URL, time.Now())
	if k != p.vapidKey {
		t.Errorf("k = %s, want the key the subscription was made with", k)
	}
	if claims["sub"] != "mailto:ops@example.com" {
		t.Errorf("sub = %v", claims["sub"])
	}
	body, err := io.ReadAll(r.Body)
	if err != nil || len(body) > MaxBody || r.ContentLength != int64(len(body)) {
		t.Errorf("body: %d bytes (Content-Length %d), %v", len(body), r.ContentLength, err)
	}
	pt, err := testDecrypt(p.ua.key, p.ua.auth, body)
	if err != nil {
		t.Errorf("decrypt: %v", err)
	}
	p.got <- pt
	if p.retryAfter != "" {
		w.Header().Set("Retry-After", p.retryAfter)
	}
	w.WriteHeader(int(p.status.Load()))
	io.WriteString(w, `{"reason":"test"}`)
}

func newTestSender(t *testing.T, allowInsecure bool) *Sender {
	t.Helper()
	key, err := GenerateVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSender(outbound.New(outbound.Config{AllowPrivate: allowInsecure, Timeout: 5 * time.Second}), key, "mailto:ops@example.com", allowInsecure)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSendDelivers(t *testing.T) {
	s := newTestSender(t, true)
	ps := newPushService(t, s.PublicKey())
	id := "01JDQ8Z6W3M0V4S1C2B5N7K9PX"
	ps.want = http.Header{
		"Ttl":     {"3600"},
		"Urgency": {"high"},
		"Topic":   {id},
	}
	payload := []byte(`{"type":"notification","notification":{"id":"` + id + `"},"unreadCount":3}`)
	status, err := s.Send(context.Background(), ps.sub(), payload, Options{TTL: time.Hour + 900*time.Millisecond, Urgency: UrgencyOf(5), Topic: TopicOf(id), PadTo: 256})
	if err != nil || status != http.StatusCreated {
		t.Fatalf("Send = %d, %v", status, err)
	}
	if got := <-ps.got; string(got) != string(payload) {
		t.Fatalf("push service decrypted %q", got)
	}

	// Without urgency and topic the headers are absent; TTL defaults and clamps.
	for _, tc := range []struct {
		ttl  time.Duration
		want string
	}{
		{0, strconv.Itoa(int(DefaultTTL / time.Second))},
		{-time.Second, "0"},
		{365 * 24 * time.Hour, strconv.Itoa(int(MaxTTL / time.Second))},
	} {
		ps.want = http.Header{"Ttl": {tc.want}, "Urgency": nil, "Topic": nil}
		if _, err := s.Send(context.Background(), ps.sub(), []byte("x"), Options{TTL: tc.ttl}); err != nil {
			t.Fatalf("TTL %v: %v", tc.ttl, err)
		}
		<-ps.got
	}
}

func TestSendClassifies(t *testing.T) {
	s := newTestSender(t, true)
	ps := newPushService(t, s.PublicKey())
	for _, tc := range []struct {
		status     int
		retryAfter string
		ok         bool
		permanent  bool
		is         error
		after      time.Duration
	}{
		{status: 201, ok: true},
		{status: 202, ok: true},
		{status: 404, permanent: true, is: ErrGone},
		{status: 410, permanent: true, is: ErrGone},
		{status: 413, permanent: true, is: ErrTooLarge},
		{status: 429, retryAfter: "30", after: 30 * time.Second},
		{status: 500},
		{status: 503, retryAfter: "120", after: 2 * time.Minute},
		{status: 408},
		{status: 400, permanent: true},
		{status: 403, permanent: true},
		{status: 301, permanent: true},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			ps.status.Store(int32(tc.status))
			ps.retryAfter = tc.retryAfter
			status, err := s.Send(context.Background(), ps.sub(), []byte("hello"), Options{})
			<-ps.got
			if status != tc.status {
				t.Fatalf("status %d, want %d", status, tc.status)
			}
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var se *tocsin.SendError
			if !errors.As(err, &se) || se.Permanent != tc.permanent || se.Status != tc.status || se.RetryAfter != tc.after {
				t.Fatalf("err = %#v, want permanent %v, retry after %v", err, tc.permanent, tc.after)
			}
			for _, sentinel := range []error{ErrGone, ErrTooLarge} {
				if errors.Is(err, sentinel) != (tc.is == sentinel) {
					t.Fatalf("errors.Is(%v, %v) = %v", err, sentinel, !(tc.is == sentinel))
				}
			}
			if !strings.Contains(err.Error(), `"{\"reason\":\"test\"}"`) {
				t.Errorf("error does not quote the service's reason: %v", err)
			}
		})
	}
}

// TestSendRefusesBeforeSending: what can never succeed fails permanently without a
// request, and an unreachable service is worth retrying.
func TestSendRefusesBeforeSending(t *testing.T) {
	insecure := newTestSender(t, true)
	ps := newPushService(t, insecure.PublicKey())
	good := ps.sub()
	for _, tc := range []struct {
		name string
		sub  Subscription
		data []byte
		opts Options
		is   error
	}{
		{"too large", good, make([]byte, MaxPayload+1), Options{}, ErrTooLarge},
		{"bad urgency", good, nil, Options{Urgency: "urgent"}, nil},
		{"topic too long", good, nil, Options{Topic: strings.Repeat("a", 33)}, nil},
		{"topic outside base64url", good, nil, Options{Topic: "a/b"}, nil},
		{"bad keys", Subscription{Endpoint: good.Endpoint, P256dh: "AAAA", Auth: good.Auth}, nil, Options{}, nil},
		{"endpoint not a URL", Subscription{Endpoint: "::", P256dh: good.P256dh, Auth: good.Auth}, nil, Options{}, nil},
		{"endpoint ftp", Subscription{Endpoint: "ftp://push.example/x", P256dh: good.P256dh, Auth: good.Auth}, nil, Options{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, err := insecure.Send(context.Background(), tc.sub, tc.data, tc.opts)
			if status != 0 || !tocsin.IsPermanent(err) || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("Send = %d, %v", status, err)
			}
		})
	}
	if n := ps.requests.Load(); n != 0 {
		t.Fatalf("%d requests reached the push service", n)
	}

	// Without --push-allow-insecure: http, private IP literals, and names that
	// resolve to loopback (checked at dial time) are refused, permanently.
	secure := newTestSender(t, false)
	for _, ep := range []string{ps.srv.URL + "/push/abc123", "https://127.0.0.1:1/x", "https://10.0.0.1/x", "https://localhost:1/x"} {
		sub := good
		sub.Endpoint = ep
		status, err := secure.Send(context.Background(), sub, []byte("x"), Options{})
		if status != 0 || !tocsin.IsPermanent(err) {
			t.Errorf("secure Send to %s = %d, %v; want a permanent refusal", ep, status, err)
		}
		if ep == "https://localhost:1/x" && !errors.Is(err, outbound.ErrForbiddenAddress) {
			t.Errorf("localhost: %v, want ErrForbiddenAddress at dial time", err)
		}
		if err := sub.Validate(false); ep != "https://localhost:1/x" && tocsin.ErrorCodeOf(err) != tocsin.EInvalid {
			t.Errorf("Validate(%s) = %v, want EInvalid", ep, err)
		}
	}

	// A push service that is down: retry.
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	sub := good
	sub.Endpoint = down.URL + "/x"
	status, err := insecure.Send(context.Background(), sub, []byte("x"), Options{})
	if status != 0 || err == nil || tocsin.IsPermanent(err) {
		t.Fatalf("down service: %d, %v; want retryable", status, err)
	}
}

func TestNewSenderValidates(t *testing.T) {
	client := outbound.New(outbound.Config{})
	key, _ := GenerateVAPIDKey()
	if _, err := NewSender(client, key, "ops@example.com", false); tocsin.ErrorCodeOf(err) != tocsin.EInvalid {
		t.Errorf("bad subject: %v", err)
	}
	if _, err := NewSender(client, nil, "mailto:ops@example.com", false); err == nil {
		t.Error("nil key accepted")
	}
	if _, err := NewSender(nil, key, "mailto:ops@example.com", false); err == nil {
		t.Error("nil client accepted")
	}
}

func TestUrgencyAndTopic(t *testing.T) {
	for p, want := range map[int]string{0: "normal", 1: "very-low", 2: "low", 3: "normal", 4: "high", 5: "high", 9: "normal"} {
		if got := UrgencyOf(p); got != want {
			t.Errorf("UrgencyOf(%d) = %s, want %s", p, got, want)
		}
	}
	ulid := "01JDQ8Z6W3M0V4S1C2B5N7K9PX"
	if TopicOf(ulid) != ulid {
		t.Errorf("TopicOf(ULID) = %s", TopicOf(ulid))
	}
	for _, id := range []string{"", "has space", "a/b+c", strings.Repeat("x", 33), "ünïcode"} {
		got := TopicOf(id)
		if !validTopic(got) || len(got) != maxTopicLen || TopicOf(id) != got {
			t.Errorf("TopicOf(%q) = %q: not a stable valid topic", id, got)
		}
	}
	if TopicOf("a b") == TopicOf("a c") {
		t.Error("different ids share a topic")
	}
}

func TestSenderReusesTokens(t *testing.T) {
	s := newTestSender(t, true)
	now := time.Now()
	a1, err := s.authorization("https://push.example/a", now)
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := s.authorization("https://push.example:443/b?c", now.Add(time.Hour))
	if a1 != a2 {
		t.Fatal("a second request to the same origin signed a new token")
	}
	if b, _ := s.authorization("https://other.example/a", now); b == a1 {
		t.Fatal("another origin got the same token")
	}
	// Past half its lifetime the token is renewed, and the new one verifies.
	a3, _ := s.authorization("https://push.example/a", now.Add(TokenLifetime/2+time.Minute))
	if a3 == a1 {
		t.Fatal("token not renewed after half its lifetime")
	}
	verifyVAPID(t, a3, "https://push.example", now.Add(TokenLifetime/2+time.Minute))
	// Bounded: many origins do not grow the cache without limit.
	for i := range 3 * maxCachedOrigins {
		if _, err := s.authorization("https://h"+strconv.Itoa(i)+".example/", now); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.tokens.m); n > maxCachedOrigins {
		t.Fatalf("cache holds %d origins", n)
	}
}
