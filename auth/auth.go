// Package auth turns credentials into a tocsin.Principal: the application's API keys
// (compared in constant time, held only as SHA-256 digests), end users' JWTs (with the
// algorithm pinned to what is configured) and single-use stream tickets. It has no
// HTTP dependency: the HTTP layer finds the credential in the request.
package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tocsin/tocsin"
)

// Config says which credentials are valid.
type Config struct {
	APIKeys []string
	// JWTSecret verifies HS256 tokens. Ignored when JWTPublicKeyPEM is set.
	JWTSecret []byte
	// JWTPublicKeyPEM verifies RS256 (RSA key) or ES256 (ECDSA P-256 key) tokens: a
	// "PUBLIC KEY" block or a certificate.
	JWTPublicKeyPEM []byte
	JWTIssuer       string // required "iss" when set
	JWTAudience     string // required "aud" when set
	Leeway          time.Duration
	// Now is the clock tokens' exp, nbf and iat are checked against (time.Now).
	Now func() time.Time
	// AllowNoExp accepts user JWTs without "exp" (they never expire). Off by default:
	// a token that leaks without an end is a key to the user's stream forever.
	AllowNoExp bool
	// KeyLookup, when set, lets APIKey also accept keys kept in the store (tocsin
	// keys): it gets the hex SHA-256 of a presented key that is not one of APIKeys
	// and says whether it is a live key, and its id. Its answers are cached for
	// keyCacheTTL, so a new or revoked key takes effect within that time; an error
	// (the store is unreachable) refuses the key and is not cached.
	KeyLookup func(hash string) (id string, live bool, err error)
}

// Minimum strengths of the secrets the server is configured with. An HS256 key must
// be at least as long as the hash output (RFC 7518 §3.2: 256 bits); an API key of 16
// characters is the least that a guess-per-request attacker cannot reach.
const (
	MinJWTSecretBytes = 32
	MinAPIKeyLen      = 16
)

// Remedies say how to make a strong secret, for the refusals of weak ones.
const (
	JWTSecretRemedy = "generate one with: openssl rand -hex 32"
	APIKeyRemedy    = "generate one with: openssl rand -hex 24 (or: tocsin keys create)"
)

// TicketTTL is how long a stream ticket stays valid.
const TicketTTL = 60 * time.Second

// Authenticator verifies credentials. It is safe for concurrent use: all but the
// cache of stored keys is fixed by New.
type Authenticator struct {
	keys map[[32]byte]string // digest → key id

	// lookup finds keys created with tocsin keys (Config.KeyLookup); cache holds its
	// answers.
	lookup  func(hash string) (id string, live bool, err error)
	cacheMu sync.Mutex
	cache   map[[32]byte]cachedKey

	method  jwt.SigningMethod
	key     any
	parser  *jwt.Parser
	hasJWTs bool
	leeway  time.Duration
}

// New checks cfg and returns an Authenticator.
func New(cfg Config) (*Authenticator, error) {
	a := &Authenticator{keys: map[[32]byte]string{}, lookup: cfg.KeyLookup}
	for _, k := range cfg.APIKeys {
		if err := a.addKey(k); err != nil {
			return nil, err
		}
	}
	if a.lookup != nil {
		a.cache = map[[32]byte]cachedKey{}
	}
	switch {
	case len(cfg.JWTPublicKeyPEM) > 0:
		key, method, err := parsePublicKey(cfg.JWTPublicKeyPEM)
		if err != nil {
			return nil, err
		}
		a.key, a.method = key, method
	case len(cfg.JWTSecret) > 0:
		if len(cfg.JWTSecret) < MinJWTSecretBytes {
			return nil, fmt.Errorf("auth: the JWT secret is %d bytes; HS256 needs at least %d (RFC 7518 §3.2): %s",
				len(cfg.JWTSecret), MinJWTSecretBytes, JWTSecretRemedy)
		}
		a.key, a.method = cfg.JWTSecret, jwt.SigningMethodHS256
	}
	if a.method != nil {
		a.hasJWTs = true
		opts := []jwt.ParserOption{
			jwt.WithValidMethods([]string{a.method.Alg()}),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithIssuedAt(),
		}
		if cfg.Now != nil {
			opts = append(opts, jwt.WithTimeFunc(cfg.Now))
		}
		if cfg.JWTIssuer != "" {
			opts = append(opts, jwt.WithIssuer(cfg.JWTIssuer))
		}
		if cfg.JWTAudience != "" {
			opts = append(opts, jwt.WithAudience(cfg.JWTAudience))
		}
		if !cfg.AllowNoExp {
			opts = append(opts, jwt.WithExpirationRequired())
		}
		a.leeway = cfg.Leeway
		a.parser = jwt.NewParser(opts...)
	}
	return a, nil
}

// addKey accepts a configured API key.
func (a *Authenticator) addKey(key string) error {
	key = strings.TrimSpace(key)
	if len(key) < MinAPIKeyLen {
		return fmt.Errorf("auth: an API key is %d characters; at least %d are required: %s", len(key), MinAPIKeyLen, APIKeyRemedy)
	}
	d := sha256.Sum256([]byte(key))
	a.keys[d] = KeyID(d)
	return nil
}

// KeyID is the stable, non-secret name of the key with digest d.
func KeyID(d [32]byte) string { return "key-" + hex.EncodeToString(d[:4]) }

// APIKey reports whether key is a configured API key. It compares the key's digest
// with every configured digest in constant time, without stopping early.
func (a *Authenticator) APIKey(key string) (tocsin.Principal, bool) {
	if key == "" {
		return tocsin.Principal{}, false
	}
	d := sha256.Sum256([]byte(key))
	found := ""
	for k, id := range a.keys {
		if subtle.ConstantTimeCompare(k[:], d[:]) == 1 {
			found = id
		}
	}
	if found == "" && a.lookup != nil {
		found = a.lookupKey(d)
	}
	if found == "" {
		return tocsin.Principal{}, false
	}
	return tocsin.Principal{Kind: tocsin.PrincipalApp, KeyID: found}, true
}

// keyCacheTTL bounds how long a stored key's answer (valid, unknown or revoked) is
// reused before the store is asked again.
const keyCacheTTL = 10 * time.Second

type cachedKey struct {
	id      string // "" when the key is unknown or revoked
	expires time.Time
}

// lookupKey asks Config.KeyLookup about the key with digest d, through the cache
// (whose map key is the digest, never the key).
func (a *Authenticator) lookupKey(d [32]byte) string {
	now := time.Now()
	a.cacheMu.Lock()
	c, ok := a.cache[d]
	a.cacheMu.Unlock()
	if ok && now.Before(c.expires) {
		return c.id
	}
	id, live, err := a.lookup(hex.EncodeToString(d[:]))
	if err != nil {
		return "" // the store is unreachable: refuse now, ask again next time
	}
	if !live {
		id = ""
	}
	a.cacheMu.Lock()
	if len(a.cache) > 10000 {
		clear(a.cache) // bounded: unknown keys sent by anyone must not grow it
	}
	a.cache[d] = cachedKey{id: id, expires: now.Add(keyCacheTTL)}
	a.cacheMu.Unlock()
	return id
}

// Claims are the JWT claims tocsin reads.
type Claims struct {
	jwt.RegisteredClaims
	// Topics lists the topics the user may stream (used by topic streams).
	Topics []string `json:"topics,omitempty"`
}

// VerifyJWT checks a user token and returns its principal. Every failure is an
// EUnauthorized *tocsin.Error whose message says what is wrong, never the token.
func (a *Authenticator) VerifyJWT(token string) (tocsin.Principal, error) {
	p, _, err := a.verify(token)
	return p, err
}

// VerifyJWTClaims is VerifyJWT that also returns the claims.
func (a *Authenticator) VerifyJWTClaims(token string) (tocsin.Principal, *Claims, error) {
	return a.verify(token)
}

func (a *Authenticator) verify(token string) (tocsin.Principal, *Claims, error) {
	if !a.hasJWTs {
		return tocsin.Principal{}, nil, tocsin.Errorf(tocsin.EUnauthorized, "user tokens are not enabled on this server")
	}
	var c Claims
	_, err := a.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return a.key, nil })
	if err != nil {
		return tocsin.Principal{}, nil, tocsin.Errorf(tocsin.EUnauthorized, "invalid token: %s", jwtReason(err))
	}
	if err := tocsin.ValidateUserID(c.Subject); err != nil {
		return tocsin.Principal{}, nil, tocsin.Errorf(tocsin.EUnauthorized, "invalid token: sub must name the user (%s)", tocsin.ErrorMessageOf(err))
	}
	p := tocsin.Principal{Kind: tocsin.PrincipalUser, UserID: c.Subject, Topics: c.Topics}
	if c.ExpiresAt != nil {
		// The instant the parser stops accepting the token: a stream opened with it
		// ends then, and a reconnect with the same token is refused from then on.
		p.Expires = c.ExpiresAt.Time.Add(a.leeway)
	}
	return p, &c, nil
}

// jwtReason names a verification failure without echoing the token.
func jwtReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature or wrong algorithm"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "unsupported algorithm"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "issued in the future"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "the token has no exp (expiry) claim; user tokens must expire"
	default:
		return "rejected"
	}
}

func parsePublicKey(data []byte) (any, jwt.SigningMethod, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, nil, errors.New("auth: the JWT public key is not PEM")
	}
	var pub any
	switch block.Type {
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("auth: JWT public key certificate: %w", err)
		}
		pub = cert.PublicKey
	default:
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("auth: JWT public key: %w", err)
		}
		pub = k
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, nil, errors.New("auth: an RSA JWT key must have at least 2048 bits")
		}
		return k, jwt.SigningMethodRS256, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, nil, errors.New("auth: an ECDSA JWT key must be on P-256 (ES256)")
		}
		return k, jwt.SigningMethodES256, nil
	default:
		return nil, nil, fmt.Errorf("auth: unsupported JWT public key type %T", pub)
	}
}

// MintJWT signs an HS256 user token for sub valid for ttl from now (for `tocsin
// token` and tests).
func MintJWT(secret []byte, sub string, ttl time.Duration, now time.Time, topics ...string) (string, error) {
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   sub,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Topics: topics,
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
}

// LooksLikeJWT reports whether s has a JWT's shape: three base64url segments.
func LooksLikeJWT(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return false
	}
	for _, p := range parts {
		for i := 0; i < len(p); i++ {
			c := p[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '=') {
				return false
			}
		}
	}
	return true
}

// NewTicket returns a new stream ticket and the digest under which to store it.
// expires, when set, is the end of the credential the ticket is minted from (the
// JWT's exp): it travels in the ticket itself ("<random>.<unix seconds>"), so a stream
// opened with the ticket ends when that JWT would have. The digest covers the whole
// ticket, so the suffix cannot be changed: a ticket with another suffix is unknown.
func NewTicket(expires time.Time) (ticket, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	ticket = base64.RawURLEncoding.EncodeToString(b[:])
	if !expires.IsZero() {
		ticket += "." + strconv.FormatInt(expires.Unix(), 10)
	}
	return ticket, HashTicket(ticket), nil
}

// TicketExpires returns the end of the credential a ticket was minted from (zero:
// none). Call it only on a ticket the store found: only then is the suffix the one
// NewTicket wrote.
func TicketExpires(ticket string) time.Time {
	_, suffix, ok := strings.Cut(ticket, ".")
	if !ok {
		return time.Time{}
	}
	sec, err := strconv.ParseInt(suffix, 10, 64)
	if err != nil || sec <= 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}

// HashTicket is the digest a ticket is stored and looked up under.
func HashTicket(ticket string) string {
	d := sha256.Sum256([]byte(ticket))
	return hex.EncodeToString(d[:])
}
