// Package readticket makes and checks the read tickets of Web Push (issue 16): a
// pushed notification carries one, so that the service worker can mark it read
// when the user clicks it without holding any long-lived credential. A ticket is
// an HMAC-SHA256 token naming one user, one notification and an expiry; it can do
// exactly one thing, mark that notification read, which is idempotent, so it is
// not tracked as spent (a replay changes nothing).
package readticket

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"time"

	"github.com/tocsin/tocsin"
)

// TTL is how long a ticket works after its push: a notification clicked later opens
// the app, which marks it read with the user's own credentials.
const TTL = 7 * 24 * time.Hour

const version = 1

var b64 = base64.RawURLEncoding

// Key derives the tickets' key from the server's link key (the unsubscribe links'
// key: the same on every node of a cluster), under a label of its own.
func Key(base []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, base, nil, "tocsin push read tickets v1", 32)
}

// Mint returns the ticket of the user's notification id, valid until exp.
func Mint(key []byte, userID, id string, exp time.Time) string {
	payload := make([]byte, 0, 1+8+len(userID)+1+len(id))
	payload = append(payload, version)
	payload = binary.BigEndian.AppendUint64(payload, uint64(exp.Unix()))
	payload = append(payload, userID...)
	payload = append(payload, 0) // user ids hold no control characters
	payload = append(payload, id...)
	return b64.EncodeToString(payload) + "." + b64.EncodeToString(mac(key, payload))
}

func mac(key, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(payload)
	return m.Sum(nil)
}

var errBad = tocsin.Errorf(tocsin.EUnauthorized, "the read ticket is not valid for this notification (or expired); open the app to mark it read")

// Verify checks ticket for notification id at now and returns its user. Any
// tampering, another notification's ticket or an expired one is EUnauthorized.
func Verify(key []byte, ticket, id string, now time.Time) (userID string, err error) {
	p, s, ok := strings.Cut(ticket, ".")
	if !ok || len(ticket) > 1024 {
		return "", errBad
	}
	payload, err1 := b64.DecodeString(p)
	sig, err2 := b64.DecodeString(s)
	if err1 != nil || err2 != nil || !hmac.Equal(sig, mac(key, payload)) {
		return "", errBad
	}
	if len(payload) < 1+8+1 || payload[0] != version {
		return "", errBad
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(payload[1:9])), 0)
	user, nid, ok := strings.Cut(string(payload[9:]), "\x00")
	if !ok || user == "" || nid != id || !now.Before(exp) {
		return "", errBad
	}
	return user, nil
}
