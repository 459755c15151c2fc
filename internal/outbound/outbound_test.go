package outbound

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestForbidden(t *testing.T) {
	cases := []struct {
		addr      string
		forbidden bool
	}{
		// IPv4
		{"127.0.0.1", true},
		{"127.255.255.254", true},
		{"10.0.0.1", true},
		{"172.16.0.1", true},
		{"172.31.255.255", true},
		{"172.32.0.1", false},
		{"192.168.1.1", true},
		{"169.254.169.254", true}, // cloud metadata
		{"169.254.0.1", true},
		{"100.64.0.1", true}, // CGNAT
		{"100.127.255.255", true},
		{"100.128.0.1", false},
		{"0.0.0.0", true},
		{"0.1.2.3", true},
		{"255.255.255.255", true},
		{"240.0.0.1", true},
		{"224.0.0.1", true}, // multicast
		{"239.255.255.250", true},
		{"8.8.8.8", false},
		{"93.184.216.34", false},
		{"192.0.2.1", false}, // documentation range: not ours to refuse
		// IPv6
		{"::1", true},
		{"::", true},
		{"fc00::1", true},
		{"fd12:3456::1", true},
		{"fe80::1", true},
		{"fe80::1%eth0", true},
		{"ff02::1", true},
		{"ff05::2", true},
		{"2001:4860:4860::8888", false},
		{"2606:4700::1111", false},
		// IPv4-mapped, IPv4-compatible and NAT64 forms
		{"::ffff:127.0.0.1", true},
		{"::ffff:10.1.2.3", true},
		{"::ffff:169.254.169.254", true},
		{"::ffff:100.64.0.1", true},
		{"::ffff:0.0.0.0", true},
		{"::ffff:255.255.255.255", true},
		{"::ffff:8.8.8.8", false},
		{"::127.0.0.1", true},
		{"::8.8.8.8", true},
		{"64:ff9b::127.0.0.1", true},
		{"64:ff9b::a9fe:a9fe", true}, // 169.254.169.254
		{"64:ff9b::8.8.8.8", false},
	}
	for _, c := range cases {
		addr := netip.MustParseAddr(c.addr)
		if got := Forbidden(addr); got != c.forbidden {
			t.Errorf("Forbidden(%s) = %v, want %v", c.addr, got, c.forbidden)
		}
		err := checkAddr(addr, false)
		if (err != nil) != c.forbidden || (err != nil && !errors.Is(err, ErrForbiddenAddress)) {
			t.Errorf("checkAddr(%s, false) = %v", c.addr, err)
		}
		if err := checkAddr(addr, true); err != nil {
			t.Errorf("checkAddr(%s, true) = %v, want nil", c.addr, err)
		}
	}
	if !Forbidden(netip.Addr{}) {
		t.Error("the invalid address is not forbidden")
	}
}

func TestCheckURL(t *testing.T) {
	cases := []struct {
		url          string
		allowPrivate bool
		ok           bool
		forbidden    bool // the error wraps ErrForbiddenAddress
	}{
		{"https://example.com/hook", false, true, false},
		{"http://example.com:8080/hook?x=1", false, true, false},
		{"https://localhost/hook", false, true, false}, // a name: checked at dial
		{"https://8.8.8.8/hook", false, true, false},
		{"https://[2001:4860:4860::8888]/hook", false, true, false},
		{"https://127.0.0.1/hook", false, false, true},
		{"https://127.0.0.1/hook", true, true, false},
		{"http://169.254.169.254/latest/meta-data", false, false, true},
		{"http://[::1]:8080/", false, false, true},
		{"http://[::ffff:127.0.0.1]/", false, false, true},
		{"http://[::ffff:7f00:1]/", false, false, true},
		{"http://[fe80::1%25eth0]/", false, false, true},
		{"http://0.0.0.0/", false, false, true},
		{"ftp://example.com/", false, false, false},
		{"javascript:alert(1)", false, false, false},
		{"mailto:a@example.com", false, false, false},
		{"example.com/hook", false, false, false},
		{"//example.com/hook", false, false, false},
		{"https:///hook", false, false, false},
		{"https://user:pass@example.com/", false, false, false},
		{"https://user@example.com/", false, false, false},
		{"https://example.com/#frag", false, false, false},
		{"https://example.com/#", false, false, false},
		{"https://exa mple.com/", false, false, false},
		{"https://example.com/" + strings.Repeat("a", MaxURLLength), false, false, false},
		{"", false, false, false},
	}
	for _, c := range cases {
		err := CheckURL(c.url, c.allowPrivate)
		if (err == nil) != c.ok {
			t.Errorf("CheckURL(%q, %v) = %v, want ok=%v", c.url, c.allowPrivate, err, c.ok)
			continue
		}
		if errors.Is(err, ErrForbiddenAddress) != c.forbidden {
			t.Errorf("CheckURL(%q): %v, forbidden want %v", c.url, err, c.forbidden)
		}
	}
}

func get(t *testing.T, c *Client, url string) (*Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Do(req)
}

func TestLoopbackRefusedUnlessAllowed(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("User-Agent") != "tocsin-test" {
			t.Errorf("User-Agent %q", r.Header.Get("User-Agent"))
		}
		io.WriteString(w, "hello")
	}))
	defer srv.Close()

	_, err := get(t, New(Config{UserAgent: "tocsin-test"}), srv.URL)
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("loopback without AllowPrivate: %v, want ErrForbiddenAddress", err)
	}
	// The same URL with a name: refused at dial, after resolution ("localhost" is
	// accepted by CheckURL, it is the resolved 127.0.0.1 or ::1 that is refused).
	named := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	if err := CheckURL(named, false); err != nil {
		t.Fatalf("CheckURL(%q) = %v", named, err)
	}
	_, err = get(t, New(Config{UserAgent: "tocsin-test"}), named)
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("localhost without AllowPrivate: %v, want ErrForbiddenAddress", err)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("server reached %d times while refused", n)
	}

	resp, err := get(t, New(Config{AllowPrivate: true, UserAgent: "tocsin-test"}), srv.URL)
	if err != nil {
		t.Fatalf("loopback with AllowPrivate: %v", err)
	}
	if resp.StatusCode != 200 || string(resp.Body) != "hello" || resp.Truncated {
		t.Fatalf("response %d %q truncated=%v", resp.StatusCode, resp.Body, resp.Truncated)
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	var followed atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/from", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/to", http.StatusFound)
	})
	mux.HandleFunc("/to", func(w http.ResponseWriter, r *http.Request) { followed.Store(true) })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := get(t, New(Config{AllowPrivate: true}), srv.URL+"/from")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/to" {
		t.Fatalf("got %d Location %q, want 302 /to", resp.StatusCode, resp.Header.Get("Location"))
	}
	if followed.Load() {
		t.Fatal("the redirect was followed")
	}
}

func TestBodyCut(t *testing.T) {
	const limit = 1000
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 32<<10))
		for i := 0; i < 1024; i++ { // 32 MiB, far more than read
			if _, err := w.Write(chunk); err != nil {
				return // the client hung up: expected
			}
		}
	}))
	defer srv.Close()

	resp, err := get(t, New(Config{AllowPrivate: true, MaxResponseBytes: limit}), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Body) != limit || !resp.Truncated {
		t.Fatalf("body of %d bytes, truncated=%v; want %d, true", len(resp.Body), resp.Truncated, limit)
	}

	// Exactly the limit is not truncated.
	small := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("y", limit))
	}))
	defer small.Close()
	resp, err = get(t, New(Config{AllowPrivate: true, MaxResponseBytes: limit}), small.URL)
	if err != nil || len(resp.Body) != limit || resp.Truncated {
		t.Fatalf("exact-limit body: %v, %d bytes, truncated=%v", err, len(resp.Body), resp.Truncated)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	start := time.Now()
	_, err := get(t, New(Config{AllowPrivate: true, Timeout: 200 * time.Millisecond}), srv.URL)
	if err == nil || !IsTimeout(err) {
		t.Fatalf("hanging server: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("timeout took %v", d)
	}
}

func TestProxyIgnored(t *testing.T) {
	// A proxy from the environment would be dialed instead of the destination (and
	// the proxy's address judged); it must not be used at all.
	var proxied atomic.Bool
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { proxied.Store(true) }))
	defer proxy.Close()
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("http_proxy", proxy.URL)
	_, err := get(t, New(Config{}), "http://127.0.0.1:1/")
	if !errors.Is(err, ErrForbiddenAddress) || proxied.Load() {
		t.Fatalf("err %v, proxied %v; want ErrForbiddenAddress, not proxied", err, proxied.Load())
	}
}
