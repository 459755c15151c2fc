package config

import (
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tocsin/tocsin/internal/clientip"
)

// Limits are the bounds that keep one client, one token or one address from
// exhausting the node (issue 12, PRODUCT.md §6 "Limits that no single client can
// exhaust"). They are a part of Config of their own so they read, default and
// validate in one place.
type Limits struct {
	// ReadTimeout bounds the arrival of a whole request, headers and body; the
	// headers alone get at most 10s of it. Streams clear it once they are open.
	ReadTimeout time.Duration
	// MaxConnsPerIP caps the open connections of one client address (an IPv6 /64),
	// counted at accept; 0 is off. Trusted proxies are not counted.
	MaxConnsPerIP int
	// MaxStreamsPerToken and MaxStreamsPerIP cap the open streams of one capability
	// token and of one client address, as a count or a share of MaxStreams.
	MaxStreamsPerToken Share
	MaxStreamsPerIP    Share
	// RateUserPublish (events per second per user on POST /events) and RateHook
	// (publishes per second per hook token) are token buckets like the other rates.
	RateUserPublish float64
	RateHook        float64
	// MaxFanoutBytes bounds recipients × encoded size of one publish; 0 is off.
	MaxFanoutBytes ByteSize
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the client.
	TrustedProxies []string
	// AuthFailureLimit is the failed credential checks (bad tokens, keys, tickets,
	// links) one client address (an IPv6 /64) may make per minute, in a burst or
	// spread out, before its credential-checking requests get 429; 0 is off.
	AuthFailureLimit int
}

func defaultLimits() Limits {
	return Limits{
		ReadTimeout:        30 * time.Second,
		MaxConnsPerIP:      1000,
		MaxStreamsPerToken: Share{Percent: 10},
		MaxStreamsPerIP:    Share{Percent: 10},
		RateUserPublish:    5,
		RateHook:           5,
		MaxFanoutBytes:     64 << 20,
		AuthFailureLimit:   20,
	}
}

// limitFlags are the flags of Limits, in --help's order.
var limitFlags = []string{"read-timeout", "max-conns-per-ip", "max-streams-per-token", "max-streams-per-ip", "max-fanout-bytes", "trusted-proxies", "auth-failure-limit"}

func (l *Limits) addFlags(fs *flag.FlagSet) {
	fs.DurationVar(&l.ReadTimeout, "read-timeout", l.ReadTimeout, "a request's headers and body must arrive within this (headers within 10s of it); open streams are exempt")
	fs.IntVar(&l.MaxConnsPerIP, "max-conns-per-ip", l.MaxConnsPerIP, "open connections per client address (IPv6: per /64); the excess is closed at accept; trusted proxies are exempt; 0 is off")
	fs.Var(&l.MaxStreamsPerToken, "max-streams-per-token", "open streams per capability (stream) token: a `count`, or a percentage of --max-streams; 0 is off")
	fs.Var(&l.MaxStreamsPerIP, "max-streams-per-ip", "open streams per client address (IPv6: per /64): a `count`, or a percentage of --max-streams; 0 is off")
	fs.Var(&l.MaxFanoutBytes, "max-fanout-bytes", "most one publish may store, recipients × encoded size of the notification: a `size` such as 64MiB, 512KiB or bytes; 0 is off")
	fs.Var(listValue{&l.TrustedProxies}, "trusted-proxies", "comma-separated CIDR prefixes or addresses of reverse proxies whose X-Forwarded-For names the client; default none")
	fs.IntVar(&l.AuthFailureLimit, "auth-failure-limit", l.AuthFailureLimit, "failed credential checks (bad API keys, JWTs, capability tokens, tickets, unsubscribe links) per minute per client address (IPv6: per /64) before its requests on those routes get 429 until the budget refills; 0 is off")
	fs.Float64Var(&l.RateUserPublish, "rate-user-publish", l.RateUserPublish, "events per second a user (not the API key) may publish on POST /events")
	fs.Float64Var(&l.RateHook, "rate-hook", l.RateHook, "publishes per second per hook token (POST /api/hooks/{token})")
}

func (l *Limits) validate(bad func(flag, format string, args ...any)) {
	if l.ReadTimeout <= 0 {
		bad("read-timeout", "must be a positive duration such as 30s (a request body must not take forever)")
	}
	if l.MaxConnsPerIP < 0 {
		bad("max-conns-per-ip", "must be 0 (off) or more")
	}
	if l.AuthFailureLimit < 0 {
		bad("auth-failure-limit", "must be 0 (off) or a count of failures per minute")
	}
	for flag, r := range map[string]float64{"rate-user-publish": l.RateUserPublish, "rate-hook": l.RateHook} {
		if r < 0 {
			bad(flag, "must be 0 (no limit) or a positive rate per second")
		}
	}
	if _, err := clientip.ParseProxies(l.TrustedProxies); err != nil {
		bad("trusted-proxies", "%v", err)
	}
}

// Share is a limit given as a count ("500") or as a percentage of a whole ("10%" of
// --max-streams), so that its default bounds one token or address to a share of the
// node whatever the node's size. The zero Share is off.
type Share struct {
	N       int // a count; used when Percent is 0
	Percent int // 1–100
}

// Of is the limit as a count for a whole of n: 0 when off, else at least 1.
func (s Share) Of(n int) int {
	switch {
	case s.Percent > 0:
		return max(1, int(int64(n)*int64(s.Percent)/100))
	default:
		return s.N
	}
}

func (s *Share) String() string {
	if s == nil {
		return ""
	}
	if s.Percent > 0 {
		return strconv.Itoa(s.Percent) + "%"
	}
	return strconv.Itoa(s.N)
}

// Set parses a Share: a count (0: off) or a percentage from 1% to 100%.
func (s *Share) Set(v string) error {
	v = strings.TrimSpace(v)
	if p, ok := strings.CutSuffix(v, "%"); ok {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 100 || p != strconv.Itoa(n) {
			return fmt.Errorf("want a count, or a percentage from 1%% to 100%%, got %q", v)
		}
		*s = Share{Percent: n}
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || v != strconv.Itoa(n) {
		return fmt.Errorf("want a count (0 is off) or a percentage such as 10%%, got %q", v)
	}
	*s = Share{N: n}
	return nil
}

// ByteSize is a size in bytes, written as a count of bytes or with a binary unit
// (KiB, MiB, GiB).
type ByteSize int64

var byteUnits = []struct {
	suffix string
	n      int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}

func (b *ByteSize) String() string {
	if b == nil {
		return ""
	}
	for _, u := range byteUnits {
		if *b != 0 && int64(*b)%u.n == 0 {
			return strconv.FormatInt(int64(*b)/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(*b), 10)
}

// Set parses a ByteSize: 1048576, 1024KiB, 64MiB, 1GiB (0: off).
func (b *ByteSize) Set(v string) error {
	v = strings.TrimSpace(v)
	unit := int64(1)
	num := v
	for _, u := range byteUnits {
		if p, ok := strings.CutSuffix(v, u.suffix); ok {
			num, unit = strings.TrimSpace(p), u.n
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/unit || num != strconv.FormatInt(n, 10) {
		return fmt.Errorf("want a size such as 64MiB, 512KiB or a count of bytes, got %q", v)
	}
	*b = ByteSize(n * unit)
	return nil
}
