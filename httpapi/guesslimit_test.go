package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/internal/clientip"
)

// TestFailureLimiter: a budget of failures, then refusal with the wait until one is
// back; refill with the clock; successes never reach it; one log per window.
func TestFailureLimiter(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	f := newFailureLimiter(6, 0) // 6 a minute: one back every 10s
	for i := range 6 {
		if w, _ := f.blocked("192.0.2.1", t0); w != 0 {
			t.Fatalf("blocked after %d failures", i)
		}
		f.fail("192.0.2.1", t0)
	}
	w, log := f.blocked("192.0.2.1", t0)
	if w != 10*time.Second || !log {
		t.Fatalf("after the budget: wait %v log %v, want 10s and a log line", w, log)
	}
	if w, log := f.blocked("192.0.2.1", t0.Add(time.Second)); w != 9*time.Second || log {
		t.Fatalf("1s later: wait %v log %v, want 9s and no second log line", w, log)
	}
	if w, _ := f.blocked("192.0.2.2", t0); w != 0 {
		t.Fatal("another address is blocked")
	}
	// One failure back after 10s: exactly one more guess.
	t1 := t0.Add(10 * time.Second)
	if w, _ := f.blocked("192.0.2.1", t1); w != 0 {
		t.Fatalf("after refill of one: wait %v", w)
	}
	f.fail("192.0.2.1", t1)
	if w, _ := f.blocked("192.0.2.1", t1); w != 10*time.Second {
		t.Fatalf("after the refilled failure: wait %v, want 10s", w)
	}
	// Logged again once the window has passed.
	if _, log := f.blocked("192.0.2.1", t0.Add(failureLogEvery)); log {
		t.Fatal("logged although the address was not blocked")
	}
	// A full bucket is forgotten.
	if _, _ = f.blocked("192.0.2.1", t0.Add(time.Hour)); f.tracked() != 0 {
		t.Fatalf("a refilled address is still tracked (%d)", f.tracked())
	}
	// Off, and the unix-socket (no address) key.
	var off *failureLimiter
	off.fail("x", t0)
	if w, _ := off.blocked("x", t0); w != 0 || newFailureLimiter(0, 0) != nil {
		t.Fatal("a zero limit limits")
	}
	for range 10 {
		f.fail("", t0)
	}
	if w, _ := f.blocked("", t0); w != 0 {
		t.Fatal("the empty key is counted")
	}
}

// TestFailureLimiterCapacity: the table never holds more than its size; the least
// recently failed address goes first.
func TestFailureLimiterCapacity(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	f := newFailureLimiter(1, 100)
	for i := range 1000 {
		f.fail(fmt.Sprintf("10.0.%d.%d", i/256, i%256), t0)
		if f.tracked() > 100 {
			t.Fatalf("%d addresses tracked, bound 100", f.tracked())
		}
	}
	if w, _ := f.blocked("10.0.3.231", t0); w == 0 { // the 1000th
		t.Fatal("the newest address was evicted")
	}
	if w, _ := f.blocked("10.0.0.0", t0); w != 0 { // the first
		t.Fatal("the oldest address was kept past the bound")
	}
	if d := newFailureLimiter(1, 0); d.size != failureTableSize {
		t.Fatalf("default size %d", d.size)
	}
}

// TestGuessKeyGroupsIPv6: addresses in one IPv6 /64 share a budget; X-Forwarded-For
// is read only from a trusted proxy.
func TestGuessKeyGroupsIPv6(t *testing.T) {
	proxies, err := clientip.ParseProxies([]string{"10.9.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{cfg: Config{TrustedProxies: proxies}, guesses: newFailureLimiter(2, 0), log: slog.New(slog.DiscardHandler)}
	req := func(peer, xff string) *http.Request {
		r := httptest.NewRequest("GET", "/api/stream/x", nil)
		r.RemoteAddr = peer
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		return r
	}
	bad := tocsin.Errorf(tocsin.EUnauthorized, "invalid token")
	s.countGuess(req("[2001:db8:1:2::1]:5000", ""), bad)
	s.countGuess(req("[2001:db8:1:2:ffff::9]:5000", ""), bad)
	if err := s.refuseGuesser(req("[2001:db8:1:2::77]:1", ""), func(string, string) {}); tocsin.ErrorCodeOf(err) != tocsin.ETooMany {
		t.Fatalf("same /64: %v", err)
	}
	if err := s.refuseGuesser(req("[2001:db8:1:3::1]:1", ""), func(string, string) {}); err != nil {
		t.Fatalf("next /64: %v", err)
	}
	// Through the trusted proxy: the client it names is counted, not the proxy.
	s.countGuess(req("10.9.0.1:1", "198.51.100.7"), bad)
	s.countGuess(req("10.9.0.1:1", "198.51.100.7"), bad)
	if err := s.refuseGuesser(req("10.9.0.1:1", "198.51.100.7"), func(string, string) {}); err == nil {
		t.Fatal("the client named by the trusted proxy is not limited")
	}
	if err := s.refuseGuesser(req("10.9.0.1:1", "198.51.100.8"), func(string, string) {}); err != nil {
		t.Fatalf("another client behind the proxy: %v", err)
	}
	// From an untrusted peer the header is ignored: its own address is counted.
	s.countGuess(req("203.0.113.5:1", "198.51.100.9"), bad)
	s.countGuess(req("203.0.113.5:1", "198.51.100.9"), bad)
	if err := s.refuseGuesser(req("203.0.113.6:1", "198.51.100.9"), func(string, string) {}); err != nil {
		t.Fatalf("a forged X-Forwarded-For moved the count: %v", err)
	}
	if err := s.refuseGuesser(req("203.0.113.5:1", ""), func(string, string) {}); err == nil {
		t.Fatal("the untrusted peer itself is not limited")
	}
	// Only failed credential checks count.
	for _, err := range []error{nil, tocsin.Errorf(tocsin.EForbidden, "x"), tocsin.Errorf(tocsin.EInvalid, "x")} {
		s.countGuess(req("192.0.2.50:1", ""), err)
		s.countGuess(req("192.0.2.50:1", ""), err)
	}
	s.countGuess(req("192.0.2.51:1", ""), badCredential{tocsin.Errorf(tocsin.EInvalid, "bad link")})
	s.countGuess(req("192.0.2.51:1", ""), badCredential{tocsin.Errorf(tocsin.EInvalid, "bad link")})
	if err := s.refuseGuesser(req("192.0.2.50:1", ""), func(string, string) {}); err != nil {
		t.Fatalf("successes and non-credential errors counted: %v", err)
	}
	if err := s.refuseGuesser(req("192.0.2.51:1", ""), func(string, string) {}); err == nil {
		t.Fatal("a bad unsubscribe link is not counted")
	}
}
