package config

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestLimitsDefaultsAndFlags(t *testing.T) {
	t.Parallel()
	c, err := LoadTo(nil, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.ReadTimeout != 30*time.Second || c.MaxConnsPerIP != 1000 || c.MaxStreamsPerToken.Of(c.MaxStreams) != 10000 ||
		c.MaxStreamsPerIP.Of(c.MaxStreams) != 10000 || c.RateUserPublish != 5 || c.RateHook != 5 ||
		c.MaxFanoutBytes != 64<<20 || len(c.TrustedProxies) != 0 || c.AuthFailureLimit != 20 {
		t.Fatalf("defaults: %+v", c.Limits)
	}
	c, err = LoadTo([]string{"--read-timeout", "2s", "--max-conns-per-ip", "0", "--max-streams-per-token", "7",
		"--max-streams-per-ip", "50%", "--max-streams", "300", "--max-fanout-bytes", "512KiB",
		"--trusted-proxies", "10.0.0.0/8, 192.0.2.7"}, env(map[string]string{"TOCSIN_RATE_HOOK": "0.5", "TOCSIN_AUTH_FAILURE_LIMIT": "0"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.ReadTimeout != 2*time.Second || c.MaxConnsPerIP != 0 || c.MaxStreamsPerToken.Of(300) != 7 ||
		c.MaxStreamsPerIP.Of(300) != 150 || c.MaxFanoutBytes != 512<<10 || c.RateHook != 0.5 ||
		strings.Join(c.TrustedProxies, " ") != "10.0.0.0/8 192.0.2.7" || c.AuthFailureLimit != 0 {
		t.Fatalf("set: %+v", c.Limits)
	}
	for _, tc := range []struct{ args []string }{
		{[]string{"--read-timeout", "0s"}},
		{[]string{"--max-conns-per-ip", "-1"}},
		{[]string{"--max-streams-per-token", "0%"}},
		{[]string{"--max-streams-per-ip", "101%"}},
		{[]string{"--max-fanout-bytes", "64MB"}},
		{[]string{"--trusted-proxies", "10.0.0.0/33"}},
		{[]string{"--rate-user-publish", "-1"}},
		{[]string{"--auth-failure-limit", "-1"}},
	} {
		if _, err := LoadTo(tc.args, env(nil), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(tc.args[0], "--")) {
			t.Errorf("%v: err %v, want one naming the flag", tc.args, err)
		}
	}
}

func TestShare(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in    string
		whole int
		want  int
		str   string
	}{
		{"0", 100000, 0, "0"},
		{"250", 100000, 250, "250"},
		{"10%", 100000, 10000, "10%"},
		{"10%", 300, 30, "10%"},
		{"10%", 2, 1, "10%"}, // never 0 (which would mean off)
		{" 100% ", 7, 7, "100%"},
	} {
		var s Share
		if err := s.Set(tc.in); err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if got := s.Of(tc.whole); got != tc.want || s.String() != tc.str {
			t.Errorf("%q of %d = %d (%s), want %d (%s)", tc.in, tc.whole, got, s.String(), tc.want, tc.str)
		}
	}
	for _, bad := range []string{"", "-1", "1.5", "10 %", "0%", "101%", "+5", "05", "%", "ten"} {
		var s Share
		if err := s.Set(bad); err == nil {
			t.Errorf("%q accepted as %v", bad, s)
		}
	}
}

func TestByteSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"0": 0, "1048576": 1 << 20, "64MiB": 64 << 20, "512KiB": 512 << 10, "2GiB": 2 << 30, " 3 MiB ": 3 << 20} {
		var b ByteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("%q = %d, %v; want %d", in, b, err, want)
		}
	}
	for in, want := range map[int64]string{0: "0", 64 << 20: "64MiB", 1536: "1536", 3 << 10: "3KiB", 1 << 30: "1GiB"} {
		b := ByteSize(in)
		if b.String() != want {
			t.Errorf("%d prints %q, want %q", in, b.String(), want)
		}
	}
	for _, bad := range []string{"", "-1", "64MB", "1.5MiB", "MiB", "9999999999999GiB", "0x10"} {
		var b ByteSize
		if err := b.Set(bad); err == nil {
			t.Errorf("%q accepted as %d", bad, b)
		}
	}
}

// FuzzLimitValues: the Share and ByteSize parsers never panic, and what they accept
// prints back to a value that parses to the same thing.
func FuzzLimitValues(f *testing.F) {
	for _, s := range []string{"0", "10%", "250", "64MiB", "1GiB", "100%", "9223372036854775807", "8796093022208GiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		var s Share
		if s.Set(v) == nil {
			var again Share
			if err := again.Set(s.String()); err != nil || again != s || s.Of(100000) < 0 {
				t.Fatalf("share %q → %q → %v, %v", v, s.String(), again, err)
			}
		}
		var b ByteSize
		if b.Set(v) == nil {
			var again ByteSize
			if err := again.Set(b.String()); err != nil || again != b || b < 0 {
				t.Fatalf("size %q → %q → %v, %v", v, b.String(), again, err)
			}
		}
	})
}
