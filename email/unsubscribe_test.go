package email

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/tocsin/tocsin"
)

func TestUnsubscribeTokenRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ user, typ string }{
		{"user-1", "comment.created"},
		{"u", AllTypes},
		{strings.Repeat("ü", tocsin.MaxUserIDLen/2), strings.Repeat("t", 64)}, // the longest
		{"a:b", "c"}, // a separator in the user id cannot shift the type
		{"a", "b:c"},
	} {
		tok := UnsubscribeToken(testKey, tc.user, tc.typ)
		if len(tok) > maxTokenLen {
			t.Errorf("token of %d characters, more than %d", len(tok), maxTokenLen)
		}
		user, typ, err := VerifyUnsubscribe(testKey, tok)
		if err != nil || user != tc.user || typ != tc.typ {
			t.Errorf("(%q, %q) → (%q, %q, %v)", tc.user, tc.typ, user, typ, err)
		}
	}
	if UnsubscribeToken(testKey, "a:b", "c") == UnsubscribeToken(testKey, "a", "b:c") ||
		UnsubscribeToken(testKey, "u1", "t") == UnsubscribeToken(testKey, "u2", "t") {
		t.Error("two users or types share a token")
	}
}

func TestMailerUnsubscribeURL(t *testing.T) {
	t.Parallel()
	m, err := New(Config{URL: "smtp://h", From: "a@example.com", PublicURL: "https://n.example.com/x/", UnsubscribeKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	got := m.UnsubscribeURL("user 1", "t")
	want := "https://n.example.com/x/api/unsubscribe?token=" + UnsubscribeToken(testKey, "user 1", "t")
	if got != want {
		t.Errorf("UnsubscribeURL = %q, want %q", got, want)
	}
}

// signed makes a token of raw payload bytes with a valid MAC, to show that a MAC
// alone does not make a token valid.
func signed(payload []byte) string {
	return base64.RawURLEncoding.EncodeToString(append(payload, tokenMAC(testKey, payload)...))
}

func TestVerifyUnsubscribeTampering(t *testing.T) {
	t.Parallel()
	good := UnsubscribeToken(testKey, "user-1", "comment")
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	payload := raw[:len(raw)-macLen]
	cases := map[string]string{
		"empty":                   "",
		"not base64url":           "!!!!",
		"standard base64 chars":   strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+/",
		"padded":                  good + "==",
		"truncated":               good[:len(good)-1],
		"truncated MAC":           base64.RawURLEncoding.EncodeToString(raw[:len(raw)-1]),
		"appended":                good + "A",
		"other key":               UnsubscribeToken(bytes.Repeat([]byte("x"), 32), "user-1", "comment"),
		"too long":                UnsubscribeToken(testKey, strings.Repeat("u", 800), "t"),
		"version 2, valid MAC":    signed(append([]byte{2}, payload[1:]...)),
		"trailing bytes, valid":   signed(append(bytes.Clone(payload), 0)),
		"empty user, valid MAC":   signed([]byte{tokenVersion, 0, 1, 't'}),
		"empty type, valid MAC":   signed([]byte{tokenVersion, 1, 'u', 0}),
		"length past end, valid":  signed([]byte{tokenVersion, 9, 'u', 1, 't'}),
		"huge varint, valid":      signed(binary.AppendUvarint([]byte{tokenVersion}, 1<<62)),
		"MAC only":                base64.RawURLEncoding.EncodeToString(raw[len(raw)-macLen:]),
		"user swapped, same MAC":  base64.RawURLEncoding.EncodeToString(append(bytes.Replace(payload, []byte("user-1"), []byte("user-2"), 1), raw[len(raw)-macLen:]...)),
		"type swapped, same MAC":  base64.RawURLEncoding.EncodeToString(append(bytes.Replace(payload, []byte("comment"), []byte("mention"), 1), raw[len(raw)-macLen:]...)),
		"all email, same MAC":     base64.RawURLEncoding.EncodeToString(append(append(payload[:len(payload)-8:len(payload)-8], 1, '*'), raw[len(raw)-macLen:]...)),
		"whitespace around":       " " + good,
		"non-canonical last char": nonCanonical(good),
	}
	// Every single bit of the decoded token flipped.
	for i := range raw {
		for bit := range 8 {
			b := bytes.Clone(raw)
			b[i] ^= 1 << bit
			cases[fmt.Sprintf("byte %d bit %d", i, bit)] = base64.RawURLEncoding.EncodeToString(b)
		}
	}
	for name, tok := range cases {
		user, typ, err := VerifyUnsubscribe(testKey, tok)
		if err == nil || tocsin.ErrorCodeOf(err) != tocsin.EInvalid {
			t.Errorf("%s: (%q, %q, %v), want EInvalid", name, user, typ, err)
		}
	}
	if _, _, err := VerifyUnsubscribe(testKey[:16], good); err == nil || tocsin.ErrorCodeOf(err) == tocsin.EInvalid {
		t.Errorf("short key: %v, want a configuration error (not the client's fault)", err)
	}
}

// nonCanonical changes the unused low bits of good's last character, which a
// lenient decoder would ignore (the same bytes under another spelling).
func nonCanonical(good string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, good[len(good)-1])
	// len(raw)%3 == 1 leaves 4 unused bits, == 2 leaves 2; flipping bit 0 is always unused.
	return good[:len(good)-1] + string(alphabet[last^1])
}
