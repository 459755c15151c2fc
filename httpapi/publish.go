package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/hub"
)

func (s *Server) hubNow() time.Time { return time.Now().UTC() }

// publish: POST /api/notifications.
func (s *Server) publish(w http.ResponseWriter, r *http.Request, p tocsin.Principal) error {
	idemKey := r.Header.Get("Idempotency-Key")
	if len(idemKey) > tocsin.MaxIdemKeyLen || !printable(idemKey) {
		return tocsin.Errorf(tocsin.EInvalid, "Idempotency-Key must be at most %d printable characters", tocsin.MaxIdemKeyLen)
	}
	body, err := readBody(w, r, maxBulkBody)
	if err != nil {
		return err
	}
	var in tocsin.PublishInput
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	if in.UserIDs == nil && len(body) > maxBody {
		return tocsin.Errorf(tocsin.ETooLarge, "request body is larger than %d bytes (%d allowed with userIds)", maxBody, maxBulkBody)
	}
	if err := in.Validate(s.hubNow()); err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	res, err := s.hub.Publish(r.Context(), &in, hub.Idempotency{
		Scope: p.KeyID, Key: idemKey, RequestHash: hex.EncodeToString(sum[:]),
	})
	if err != nil {
		return err
	}
	if res.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	if in.UserIDs != nil {
		writeJSON(w, http.StatusCreated, map[string]any{"notifications": res.Notifications})
		return nil
	}
	if len(res.Notifications) != 1 {
		return tocsin.Errorf(tocsin.EInternal, "publish stored %d notifications for one recipient", len(res.Notifications))
	}
	writeJSON(w, http.StatusCreated, res.Notifications[0])
	return nil
}

// publishCustom: POST /api/users/{userId}/events.
func (s *Server) publishCustom(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	userID := r.PathValue("userId")
	if err := tocsin.ValidateUserID(userID); err != nil {
		return err
	}
	body, err := readBody(w, r, maxBody)
	if err != nil {
		return err
	}
	var in tocsin.CustomEventInput
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	ev, err := s.hub.PublishCustom(r.Context(), userID, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"id": s.hub.EventID(ev.Seq), "event": ev.Name, "data": ev.Data,
	})
	return nil
}

// printable reports whether s has only printable ASCII (header-safe, log-safe).
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
