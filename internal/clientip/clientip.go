// Package clientip finds who a request comes from: the peer's address, or, when the
// peer is a reverse proxy the operator trusts (--trusted-proxies), the address that
// proxy saw. It is the one answer every per-address limit and log line uses.
//
// Behind a proxy every connection comes from the proxy, so the client's address is
// read from X-Forwarded-For, but only as far as trusted hands wrote it: each proxy
// appends the address of its own peer, so the list is read from the right, skipping
// the entries that are trusted proxies, and the first other entry is the client. A
// client can put anything to the left of that entry; nothing it wrote is ever read.
package clientip

import (
	"fmt"
	"net/netip"
	"strings"
)

// Proxies is the set of peers whose X-Forwarded-For is believed. The zero value
// trusts nobody: the client is always the peer.
type Proxies struct {
	prefixes []netip.Prefix
}

// ParseProxies reads a list of CIDR prefixes (10.0.0.0/8, fd00::/8) or single
// addresses (192.0.2.7, taken as /32 or /128).
func ParseProxies(list []string) (Proxies, error) {
	var p Proxies
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if strings.Contains(s, "/") {
			pre, err := netip.ParsePrefix(s)
			if err != nil {
				return Proxies{}, fmt.Errorf("%q is not a CIDR prefix such as 10.0.0.0/8", s)
			}
			if pre.Addr().Is4In6() {
				// ::ffff:10.0.0.0/104 names IPv4 addresses; addresses are unmapped
				// before they are compared.
				if pre.Bits() < 96 {
					return Proxies{}, fmt.Errorf("%q is not a CIDR prefix such as 10.0.0.0/8", s)
				}
				pre = netip.PrefixFrom(pre.Addr().Unmap(), pre.Bits()-96)
			}
			p.prefixes = append(p.prefixes, pre.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return Proxies{}, fmt.Errorf("%q is not an IP address or a CIDR prefix such as 10.0.0.0/8", s)
		}
		a = a.Unmap()
		p.prefixes = append(p.prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	return p, nil
}

// Empty reports whether no proxy is trusted.
func (p Proxies) Empty() bool { return len(p.prefixes) == 0 }

// Trusts reports whether a is a trusted proxy.
func (p Proxies) Trusts(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, pre := range p.prefixes {
		if pre.Contains(a) {
			return true
		}
	}
	return false
}

// maxHops bounds how many X-Forwarded-For entries are examined: a chain of trusted
// proxies is short, and an attacker's long header costs no more than this.
const maxHops = 32

// Client returns the client's address for a request from peer (net/http's
// RemoteAddr, "ip:port") carrying the X-Forwarded-For header values xff. It is the
// peer's address unless the peer is a trusted proxy; then it is the right-most entry
// of X-Forwarded-For that is not a trusted proxy (or, when every entry is, the
// left-most one). An entry that is not an address where a trusted proxy should have
// written one means the chain cannot be read: the last trusted hop is the answer.
// The result is invalid only when peer itself is not an address (a Unix socket).
func (p Proxies) Client(peer string, xff []string) netip.Addr {
	client := ParseAddr(peer)
	if !p.Trusts(client) || len(xff) == 0 {
		return client
	}
	hops := 0
	// Header values in reverse order, each's comma-separated entries in reverse.
	for i := len(xff) - 1; i >= 0; i-- {
		v := xff[i]
		for v != "" {
			entry := v
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				entry, v = v[j+1:], v[:j]
			} else {
				v = ""
			}
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue // "a,,b" or a trailing comma: no hop
			}
			if hops++; hops > maxHops {
				return client
			}
			a := ParseAddr(entry)
			if !a.IsValid() {
				return client
			}
			client = a
			if !p.Trusts(a) {
				return client
			}
		}
	}
	return client
}

// ParseAddr reads an address as peers and proxies write it: 192.0.2.7,
// 192.0.2.7:5000, 2001:db8::1, [2001:db8::1] or [2001:db8::1]:5000. IPv4-mapped IPv6
// addresses become IPv4; zones are dropped. It returns the zero Addr for anything else.
func ParseAddr(s string) netip.Addr {
	if len(s) > 64 { // longer than any address with a port and a zone
		return netip.Addr{}
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if n := len(s); n > 2 && s[0] == '[' && s[n-1] == ']' {
		s = s[1 : n-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// Key is what per-address limits count by: an IPv4 address, or the /64 network of an
// IPv6 address (one subscriber is routinely given a whole /64, so counting single
// IPv6 addresses would let one client be many). "" for an invalid address: such a
// client (a Unix socket's peer) is not counted.
func Key(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	a = a.Unmap()
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}
