package webpush

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/tocsin/tocsin"
)

// Sizes of the aes128gcm content coding (RFC 8188 §2) as Web Push uses it (RFC
// 8291 §4).
const (
	saltLen   = 16
	authLen   = 16 // the subscription's auth secret (RFC 8291 §3.2)
	pointLen  = 65 // an uncompressed P-256 point: 0x04 || X || Y
	tagLen    = 16 // the AES-GCM tag, appended to the record
	keyLen    = 16 // AES-128
	nonceLen  = 12
	headerLen = saltLen + 4 + 1 + pointLen // salt || rs || idlen || keyid = 86

	// recordSize is the rs of the header: the one record (ciphertext with its tag)
	// is at most this long. 4096 is what RFC 8291 §4 recommends and what every push
	// service accepts; the record here is always smaller (see MaxBody).
	recordSize = 4096

	// MaxBody is the largest request body sent: RFC 8030 §7.2 obliges a push
	// service to accept a payload of at least 4096 octets, and no more.
	MaxBody = 4096
	// MaxPayload is the largest plaintext Encrypt takes: MaxBody less the header
	// (86), the padding delimiter (1) and the tag (16) — the 3993 octets of RFC
	// 8291 §4. A larger payload gives ErrTooLarge before anything is sent.
	MaxPayload = MaxBody - headerLen - 1 - tagLen
)

// The RFC 8291 §3.4 and RFC 8188 §2.2–2.3 HKDF info strings; each ends in a zero
// octet, which is part of the info.
const (
	keyInfoPrefix = "WebPush: info\x00"
	cekInfo       = "Content-Encoding: aes128gcm\x00"
	nonceInfo     = "Content-Encoding: nonce\x00"
)

// lastRecord is the padding delimiter of the final record (RFC 8188 §2): the one
// record of a push message is the last.
const lastRecord = 0x02

// Subscription is a browser's push subscription, as PushSubscription.toJSON()
// gives it: the push service URL to POST to, and the keys to encrypt for
// (base64url, padding tolerated).
type Subscription struct {
	Endpoint string
	// P256dh is the user agent's ECDH public key: an uncompressed P-256 point.
	P256dh string
	// Auth is the 16-byte authentication secret mixed into the key derivation, so
	// that only this subscription (not just anyone with its public key) can be
	// sent a message that it accepts.
	Auth string
}

// Validate checks what Send needs from a subscription before the engine stores
// it (POST /api/push/subscriptions): the endpoint (CheckEndpoint) and both keys.
// Errors are EInvalid, with a message for the client.
func (s Subscription) Validate(allowInsecure bool) error {
	if err := CheckEndpoint(s.Endpoint, allowInsecure); err != nil {
		return err
	}
	_, _, err := s.keys()
	return err
}

// keys decodes and validates the subscription's keys: p256dh must be a point on
// P-256 in uncompressed form (crypto/ecdh rejects the point at infinity, points
// off the curve and the compressed form), auth exactly 16 bytes.
func (s Subscription) keys() (*ecdh.PublicKey, []byte, error) {
	raw, err := decodeB64(s.P256dh)
	if err != nil {
		return nil, nil, tocsin.Errorf(tocsin.EInvalid, "push subscription key p256dh is not base64url")
	}
	if len(raw) != pointLen || raw[0] != 0x04 {
		return nil, nil, tocsin.Errorf(tocsin.EInvalid, "push subscription key p256dh must be an uncompressed P-256 point (65 bytes starting with 0x04), not %d bytes", len(raw))
	}
	pub, err := ecdh.P256().NewPublicKey(raw)
	if err != nil {
		return nil, nil, tocsin.Errorf(tocsin.EInvalid, "push subscription key p256dh is not a point on P-256")
	}
	auth, err := decodeB64(s.Auth)
	if err != nil {
		return nil, nil, tocsin.Errorf(tocsin.EInvalid, "push subscription key auth is not base64url")
	}
	if len(auth) != authLen {
		return nil, nil, tocsin.Errorf(tocsin.EInvalid, "push subscription key auth must be %d bytes, not %d", authLen, len(auth))
	}
	return pub, auth, nil
}

// Encrypt encrypts plaintext for sub as one aes128gcm record (RFC 8291, RFC 8188)
// and returns the request body: the header (salt, rs, the ephemeral public key as
// keyid) followed by the record. padTo, when larger than the plaintext, pads it
// with zeros to that many bytes (at most MaxPayload) so that the push service
// cannot tell payloads of different lengths apart; 0 pads nothing. A plaintext
// longer than MaxPayload gives an error wrapping ErrTooLarge; bad subscription
// keys an EInvalid error.
//
// Every call draws a new ephemeral key pair and salt, so no two messages share a
// content-encryption key and nonce (which AES-GCM requires).
func Encrypt(sub Subscription, plaintext []byte, padTo int) ([]byte, error) {
	uaPublic, auth, err := sub.keys()
	if err != nil {
		return nil, err
	}
	asPrivate, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	return encrypt(uaPublic, auth, plaintext, padTo, asPrivate, salt)
}

// encrypt is Encrypt with the ephemeral key and salt given: the seam through which
// the RFC 8291 Appendix A test vector (fixed key and salt) is reproduced.
func encrypt(uaPublic *ecdh.PublicKey, auth, plaintext []byte, padTo int, asPrivate *ecdh.PrivateKey, salt []byte) ([]byte, error) {
	if len(plaintext) > MaxPayload {
		return nil, fmt.Errorf("%w: %d bytes of payload, at most %d fit one push message", ErrTooLarge, len(plaintext), MaxPayload)
	}
	if len(salt) != saltLen {
		return nil, fmt.Errorf("webpush: salt must be %d bytes", saltLen)
	}
	asPublic := asPrivate.PublicKey().Bytes()

	// RFC 8291 §3.3: the shared secret of the application server's ephemeral key
	// and the user agent's key...
	ecdhSecret, err := asPrivate.ECDH(uaPublic)
	if err != nil {
		return nil, fmt.Errorf("webpush: ECDH: %w", err)
	}
	// ...and §3.4: combined with the auth secret into the input keying material,
	// HKDF(salt = auth_secret, IKM = ecdh_secret, info = "WebPush: info" 0x00 ||
	// ua_public || as_public, L = 32). Binding both public keys into the info
	// ties the key to this exchange; the auth secret keeps anyone who only knows
	// the subscription's public key from producing a message it accepts.
	keyInfo := make([]byte, 0, len(keyInfoPrefix)+2*pointLen)
	keyInfo = append(keyInfo, keyInfoPrefix...)
	keyInfo = append(keyInfo, uaPublic.Bytes()...)
	keyInfo = append(keyInfo, asPublic...)
	ikm, err := hkdf.Key(sha256.New, ecdhSecret, auth, string(keyInfo), 32)
	if err != nil {
		return nil, err
	}
	// RFC 8188 §2.2, §2.3: the content-encryption key and the nonce, each
	// HKDF(salt = the header's salt, IKM, info = its label). The random salt makes
	// both unique per message.
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, err
	}
	cek, err := hkdf.Expand(sha256.New, prk, cekInfo, keyLen)
	if err != nil {
		return nil, err
	}
	nonce, err := hkdf.Expand(sha256.New, prk, nonceInfo, nonceLen)
	if err != nil {
		return nil, err
	}
	// The record's nonce is NONCE XOR its sequence number (RFC 8188 §2.3); the
	// only record is number 0, so it is NONCE itself.

	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}

	// The record's plaintext: the payload, the delimiter 0x02 (last record), then
	// zeros up to padTo (RFC 8188 §2: padding is the zeros after the delimiter).
	padded := max(len(plaintext), min(padTo, MaxPayload))
	body := make([]byte, headerLen, headerLen+padded+1+tagLen)
	copy(body, salt)
	binary.BigEndian.PutUint32(body[saltLen:], recordSize)
	body[saltLen+4] = pointLen
	copy(body[saltLen+5:], asPublic)

	record := make([]byte, padded+1)
	copy(record, plaintext)
	record[len(plaintext)] = lastRecord
	// The zeros after the delimiter are make's; the additional data is empty.
	return gcm.Seal(body, nonce, record, nil), nil
}
