package clientip

import (
	"net/netip"
	"strings"
	"testing"
)

func mustProxies(t testing.TB, list ...string) Proxies {
	t.Helper()
	p, err := ParseProxies(list)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseProxies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      []string
		trusted []string
		not     []string
	}{
		{nil, nil, []string{"127.0.0.1", "::1"}},
		{[]string{"10.0.0.0/8"}, []string{"10.1.2.3", "::ffff:10.9.9.9"}, []string{"11.0.0.1", "fd00::1"}},
		{[]string{" 192.0.2.7 ", ""}, []string{"192.0.2.7"}, []string{"192.0.2.8"}},
		{[]string{"fd00::/8", "2001:db8::1"}, []string{"fd12::1", "2001:db8::1"}, []string{"2001:db8::2", "10.0.0.1"}},
		{[]string{"10.1.2.3/8"}, []string{"10.200.0.1"}, nil}, // host bits are masked
		{[]string{"::ffff:10.0.0.0/104"}, []string{"10.4.5.6"}, []string{"11.0.0.1"}},
	} {
		p := mustProxies(t, tc.in...)
		for _, a := range tc.trusted {
			if !p.Trusts(netip.MustParseAddr(a)) {
				t.Errorf("%v: %s not trusted", tc.in, a)
			}
		}
		for _, a := range tc.not {
			if p.Trusts(netip.MustParseAddr(a)) {
				t.Errorf("%v: %s trusted", tc.in, a)
			}
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0", "fe80::1%eth0", "::ffff:10.0.0.0/90", "10.0.0.0/", "*"} {
		if _, err := ParseProxies([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if !(Proxies{}).Empty() || mustProxies(t, "10.0.0.0/8").Empty() {
		t.Error("Empty")
	}
}

func TestClient(t *testing.T) {
	t.Parallel()
	proxies := mustProxies(t, "10.0.0.0/8", "fd00::/8")
	for _, tc := range []struct {
		name string
		peer string
		xff  []string
		want string
	}{
		{"no proxy: the peer", "203.0.113.9:5000", nil, "203.0.113.9"},
		{"untrusted peer: its X-Forwarded-For is ignored", "203.0.113.9:5000", []string{"1.2.3.4"}, "203.0.113.9"},
		{"trusted peer without the header: the peer", "10.0.0.1:5000", nil, "10.0.0.1"},
		{"one proxy", "10.0.0.1:5000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"spoofed entries left of the proxy's are never read", "10.0.0.1:5000", []string{"6.6.6.6, 7.7.7.7, 198.51.100.7"}, "198.51.100.7"},
		{"a chain of trusted proxies", "10.0.0.1:5000", []string{"6.6.6.6, 198.51.100.7, 10.0.0.3", "10.0.0.2"}, "198.51.100.7"},
		{"a forged trusted entry left of the client stops nothing", "10.0.0.1:5000", []string{"10.9.9.9, 198.51.100.7"}, "198.51.100.7"},
		{"every entry trusted: the left-most", "10.0.0.1:5000", []string{"10.0.0.9, 10.0.0.8"}, "10.0.0.9"},
		{"an entry with a port", "10.0.0.1:5000", []string{"198.51.100.7:4711"}, "198.51.100.7"},
		{"IPv6 entries, bracketed or not", "[fd00::1]:443", []string{"[2001:db8::5]:80, 2001:db8::6"}, "2001:db8::6"},
		{"bracketed IPv6 without port", "[fd00::1]:443", []string{"[2001:db8::5]"}, "2001:db8::5"},
		{"mapped IPv4", "[::ffff:10.0.0.1]:5000", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
		{"garbage where the proxy writes: the last trusted hop", "10.0.0.1:5000", []string{"198.51.100.7, unknown, 10.0.0.2"}, "10.0.0.2"},
		{"garbage right after the peer: the peer", "10.0.0.1:5000", []string{"nonsense"}, "10.0.0.1"},
		{"empty entries are no hops", "10.0.0.1:5000", []string{"198.51.100.7,, ", ""}, "198.51.100.7"},
		{"Unix socket peer", "@", []string{"198.51.100.7"}, "invalid IP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := proxies.Client(tc.peer, tc.xff).String(); got != tc.want {
				t.Fatalf("Client(%q, %q) = %s, want %s", tc.peer, tc.xff, got, tc.want)
			}
		})
	}
	t.Run("the hop bound", func(t *testing.T) {
		long := strings.Repeat("10.0.0.5, ", 100) + "10.0.0.6"
		if got := proxies.Client("10.0.0.1:1", []string{"198.51.100.7, " + long}).String(); got != "10.0.0.5" {
			t.Fatalf("got %s", got)
		}
	})
	t.Run("nobody trusted", func(t *testing.T) {
		if got := (Proxies{}).Client("10.0.0.1:1", []string{"198.51.100.7"}).String(); got != "10.0.0.1" {
			t.Fatalf("got %s", got)
		}
	})
}

func TestKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"198.51.100.7":           "198.51.100.7",
		"::ffff:198.51.100.7":    "198.51.100.7",
		"2001:db8:1:2:3:4:5:6":   "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1":   "2001:db8:1:2::/64",
		"2001:db8:1:3::1":        "2001:db8:1:3::/64",
		"::1":                    "::/64",
		"127.0.0.1":              "127.0.0.1",
		"fe80::1%eth0":           "fe80::/64",
		"2001:db8:aaaa:bbbb::99": "2001:db8:aaaa:bbbb::/64",
	} {
		if got := Key(netip.MustParseAddr(in)); got != want {
			t.Errorf("Key(%s) = %q, want %q", in, got, want)
		}
	}
	if Key(netip.Addr{}) != "" {
		t.Error("invalid address has a key")
	}
}

// FuzzClient: whatever the header says, the answer is the peer, an address the
// header named, and never one left of an untrusted entry; the parser never panics.
func FuzzClient(f *testing.F) {
	for _, s := range []string{"198.51.100.7", "6.6.6.6, 198.51.100.7, 10.0.0.3", "[2001:db8::5]:80, 2001:db8::6", ",,", "10.0.0.9, x", "[", "[]", "1.2.3.4:99999", "::ffff:10.0.0.1"} {
		f.Add("10.0.0.1:5000", s)
		f.Add("203.0.113.9:1", s)
	}
	proxies := mustProxies(f, "10.0.0.0/8", "fd00::/8")
	f.Fuzz(func(t *testing.T, peer, xff string) {
		got := proxies.Client(peer, []string{xff})
		p := ParseAddr(peer)
		if !proxies.Trusts(p) {
			if got != p {
				t.Fatalf("untrusted peer %q: got %v", peer, got)
			}
			return
		}
		if got == p {
			return
		}
		// got must be an entry of the header, and every entry right of it trusted.
		entries := strings.Split(xff, ",")
		found := false
		for i := len(entries) - 1; i >= 0; i-- {
			e := strings.TrimSpace(entries[i])
			if e == "" {
				continue
			}
			a := ParseAddr(e)
			if a == got {
				found = true
				break
			}
			if !proxies.Trusts(a) {
				t.Fatalf("got %v, left of the untrusted entry %q in %q", got, e, xff)
			}
		}
		if !found {
			t.Fatalf("got %v, not an entry of %q", got, xff)
		}
		if Key(got) == "" {
			t.Fatalf("valid address %v without a key", got)
		}
	})
}
