package auth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"time"

	"github.com/tocsin/tocsin"
)

// Stored API keys (tocsin keys, POST /api/keys): what makes one, and what the HTTP
// API needs to know about the configured ones.

// NewAPIKey makes a random API key and the record to store for it (its hash, never
// the key). The key is shown once to whoever asked for it.
func NewAPIKey(name string, now time.Time) (string, tocsin.APIKeyRecord, error) {
	var b [24]byte
	var id [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", tocsin.APIKeyRecord{}, err
	}
	if _, err := rand.Read(id[:]); err != nil {
		return "", tocsin.APIKeyRecord{}, err
	}
	key := "tk_" + base64.RawURLEncoding.EncodeToString(b[:])
	rec := tocsin.APIKeyRecord{ID: "key_" + hex.EncodeToString(id[:]), Hash: HashTicket(key), Name: name, CreatedAt: now.UTC()}
	return key, rec, nil
}

// ConfigKeyIDs are the ids (KeyID) of the keys of the configuration (--api-key),
// sorted. They cannot be revoked over HTTP: only a restart without them drops them.
func (a *Authenticator) ConfigKeyIDs() []string {
	out := make([]string, 0, len(a.keys))
	for _, id := range a.keys {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// ForgetKey drops the cached answer for the stored key with this hex SHA-256, so a
// key revoked through this node is refused by it at once (other nodes refuse it when
// their cache entry ends, within keyCacheTTL).
func (a *Authenticator) ForgetKey(hash string) {
	d, err := hex.DecodeString(hash)
	if err != nil || len(d) != 32 || a.cache == nil {
		return
	}
	a.cacheMu.Lock()
	delete(a.cache, [32]byte(d))
	a.cacheMu.Unlock()
}
