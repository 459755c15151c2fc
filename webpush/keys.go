package webpush

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/tocsin/tocsin"
)

// The VAPID key (RFC 8292 §3) is one ECDSA P-256 key pair per server: the browser
// binds each subscription to its public key (the applicationServerKey passed to
// pushManager.subscribe), so replacing the key orphans every subscription. That is
// why a generated key is kept in the data dir and reused across restarts.
//
// Storage format: the key file holds the private scalar as base64url without
// padding (43 characters) and a newline — the same text --vapid-private-key takes
// and that web-push tools (`web-push generate-vapid-keys`, py_vapid's raw form)
// print, so an operator can move a key between the file and the flag, or in from
// another deployment, unchanged. The public key is derived, never stored.

// b64 is the base64url alphabet without padding, which every Web Push value uses
// (PushSubscription.toJSON(), VAPID's k= parameter, the key file).
var b64 = base64.RawURLEncoding

// GenerateVAPIDKey returns a new random P-256 key for VAPID.
func GenerateVAPIDKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// ParseVAPIDPrivateKey parses a --vapid-private-key value: the 32-byte P-256
// private scalar, base64url (padding and surrounding space tolerated). A wrong
// length or a scalar that is zero or not below the curve order is an EInvalid
// error; the message never repeats the value, which is a secret.
func ParseVAPIDPrivateKey(s string) (*ecdsa.PrivateKey, error) {
	raw, err := decodeB64(s)
	if err != nil {
		return nil, tocsin.Errorf(tocsin.EInvalid, "VAPID private key is not base64url")
	}
	if len(raw) != 32 {
		return nil, tocsin.Errorf(tocsin.EInvalid, "VAPID private key must be a 32-byte P-256 scalar (43 base64url characters), not %d bytes", len(raw))
	}
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), raw)
	if err != nil {
		return nil, tocsin.Errorf(tocsin.EInvalid, "VAPID private key is not a valid P-256 scalar")
	}
	return k, nil
}

// EncodeVAPIDPrivateKey is ParseVAPIDPrivateKey's inverse: the base64url scalar.
func EncodeVAPIDPrivateKey(k *ecdsa.PrivateKey) (string, error) {
	raw, err := k.Bytes()
	if err != nil {
		return "", fmt.Errorf("webpush: encode VAPID key: %w", err)
	}
	if len(raw) != 32 {
		return "", errors.New("webpush: VAPID key is not a P-256 key")
	}
	return b64.EncodeToString(raw), nil
}

// PublicKeyBase64 returns the key's public half as the browser wants it for
// applicationServerKey and as VAPID's k= parameter carries it: the uncompressed
// P-256 point (0x04 || X || Y, 65 bytes), base64url without padding (87
// characters). It is what GET /api/push/vapid-public-key serves. A key that is not
// a valid P-256 key gives "".
func PublicKeyBase64(k *ecdsa.PrivateKey) string {
	if k == nil || k.Curve != elliptic.P256() {
		return ""
	}
	raw, err := k.PublicKey.Bytes()
	if err != nil || len(raw) != 65 {
		return ""
	}
	return b64.EncodeToString(raw)
}

// LoadOrCreateVAPIDKey reads the VAPID key stored at path (see the storage format
// above) or, when there is no file, generates one and writes it there with mode
// 0600 (created reports which). An existing file readable by group or others is
// narrowed to its owner, like the data dir's other secrets. An empty file (made
// but never written) counts as absent; any other file that does not hold a valid
// key is an error, never silently replaced: replacing the key would break every
// existing subscription.
func LoadOrCreateVAPIDKey(path string) (key *ecdsa.PrivateKey, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil && strings.TrimSpace(string(b)) == "" {
		// Created but never written (a crash in between): no browser can hold a
		// key that was never stored, so make one as if the file were absent.
		if err := os.Remove(path); err != nil {
			return nil, false, fmt.Errorf("webpush: replace empty %s: %w", path, err)
		}
		err = fs.ErrNotExist
	}
	switch {
	case err == nil:
		if fi, serr := os.Stat(path); serr == nil && fi.Mode().Perm()&0o077 != 0 {
			if cerr := os.Chmod(path, fi.Mode().Perm()&0o700); cerr != nil {
				return nil, false, fmt.Errorf("webpush: make %s readable by its owner only: %w", path, cerr)
			}
		}
		k, perr := ParseVAPIDPrivateKey(string(b))
		if perr != nil {
			return nil, false, fmt.Errorf("webpush: %s: %w (fix or move the file: a new key would invalidate every push subscription)", path, perr)
		}
		return k, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, false, fmt.Errorf("webpush: read %s: %w", path, err)
	}
	k, err := GenerateVAPIDKey()
	if err != nil {
		return nil, false, err
	}
	text, err := EncodeVAPIDPrivateKey(k)
	if err != nil {
		return nil, false, err
	}
	// O_EXCL: of two processes starting on one data dir, one writes and the other
	// fails here instead of overwriting a key a browser may already hold.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("webpush: create %s: %w", path, err)
	}
	_, werr := f.WriteString(text + "\n")
	if serr := f.Sync(); werr == nil {
		werr = serr
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(path) // a truncated key file would fail every later start
		return nil, false, fmt.Errorf("webpush: write %s: %w", path, werr)
	}
	return k, true, nil
}

// decodeB64 decodes base64url with or without padding, as browsers and tools
// differ; standard-alphabet input is refused (Web Push values are always URL-safe).
func decodeB64(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	return b64.DecodeString(s)
}
