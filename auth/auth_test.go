package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tocsin/tocsin"
)

const secret = "0123456789abcdef0123456789abcdef"

func pemOf(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func sign(t *testing.T, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyJWT(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	hs, err := New(Config{JWTSecret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := New(Config{JWTPublicKeyPEM: pemOf(t, &rsaKey.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	es, err := New(Config{JWTPublicKeyPEM: pemOf(t, &ecKey.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	strict, err := New(Config{JWTSecret: []byte(secret), JWTIssuer: "app", JWTAudience: "tocsin"})
	if err != nil {
		t.Fatal(err)
	}
	noExp, err := New(Config{JWTSecret: []byte(secret), AllowNoExp: true})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	valid := jwt.MapClaims{"sub": "42", "exp": now.Add(time.Hour).Unix()}
	b64 := base64.RawURLEncoding.EncodeToString
	none := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64([]byte(`{"sub":"42"}`)) + "."
	// Key confusion: an HS256 token signed with the RSA public key's PEM as secret.
	confused := sign(t, jwt.SigningMethodHS256, pemOf(t, &rsaKey.PublicKey), valid)

	for _, tc := range []struct {
		name  string
		a     *Authenticator
		token string
		user  string // "" = must be refused
	}{
		{"HS256 good", hs, sign(t, jwt.SigningMethodHS256, []byte(secret), valid), "42"},
		{"HS256 without exp", hs, sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "7"}), ""},
		{"without exp, allowed", noExp, sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "7"}), "7"},
		{"alg none", hs, none, ""},
		{"wrong secret", hs, sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret!!"), valid), ""},
		{"HS512 not allowed", hs, sign(t, jwt.SigningMethodHS512, []byte(secret), valid), ""},
		{"expired", hs, sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "42", "exp": now.Add(-time.Minute).Unix()}), ""},
		{"not yet valid", hs, sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "42", "nbf": now.Add(time.Hour).Unix()}), ""},
		{"missing sub", hs, sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"exp": now.Add(time.Hour).Unix()}), ""},
		{"sub with newline", hs, sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "a\nb"}), ""},
		{"garbage", hs, "not.a.jwt", ""},
		{"RS256 good", rs, sign(t, jwt.SigningMethodRS256, rsaKey, valid), "42"},
		{"RS256 verifier refuses HS256 (key confusion)", rs, confused, ""},
		{"RS256 verifier refuses ES256", rs, sign(t, jwt.SigningMethodES256, ecKey, valid), ""},
		{"ES256 good", es, sign(t, jwt.SigningMethodES256, ecKey, valid), "42"},
		{"ES256 verifier refuses RS256", es, sign(t, jwt.SigningMethodRS256, rsaKey, valid), ""},
		{"issuer and audience match", strict, sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "1", "iss": "app", "aud": "tocsin", "exp": now.Add(time.Hour).Unix()}), "1"},
		{"wrong issuer", strict, sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "1", "iss": "evil", "aud": "tocsin", "exp": now.Add(time.Hour).Unix()}), ""},
		{"wrong audience", strict, sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "1", "iss": "app", "aud": "other", "exp": now.Add(time.Hour).Unix()}), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.a.VerifyJWT(tc.token)
			if tc.user == "" {
				if err == nil {
					t.Fatalf("accepted, principal %+v", p)
				}
				if tocsin.ErrorCodeOf(err) != tocsin.EUnauthorized {
					t.Fatalf("error code %s, want unauthorized", tocsin.ErrorCodeOf(err))
				}
				if strings.Contains(err.Error(), tc.token) {
					t.Fatal("error echoes the token")
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if p.Kind != tocsin.PrincipalUser || p.UserID != tc.user {
				t.Fatalf("principal %+v, want user %s", p, tc.user)
			}
		})
	}
}

// TestJWTExpiry: a token without exp is refused, saying so, unless AllowNoExp; the
// principal carries the token's end (exp plus the leeway), or none.
func TestJWTExpiry(t *testing.T) {
	a, _ := New(Config{JWTSecret: []byte(secret), Leeway: 2 * time.Second})
	_, err := a.VerifyJWT(sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "7"}))
	if tocsin.ErrorCodeOf(err) != tocsin.EUnauthorized || !strings.Contains(err.Error(), "no exp") {
		t.Fatalf("a token without exp: %v, want 401 saying it has no exp", err)
	}
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	p, err := a.VerifyJWT(sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "7", "exp": exp.Unix()}))
	if err != nil || !p.Expires.Equal(exp.Add(2*time.Second)) {
		t.Fatalf("Expires %v (%v), want exp + leeway %v", p.Expires, err, exp.Add(2*time.Second))
	}
	open, _ := New(Config{JWTSecret: []byte(secret), AllowNoExp: true})
	if p, err := open.VerifyJWT(sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "7"})); err != nil || !p.Expires.IsZero() {
		t.Fatalf("AllowNoExp: %+v %v", p, err)
	}
}

func TestAPIKey(t *testing.T) {
	a, err := New(Config{APIKeys: []string{"tk_first_key_0123", "tk_second_key_0123"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key string
		ok  bool
	}{
		{"tk_first_key_0123", true}, {"tk_second_key_0123", true}, {"", false}, {"tk_first_key_012", false},
		{"tk_first_key_0123 ", false}, {"TK_FIRST_KEY_0123", false}, {"tk_third_key_0123", false},
	} {
		p, ok := a.APIKey(tc.key)
		if ok != tc.ok {
			t.Errorf("APIKey(%q) = %v, want %v", tc.key, ok, tc.ok)
		}
		if ok && (p.Kind != tocsin.PrincipalApp || !strings.HasPrefix(p.KeyID, "key-") || strings.Contains(p.KeyID, tc.key)) {
			t.Errorf("principal %+v", p)
		}
	}
	p1, _ := a.APIKey("tk_first_key_0123")
	p2, _ := a.APIKey("tk_second_key_0123")
	if p1.KeyID == p2.KeyID {
		t.Error("two keys share a key id")
	}
	if _, err := New(Config{APIKeys: []string{"short"}}); err == nil {
		t.Error("a 5-character key was accepted")
	}
	if _, err := New(Config{JWTSecret: []byte("short")}); err == nil {
		t.Error("a 5-byte JWT secret was accepted")
	}
	// The floors: RFC 7518 §3.2 for HS256, 16 characters for an API key; the refusal
	// says how to make a good one.
	if _, err := New(Config{JWTSecret: []byte(strings.Repeat("s", 31))}); err == nil || !strings.Contains(err.Error(), "openssl rand") {
		t.Errorf("a 31-byte JWT secret: %v, want a refusal saying how to generate one", err)
	}
	if _, err := New(Config{JWTSecret: []byte(strings.Repeat("s", 32))}); err != nil {
		t.Errorf("a 32-byte JWT secret: %v", err)
	}
	if _, err := New(Config{APIKeys: []string{strings.Repeat("k", 15)}}); err == nil || !strings.Contains(err.Error(), "generate") {
		t.Errorf("a 15-character API key: %v, want a refusal saying how to generate one", err)
	}
	if _, err := New(Config{APIKeys: []string{strings.Repeat("k", 16)}}); err != nil {
		t.Errorf("a 16-character API key: %v", err)
	}
	if _, err := New(Config{JWTPublicKeyPEM: []byte("not pem")}); err == nil {
		t.Error("a bad PEM was accepted")
	}
}

func TestTicketsAndShapes(t *testing.T) {
	tk, hash, err := NewTicket(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	tk2, _, _ := NewTicket(time.Time{})
	if len(tk) != 43 || tk == tk2 || HashTicket(tk) != hash || hash == tk || !TicketExpires(tk).IsZero() {
		t.Fatalf("ticket %q hash %q", tk, hash)
	}
	// A ticket minted from an expiring JWT carries its end, under the digest.
	exp := time.Unix(1900000000, 0)
	tk3, hash3, _ := NewTicket(exp)
	if !TicketExpires(tk3).Equal(exp) || HashTicket(tk3) != hash3 || HashTicket(tk3[:43]) == hash3 {
		t.Fatalf("ticket %q: expires %v, want %v, its digest covering the suffix", tk3, TicketExpires(tk3), exp)
	}
	for _, bad := range []string{tk + ".", tk + ".x", tk + ".-5", tk + ".0"} {
		if !TicketExpires(bad).IsZero() {
			t.Errorf("TicketExpires(%q) = %v", bad, TicketExpires(bad))
		}
	}
	jwtTok, _ := MintJWT([]byte(secret), "1", time.Hour, time.Now())
	for s, want := range map[string]bool{jwtTok: true, "tk_abc": false, "a.b": false, "a.b.c": true, "a b.c.d": false, "..": false} {
		if LooksLikeJWT(s) != want {
			t.Errorf("LooksLikeJWT(%q) != %v", s, want)
		}
	}
}

func TestStoredKeyLookup(t *testing.T) {
	calls := 0
	stored := HashTicket("tk_stored_key_5678")
	a, err := New(Config{APIKeys: []string{"tk_configured_key_1234"}, KeyLookup: func(hash string) (string, bool, error) {
		calls++
		return "key_s", hash == stored, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := a.APIKey("tk_configured_key_1234"); !ok || p.KeyID == "key_s" {
		t.Fatalf("configured key: %+v %v", p, ok)
	}
	if calls != 0 {
		t.Fatal("a configured key reached the store")
	}
	for range 3 {
		if p, ok := a.APIKey("tk_stored_key_5678"); !ok || p.KeyID != "key_s" {
			t.Fatalf("stored key: %+v %v", p, ok)
		}
	}
	if _, ok := a.APIKey("tk_unknown_key_0000"); ok {
		t.Fatal("an unknown key was accepted")
	}
	if calls != 2 {
		t.Fatalf("%d store lookups, want 2 (answers are cached)", calls)
	}
}

// FuzzTicketExpires: any ticket text gives a time or none, never a panic, and what a
// minted ticket carries reads back exactly.
func FuzzTicketExpires(f *testing.F) {
	for _, s := range []string{"abc", "abc.1900000000", "abc.", ".5", "a.b.c", "abc.-1", "abc.99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if exp := TicketExpires(s); !exp.IsZero() && exp.Unix() <= 0 {
			t.Fatalf("TicketExpires(%q) = %v", s, exp)
		}
		sec := int64(len(s)) + 1
		tk, _, err := NewTicket(time.Unix(sec, 0))
		if err != nil || TicketExpires(tk).Unix() != sec {
			t.Fatalf("minted %q: %v %v", tk, TicketExpires(tk), err)
		}
	})
}

// TestStoredKeyLookupFailureIsNotCached: while the store is unreachable a stored key
// is refused, and accepted again as soon as the store answers (no wait for the cache).
func TestStoredKeyLookupFailureIsNotCached(t *testing.T) {
	down := true
	a, err := New(Config{KeyLookup: func(string) (string, bool, error) {
		if down {
			return "", false, errors.New("store unreachable")
		}
		return "key_s", true, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a.APIKey("tk_stored_key_5678"); ok {
		t.Fatal("a key was accepted while the store failed")
	}
	down = false
	if p, ok := a.APIKey("tk_stored_key_5678"); !ok || p.KeyID != "key_s" {
		t.Fatalf("after the store came back: %+v %v", p, ok)
	}
}
