package webpush

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tocsin/tocsin"
)

// RFC 8292 (VAPID): every push request carries a JWT signed with the server's
// VAPID key, so the push service can tell that the sender is the application that
// the browser subscribed with (the subscription is bound to the public key), and
// whom to contact (sub) when its traffic causes trouble.

// MaxTokenLifetime is RFC 8292 §2's bound on a token's exp: no more than 24 hours
// after the request.
const MaxTokenLifetime = 24 * time.Hour

// TokenLifetime is how long the tokens Send makes are valid: half the maximum,
// so a push service whose clock runs ahead of ours still accepts them.
const TokenLifetime = 12 * time.Hour

// maxSubjectLen bounds the subject: it is in every push request's header.
const maxSubjectLen = 256

// CheckSubject validates a --vapid-subject: a mailto: URI with one plain address
// or an https: URL with a host (RFC 8292 §2.1), a contact the push service's
// operator can use. Errors are EInvalid.
func CheckSubject(subject string) error {
	if subject == "" {
		return tocsin.Errorf(tocsin.EInvalid, "VAPID subject is required: a mailto: address or an https: URL where the push service's operator can reach you")
	}
	if len(subject) > maxSubjectLen {
		return tocsin.Errorf(tocsin.EInvalid, "VAPID subject is longer than %d bytes", maxSubjectLen)
	}
	for _, r := range subject {
		if r <= ' ' || r == 0x7f {
			return tocsin.Errorf(tocsin.EInvalid, "VAPID subject must not contain spaces or control characters")
		}
	}
	u, err := url.Parse(subject)
	if err != nil {
		return tocsin.Errorf(tocsin.EInvalid, "VAPID subject does not parse as a URI")
	}
	switch u.Scheme {
	case "mailto":
		// mailto:addr: url.Parse leaves addr in Opaque. One address, no query
		// (?subject=...), since a push service has no use for either.
		if u.Opaque == "" || u.RawQuery != "" || u.Fragment != "" {
			return tocsin.Errorf(tocsin.EInvalid, "VAPID subject mailto: must be mailto:address, with nothing else")
		}
		addr, err := url.PathUnescape(u.Opaque)
		if err != nil {
			return tocsin.Errorf(tocsin.EInvalid, "VAPID subject mailto: address is malformed")
		}
		a, err := mail.ParseAddress(addr)
		if err != nil || a.Address != addr || a.Name != "" {
			return tocsin.Errorf(tocsin.EInvalid, "VAPID subject mailto: needs one plain e-mail address (mailto:ops@example.com)")
		}
	case "https":
		if u.Host == "" || u.Hostname() == "" || u.User != nil {
			return tocsin.Errorf(tocsin.EInvalid, "VAPID subject https: URL needs a host and no credentials")
		}
	default:
		return tocsin.Errorf(tocsin.EInvalid, "VAPID subject must be a mailto: or https: URI, not %q", u.Scheme)
	}
	return nil
}

// audience is the origin of the push endpoint (RFC 8292 §2: the token's aud),
// scheme://host[:port] with a default port left out as the origin's serialization
// (RFC 6454 §6.2) does.
func audience(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return "", tocsin.Errorf(tocsin.EInvalid, "push endpoint must be an absolute http(s) URL")
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6 literal
	}
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}

// VAPIDAuthorization returns the Authorization header value for a push request to
// endpoint (RFC 8292 §3.1): "vapid t=<JWT>, k=<public key>", where the JWT is
// ES256-signed with key and claims aud (the endpoint's origin), exp and sub
// (subject, see CheckSubject), and k is PublicKeyBase64(key), which the push
// service compares with the key the subscription was made with. exp must be in
// the future and at most MaxTokenLifetime away.
func VAPIDAuthorization(key *ecdsa.PrivateKey, endpoint, subject string, exp time.Time) (string, error) {
	if key == nil || key.Curve != elliptic.P256() {
		return "", fmt.Errorf("webpush: VAPID needs a P-256 key")
	}
	k := PublicKeyBase64(key)
	if k == "" {
		return "", fmt.Errorf("webpush: invalid VAPID key")
	}
	if err := CheckSubject(subject); err != nil {
		return "", err
	}
	aud, err := audience(endpoint)
	if err != nil {
		return "", err
	}
	now := time.Now()
	if !exp.After(now) || exp.Sub(now) > MaxTokenLifetime {
		return "", fmt.Errorf("webpush: VAPID token expiry %s must be in the next %s", exp.UTC().Format(time.RFC3339), MaxTokenLifetime)
	}
	// golang-jwt's ES256 writes the JWS signature form (R || S, 64 bytes) that
	// RFC 7518 §3.4 requires, not ASN.1; the header is {"alg":"ES256","typ":"JWT"}.
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"aud": aud,
		"exp": exp.Unix(),
		"sub": subject,
	})
	t, err := tok.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("webpush: sign VAPID token: %w", err)
	}
	return "vapid t=" + t + ", k=" + k, nil
}
