package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/hub"
	"github.com/tocsin/tocsin/internal/jsonarray"
)

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
	if err := decodePublish(body, &in); err != nil {
		return err
	}
	if in.UserIDs == nil && len(body) > maxBody {
		return tocsin.Errorf(tocsin.ETooLarge, "request body is larger than %d bytes (%d allowed with userIds)", maxBody, maxBulkBody)
	}
	if err := in.Validate(s.now()); err != nil {
		return err
	}
	if err := s.checkFanout(&in, len(body)); err != nil {
		return err
	}
	idem := hub.Idempotency{Scope: p.KeyID, Key: idemKey}
	if idemKey != "" {
		sum := sha256.Sum256(body)
		idem.RequestHash = hex.EncodeToString(sum[:])
	}
	var res tocsin.PublishResult
	if s.cfg.Delivery != nil {
		var scheduled bool
		res, scheduled, err = s.cfg.Delivery.Publish(r.Context(), &in, idem)
		if err == nil && scheduled {
			return writeScheduled(w, &res, in.UserIDs != nil)
		}
	} else if in.DeliverAt != nil {
		return errNoChannels
	} else {
		res, err = s.hub.Publish(r.Context(), &in, idem)
	}
	if err != nil {
		return err
	}
	if res.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	if in.UserIDs == nil && len(res.Notifications) != 1 {
		return tocsin.Errorf(tocsin.EInternal, "publish stored %d notifications for one recipient", len(res.Notifications))
	}
	b, err := publishBody(&res, in.UserIDs != nil)
	if err != nil {
		return err
	}
	writeJSONBytes(w, http.StatusCreated, b)
	return nil
}

// publishBody is the 201 body of a publish, with its newline: the notification, or
// {"notifications": [...]} for a list; the bytes writeJSON would write. By the
// Store contract (tocsin.PublishResult) each event's data is its notification's
// JSON, tocsin.AppendNotificationJSON, so a publish's notifications are encoded
// once, for the streams and the response alike. A replay has no events: its
// notifications are encoded here, with the same function.
func publishBody(res *tocsin.PublishResult, list bool) ([]byte, error) {
	if !res.Replayed && len(res.Events) != len(res.Notifications) {
		return nil, fmt.Errorf("publish: the store returned %d events for %d notifications", len(res.Events), len(res.Notifications))
	}
	items := make([][]byte, len(res.Notifications))
	for i := range res.Notifications {
		if !res.Replayed {
			items[i] = res.Events[i].Data
			continue
		}
		b, err := tocsin.AppendNotificationJSON(nil, &res.Notifications[i])
		if err != nil {
			return nil, fmt.Errorf("encode replayed notification: %w", err)
		}
		items[i] = b
	}
	if !list {
		return append(append(make([]byte, 0, len(items[0])+1), items[0]...), '\n'), nil
	}
	b := jsonarray.Append([]byte(`{"notifications":`), items)
	return append(b, "}\n"...), nil
}

// writeScheduled answers a scheduled publish: 201 with the notifications it will
// deliver, each with "status": "scheduled" (and a list's object too).
func writeScheduled(w http.ResponseWriter, res *tocsin.PublishResult, list bool) error {
	items := make([][]byte, len(res.Notifications))
	for i := range res.Notifications {
		b, err := scheduledItem(&res.Notifications[i])
		if err != nil {
			return err
		}
		items[i] = b
	}
	if !list {
		if len(items) != 1 {
			return tocsin.Errorf(tocsin.EInternal, "schedule stored %d notifications for one recipient", len(items))
		}
		writeJSONBytes(w, http.StatusCreated, append(items[0], '\n'))
		return nil
	}
	b := jsonarray.Append([]byte(`{"status":"scheduled","notifications":`), items)
	writeJSONBytes(w, http.StatusCreated, append(b, "}\n"...))
	return nil
}

// writeJSONBytes is writeJSON for a body already encoded (with its newline).
func writeJSONBytes(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
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
