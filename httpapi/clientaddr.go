package httpapi

import (
	"net/http"
	"net/netip"

	"github.com/tocsin/tocsin/internal/clientip"
)

// clientAddr is who sent r: the peer, or, when the peer is one of the trusted
// proxies (--trusted-proxies), the client that proxy names in X-Forwarded-For
// (internal/clientip). Every per-address limit and log line asks this one function.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	if s.cfg.TrustedProxies.Empty() {
		return clientip.ParseAddr(r.RemoteAddr) // the common case: no header to read
	}
	return s.cfg.TrustedProxies.Client(r.RemoteAddr, r.Header.Values("X-Forwarded-For"))
}

// clientKey is what per-address limits count r by: its client's address, or the /64
// of an IPv6 one; "" when there is no address (a Unix socket), which is not counted.
func (s *Server) clientKey(r *http.Request) string {
	return clientip.Key(s.clientAddr(r))
}
