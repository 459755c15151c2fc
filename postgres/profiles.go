package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/internal/deliveryrows"
)

// The delivery log, profiles and preferences, and webhook endpoints
// (tocsin.DeliveryLog, tocsin.Profiles, tocsin.WebhookEndpoints): plain rows, each
// change one statement (committed when it returns).

const (
	sqlRecordDelivery = `INSERT INTO deliveries (user_id, notification_id, channel, status, reason, at, attempts)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (user_id, notification_id, channel) DO UPDATE SET
		status = excluded.status, reason = excluded.reason, at = excluded.at, attempts = excluded.attempts`
	sqlDeliveries = `SELECT ` + deliveryrows.DeliveryCols + ` FROM deliveries WHERE user_id = $1 AND notification_id = $2
		ORDER BY ` + deliveryrows.ChannelOrder
	sqlPendingDeliveries = `SELECT ` + deliveryrows.DeliveryCols + ` FROM deliveries
		WHERE user_id = $1 AND channel = $2 AND reason = $3 AND status = 'scheduled' ORDER BY at, notification_id LIMIT $4`
	sqlPruneDeliveries = `DELETE FROM deliveries WHERE at < $1`

	sqlPutProfile = `INSERT INTO profiles (user_id, email, timezone, locale, updated_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, timezone = excluded.timezone,
		locale = excluded.locale, updated_at = excluded.updated_at`
	sqlProfile        = `SELECT user_id, email, timezone, locale, updated_at FROM profiles WHERE user_id = $1`
	sqlPutPreferences = `INSERT INTO preferences (user_id, doc, updated_at) VALUES ($1, $2::jsonb, $3)
		ON CONFLICT (user_id) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at`
	sqlPreferences = `SELECT doc::text, updated_at FROM preferences WHERE user_id = $1`

	sqlPutWebhook = `INSERT INTO webhooks (` + deliveryrows.WebhookCols + `) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET url = excluded.url, events = excluded.events, secret = excluded.secret`
	sqlWebhook       = `SELECT ` + deliveryrows.WebhookCols + ` FROM webhooks WHERE id = $1`
	sqlWebhooks      = `SELECT ` + deliveryrows.WebhookCols + ` FROM webhooks ORDER BY created_at, id`
	sqlDeleteWebhook = `DELETE FROM webhooks WHERE id = $1`
)

// queryDeliveries reads rows of the delivery log (an empty list, never nil).
func (s *Store) queryDeliveries(ctx context.Context, query string, args ...any) ([]tocsin.Delivery, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, classify(err)
	}
	out, err := collectAll(rows, deliveryrows.ScanDelivery)
	return out, classify(err)
}

// RecordDelivery implements tocsin.DeliveryLog.
func (s *Store) RecordDelivery(ctx context.Context, d tocsin.Delivery) error {
	if err := deliveryrows.NeedUser(d.UserID); err != nil {
		return err
	}
	_, err := s.exec(ctx, sqlRecordDelivery, d.UserID, d.NotificationID, d.Channel, d.Status, d.Reason,
		d.At.UnixMilli(), d.Attempts)
	return err
}

// Deliveries implements tocsin.DeliveryLog.
func (s *Store) Deliveries(ctx context.Context, userID, notificationID string) ([]tocsin.Delivery, error) {
	return s.queryDeliveries(ctx, sqlDeliveries, userID, notificationID)
}

// PendingDeliveries implements tocsin.DeliveryLog.
func (s *Store) PendingDeliveries(ctx context.Context, userID, channel, reason string, limit int) ([]tocsin.Delivery, error) {
	return s.queryDeliveries(ctx, sqlPendingDeliveries, userID, channel, reason, deliveryrows.PendingLimit(limit))
}

// PruneDeliveries implements tocsin.DeliveryLog.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time) (int, error) {
	n, err := s.exec(ctx, sqlPruneDeliveries, before.UnixMilli())
	return int(n), err
}

// PutProfile implements tocsin.Profiles.
func (s *Store) PutProfile(ctx context.Context, p tocsin.Profile) error {
	if err := deliveryrows.NeedUser(p.UserID); err != nil {
		return err
	}
	_, err := s.exec(ctx, sqlPutProfile, p.UserID, p.Email, p.Timezone, p.Locale, p.UpdatedAt.UnixMilli())
	return err
}

// Profile implements tocsin.Profiles.
func (s *Store) Profile(ctx context.Context, userID string) (tocsin.Profile, error) {
	var p tocsin.Profile
	var updated int64
	err := s.pool.QueryRow(ctx, sqlProfile, userID).Scan(&p.UserID, &p.Email, &p.Timezone, &p.Locale, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return tocsin.Profile{}, deliveryrows.ErrNoProfile
	}
	if err != nil {
		return tocsin.Profile{}, classify(err)
	}
	p.UpdatedAt = fromMillis(updated)
	return p, nil
}

// PutPreferences implements tocsin.Profiles.
func (s *Store) PutPreferences(ctx context.Context, userID string, p tocsin.Preferences) error {
	if err := deliveryrows.NeedUser(userID); err != nil {
		return err
	}
	doc, updated, err := deliveryrows.EncodePreferences(p)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, sqlPutPreferences, userID, string(doc), updated)
	return err
}

// Preferences implements tocsin.Profiles.
func (s *Store) Preferences(ctx context.Context, userID string) (tocsin.Preferences, error) {
	var doc string
	var updated int64
	err := s.pool.QueryRow(ctx, sqlPreferences, userID).Scan(&doc, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return deliveryrows.NoPreferences(), nil
	}
	if err != nil {
		return tocsin.Preferences{}, classify(err)
	}
	return deliveryrows.DecodePreferences([]byte(doc), updated)
}

// PutWebhook implements tocsin.WebhookEndpoints: it adds the endpoint, or replaces
// the URL, events and secret of the one with its id (keeping when it was created).
func (s *Store) PutWebhook(ctx context.Context, w tocsin.WebhookEndpoint) error {
	if w.ID == "" {
		return tocsin.Errorf(tocsin.EInvalid, "a webhook endpoint needs an id")
	}
	events, err := deliveryrows.EncodeEvents(w.Events)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, sqlPutWebhook, w.ID, w.URL, events, w.Secret, w.CreatedAt.UnixMilli())
	return err
}

// Webhook implements tocsin.WebhookEndpoints.
func (s *Store) Webhook(ctx context.Context, id string) (tocsin.WebhookEndpoint, error) {
	w, err := deliveryrows.ScanWebhook(s.pool.QueryRow(ctx, sqlWebhook, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return tocsin.WebhookEndpoint{}, deliveryrows.ErrNoWebhook
	}
	if err != nil {
		return tocsin.WebhookEndpoint{}, classify(err)
	}
	return w, nil
}

// Webhooks implements tocsin.WebhookEndpoints.
func (s *Store) Webhooks(ctx context.Context) ([]tocsin.WebhookEndpoint, error) {
	rows, err := s.pool.Query(ctx, sqlWebhooks)
	if err != nil {
		return nil, classify(err)
	}
	out, err := collectAll(rows, deliveryrows.ScanWebhook)
	return out, classify(err)
}

// DeleteWebhook implements tocsin.WebhookEndpoints.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	n, err := s.exec(ctx, sqlDeleteWebhook, id)
	if err == nil && n == 0 {
		return deliveryrows.ErrNoWebhook
	}
	return err
}
