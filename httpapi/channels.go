package httpapi

import (
	"context"
	"encoding/json"
	"html/template"
	"net/http"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/hub"
)

// Delivery is the delivery engine as the handlers use it (*delivery.Engine is one):
// publishes that are scheduled or escalate, scheduled notifications, and webhook
// endpoints.
type Delivery interface {
	// Publish publishes in now (through the hub) and adds its channel timers, or,
	// with DeliverAt, schedules it (scheduled true: res.Notifications are what the
	// schedule will deliver).
	Publish(ctx context.Context, in *tocsin.PublishInput, idem hub.Idempotency) (res tocsin.PublishResult, scheduled bool, err error)
	ListScheduled(ctx context.Context, userID, cursor string, limit int) ([]tocsin.Notification, string, error)
	CancelScheduled(ctx context.Context, id string) error
	CreateWebhook(ctx context.Context, url string, events []string) (tocsin.WebhookEndpoint, error)
	DeleteWebhook(ctx context.Context, id string) error
	Webhooks(ctx context.Context) ([]tocsin.WebhookEndpoint, error)
	WebhookDeliveries(ctx context.Context, id, cursor string, limit int) ([]tocsin.Job, string, error)
	// Deliveries is the delivery log of the user's notification, pending timers
	// included.
	Deliveries(ctx context.Context, userID, id string) ([]tocsin.Delivery, error)
}

// ChannelStore is what the handlers keep of profiles and preferences and read of
// the delivery log. A tocsin.DeliveryStore is one.
type ChannelStore interface {
	tocsin.Profiles
	Deliveries(ctx context.Context, userID, notificationID string) ([]tocsin.Delivery, error)
}

// Unsubscriber checks a one-click unsubscribe token (email.VerifyUnsubscribe with
// the server's key): the user and the type whose email it turns off ("*": all).
type Unsubscriber func(token string) (userID, typ string, err error)

var errNoChannels = tocsin.Errorf(tocsin.EUnavailable, "the delivery engine is not running on this server")

func (s *Server) channelStore() (ChannelStore, error) {
	if s.cfg.Channels == nil {
		return nil, errNoChannels
	}
	return s.cfg.Channels, nil
}

// profileInput is the body of PUT /api/users/{userId}.
type profileInput struct {
	Email    string `json:"email"`
	Timezone string `json:"timezone"`
	Locale   string `json:"locale"`
}

// putProfile: PUT /api/users/{userId} — the user's profile for the channels.
func (s *Server) putProfile(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	cs, err := s.channelStore()
	if err != nil {
		return err
	}
	userID := r.PathValue("userId")
	if err := tocsin.ValidateUserID(userID); err != nil {
		return err
	}
	body, err := readBody(w, r, maxBody)
	if err != nil {
		return err
	}
	var in profileInput
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	p := tocsin.Profile{UserID: userID, Email: in.Email, Timezone: in.Timezone, Locale: in.Locale, UpdatedAt: s.nowMs()}
	if err := p.Validate(); err != nil {
		return err
	}
	if err := cs.PutProfile(r.Context(), p); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// getProfile: GET /api/users/{userId}.
func (s *Server) getProfile(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	cs, err := s.channelStore()
	if err != nil {
		return err
	}
	userID := r.PathValue("userId")
	if err := tocsin.ValidateUserID(userID); err != nil {
		return err
	}
	p, err := cs.Profile(r.Context(), userID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// getPreferences: GET /api/preferences (the user's own) and
// GET /api/users/{userId}/preferences (the application's view).
func (s *Server) getPreferences(w http.ResponseWriter, r *http.Request, p tocsin.Principal) error {
	cs, err := s.channelStore()
	if err != nil {
		return err
	}
	userID, err := prefsUser(r, p)
	if err != nil {
		return err
	}
	prefs, err := cs.Preferences(r.Context(), userID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, prefs)
	return nil
}

// putPreferences: PUT (replace) and PATCH (JSON merge patch, RFC 7396) of the
// preferences, by the user or the application.
func (s *Server) putPreferences(w http.ResponseWriter, r *http.Request, p tocsin.Principal) error {
	cs, err := s.channelStore()
	if err != nil {
		return err
	}
	userID, err := prefsUser(r, p)
	if err != nil {
		return err
	}
	body, err := readBody(w, r, maxBody)
	if err != nil {
		return err
	}
	var prefs tocsin.Preferences
	if r.Method == http.MethodPatch {
		cur, err := cs.Preferences(r.Context(), userID)
		if err != nil {
			return err
		}
		if prefs, err = mergePreferences(cur, body); err != nil {
			return err
		}
	} else if err := decodeJSON(body, &prefs); err != nil {
		return err
	}
	if err := prefs.Validate(); err != nil {
		return err
	}
	prefs.Normalize()
	prefs.UpdatedAt = s.nowMs()
	if err := cs.PutPreferences(r.Context(), userID, prefs); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, prefs)
	return nil
}

// prefsUser is the user whose preferences a request names: the path's for the
// application, the principal's own for a user.
func prefsUser(r *http.Request, p tocsin.Principal) (string, error) {
	if id := r.PathValue("userId"); id != "" {
		return id, tocsin.ValidateUserID(id)
	}
	return p.UserID, nil
}

// mergePreferences applies a JSON merge patch (RFC 7396) to cur: objects merge key
// by key, null removes, anything else replaces. The result is decoded as strictly
// as a PUT body, so a patch cannot smuggle in unknown fields.
func mergePreferences(cur tocsin.Preferences, patch []byte) (tocsin.Preferences, error) {
	var p any
	if err := decodeJSON(patch, &p); err != nil {
		return cur, err
	}
	if _, ok := p.(map[string]any); !ok {
		return cur, tocsin.Errorf(tocsin.EInvalid, "a preferences patch must be a JSON object")
	}
	b, err := json.Marshal(cur)
	if err != nil {
		return cur, err
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		return cur, err
	}
	merged, err := json.Marshal(mergePatch(doc, p))
	if err != nil {
		return cur, err
	}
	var out tocsin.Preferences
	return out, decodeJSON(merged, &out)
}

func mergePatch(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
			continue
		}
		tm[k] = mergePatch(tm[k], v)
	}
	return tm
}

// deliveries: GET /api/notifications/{id}/deliveries (the user's own) and
// GET /api/users/{userId}/notifications/{id}/deliveries (the application's).
func (s *Server) deliveries(w http.ResponseWriter, r *http.Request, p tocsin.Principal) error {
	cs, err := s.channelStore()
	if err != nil {
		return err
	}
	userID, err := prefsUser(r, p)
	if err != nil {
		return err
	}
	id, err := notificationID(r)
	if err != nil {
		return err
	}
	// The notification must be the user's (404 like a missing one otherwise); a
	// scheduled one not yet delivered has its log too.
	var ds []tocsin.Delivery
	if s.cfg.Delivery != nil {
		ds, err = s.cfg.Delivery.Deliveries(r.Context(), userID, id)
	} else {
		ds, err = cs.Deliveries(r.Context(), userID, id)
	}
	if err != nil {
		return err
	}
	if len(ds) == 0 {
		if _, err := s.store.Get(r.Context(), userID, id); err != nil {
			return err
		}
	}
	if ds == nil {
		ds = []tocsin.Delivery{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": ds})
	return nil
}

var unsubscribePage = template.Must(template.New("u").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{.Title}}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#1f2328}
button{font:inherit;padding:.5rem 1rem;border-radius:.375rem;border:1px solid #1f2328;background:#1f2328;color:#fff;cursor:pointer}</style>
</head><body><main><h1>{{.Title}}</h1><p>{{.Text}}</p>
{{if .Form}}<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>{{end}}
</main></body></html>
`))

// unsubscribe: GET and POST /api/unsubscribe?token=. POST is RFC 8058's one-click
// (List-Unsubscribe-Post: List-Unsubscribe=One-Click): it turns the type's email off
// in the user's preferences. GET only shows a page with the button, because mail
// scanners follow links: a GET must change nothing.
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	cs, err := s.channelStore()
	if err != nil {
		return err
	}
	if s.cfg.Unsubscribe == nil {
		return tocsin.Errorf(tocsin.EUnavailable, "email is not configured on this server")
	}
	userID, typ, err := s.cfg.Unsubscribe(r.URL.Query().Get("token"))
	if err != nil {
		return badCredential{tocsin.Errorf(tocsin.EInvalid, "this unsubscribe link is not valid; use the newest email's link")}
	}
	what := "emails of type " + typ
	if typ == "*" {
		what = "all emails"
	}
	page := struct {
		Title, Text string
		Form        bool
	}{"Unsubscribe", "Stop " + what + " from this service?", true}
	if r.Method == http.MethodPost {
		if _, err := readBody(w, r, 4096); err != nil {
			return err
		}
		prefs, err := cs.Preferences(r.Context(), userID)
		if err != nil {
			return err
		}
		prefs.Normalize()
		if typ == "*" {
			prefs.Channels[tocsin.ChannelEmail] = false
		} else {
			sw := prefs.Types[typ]
			if sw == nil {
				sw = tocsin.ChannelSwitches{}
			}
			sw[tocsin.ChannelEmail] = false
			prefs.Types[typ] = sw
		}
		if err := prefs.Validate(); err != nil {
			return err
		}
		prefs.UpdatedAt = s.nowMs()
		if err := cs.PutPreferences(r.Context(), userID, prefs); err != nil {
			return err
		}
		page.Title, page.Text, page.Form = "Unsubscribed", "You will no longer receive "+what+". You can turn them back on in your notification preferences.", false
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusOK)
	return unsubscribePage.Execute(w, page)
}

// nowMs is the server's time as stored: UTC, milliseconds.
func (s *Server) nowMs() time.Time { return s.now().Truncate(time.Millisecond) }

// scheduledItem is a notification's encoding with "status": "scheduled" first.
func scheduledItem(n *tocsin.Notification) (json.RawMessage, error) {
	b, err := tocsin.AppendNotificationJSON(nil, n)
	if err != nil {
		return nil, err
	}
	if len(b) < 2 || b[0] != '{' {
		return nil, tocsin.Errorf(tocsin.EInternal, "notification encoding is not an object")
	}
	return append([]byte(`{"status":"scheduled",`), b[1:]...), nil
}
