package httpapi

import (
	"net/http"
	"strings"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/webpush"
)

// Web Push routes (PRODUCT.md §3, §8): the public key a browser subscribes with,
// and the user's subscriptions.

// PushConfig wires the push routes; the zero value (no key) answers 503.
type PushConfig struct {
	PublicKey     string // the VAPID public key (webpush.Sender.PublicKey)
	Store         tocsin.PushSubscriptions
	AllowInsecure bool // --push-allow-insecure: http: and private endpoints
	// Subscribed, when set, is told of each stored subscription
	// (delivery.Engine.PushSubscribed: push timers start at once on this node).
	Subscribed func()
	// Read checks the read ticket of a pushed notification (internal/readticket)
	// and returns its user; nil: POST /api/push/read answers 503.
	Read func(ticket, id string) (userID string, err error)
}

var errNoPush = tocsin.Errorf(tocsin.EUnavailable, "Web Push is not configured on this server")

// maxPushBody bounds a subscription: an endpoint URL and two short keys.
const maxPushBody = 8 << 10

// maxPushEndpoint bounds the endpoint URL stored (push services use ~200-500).
const maxPushEndpoint = 2048

// maxDeviceID bounds the optional device id.
const maxDeviceID = 200

func (s *Server) pushConfig() (PushConfig, error) {
	c := s.cfg.Push
	if c.PublicKey == "" || c.Store == nil {
		return c, errNoPush
	}
	return c, nil
}

// pushPublicKey: GET /api/push/vapid-public-key — public, like the key itself.
func (s *Server) pushPublicKey(w http.ResponseWriter, _ *http.Request, _ tocsin.Principal) error {
	c, err := s.pushConfig()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"publicKey": c.PublicKey})
	return nil
}

// pushSubscriptionInput is PushSubscription.toJSON() plus an optional deviceId.
type pushSubscriptionInput struct {
	Endpoint       string   `json:"endpoint"`
	ExpirationTime *float64 `json:"expirationTime"` // accepted, not used: the push service says when it is gone
	Keys           struct {
		P256dh string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
	DeviceID string `json:"deviceId"`
}

// subscribePush: POST /api/push/subscriptions — stores the browser's
// subscription for the user (the same endpoint again keeps its id).
func (s *Server) subscribePush(w http.ResponseWriter, r *http.Request, p tocsin.Principal) error {
	c, err := s.pushConfig()
	if err != nil {
		return err
	}
	body, err := readBody(w, r, maxPushBody)
	if err != nil {
		return err
	}
	var in pushSubscriptionInput
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	switch {
	case in.Endpoint == "":
		return tocsin.Errorf(tocsin.EInvalid, "endpoint is required")
	case len(in.Endpoint) > maxPushEndpoint:
		return tocsin.Errorf(tocsin.EInvalid, "endpoint is longer than %d bytes", maxPushEndpoint)
	case in.Keys.P256dh == "" || in.Keys.Auth == "":
		return tocsin.Errorf(tocsin.EInvalid, "keys.p256dh and keys.auth are required")
	case len(in.DeviceID) > maxDeviceID || strings.ContainsFunc(in.DeviceID, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return tocsin.Errorf(tocsin.EInvalid, "deviceId must be at most %d bytes without control characters", maxDeviceID)
	}
	sub := webpush.Subscription{Endpoint: in.Endpoint, P256dh: in.Keys.P256dh, Auth: in.Keys.Auth}
	if err := sub.Validate(c.AllowInsecure); err != nil {
		return err
	}
	now := s.nowMs()
	stored, err := c.Store.PutPushSubscription(r.Context(), tocsin.PushSubscription{
		ID: "ps_" + s.pushIDs.New(now), UserID: p.UserID, DeviceID: in.DeviceID, Endpoint: in.Endpoint,
		P256dh: in.Keys.P256dh, Auth: in.Keys.Auth, CreatedAt: now,
	})
	if err != nil {
		return err
	}
	if c.Subscribed != nil {
		c.Subscribed()
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": stored.ID})
	return nil
}

// pushSubscriptionView is one subscription as listed (never its keys).
type pushSubscriptionView struct {
	ID        string           `json:"id"`
	DeviceID  string           `json:"deviceId"`
	Endpoint  string           `json:"endpoint"`
	CreatedAt tocsin.Timestamp `json:"createdAt"`
}

// listPushSubscriptions: GET /api/push/subscriptions — the user's, oldest first.
func (s *Server) listPushSubscriptions(w http.ResponseWriter, r *http.Request, p tocsin.Principal) error {
	c, err := s.pushConfig()
	if err != nil {
		return err
	}
	subs, err := c.Store.PushSubscriptions(r.Context(), p.UserID)
	if err != nil {
		return err
	}
	out := make([]pushSubscriptionView, len(subs))
	for i, ps := range subs {
		out[i] = pushSubscriptionView{ps.ID, ps.DeviceID, ps.Endpoint, tocsin.Timestamp(ps.CreatedAt)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"subscriptions": out})
	return nil
}

// unsubscribePush: DELETE /api/push/subscriptions/{id}.
func (s *Server) unsubscribePush(w http.ResponseWriter, r *http.Request, p tocsin.Principal) error {
	c, err := s.pushConfig()
	if err != nil {
		return err
	}
	if err := c.Store.DeletePushSubscription(r.Context(), p.UserID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// pushRead: POST /api/push/read {"id", "ticket"} — the service worker marks a
// clicked notification read with the read ticket its push carried, no other
// credential (the worker holds none). The ticket names one user and one
// notification and expires; the change is exactly PATCH {"read": true}: an event
// on the user's streams, and a dismiss to the user's other browsers.
func (s *Server) pushRead(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	if s.cfg.Push.Read == nil {
		return errNoPush
	}
	body, err := readBody(w, r, 2048)
	if err != nil {
		return err
	}
	var in struct {
		ID     string `json:"id"`
		Ticket string `json:"ticket"`
	}
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	if !tocsin.ValidNotificationID(in.ID) {
		return tocsin.Errorf(tocsin.EInvalid, "id is not a notification id")
	}
	userID, err := s.cfg.Push.Read(in.Ticket, in.ID)
	if err != nil {
		return err
	}
	read := true
	if _, err := s.hub.Update(r.Context(), userID, in.ID, tocsin.Patch{Read: &read}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
