package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
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
	res, err := s.hub.Publish(r.Context(), &in, idem)
	if err != nil {
		return err
	}
	if res.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	if in.UserIDs == nil && len(res.Notifications) != 1 {
		return tocsin.Errorf(tocsin.EInternal, "publish stored %d notifications for one recipient", len(res.Notifications))
	}
	if b := encodedResult(&res, in.UserIDs != nil); b != nil {
		writeJSONBytes(w, http.StatusCreated, b)
		return nil
	}
	if in.UserIDs != nil {
		writeJSON(w, http.StatusCreated, map[string]any{"notifications": res.Notifications})
		return nil
	}
	writeJSON(w, http.StatusCreated, res.Notifications[0])
	return nil
}

// encodedResult builds the response body of a publish from its events' data, which
// is each notification's JSON as REST renders it (json.Marshal of the Notification):
// the notifications are encoded once, for the stream and the response alike. It is
// the same bytes writeJSON would produce. It returns nil when the events do not
// match the notifications one to one (a replay has no events), and the caller
// encodes them itself.
func encodedResult(res *tocsin.PublishResult, list bool) []byte {
	if len(res.Events) != len(res.Notifications) || len(res.Events) == 0 {
		return nil
	}
	items := make([][]byte, len(res.Events))
	for i := range res.Events {
		if items[i] = res.Events[i].Data; !encodes(items[i], &res.Notifications[i]) {
			return nil
		}
	}
	if !list {
		return append(append(make([]byte, 0, len(items[0])+1), items[0]...), '\n')
	}
	b := jsonarray.Append([]byte(`{"notifications":`), items)
	return append(b, "}\n"...)
}

// encodes reports whether data is the JSON of n: an object that opens with n's id
// (data is json.Marshal of a Notification, whose first field is the id; a store
// whose events carried anything else would fail this check and be encoded anew).
func encodes(data []byte, n *tocsin.Notification) bool {
	const open = `{"id":"`
	return len(data) > len(open)+len(n.ID) && string(data[:len(open)]) == open &&
		string(data[len(open):len(open)+len(n.ID)]) == n.ID && data[len(open)+len(n.ID)] == '"' &&
		data[len(data)-1] == '}'
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
