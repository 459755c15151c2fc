package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/auth"
	"github.com/tocsin/tocsin/email"
	"github.com/tocsin/tocsin/httpapi"
	"github.com/tocsin/tocsin/internal/clientip"
	"github.com/tocsin/tocsin/sqlite"
)

// countingStore is the real store, counting the credential lookups made in it.
type countingStore struct {
	*sqlite.Store
	lookups *atomic.Int64
}

func (c countingStore) Token(ctx context.Context, hash string) (tocsin.StreamToken, error) {
	c.lookups.Add(1)
	return c.Store.Token(ctx, hash)
}

func (c countingStore) RedeemTicket(ctx context.Context, hash string, now time.Time) (string, error) {
	c.lookups.Add(1)
	return c.Store.RedeemTicket(ctx, hash, now)
}

// countingAuth is the real authenticator, counting its checks.
type countingAuth struct {
	httpapi.Authenticator
	lookups *atomic.Int64
}

func (c countingAuth) APIKey(k string) (tocsin.Principal, bool) {
	c.lookups.Add(1)
	return c.Authenticator.APIKey(k)
}

func (c countingAuth) VerifyJWT(t string) (tocsin.Principal, error) {
	c.lookups.Add(1)
	return c.Authenticator.VerifyJWT(t)
}

type guessServer struct {
	t       *testing.T
	h       http.Handler
	lookups *atomic.Int64 // store, authenticator, unsubscribe and read-ticket checks
	refused prometheus.Counter
}

const guessLimit = 5

func newGuessServer(t *testing.T) *guessServer {
	t.Helper()
	proxies, err := clientip.ParseProxies([]string{"10.9.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	g := &guessServer{t: t, lookups: &atomic.Int64{}, refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "refused"})}
	c := newChannelsServerWith(t, func(c *httpapi.Config, store *sqlite.Store) {
		c.Store, c.Auth = countingStore{store, g.lookups}, countingAuth{c.Auth, g.lookups}
		c.TrustedProxies, c.AuthFailureLimit, c.AuthFailuresRefused = proxies, guessLimit, g.refused
		c.Unsubscribe = func(tok string) (string, string, error) {
			g.lookups.Add(1)
			return email.VerifyUnsubscribe(unsubKey, tok)
		}
		c.Push = httpapi.PushConfig{PublicKey: testVAPIDPublic, Store: store, Read: func(ticket, id string) (string, error) {
			g.lookups.Add(1)
			return "", tocsin.Errorf(tocsin.EUnauthorized, "the read ticket is not valid")
		}}
	})
	// Requests go to the handler itself, so that each can come from any address.
	g.h = c.ts.Config.Handler
	return g
}

// do sends a request from peer (ip:port), with X-Forwarded-For xff when not "".
func (g *guessServer) do(peer, xff, method, path, bearer, body string) *httptest.ResponseRecorder {
	g.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = peer
	if xff != "" {
		r.Header.Set("X-Forwarded-For", xff)
	}
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	if strings.HasPrefix(body, "{") {
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	g.h.ServeHTTP(w, r)
	return w
}

func (g *guessServer) token(scope string) string {
	g.t.Helper()
	w := g.do("192.0.2.200:1", "", "POST", "/api/tokens", channelsKey, `{"stream":"user:ana","scope":"`+scope+`"}`)
	var v struct{ Token string }
	if w.Code != 201 || json.Unmarshal(w.Body.Bytes(), &v) != nil || v.Token == "" {
		g.t.Fatalf("create %s token: %d %s", scope, w.Code, w.Body)
	}
	return v.Token
}

// TestCredentialGuessesAreLimited: on each credential-checking route, guessLimit
// wrong credentials from one address, then 429 with Retry-After and a JSON error,
// without a single lookup more; a valid credential from another address still
// works; the refused requests are counted.
func TestCredentialGuessesAreLimited(t *testing.T) {
	wrongJWT, _ := auth.MintJWT([]byte("another-secret-of-32-bytes-000000000"), "ana", time.Hour, time.Now())
	bogus := strings.Repeat("x", 40)
	for _, tc := range []struct {
		name                       string
		method, path, bearer, body string
		wantFail                   int
	}{
		{"hook token", "POST", "/api/hooks/" + bogus, "", "hello", 401},
		{"stream token", "GET", "/api/stream/" + bogus, "", "", 401},
		{"stream ticket", "GET", "/api/notifications/stream?ticket=" + bogus, "", "", 401},
		{"unsubscribe GET", "GET", "/api/unsubscribe?token=" + bogus, "", "", 400},
		{"unsubscribe POST", "POST", "/api/unsubscribe?token=" + bogus, "", "", 400},
		{"push read ticket", "POST", "/api/push/read", "", `{"id":"01HZZZZZZZZZZZZZZZZZZZZZZZ","ticket":"` + bogus + `"}`, 401},
		{"API key", "GET", "/api/tokens", "tk_wrong_key_0123456789", "", 401},
		{"JWT", "GET", "/api/notifications", wrongJWT, "", 401},
		{"no credential", "GET", "/api/notifications", "", "", 401},
		{"member events", "POST", "/events", "tk_wrong_key_0123456789", `{"type":"x"}`, 401},
		// Not an upgrade: the handshake fails after the credential was checked (426).
		{"websocket", "GET", "/api/notifications/ws", wrongJWT, "", 426},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuessServer(t)
			hook := g.token(tocsin.ScopePublish)
			const peer = "198.51.100.4:4000"
			for i := range guessLimit {
				if w := g.do(peer, "", tc.method, tc.path, tc.bearer, tc.body); w.Code != tc.wantFail {
					t.Fatalf("guess %d: %d %s, want %d", i, w.Code, w.Body, tc.wantFail)
				}
			}
			before := g.lookups.Load()
			for range 3 {
				w := g.do(peer, "", tc.method, tc.path, tc.bearer, tc.body)
				if w.Code != 429 || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), `"code":"rate_limited"`) ||
					!strings.Contains(w.Body.String(), "failed credential checks") {
					t.Fatalf("past the limit: %d Retry-After %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
				}
			}
			if n := g.lookups.Load() - before; n != 0 {
				t.Fatalf("%d credential lookups after the limit, want none", n)
			}
			// Limited means limited, a valid credential included (see guesslimit.go).
			if w := g.do(peer, "", "POST", "/api/hooks/"+hook, "", "hi"); w.Code != 429 {
				t.Fatalf("valid hook from the limited address: %d %s", w.Code, w.Body)
			}
			// Another address, in another /64 or not, is not affected.
			if w := g.do("198.51.100.5:4000", "", "POST", "/api/hooks/"+hook, "", "hi"); w.Code != 201 {
				t.Fatalf("valid hook from another address: %d %s", w.Code, w.Body)
			}
			var m dto.Metric
			if err := g.refused.Write(&m); err != nil || m.GetCounter().GetValue() != 4 {
				got := m.GetCounter().GetValue()
				t.Fatalf("refused counter %v, want 4", got)
			}
			// Public routes without a credential are not refused.
			if w := g.do(peer, "", "GET", "/healthz", "", ""); w.Code != 200 {
				t.Fatalf("healthz from the limited address: %d", w.Code)
			}
		})
	}
}

// TestGoodCredentialsDrawNothing: successes, however many, never limit an address.
func TestGoodCredentialsDrawNothing(t *testing.T) {
	g := newGuessServer(t)
	hook := g.token(tocsin.ScopePublish)
	for i := range 3 * guessLimit {
		if w := g.do("198.51.100.4:1", "", "POST", "/api/hooks/"+hook, "", "hi"); w.Code != 201 && w.Code != 429 {
			t.Fatalf("hook %d: %d %s", i, w.Code, w.Body)
		} else if w.Code == 429 && strings.Contains(w.Body.String(), "credential") {
			t.Fatalf("hook %d: refused as a guesser: %s", i, w.Body)
		}
	}
}

// TestGuessesBehindProxies: behind a trusted proxy the client it names is limited,
// not the proxy's other clients; an untrusted peer's X-Forwarded-For is ignored.
func TestGuessesBehindProxies(t *testing.T) {
	g := newGuessServer(t)
	hook := g.token(tocsin.ScopePublish)
	bad := "/api/hooks/" + strings.Repeat("y", 40)
	for range guessLimit {
		g.do("10.9.0.1:1", "203.0.113.7", "POST", bad, "", "x")
	}
	if w := g.do("10.9.0.1:1", "203.0.113.7", "POST", bad, "", "x"); w.Code != 429 {
		t.Fatalf("the guessing client behind the proxy: %d", w.Code)
	}
	if w := g.do("10.9.0.1:1", "203.0.113.8", "POST", "/api/hooks/"+hook, "", "hi"); w.Code != 201 {
		t.Fatalf("another client behind the proxy: %d %s", w.Code, w.Body)
	}
	// An untrusted peer cannot spread its guesses over forged addresses.
	for i := range guessLimit {
		g.do("192.0.2.9:1", "203.0.113."+string(rune('a'+i)), "POST", bad, "", "x")
	}
	if w := g.do("192.0.2.9:1", "203.0.113.99", "POST", bad, "", "x"); w.Code != 429 {
		t.Fatalf("forged X-Forwarded-For escaped the limit: %d", w.Code)
	}
	// Nor frame another client: 203.0.113.99 from the proxy is not limited.
	if w := g.do("10.9.0.1:1", "203.0.113.99", "POST", "/api/hooks/"+hook, "", "hi"); w.Code != 201 {
		t.Fatalf("a client named in a forged header is limited: %d %s", w.Code, w.Body)
	}
	// IPv6: one /64 is one budget.
	for i := range guessLimit {
		g.do("[2001:db8:5:6::"+string(rune('1'+i))+"]:1", "", "POST", bad, "", "x")
	}
	if w := g.do("[2001:db8:5:6:abcd::1]:1", "", "POST", "/api/hooks/"+hook, "", "hi"); w.Code != 429 {
		t.Fatalf("another address of the /64: %d", w.Code)
	}
	if w := g.do("[2001:db8:5:7::1]:1", "", "POST", "/api/hooks/"+hook, "", "hi"); w.Code != 201 {
		t.Fatalf("the next /64: %d %s", w.Code, w.Body)
	}
}

// TestWrongAndMissingTokensLookAlike: the limit keeps the refusals of a wrong and a
// revoked-or-missing capability token identical (no oracle).
func TestWrongAndMissingTokensLookAlike(t *testing.T) {
	g := newGuessServer(t)
	a := g.do("198.51.100.1:1", "", "GET", "/api/stream/"+strings.Repeat("a", 40), "", "")
	b := g.do("198.51.100.2:1", "", "GET", "/api/stream/"+strings.Repeat("b", 12), "", "")
	if a.Code != b.Code || a.Body.String() != b.Body.String() {
		t.Fatalf("wrong %d %s, other wrong %d %s", a.Code, a.Body, b.Code, b.Body)
	}
}
