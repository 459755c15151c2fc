package client

import (
	"context"
	"net/url"
	"time"
)

// PushSubscriptionKeys are PushSubscription.toJSON().keys of a browser.
type PushSubscriptionKeys struct {
	P256dh string `json:"p256dh"`
	Auth   string `json:"auth"`
}

// PushSubscriptionInput is what SubscribePush stores: the browser's
// PushSubscription.toJSON() and an optional device id.
type PushSubscriptionInput struct {
	Endpoint       string               `json:"endpoint"`
	ExpirationTime *float64             `json:"expirationTime,omitempty"`
	Keys           PushSubscriptionKeys `json:"keys"`
	DeviceID       string               `json:"deviceId,omitempty"`
}

// PushSubscription is one of the user's subscriptions as listed (without keys).
type PushSubscription struct {
	ID        string    `json:"id"`
	DeviceID  string    `json:"deviceId"`
	Endpoint  string    `json:"endpoint"`
	CreatedAt time.Time `json:"createdAt"`
}

// PushPublicKey returns the server's VAPID public key (base64url), the
// applicationServerKey a browser subscribes with. No credential is needed.
func (c *Client) PushPublicKey(ctx context.Context) (string, error) {
	var out struct {
		PublicKey string `json:"publicKey"`
	}
	_, err := c.do(ctx, "GET", "/api/push/vapid-public-key", "", nil, &out)
	return out.PublicKey, err
}

// SubscribePush stores a Web Push subscription of the signed-in user (user
// token) and returns its id; the same endpoint again keeps its id.
func (c *Client) SubscribePush(ctx context.Context, in PushSubscriptionInput) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	_, err := c.do(ctx, "POST", "/api/push/subscriptions", c.token, in, &out)
	return out.ID, err
}

// PushSubscriptions lists the signed-in user's subscriptions, oldest first.
func (c *Client) PushSubscriptions(ctx context.Context) ([]PushSubscription, error) {
	var out struct {
		Subscriptions []PushSubscription `json:"subscriptions"`
	}
	_, err := c.do(ctx, "GET", "/api/push/subscriptions", c.token, nil, &out)
	return out.Subscriptions, err
}

// UnsubscribePush removes one of the signed-in user's subscriptions.
func (c *Client) UnsubscribePush(ctx context.Context, id string) error {
	_, err := c.do(ctx, "DELETE", "/api/push/subscriptions/"+url.PathEscape(id), c.token, nil, nil)
	return err
}
