package email

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/url"

	"github.com/tocsin/tocsin"
)

// Unsubscribe tokens are what the "Stop emails like this" link and the
// List-Unsubscribe header carry: the user and the notification type whose email
// the link turns off, signed with the server's key so that nobody can make a link
// for another user (a user id is often guessable; the key is not).
//
// Layout, base64url without padding (strict: no two spellings of one token):
//
//	version (1 byte, tokenVersion)
//	uvarint len(userID), userID
//	uvarint len(typ), typ
//	HMAC-SHA256(key, tokenDomain || everything above) (32 bytes)
//
// The version byte lets a later format (an expiry, another key) live beside this
// one; a token of an unknown version is invalid. There is no expiry: an email may
// be read years later, and its link must still work. A leaked token lets its
// holder do exactly one thing, turn off one type of email for one user, which the
// user can turn back on.
const (
	tokenVersion = 1
	tokenDomain  = "tocsin unsubscribe\x00" // separates these MACs from any other use of the key
	macLen       = sha256.Size
	// MinKeyLen is the shortest UnsubscribeKey New accepts (256 bits).
	MinKeyLen = 32
	// maxTokenLen bounds the work VerifyUnsubscribe does on a hostile input: a user
	// id of MaxUserIDLen and a type of 64 bytes take about 480 characters.
	maxTokenLen = 1024
)

// AllTypes is the type of an unsubscribe token that turns off all of the user's
// email (Preferences.Channels["email"] = false) rather than one type's: the
// List-Unsubscribe header of a digest that mixes types carries it. No notification
// type can be "*" (tocsin.ValidName), so it cannot be confused with one.
const AllTypes = "*"

var tokenEncoding = base64.RawURLEncoding.Strict()

// UnsubscribeToken returns the token for (userID, typ) under key.
func UnsubscribeToken(key []byte, userID, typ string) string {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen16+len(userID)+len(typ)+macLen)
	b = append(b, tokenVersion)
	b = binary.AppendUvarint(b, uint64(len(userID)))
	b = append(b, userID...)
	b = binary.AppendUvarint(b, uint64(len(typ)))
	b = append(b, typ...)
	b = append(b, tokenMAC(key, b)...)
	return tokenEncoding.EncodeToString(b)
}

func tokenMAC(key, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(tokenDomain))
	m.Write(payload)
	return m.Sum(nil)
}

// VerifyUnsubscribe checks token under key and returns the user and the type it
// turns email off for; typ is AllTypes ("*") for all of the user's email. Any
// token that this server did not make with key (tampered, truncated, of another
// version, not base64url) is tocsin.EInvalid. The MAC is compared in constant
// time.
//
// The HTTP handler (the lead's POST /api/unsubscribe) then sets
// Preferences.Types[typ]["email"] = false, or Preferences.Channels["email"] =
// false for AllTypes.
func VerifyUnsubscribe(key []byte, token string) (userID, typ string, err error) {
	if len(key) < MinKeyLen {
		return "", "", fmt.Errorf("email: unsubscribe key is shorter than %d bytes", MinKeyLen)
	}
	invalid := tocsin.Errorf(tocsin.EInvalid, "invalid unsubscribe token")
	if len(token) > maxTokenLen {
		return "", "", invalid
	}
	b, err := tokenEncoding.DecodeString(token)
	if err != nil || len(b) < 1+2+macLen || b[0] != tokenVersion {
		return "", "", invalid
	}
	payload, mac := b[:len(b)-macLen], b[len(b)-macLen:]
	// The MAC first: nothing of an unsigned payload is parsed, let alone believed.
	if !hmac.Equal(mac, tokenMAC(key, payload)) {
		return "", "", invalid
	}
	rest := payload[1:]
	userID, rest, ok := readString(rest)
	if !ok {
		return "", "", invalid
	}
	typ, rest, ok = readString(rest)
	if !ok || len(rest) != 0 || userID == "" || typ == "" {
		return "", "", invalid
	}
	return userID, typ, nil
}

// readString reads a uvarint length and that many bytes.
func readString(b []byte) (s string, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return "", nil, false
	}
	b = b[k:]
	return string(b[:n]), b[n:], true
}

// UnsubscribeURL is the link that turns off email of type typ (or AllTypes) for
// userID: PublicURL + "/api/unsubscribe?token=...". The same URL serves both
// ways in: a GET (a person clicking the link in the body) should show a page with
// a button that POSTs, and a POST (RFC 8058 one-click, sent by the mail client
// with the body "List-Unsubscribe=One-Click") unsubscribes at once. See the
// package documentation for why a GET must not unsubscribe.
func (m *Mailer) UnsubscribeURL(userID, typ string) string {
	return m.publicURL + "/api/unsubscribe?token=" + url.QueryEscape(UnsubscribeToken(m.key, userID, typ))
}
