package httpapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/auth"
)

// CookieName is the cookie a browser may carry its user JWT in, so that
// EventSource(url, {withCredentials: true}) authenticates without headers.
const CookieName = "tocsin_token"

// authenticate returns the principal a route of kind k requires, or a 401/403 error.
// Credentials are looked for in order: Authorization header, ?ticket= (streams),
// the tocsin_token cookie, ?token=.
func (s *Server) authenticate(r *http.Request, k authKind) (tocsin.Principal, error) {
	if k == authNone {
		return tocsin.Principal{}, nil
	}
	bearer, hasBearer := bearerToken(r)
	if k == authApp {
		if !hasBearer {
			return tocsin.Principal{}, tocsin.Errorf(tocsin.EUnauthorized, "an API key is required: Authorization: Bearer <key>")
		}
		if p, ok := s.auth.APIKey(bearer); ok {
			p.Via = "header"
			return p, nil
		}
		if auth.LooksLikeJWT(bearer) {
			if _, err := s.auth.VerifyJWT(bearer); err == nil {
				return tocsin.Principal{}, tocsin.Errorf(tocsin.EForbidden, "this endpoint needs the application's API key, not a user token")
			}
		}
		return tocsin.Principal{}, tocsin.Errorf(tocsin.EUnauthorized, "invalid API key")
	}

	if !hasBearer {
		if user, ok, err := s.trustedUser(r); ok || err != nil {
			return tocsin.Principal{Kind: tocsin.PrincipalUser, UserID: user, Via: "trusted-header"}, err
		}
	}
	var token, via string
	switch {
	case hasBearer:
		token, via = bearer, "header"
		if !auth.LooksLikeJWT(bearer) {
			if _, ok := s.auth.APIKey(bearer); ok {
				return tocsin.Principal{}, tocsin.Errorf(tocsin.EForbidden, "this endpoint is a user's own: send the user's JWT, not an API key")
			}
		}
	case k == authStream && r.URL.Query().Has("ticket"):
		return s.redeemTicket(r, r.URL.Query().Get("ticket"))
	default:
		if c, err := r.Cookie(CookieName); err == nil && c.Value != "" {
			token, via = c.Value, "cookie"
		} else if q := r.URL.Query().Get("token"); q != "" {
			token, via = q, "query"
		}
	}
	if token == "" {
		return tocsin.Principal{}, tocsin.Errorf(tocsin.EUnauthorized,
			"a user token is required: Authorization: Bearer <jwt>, cookie %s, or ?token=", CookieName)
	}
	p, err := s.auth.VerifyJWT(token)
	if err != nil {
		return tocsin.Principal{}, err
	}
	p.Via = via
	if via == "cookie" && !safeMethod(r.Method) && !s.sameOrigin(r) {
		// A cookie rides along on cross-site requests; changes need proof of origin.
		return tocsin.Principal{}, tocsin.Errorf(tocsin.EForbidden, "cross-origin request with a cookie refused; send the token in the Authorization header")
	}
	return p, nil
}

// trustedUser reads the user named by the trusted gateway header, when the server was
// started with one (--trusted-user-header). The name without dashes is accepted too
// (Member-ID and MemberId).
func (s *Server) trustedUser(r *http.Request) (string, bool, error) {
	if s.cfg.TrustedUserHeader == "" {
		return "", false, nil
	}
	v := r.Header.Get(s.cfg.TrustedUserHeader)
	if v == "" {
		v = r.Header.Get(strings.ReplaceAll(s.cfg.TrustedUserHeader, "-", ""))
	}
	if v == "" {
		return "", false, nil
	}
	if err := tocsin.ValidateUserID(v); err != nil {
		return "", true, tocsin.Errorf(tocsin.EInvalid, "%s: %s", s.cfg.TrustedUserHeader, tocsin.ErrorMessageOf(err))
	}
	return v, true, nil
}

func (s *Server) redeemTicket(r *http.Request, ticket string) (tocsin.Principal, error) {
	if ticket == "" || len(ticket) > 128 {
		return tocsin.Principal{}, tocsin.Errorf(tocsin.EUnauthorized, "invalid stream ticket")
	}
	user, err := s.store.RedeemTicket(r.Context(), auth.HashTicket(ticket), s.hubNow())
	if err != nil {
		return tocsin.Principal{}, err
	}
	return tocsin.Principal{Kind: tocsin.PrincipalUser, UserID: user, Via: "ticket"}, nil
}

func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// sameOrigin reports whether a state-changing request comes from a page of this
// server or of an allowed origin: by Origin when the browser sent it, else by
// Sec-Fetch-Site. Non-browser clients send neither and are let through (they have
// no ambient cookie to abuse).
func (s *Server) sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		if s.originAllowed(o) {
			return true
		}
		u, err := url.Parse(o)
		return err == nil && u.Host == r.Host
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}

func (s *Server) originAllowed(o string) bool {
	return s.anyOrig || s.origins[strings.TrimSuffix(o, "/")]
}

// cors answers preflights and marks responses for allowed origins. With no origins
// configured only same-origin pages may call (browsers enforce it).
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o := r.Header.Get("Origin")
		if o == "" || !s.originAllowed(o) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", o)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Add("Vary", "Origin")
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
