package outbound

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// ErrForbiddenAddress is wrapped by every refusal of a destination address (at
// registration, by CheckURL, and at dial time, by the Client). Trying again cannot
// help, so callers treat it as a permanent failure: errors.Is(err, ErrForbiddenAddress).
var ErrForbiddenAddress = errors.New("outbound: forbidden destination address")

// MaxURLLength bounds a registered URL: longer ones are refused by CheckURL.
const MaxURLLength = 2048

// forbiddenPrefixes are IPv4 ranges that netip's predicates do not name but that
// must never be reached from a server on behalf of a client: they are this host or
// this network, the carrier-grade NAT shared space (often the provider's own
// infrastructure), or not routable on the Internet at all.
var forbiddenPrefixes = [...]netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),     // "this network" (0.0.0.0 is this host on Linux)
	netip.MustParsePrefix("100.64.0.0/10"), // CGNAT shared address space (RFC 6598)
	netip.MustParsePrefix("240.0.0.0/4"),   // reserved, including 255.255.255.255 broadcast
}

// nat64 is the well-known NAT64 prefix (RFC 6052): 64:ff9b::a.b.c.d reaches the
// IPv4 address a.b.c.d through the network's NAT64 gateway, so it is judged by the
// IPv4 address it embeds.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// ipv4Compatible is the deprecated IPv4-compatible form ::a.b.c.d (RFC 4291 2.5.5.1).
// Nothing legitimate uses it, and some stacks route it as IPv4, so all of it is
// refused (it also holds :: and ::1, which are refused anyway).
var ipv4Compatible = netip.MustParsePrefix("::/96")

// Forbidden reports whether addr is an address an outbound request must not reach
// unless private destinations are allowed: loopback, private (RFC 1918, fc00::/7),
// link-local (169.254.0.0/16 with the cloud metadata service, fe80::/10),
// unspecified, multicast, CGNAT, 0.0.0.0/8, reserved and broadcast, and each of
// these in an IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible or NAT64 IPv6 form. An
// invalid address is forbidden.
func Forbidden(addr netip.Addr) bool {
	if !addr.IsValid() {
		return true
	}
	addr = addr.WithZone("").Unmap()
	if addr.Is6() {
		if ipv4Compatible.Contains(addr) {
			return true
		}
		if nat64.Contains(addr) {
			b := addr.As16()
			return Forbidden(netip.AddrFrom4([4]byte(b[12:16])))
		}
	}
	if addr.IsLoopback() || addr.IsPrivate() || addr.IsUnspecified() ||
		addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() ||
		addr.IsInterfaceLocalMulticast() || addr.IsMulticast() {
		return true
	}
	if addr.Is4() {
		for _, p := range forbiddenPrefixes {
			if p.Contains(addr) {
				return true
			}
		}
	}
	return false
}

// checkAddr returns nil when addr may be reached, or an error wrapping
// ErrForbiddenAddress.
func checkAddr(addr netip.Addr, allowPrivate bool) error {
	if allowPrivate && addr.IsValid() {
		return nil
	}
	if Forbidden(addr) {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, addr)
	}
	return nil
}

// CheckURL validates a URL at registration time: http or https, a host, no
// userinfo (credentials in a URL end up in logs), no fragment, at most MaxURLLength
// bytes, and, when the host is an IP literal, an address that passes Forbidden
// (unless allowPrivate). A host name is accepted here: what it resolves to can
// change, so it is checked on every dial instead. Errors other than a forbidden
// address are plain errors describing what is wrong; wrap them for the client.
func CheckURL(raw string, allowPrivate bool) error {
	if len(raw) > MaxURLLength {
		return fmt.Errorf("URL longer than %d bytes", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("URL does not parse: %w", err)
	}
	if strings.ContainsRune(raw, '#') { // also the empty fragment "...#", which url.URL drops
		return errors.New("URL must not have a fragment")
	}
	return checkParsed(u, allowPrivate)
}

func checkParsed(u *url.URL, allowPrivate bool) error {
	switch u.Scheme {
	case "http", "https":
	default:
		return fmt.Errorf("URL scheme must be http or https, not %q", u.Scheme)
	}
	if u.Opaque != "" {
		return errors.New("URL must be absolute with a host (scheme://host/...)")
	}
	if u.User != nil {
		return errors.New("URL must not carry a user name or password")
	}
	if u.Fragment != "" {
		return errors.New("URL must not have a fragment")
	}
	host := u.Hostname()
	if host == "" {
		return errors.New("URL has no host")
	}
	// An IP literal is judged now; "[fe80::1%25eth0]" carries a zone, which
	// ParseAddr accepts and Forbidden ignores.
	if addr, err := netip.ParseAddr(host); err == nil {
		return checkAddr(addr, allowPrivate)
	}
	if strings.ContainsAny(host, "[]%") {
		return fmt.Errorf("URL host %q is not valid", host)
	}
	return nil
}
