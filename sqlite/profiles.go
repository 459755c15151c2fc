package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/internal/deliveryrows"
)

// The delivery log, profiles and preferences, and webhook endpoints
// (tocsin.DeliveryLog, tocsin.Profiles, tocsin.WebhookEndpoints): plain rows, each
// change through the writer, each read from the read pool.

const (
	sqlRecordDelivery = `INSERT INTO deliveries (user_id, notification_id, channel, status, reason, at, attempts)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (user_id, notification_id, channel) DO UPDATE SET
		status = excluded.status, reason = excluded.reason, at = excluded.at, attempts = excluded.attempts`
	sqlDeliveries = `SELECT ` + deliveryrows.DeliveryCols + ` FROM deliveries WHERE user_id = ? AND notification_id = ?
		ORDER BY ` + deliveryrows.ChannelOrder
	sqlPendingDeliveries = `SELECT ` + deliveryrows.DeliveryCols + ` FROM deliveries INDEXED BY deliveries_scheduled
		WHERE user_id = ? AND channel = ? AND reason = ? AND status = 'scheduled' ORDER BY at, notification_id LIMIT ?`
	sqlPruneDeliveries = `DELETE FROM deliveries WHERE at < ?`

	sqlPutProfile = `INSERT INTO profiles (user_id, email, timezone, locale, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, timezone = excluded.timezone,
		locale = excluded.locale, updated_at = excluded.updated_at`
	sqlProfile        = `SELECT user_id, email, timezone, locale, updated_at FROM profiles WHERE user_id = ?`
	sqlPutPreferences = `INSERT INTO preferences (user_id, doc, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at`
	sqlPreferences = `SELECT doc, updated_at FROM preferences WHERE user_id = ?`

	sqlPutWebhook = `INSERT INTO webhooks (` + deliveryrows.WebhookCols + `) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET url = excluded.url, events = excluded.events, secret = excluded.secret`
	sqlWebhook       = `SELECT ` + deliveryrows.WebhookCols + ` FROM webhooks WHERE id = ?`
	sqlWebhooks      = `SELECT ` + deliveryrows.WebhookCols + ` FROM webhooks ORDER BY created_at, id`
	sqlDeleteWebhook = `DELETE FROM webhooks WHERE id = ?`
)

// queryDeliveries reads rows of the delivery log (an empty list, never nil).
func (s *Store) queryDeliveries(ctx context.Context, query string, args ...any) ([]tocsin.Delivery, error) {
	rows, err := s.rs.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, unavailable("read deliveries", err)
	}
	out, err := collectRows(rows, deliveryrows.ScanDelivery)
	if err != nil {
		return nil, unavailable("read deliveries", err)
	}
	return out, nil
}

// RecordDelivery implements tocsin.DeliveryLog.
func (s *Store) RecordDelivery(ctx context.Context, d tocsin.Delivery) error {
	if err := deliveryrows.NeedUser(d.UserID); err != nil {
		return err
	}
	return s.write(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, sqlRecordDelivery, d.UserID, d.NotificationID, d.Channel, d.Status, d.Reason,
			d.At.UnixMilli(), d.Attempts)
		return err
	})
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
	return s.deleteBefore(ctx, sqlPruneDeliveries, before)
}

// PutProfile implements tocsin.Profiles.
func (s *Store) PutProfile(ctx context.Context, p tocsin.Profile) error {
	if err := deliveryrows.NeedUser(p.UserID); err != nil {
		return err
	}
	return s.write(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, sqlPutProfile, p.UserID, p.Email, p.Timezone, p.Locale, p.UpdatedAt.UnixMilli())
		return err
	})
}

// Profile implements tocsin.Profiles.
func (s *Store) Profile(ctx context.Context, userID string) (tocsin.Profile, error) {
	var p tocsin.Profile
	var updated int64
	err := s.rs.QueryRowContext(ctx, sqlProfile, userID).Scan(&p.UserID, &p.Email, &p.Timezone, &p.Locale, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return tocsin.Profile{}, deliveryrows.ErrNoProfile
	}
	if err != nil {
		return tocsin.Profile{}, unavailable("read profile", err)
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
	return s.write(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, sqlPutPreferences, userID, string(doc), updated)
		return err
	})
}

// Preferences implements tocsin.Profiles.
func (s *Store) Preferences(ctx context.Context, userID string) (tocsin.Preferences, error) {
	var doc string
	var updated int64
	err := s.rs.QueryRowContext(ctx, sqlPreferences, userID).Scan(&doc, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return deliveryrows.NoPreferences(), nil
	}
	if err != nil {
		return tocsin.Preferences{}, unavailable("read preferences", err)
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
	return s.write(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, sqlPutWebhook, w.ID, w.URL, events, w.Secret, w.CreatedAt.UnixMilli())
		return err
	})
}

// Webhook implements tocsin.WebhookEndpoints.
func (s *Store) Webhook(ctx context.Context, id string) (tocsin.WebhookEndpoint, error) {
	w, err := deliveryrows.ScanWebhook(s.rs.QueryRowContext(ctx, sqlWebhook, id))
	if errors.Is(err, sql.ErrNoRows) {
		return tocsin.WebhookEndpoint{}, deliveryrows.ErrNoWebhook
	}
	if err != nil {
		return tocsin.WebhookEndpoint{}, unavailable("read webhook", err)
	}
	return w, nil
}

// Webhooks implements tocsin.WebhookEndpoints.
func (s *Store) Webhooks(ctx context.Context) ([]tocsin.WebhookEndpoint, error) {
	rows, err := s.rs.QueryContext(ctx, sqlWebhooks)
	if err != nil {
		return nil, unavailable("list webhooks", err)
	}
	out, err := collectRows(rows, deliveryrows.ScanWebhook)
	if err != nil {
		return nil, unavailable("list webhooks", err)
	}
	return out, nil
}

// DeleteWebhook implements tocsin.WebhookEndpoints.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	return s.write(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, sqlDeleteWebhook, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmpErr(err, deliveryrows.ErrNoWebhook)
		}
		return nil
	})
}

// cmpErr is err, or else fallback.
func cmpErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}
