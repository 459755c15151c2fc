package httpapi

import (
	"net/http"
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
			if err != nil {
				return tocsin.Principal{}, err
			}
			p := tocsin.Principal{Kind: tocsin.PrincipalUser, UserID: user, Via: viaTrustedHeader}
			return p, s.checkAmbient(r, k, p)
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
	if err := s.checkAmbient(r, k, p); err != nil {
		return tocsin.Principal{}, err
	}
	return p, nil
}

// How a principal's credential came, when the browser sends it by itself (ambient
// credentials: a foreign page can make the browser send them).
const (
	viaCookie        = "cookie"
	viaTrustedHeader = "trusted-header"
)

// checkAmbient refuses a request authenticated by an ambient credential (the cookie,
// or the header a gateway adds from its own session) that changes state or opens a
// stream from a foreign page: the browser attaches those to requests any site makes,
// so such a request must prove it comes from an allowed page (origin.go). A foreign
// page may still read with them what CORS lets it read (nothing, by default).
func (s *Server) checkAmbient(r *http.Request, k authKind, p tocsin.Principal) error {
	if p.Via != viaCookie && p.Via != viaTrustedHeader {
		return nil
	}
	if k != authStream && safeMethod(r.Method) {
		return nil
	}
	if !s.fromAllowedPage(r) {
		return errForeignPage
	}
	return nil
}

// errForeignPage is the refusal of checkAmbient; the WebSocket route answers it with
// a 403 before the upgrade, as a cross-origin handshake.
var errForeignPage = tocsin.Errorf(tocsin.EForbidden,
	"request from a page of another origin refused (cookie or gateway credential; Origin not allowed or Sec-Fetch-Site: cross-site); "+
		"call from an origin in --cors-origins, or send the token in the Authorization header")

// trustedUser reads the user named by the trusted gateway headers, when the server was
// started with them (--trusted-user-header, a list of exact names such as
// Member-ID,MemberId). Only those names are read (header names are case-insensitive,
// nothing else is folded: XForwardedUser is not X-Forwarded-User). A header sent twice,
// or two configured headers naming different users, is refused as ambiguous: which one
// the gateway set cannot be told.
func (s *Server) trustedUser(r *http.Request) (string, bool, error) {
	user, from := "", ""
	for _, name := range s.cfg.TrustedUserHeaders {
		vs := r.Header.Values(name)
		switch {
		case len(vs) == 0:
			continue
		case len(vs) > 1:
			return "", true, tocsin.Errorf(tocsin.EInvalid, "%s: sent more than once", name)
		case user != "" && vs[0] != user:
			return "", true, tocsin.Errorf(tocsin.EInvalid, "%s and %s name different users", from, name)
		}
		user, from = vs[0], name
	}
	if from == "" {
		return "", false, nil
	}
	if err := tocsin.ValidateUserID(user); err != nil {
		return "", true, tocsin.Errorf(tocsin.EInvalid, "%s: %s", from, tocsin.ErrorMessageOf(err))
	}
	return user, true, nil
}

func (s *Server) redeemTicket(r *http.Request, ticket string) (tocsin.Principal, error) {
	if ticket == "" || len(ticket) > 128 {
		return tocsin.Principal{}, tocsin.Errorf(tocsin.EUnauthorized, "invalid stream ticket")
	}
	user, err := s.store.RedeemTicket(r.Context(), auth.HashTicket(ticket), s.now())
	if err != nil {
		return tocsin.Principal{}, err
	}
	p := tocsin.Principal{Kind: tocsin.PrincipalUser, UserID: user, Via: "ticket", Expires: auth.TicketExpires(ticket)}
	if !p.Expires.IsZero() && !s.now().Before(p.Expires) {
		return tocsin.Principal{}, errTokenExpired
	}
	return p, nil
}

// errTokenExpired refuses a stream whose credential has ended (a ticket redeemed after
// the JWT it was minted from expired).
var errTokenExpired = tocsin.Errorf(tocsin.EUnauthorized, "invalid token: expired")

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
