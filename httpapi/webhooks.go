package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/internal/jsonarray"
)

func (s *Server) engine() (Delivery, error) {
	if s.cfg.Delivery == nil {
		return nil, errNoChannels
	}
	return s.cfg.Delivery, nil
}

// pageParams reads ?cursor= (opaque to clients: the engine's) and ?limit=.
func pageParams(r *http.Request) (cursor string, limit int, err error) {
	q := r.URL.Query()
	cursor = q.Get("cursor")
	// A cursor is the id of the last job of the previous page; anything else would
	// be taken as a bound and answer a wrong page instead of an error.
	if cursor != "" && !tocsin.ValidNotificationID(cursor) {
		return "", 0, tocsin.Errorf(tocsin.EInvalid, "cursor is not one this server made")
	}
	limit = tocsin.DefaultListLimit
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > tocsin.MaxListLimit {
			return "", 0, tocsin.Errorf(tocsin.EInvalid, "limit must be a number from 1 to %d", tocsin.MaxListLimit)
		}
		limit = n
	}
	return cursor, limit, nil
}

func nextCursor(next string) *string {
	if next == "" {
		return nil
	}
	return &next
}

// listScheduled: GET /api/scheduled?userId=&cursor=&limit=.
func (s *Server) listScheduled(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	e, err := s.engine()
	if err != nil {
		return err
	}
	userID := r.URL.Query().Get("userId")
	if userID != "" {
		if err := tocsin.ValidateUserID(userID); err != nil {
			return err
		}
	}
	cursor, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	ns, next, err := e.ListScheduled(r.Context(), userID, cursor, limit)
	if err != nil {
		return err
	}
	items := make([][]byte, len(ns))
	for i := range ns {
		if items[i], err = scheduledItem(&ns[i]); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"scheduled": rawArray(items), "nextCursor": nextCursor(next)})
	return nil
}

// rawArray is a JSON array of encoded items.
type rawArray [][]byte

func (a rawArray) MarshalJSON() ([]byte, error) { return jsonarray.Append(nil, a), nil }

// cancelScheduled: DELETE /api/scheduled/{id} (404 once delivered).
func (s *Server) cancelScheduled(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	e, err := s.engine()
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if !tocsin.ValidNotificationID(id) {
		return tocsin.Errorf(tocsin.ENotFound, "no scheduled notification %q", clip(id))
	}
	if err := e.CancelScheduled(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type webhookInput struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
}

// createWebhook: POST /api/webhooks → {"id", "secret", ...}; the secret is shown
// only here.
func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	e, err := s.engine()
	if err != nil {
		return err
	}
	body, err := readBody(w, r, maxBody)
	if err != nil {
		return err
	}
	var in webhookInput
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	ep, err := e.CreateWebhook(r.Context(), in.URL, in.Events)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"id": ep.ID, "url": ep.URL, "events": ep.Events, "secret": ep.Secret, "createdAt": tocsin.Timestamp(ep.CreatedAt),
	})
	return nil
}

// listWebhooks: GET /api/webhooks (secrets never listed).
func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	e, err := s.engine()
	if err != nil {
		return err
	}
	eps, err := e.Webhooks(r.Context())
	if err != nil {
		return err
	}
	if eps == nil {
		eps = []tocsin.WebhookEndpoint{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": eps})
	return nil
}

// deleteWebhook: DELETE /api/webhooks/{id}.
func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	e, err := s.engine()
	if err != nil {
		return err
	}
	if err := e.DeleteWebhook(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// webhookDelivery is one message of an endpoint's history.
type webhookDelivery struct {
	ID         string            `json:"id"` // the webhook-id header
	Event      string            `json:"event"`
	UserID     string            `json:"userId"`
	Status     string            `json:"status"` // pending, done, failed
	Attempts   int               `json:"attempts"`
	LastStatus int               `json:"lastStatus"`
	LastError  string            `json:"lastError"`
	CreatedAt  tocsin.Timestamp  `json:"createdAt"`
	NextAt     *tocsin.Timestamp `json:"nextAttemptAt"`
	FinishedAt *tocsin.Timestamp `json:"finishedAt"`
}

// webhookDeliveries: GET /api/webhooks/{id}/deliveries — the endpoint's history,
// newest first.
func (s *Server) webhookDeliveries(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	e, err := s.engine()
	if err != nil {
		return err
	}
	cursor, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	jobs, next, err := e.WebhookDeliveries(r.Context(), r.PathValue("id"), cursor, limit)
	if err != nil {
		return err
	}
	out := make([]webhookDelivery, len(jobs))
	for i, j := range jobs {
		d := webhookDelivery{
			ID: j.Ref, Event: webhookEvent(j.Payload), UserID: j.UserID, Status: j.State, Attempts: j.Attempts,
			LastStatus: j.LastStatus, LastError: j.LastError, CreatedAt: tocsin.Timestamp(j.CreatedAt), FinishedAt: (*tocsin.Timestamp)(j.FinishedAt),
		}
		if j.State == tocsin.JobPending {
			t := tocsin.Timestamp(j.DueAt)
			d.NextAt = &t
		}
		out[i] = d
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": out, "nextCursor": nextCursor(next)})
	return nil
}

// webhookEvent is the "type" of a webhook message's body.
func webhookEvent(body []byte) string {
	var b struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(body, &b)
	return b.Type
}
