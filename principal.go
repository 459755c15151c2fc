package tocsin

import "time"

// PrincipalKind says who is acting.
type PrincipalKind int

const (
	// PrincipalNone is the zero value: nobody has authenticated.
	PrincipalNone PrincipalKind = iota
	// PrincipalApp is the application's backend, holding an API key: publish and admin.
	PrincipalApp
	// PrincipalUser is an end user, by JWT, stream ticket or trusted gateway header:
	// only its own inbox and stream.
	PrincipalUser
)

// Principal is the authenticated actor of a request.
type Principal struct {
	Kind PrincipalKind
	// UserID is the user of a PrincipalUser.
	UserID string
	// KeyID names the API key of a PrincipalApp (never the key itself); it scopes
	// idempotency keys and rate limits.
	KeyID string
	// Topics are the topics a user's token lets it stream ("*": any).
	Topics []string
	// Via says how the credential came (header, cookie, query, ticket), for the
	// CSRF check on cookie-authenticated changes and for logs.
	Via string
	// Expires is when the user's credential stops being valid (a JWT's exp, carried
	// by a ticket minted from it); zero when it never does (a trusted gateway's
	// header, a JWT accepted without exp). A stream opened with it ends then.
	Expires time.Time
}
