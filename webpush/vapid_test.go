package webpush

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tocsin/tocsin"
)

var vapidHeader = regexp.MustCompile(`^vapid t=([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+), k=([A-Za-z0-9_-]{87})$`)

// verifyVAPID is the push service's side (RFC 8292 §3, §4): it takes the public
// key from k, verifies the ES256 JWT with it, and returns the claims. It checks
// aud against the endpoint's origin and that exp is at most 24 h away.
func verifyVAPID(t *testing.T, header, wantAud string, now time.Time) (jwt.MapClaims, string) {
	t.Helper()
	m := vapidHeader.FindStringSubmatch(header)
	if m == nil {
		t.Fatalf("Authorization %q is not vapid t=..., k=...", header)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), mustB64(t, m[2]))
	if err != nil {
		t.Fatalf("k: %v", err)
	}
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(m[1], claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(wantAud), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }))
	if err != nil || !tok.Valid {
		t.Fatalf("JWT does not verify: %v", err)
	}
	if typ := tok.Header["typ"]; typ != "JWT" {
		t.Errorf("JWT typ %v", typ)
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp.Sub(now) > MaxTokenLifetime {
		t.Fatalf("exp %v more than 24 h after %v (%v)", exp, now, err)
	}
	return claims, m[2]
}

func TestVAPIDAuthorization(t *testing.T) {
	key, err := GenerateVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, tc := range []struct{ endpoint, aud string }{
		{"https://fcm.googleapis.com/fcm/send/abc:def", "https://fcm.googleapis.com"},
		{"https://Updates.Push.Services.Mozilla.com:443/wpush/v2/x?y=1", "https://updates.push.services.mozilla.com"},
		{"https://push.example:8443/p", "https://push.example:8443"},
		{"http://127.0.0.1:9000/p", "http://127.0.0.1:9000"},
		{"http://push.example:80/p", "http://push.example"},
		{"https://[2001:db8::1]/p", "https://[2001:db8::1]"},
	} {
		t.Run(tc.endpoint, func(t *testing.T) {
			exp := now.Add(TokenLifetime)
			h, err := VAPIDAuthorization(key, tc.endpoint, "mailto:ops@example.com", exp)
			if err != nil {
				t.Fatal(err)
			}
			claims, k := verifyVAPID(t, h, tc.aud, now)
			if k != PublicKeyBase64(key) {
				t.Fatalf("k = %s, want the VAPID public key", k)
			}
			if claims["aud"] != tc.aud || claims["sub"] != "mailto:ops@example.com" || claims["exp"] != float64(exp.Unix()) {
				t.Fatalf("claims %v", claims)
			}
		})
	}
	// The JWT is bound to the key: another key's k does not verify it.
	h, _ := VAPIDAuthorization(key, "https://push.example/p", "https://example.com/contact", now.Add(time.Hour))
	other, _ := GenerateVAPIDKey()
	tok := vapidHeader.FindStringSubmatch(h)[1]
	if _, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return &other.PublicKey, nil }); err == nil {
		t.Fatal("JWT verified with another key")
	}

	for name, exp := range map[string]time.Time{
		"expired":         now.Add(-time.Minute),
		"now":             now.Add(-time.Millisecond),
		"beyond 24 hours": now.Add(MaxTokenLifetime + time.Minute),
	} {
		if _, err := VAPIDAuthorization(key, "https://push.example/p", "mailto:a@example.com", exp); err == nil {
			t.Errorf("exp %s accepted", name)
		}
	}
	if _, err := VAPIDAuthorization(key, "/relative", "mailto:a@example.com", now.Add(time.Hour)); err == nil {
		t.Error("relative endpoint accepted")
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), nil)
	if _, err := VAPIDAuthorization(p384, "https://push.example/p", "mailto:a@example.com", now.Add(time.Hour)); err == nil {
		t.Error("P-384 key accepted")
	}
}

func TestCheckSubject(t *testing.T) {
	for _, ok := range []string{
		"mailto:ops@example.com",
		"mailto:first.last+push@sub.example.org",
		"https://example.com",
		"https://example.com/contact?x=1",
	} {
		if err := CheckSubject(ok); err != nil {
			t.Errorf("CheckSubject(%q) = %v", ok, err)
		}
	}
	for _, bad := range []struct{ in, want string }{
		{"", "required"},
		{"ops@example.com", "mailto: or https:"},
		{"http://example.com", "mailto: or https:"},
		{"ftp://example.com", "mailto: or https:"},
		{"mailto:", "mailto:address"},
		{"mailto:not-an-address", "plain e-mail address"},
		{"mailto:Ops <ops@example.com>", "spaces"},
		{"mailto:a@example.com,b@example.com", "plain e-mail address"},
		{"mailto:ops@example.com?subject=hi", "nothing else"},
		{"mailto:ops@example.com\r\nX-Injected: 1", "control characters"},
		{"https://", "needs a host"},
		{"https:///path", "needs a host"},
		{"https://user:pw@example.com", "no credentials"},
		{"https://example.com/" + strings.Repeat("a", 300), "longer than"},
		{"mailto:%zz", "malformed"},
	} {
		err := CheckSubject(bad.in)
		if tocsin.ErrorCodeOf(err) != tocsin.EInvalid || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("CheckSubject(%q) = %v, want EInvalid with %q", bad.in, err, bad.want)
		}
		// The token refuses what the check refuses.
		key, _ := GenerateVAPIDKey()
		if _, err := VAPIDAuthorization(key, "https://push.example/p", bad.in, time.Now().Add(time.Hour)); err == nil {
			t.Errorf("VAPIDAuthorization accepted subject %q", bad.in)
		}
	}
}
