package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/auth"
)

// API keys over HTTP (the admin console's view; tocsin keys does the same on the
// store directly). Keys are stored as SHA-256 digests: the secret is shown once, in
// the answer that creates it.

// KeyAdmin wires the API-key routes. A zero Store makes them answer 503.
type KeyAdmin struct {
	Store tocsin.APIKeyRecords
	// ConfigIDs are the ids of the keys of the configuration (--api-key): listed as
	// "from config", never revocable over HTTP.
	ConfigIDs []string
	// Forget drops the authenticator's cached answer for a stored key's hash, so a
	// revocation takes effect on this node at once (nil: within the cache's 10 s).
	Forget func(hash string)
}

// Bounds of the key routes, documented in docs/api.md.
const (
	maxKeyName    = 100 // bytes of a key's name
	maxLiveKeys   = 100 // live stored keys; revoke one to create another
	maxKeysListed = 200 // entries of GET /api/keys: every live key, then the newest revoked
)

// keyView is an API key as the API shows it: never the key, only in creation.
type keyView struct {
	ID        string            `json:"id"`
	Key       string            `json:"key,omitempty"`
	Name      string            `json:"name"`
	Source    string            `json:"source"` // "config" or "store"
	CreatedAt *tocsin.Timestamp `json:"createdAt"`
	RevokedAt *tocsin.Timestamp `json:"revokedAt"`
	// Current marks the key that signed this request (it cannot revoke itself).
	Current bool `json:"current"`
}

func (s *Server) keyStore() (tocsin.APIKeyRecords, error) {
	if s.cfg.Keys.Store == nil {
		return nil, tocsin.Errorf(tocsin.EUnavailable, "API keys are not kept by this server")
	}
	return s.cfg.Keys.Store, nil
}

// listKeys: GET /api/keys — the configured keys, then the stored ones (live first).
func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, p tocsin.Principal) error {
	store, err := s.keyStore()
	if err != nil {
		return err
	}
	recs, err := store.APIKeys(r.Context())
	if err != nil {
		return err
	}
	out := make([]keyView, 0, len(s.cfg.Keys.ConfigIDs)+len(recs))
	for _, id := range s.cfg.Keys.ConfigIDs {
		out = append(out, keyView{ID: id, Name: "from config", Source: "config", Current: id == p.KeyID})
	}
	// Live keys first (each stays visible however many were revoked), then the newest
	// revoked ones up to the bound; the store lists newest first.
	slices.SortStableFunc(recs, func(a, b tocsin.APIKeyRecord) int {
		return boolOrder(a.RevokedAt != nil) - boolOrder(b.RevokedAt != nil)
	})
	for _, k := range recs {
		if k.RevokedAt != nil && len(out) >= maxKeysListed {
			break
		}
		created := tocsin.Timestamp(k.CreatedAt)
		out = append(out, keyView{ID: k.ID, Name: k.Name, Source: "store", CreatedAt: &created,
			RevokedAt: (*tocsin.Timestamp)(k.RevokedAt), Current: k.ID == p.KeyID})
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": out})
	return nil
}

func boolOrder(b bool) int {
	if b {
		return 1
	}
	return 0
}

// createKey: POST /api/keys {"name"} → 201 with the key, shown only here.
func (s *Server) createKey(w http.ResponseWriter, r *http.Request, p tocsin.Principal) error {
	store, err := s.keyStore()
	if err != nil {
		return err
	}
	body, err := readBody(w, r, maxBody)
	if err != nil {
		return err
	}
	var in struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	if err := validKeyName(in.Name); err != nil {
		return err
	}
	// The count and the insert under one lock, so two requests to this node cannot
	// both take the last place.
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	recs, err := store.APIKeys(r.Context())
	if err != nil {
		return err
	}
	live := 0
	for _, k := range recs {
		if k.RevokedAt == nil {
			live++
		}
	}
	if live >= maxLiveKeys {
		return tocsin.Errorf(tocsin.EConflict, "there are already %d live API keys (the most this server keeps); revoke one first", live)
	}
	key, rec, err := auth.NewAPIKey(in.Name, s.now())
	if err != nil {
		return err
	}
	if err := store.PutAPIKey(r.Context(), rec); err != nil {
		return err
	}
	if err := s.keepKeyBound(r, store, rec, p); err != nil {
		return err
	}
	// Who made which key: after a leak, the keys the leaked one made are found here.
	s.log.Info("API key created", "id", rec.ID, "name", rec.Name, "by", p.KeyID)
	created := tocsin.Timestamp(rec.CreatedAt)
	writeJSON(w, http.StatusCreated, keyView{ID: rec.ID, Key: key, Name: rec.Name, Source: "store", CreatedAt: &created})
	return nil
}

// keepKeyBound makes maxLiveKeys hold across a cluster: keysMu orders only this
// node's creates, so another node may have taken the last place between the count
// and the put. Every node ranks the live keys the same way (oldest first, then by
// id), so exactly the keys past the bound are revoked again, each by the node that
// made it, whose caller gets the 409 of a full store and never sees the secret.
func (s *Server) keepKeyBound(r *http.Request, store tocsin.APIKeyRecords, rec tocsin.APIKeyRecord, p tocsin.Principal) error {
	recs, err := store.APIKeys(r.Context())
	if err != nil {
		return err
	}
	live := slices.DeleteFunc(recs, func(k tocsin.APIKeyRecord) bool { return k.RevokedAt != nil })
	slices.SortFunc(live, func(a, b tocsin.APIKeyRecord) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if i := slices.IndexFunc(live, func(k tocsin.APIKeyRecord) bool { return k.ID == rec.ID }); i < maxLiveKeys {
		return nil
	}
	if _, err := store.RevokeAPIKey(r.Context(), rec.ID, s.now()); err != nil {
		return err
	}
	s.log.Warn("API key revoked at once: another node took the last place", "id", rec.ID, "by", p.KeyID)
	return tocsin.Errorf(tocsin.EConflict, "there are already %d live API keys (the most this server keeps); revoke one first", maxLiveKeys)
}

// validKeyName: 1 to maxKeyName bytes of printable UTF-8 on one line.
func validKeyName(name string) error {
	if name == "" || len(name) > maxKeyName || !utf8.ValidString(name) {
		return tocsin.Errorf(tocsin.EInvalid, "name must be 1 to %d bytes", maxKeyName)
	}
	for _, c := range name {
		if !unicode.IsPrint(c) {
			return tocsin.Errorf(tocsin.EInvalid, "name must be printable, on one line")
		}
	}
	return nil
}

// revokeKey: DELETE /api/keys/{id} → 204. Refused with 409 for a key of the
// configuration and for the key signing the request: an admin cannot lock the
// console out by revoking the key it is using, and the configured keys change only
// with the configuration.
func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request, p tocsin.Principal) error {
	store, err := s.keyStore()
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if id == "" || len(id) > 64 {
		return tocsin.Errorf(tocsin.EInvalid, "invalid key id")
	}
	if slices.Contains(s.cfg.Keys.ConfigIDs, id) {
		return tocsin.Errorf(tocsin.EConflict, "this key is from the server's configuration (--api-key): remove it there and restart")
	}
	if id == p.KeyID {
		return tocsin.Errorf(tocsin.EConflict, "this is the key signing this request: revoke it with another key, or with tocsin keys revoke")
	}
	rec, err := store.RevokeAPIKey(r.Context(), id, s.now())
	if err != nil {
		return err
	}
	if s.cfg.Keys.Forget != nil {
		s.cfg.Keys.Forget(rec.Hash)
	}
	s.log.Info("API key revoked", "id", rec.ID, "by", p.KeyID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
