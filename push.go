package tocsin

import (
	"context"
	"time"
)

// PushSubscription is one browser's Web Push subscription of a user (RFC 8030):
// PushSubscription.toJSON() from the browser, plus an optional device id.
type PushSubscription struct {
	ID        string    `json:"id"`
	UserID    string    `json:"userId"`
	DeviceID  string    `json:"deviceId"`
	Endpoint  string    `json:"endpoint"`
	P256dh    string    `json:"-"` // keys.p256dh, base64url
	Auth      string    `json:"-"` // keys.auth, base64url
	CreatedAt time.Time `json:"createdAt"`
}

// MaxPushSubscriptions is how many subscriptions one user may hold; the oldest
// goes when a new one would pass it.
const MaxPushSubscriptions = 20

// PushSubscriptions keeps the users' Web Push subscriptions.
type PushSubscriptions interface {
	// PutPushSubscription stores s for s.UserID and returns it as stored. An
	// endpoint is one browser profile: storing an endpoint already stored (for
	// this user or another: the browser changed hands) replaces that row and keeps
	// its id. Past MaxPushSubscriptions the user's oldest are removed.
	PutPushSubscription(ctx context.Context, s PushSubscription) (PushSubscription, error)
	// PushSubscriptions lists the user's subscriptions, oldest first.
	PushSubscriptions(ctx context.Context, userID string) ([]PushSubscription, error)
	// DeletePushSubscription removes the user's subscription id; ENotFound when the
	// user has none with that id.
	DeletePushSubscription(ctx context.Context, userID, id string) error
	// AnyPushSubscriptions reports whether any user has a subscription: on a
	// server where none does, the delivery engine adds no push timers at all.
	AnyPushSubscriptions(ctx context.Context) (bool, error)
}
