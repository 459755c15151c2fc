package deliveryrows

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/tocsin/tocsin"
)

// MaxPending bounds PendingDeliveries (a digest's items).
const MaxPending = 1000

// PendingLimit bounds a PendingDeliveries limit to 1..MaxPending (MaxPending when
// unset).
func PendingLimit(limit int) int {
	if limit <= 0 {
		return MaxPending
	}
	return min(limit, MaxPending)
}

// ChannelOrder is the SQL (both dialects) that sorts a delivery row by its channel as
// tocsin.ChannelNames lists them.
const ChannelOrder = `CASE channel WHEN '` + tocsin.ChannelPush + `' THEN 0 WHEN '` + tocsin.ChannelEmail +
	`' THEN 1 WHEN '` + tocsin.ChannelWebhook + `' THEN 2 ELSE 3 END`

// EncodePreferences is the stored document of p (normalised, so that what is read
// back is what was stored) and its updated_at column.
func EncodePreferences(p tocsin.Preferences) ([]byte, int64, error) {
	p.Normalize()
	p.UpdatedAt = p.UpdatedAt.UTC().Truncate(time.Millisecond)
	doc, err := json.Marshal(p)
	if err != nil {
		return nil, 0, fmt.Errorf("encode preferences: %w", err)
	}
	return doc, p.UpdatedAt.UnixMilli(), nil
}

// DecodePreferences reads a stored document back (updated: its updated_at column).
func DecodePreferences(doc []byte, updated int64) (tocsin.Preferences, error) {
	var p tocsin.Preferences
	if err := json.Unmarshal(doc, &p); err != nil {
		return p, fmt.Errorf("decode preferences: %w", err)
	}
	p.UpdatedAt = time.UnixMilli(updated).UTC()
	p.Normalize()
	return p, nil
}

// NoPreferences is what Preferences returns for a user who stored none.
func NoPreferences() tocsin.Preferences {
	var p tocsin.Preferences
	p.Normalize()
	return p
}

// EncodeEvents is the stored JSON array of a webhook's events (never null).
func EncodeEvents(events []string) (string, error) {
	if events == nil {
		events = []string{}
	}
	b, err := json.Marshal(events)
	if err != nil {
		return "", fmt.Errorf("encode webhook events: %w", err)
	}
	return string(b), nil
}

// DecodeEvents reads a webhook's stored events back.
func DecodeEvents(s string) ([]string, error) {
	events := []string{}
	if err := json.Unmarshal([]byte(s), &events); err != nil {
		return nil, fmt.Errorf("decode webhook events: %w", err)
	}
	return events, nil
}

// ErrNoProfile and ErrNoWebhook answer about what is not stored.
var (
	ErrNoProfile = tocsin.Errorf(tocsin.ENotFound, "no profile for this user")
	ErrNoWebhook = tocsin.Errorf(tocsin.ENotFound, "no such webhook endpoint")
)

// NeedUser refuses an empty user id (EInvalid).
func NeedUser(userID string) error {
	if userID == "" {
		return tocsin.Errorf(tocsin.EInvalid, "a user id is required")
	}
	return nil
}

// ErrNoPushSubscription answers a delete of a subscription the user does not have.
var ErrNoPushSubscription = tocsin.Errorf(tocsin.ENotFound, "no such push subscription")

// CheckPush refuses a subscription the store cannot keep: one without an id, a
// user, an endpoint or keys (EInvalid). The API validates the keys themselves.
func CheckPush(s tocsin.PushSubscription) error {
	switch {
	case s.ID == "":
		return tocsin.Errorf(tocsin.EInvalid, "a push subscription needs an id")
	case s.UserID == "":
		return tocsin.Errorf(tocsin.EInvalid, "a user id is required")
	case s.Endpoint == "":
		return tocsin.Errorf(tocsin.EInvalid, "a push subscription needs an endpoint")
	case s.P256dh == "" || s.Auth == "":
		return tocsin.Errorf(tocsin.EInvalid, "a push subscription needs its keys")
	}
	return nil
}
