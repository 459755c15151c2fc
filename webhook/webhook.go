// Package webhook sends tocsin's outbound webhooks, signed as Standard Webhooks
// (https://www.standardwebhooks.com): each message carries webhook-id,
// webhook-timestamp (unix seconds) and webhook-signature "v1,<base64 of
// HMAC-SHA256(key, id.timestamp.body)>", the key being the base64 after "whsec_"
// in the endpoint's secret.
//
// This package makes one attempt and says how it went; the delivery engine owns
// everything around it. Delivery is at least once: the engine retries from a
// durable outbox, so a message whose 2xx was lost is sent again with the same
// webhook-id, which is what receivers de-duplicate on (and why the id, not the
// body, identifies a message). Order per user is the engine's business too (it
// runs one job at a time per endpoint and stream); Send never queues or retries.
//
// Send's error tells the engine whether trying again can help: tocsin.PermanentError
// for a refused address, an invalid URL or secret, a permanent redirect and a 4xx
// that retrying cannot change; tocsin.RetryableError (with the peer's Retry-After
// on 429 and 503) for timeouts, broken connections, 408, 409, 425, 429 and 5xx.
//
// Requests go through internal/outbound, which never follows redirects: a signed
// body goes only to the URL the endpoint's owner registered, and a redirect cannot
// steer the server to an address the registration check would have refused.
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/tocsin/tocsin"
)

// Standard Webhooks header names.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every endpoint secret.
const SecretPrefix = "whsec_"

// secretBytes is the size of a new secret's key: the HMAC-SHA256 block's worth
// would be 64; 32 (256 bits) is the usual choice and more than enough.
const secretBytes = 32

// NewSecret returns a new endpoint secret: "whsec_" and the standard base64 of 32
// bytes from crypto/rand.
func NewSecret() (string, error) {
	key := make([]byte, secretBytes)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// key decodes a secret's HMAC key. The "whsec_" prefix is optional, as in the
// reference libraries; an empty or undecodable key is EInvalid.
func key(secret string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil {
		return nil, tocsin.Errorf(tocsin.EInvalid, "webhook secret is not whsec_<base64>")
	}
	if len(k) == 0 {
		return nil, tocsin.Errorf(tocsin.EInvalid, "webhook secret is empty")
	}
	return k, nil
}

// Sign returns the webhook-signature of a message: "v1," and the base64 HMAC-SHA256
// of "msgID.unixSeconds.body" under the secret's key.
func Sign(secret, msgID string, ts time.Time, body []byte) (string, error) {
	k, err := key(secret)
	if err != nil {
		return "", err
	}
	return sign(k, msgID, ts, body), nil
}

func sign(k []byte, msgID string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, k)
	mac.Write([]byte(msgID))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, ts.Unix(), 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// timestampLayout (tocsin.TimestampLayout) is RFC 3339 in UTC with exactly three fractional digits, so
// every body's timestamp has one width and sorts as text.
const timestampLayout = tocsin.TimestampLayout

// Body returns a webhook's JSON body, exactly
// {"type":"<event>","timestamp":"<RFC 3339 UTC, milliseconds>","data":<data>}.
// data must be JSON (the engine marshals it); nil or empty is written as null.
func Body(event string, ts time.Time, data json.RawMessage) []byte {
	typ, _ := json.Marshal(event) // a string always marshals
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	b := make([]byte, 0, len(`{"type":,"timestamp":"","data":}`)+len(typ)+len(timestampLayout)+len(data))
	b = append(b, `{"type":`...)
	b = append(b, typ...)
	b = append(b, `,"timestamp":"`...)
	b = tocsin.AppendTimestamp(b, ts)
	b = append(b, `","data":`...)
	b = append(b, data...)
	return append(b, '}')
}
