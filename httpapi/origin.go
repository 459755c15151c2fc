package httpapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/tocsin/tocsin"
)

// Browser origins: which pages may call tocsin (CORS), and which may use the
// credentials a browser sends by itself (the cookie, a gateway's header).
//
// --cors-origins lists origins. A listed origin gets CORS with credentials, and its
// pages may use the cookie. "*" lets any page call with a bearer token only: the
// answer is Access-Control-Allow-Origin: * without Allow-Credentials (browsers then
// send no cookie and show no credentialed answer), and "*" never counts as listed
// for the cookie, the gateway header or a WebSocket opened with them.

// listed reports whether o is one of the --cors-origins given by name ("*" aside).
func (s *Server) listed(o string) bool {
	return s.origins[strings.TrimSuffix(o, "/")]
}

// fromAllowedPage reports whether a request comes from a page of this server or of a
// listed origin: by Origin when the browser sent one (its host is this server's, or
// it is listed), else by Sec-Fetch-Site (same-origin, or none: typed in the address
// bar). Clients that are not browsers send neither, and pass: they have no ambient
// credential a foreign page could borrow. A page of another site that sends no
// Origin (an <img>, a no-cors fetch) says Sec-Fetch-Site: cross-site or same-site.
func (s *Server) fromAllowedPage(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		if s.listed(o) {
			return true
		}
		u, err := url.Parse(o)
		return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}

// cors answers preflights and marks responses for allowed origins. With no origins
// configured only same-origin pages may call (browsers enforce it).
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o := r.Header.Get("Origin")
		credentialed := o != "" && s.listed(o)
		if o == "" || !credentialed && !s.anyOrig {
			if o != "" && r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				// A preflight from a page this server does not allow: say so (a 404
				// from the route table sent newcomers looking for a missing route).
				s.writeError(w, r, tocsin.Errorf(tocsin.EForbidden,
					"origin %s may not call this server: start it with --cors-origins %s (or TOCSIN_CORS_ORIGINS)", clip(o), clip(o)))
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		if credentialed {
			h.Set("Access-Control-Allow-Origin", o)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Add("Vary", "Origin")
		} else {
			h.Set("Access-Control-Allow-Origin", "*") // bearer tokens only: no credentials
		}
		h.Set("Access-Control-Expose-Headers", "Retry-After, Idempotent-Replayed")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID, Idempotency-Key, Device-Id")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// wsOriginOK is the WebSocket handshake's origin check (the library's own is off: it
// cannot tell credentials apart). A page of this server or of a listed origin may
// open one; with "*", any page may, with a bearer token, ?token= or ?ticket= (not
// with the cookie or a gateway's header: authenticate refuses those from foreign
// pages). Clients that are not browsers send no Origin.
func (s *Server) wsOriginOK(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || s.anyOrig {
		return true
	}
	if s.listed(o) {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}
