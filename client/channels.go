package client

import (
	"context"
	"net/url"
	"time"

	"github.com/tocsin/tocsin"
)

// The delivery engine's endpoints (PRODUCT.md §3 and §8): profiles, preferences, the
// delivery log, scheduled notifications and webhook endpoints.

// SetProfile sets a user's profile for the channels (API key).
func (c *Client) SetProfile(ctx context.Context, userID string, p tocsin.Profile) (tocsin.Profile, error) {
	var out tocsin.Profile
	_, err := c.do(ctx, "PUT", "/api/users/"+url.PathEscape(userID), c.apiKey,
		map[string]string{"email": p.Email, "timezone": p.Timezone, "locale": p.Locale}, &out)
	return out, err
}

// Profile returns a user's profile (API key).
func (c *Client) Profile(ctx context.Context, userID string) (tocsin.Profile, error) {
	var out tocsin.Profile
	_, err := c.do(ctx, "GET", "/api/users/"+url.PathEscape(userID), c.apiKey, nil, &out)
	return out, err
}

// UserPreferences returns a user's preferences as the application sees them (API key).
func (c *Client) UserPreferences(ctx context.Context, userID string) (tocsin.Preferences, error) {
	var out tocsin.Preferences
	_, err := c.do(ctx, "GET", "/api/users/"+url.PathEscape(userID)+"/preferences", c.apiKey, nil, &out)
	return out, err
}

// SetUserPreferences replaces a user's preferences (API key).
func (c *Client) SetUserPreferences(ctx context.Context, userID string, p tocsin.Preferences) (tocsin.Preferences, error) {
	var out tocsin.Preferences
	_, err := c.do(ctx, "PUT", "/api/users/"+url.PathEscape(userID)+"/preferences", c.apiKey, prefsBody(p), &out)
	return out, err
}

// Preferences returns the signed-in user's own preferences (user token).
func (c *Client) Preferences(ctx context.Context) (tocsin.Preferences, error) {
	var out tocsin.Preferences
	_, err := c.do(ctx, "GET", "/api/preferences", c.token, nil, &out)
	return out, err
}

// SetPreferences replaces the signed-in user's preferences (user token).
func (c *Client) SetPreferences(ctx context.Context, p tocsin.Preferences) (tocsin.Preferences, error) {
	var out tocsin.Preferences
	_, err := c.do(ctx, "PUT", "/api/preferences", c.token, prefsBody(p), &out)
	return out, err
}

// PatchPreferences changes the signed-in user's preferences with a JSON merge
// patch (RFC 7396): e.g. {"types": {"digest": {"email": false}}}; null removes.
func (c *Client) PatchPreferences(ctx context.Context, patch any) (tocsin.Preferences, error) {
	var out tocsin.Preferences
	_, err := c.do(ctx, "PATCH", "/api/preferences", c.token, patch, &out)
	return out, err
}

// prefsBody is p without updatedAt, which the server sets.
func prefsBody(p tocsin.Preferences) map[string]any {
	return map[string]any{"channels": p.Channels, "types": p.Types, "topics": p.Topics,
		"mutedUntil": p.MutedUntil, "quietHours": p.QuietHours}
}

// Deliveries returns how the signed-in user's notification went out on each
// channel (user token).
func (c *Client) Deliveries(ctx context.Context, id string) ([]tocsin.Delivery, error) {
	var out struct{ Deliveries []tocsin.Delivery }
	_, err := c.do(ctx, "GET", "/api/notifications/"+url.PathEscape(id)+"/deliveries", c.token, nil, &out)
	return out.Deliveries, err
}

// UserDeliveries is Deliveries for any user's notification (API key).
func (c *Client) UserDeliveries(ctx context.Context, userID, id string) ([]tocsin.Delivery, error) {
	var out struct{ Deliveries []tocsin.Delivery }
	_, err := c.do(ctx, "GET", "/api/users/"+url.PathEscape(userID)+"/notifications/"+url.PathEscape(id)+"/deliveries", c.apiKey, nil, &out)
	return out.Deliveries, err
}

// Scheduled lists scheduled notifications not yet delivered (of userID, or all
// when ""), newest first; next is the cursor of the next page ("" on the last).
func (c *Client) Scheduled(ctx context.Context, userID, cursor string) (ns []tocsin.Notification, next string, err error) {
	q := url.Values{}
	if userID != "" {
		q.Set("userId", userID)
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var out struct {
		Scheduled  []tocsin.Notification
		NextCursor *string
	}
	_, err = c.do(ctx, "GET", "/api/scheduled?"+q.Encode(), c.apiKey, nil, &out)
	if out.NextCursor != nil {
		next = *out.NextCursor
	}
	return out.Scheduled, next, err
}

// CancelScheduled cancels a scheduled notification; a 404 *Error once delivered.
func (c *Client) CancelScheduled(ctx context.Context, id string) error {
	_, err := c.do(ctx, "DELETE", "/api/scheduled/"+url.PathEscape(id), c.apiKey, nil, nil)
	return err
}

// Webhook is a registered endpoint; Secret (whsec_...) is set only in the answer
// to CreateWebhook.
type Webhook struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Secret    string    `json:"secret,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

// WebhookDelivery is one message of an endpoint's history.
type WebhookDelivery struct {
	ID            string     `json:"id"`
	Event         string     `json:"event"`
	UserID        string     `json:"userId"`
	Status        string     `json:"status"` // pending, done, failed
	Attempts      int        `json:"attempts"`
	LastStatus    int        `json:"lastStatus"`
	LastError     string     `json:"lastError"`
	CreatedAt     time.Time  `json:"createdAt"`
	NextAttemptAt *time.Time `json:"nextAttemptAt"`
	FinishedAt    *time.Time `json:"finishedAt"`
}

// CreateWebhook registers an endpoint for events (tocsin.WebhookEventNames).
func (c *Client) CreateWebhook(ctx context.Context, endpoint string, events []string) (Webhook, error) {
	var out Webhook
	_, err := c.do(ctx, "POST", "/api/webhooks", c.apiKey, map[string]any{"url": endpoint, "events": events}, &out)
	return out, err
}

// Webhooks lists the registered endpoints.
func (c *Client) Webhooks(ctx context.Context) ([]Webhook, error) {
	var out struct{ Webhooks []Webhook }
	_, err := c.do(ctx, "GET", "/api/webhooks", c.apiKey, nil, &out)
	return out.Webhooks, err
}

// DeleteWebhook removes an endpoint.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	_, err := c.do(ctx, "DELETE", "/api/webhooks/"+url.PathEscape(id), c.apiKey, nil, nil)
	return err
}

// WebhookDeliveries returns a page of an endpoint's history, newest first.
func (c *Client) WebhookDeliveries(ctx context.Context, id, cursor string) (ds []WebhookDelivery, next string, err error) {
	path := "/api/webhooks/" + url.PathEscape(id) + "/deliveries"
	if cursor != "" {
		path += "?cursor=" + url.QueryEscape(cursor)
	}
	var out struct {
		Deliveries []WebhookDelivery
		NextCursor *string
	}
	_, err = c.do(ctx, "GET", path, c.apiKey, nil, &out)
	if out.NextCursor != nil {
		next = *out.NextCursor
	}
	return out.Deliveries, next, err
}
