package sqlite

import (
	"context"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/internal/deliveryrows"
)

// Web Push subscriptions (tocsin.PushSubscriptions).

const (
	// An endpoint already stored (for any user) keeps its row and id: the browser
	// profile is the same, only its owner or keys changed.
	sqlPutPush = `INSERT INTO push_subscriptions (` + deliveryrows.PushCols + `) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id, device_id = excluded.device_id,
		p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at
		RETURNING ` + deliveryrows.PushCols
	// Everything of the user past the newest MaxPushSubscriptions.
	sqlTrimPush = `DELETE FROM push_subscriptions WHERE id IN (SELECT id FROM push_subscriptions
		WHERE user_id = ? ORDER BY created_at DESC, id DESC LIMIT -1 OFFSET ?)`
	sqlPushes     = `SELECT ` + deliveryrows.PushCols + ` FROM push_subscriptions WHERE user_id = ? ORDER BY created_at, id`
	sqlDeletePush = `DELETE FROM push_subscriptions WHERE user_id = ? AND id = ?`
	sqlAnyPush    = `SELECT EXISTS (SELECT 1 FROM push_subscriptions)`
)

// PutPushSubscription implements tocsin.PushSubscriptions.
func (s *Store) PutPushSubscription(ctx context.Context, p tocsin.PushSubscription) (tocsin.PushSubscription, error) {
	if err := deliveryrows.CheckPush(p); err != nil {
		return tocsin.PushSubscription{}, err
	}
	p.CreatedAt = p.CreatedAt.UTC().Truncate(time.Millisecond)
	var stored tocsin.PushSubscription
	err := s.write(ctx, func(tx *wtx) error {
		var err error
		stored, err = deliveryrows.ScanPush(tx.QueryRowContext(ctx, sqlPutPush, p.ID, p.UserID, p.DeviceID, p.Endpoint,
			p.P256dh, p.Auth, p.CreatedAt.UnixMilli()))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, sqlTrimPush, p.UserID, tocsin.MaxPushSubscriptions)
		return err
	})
	if err != nil {
		return tocsin.PushSubscription{}, err
	}
	return stored, nil
}

// PushSubscriptions implements tocsin.PushSubscriptions.
func (s *Store) PushSubscriptions(ctx context.Context, userID string) ([]tocsin.PushSubscription, error) {
	rows, err := s.rs.QueryContext(ctx, sqlPushes, userID)
	if err != nil {
		return nil, unavailable("list push subscriptions", err)
	}
	out, err := collectRows(rows, deliveryrows.ScanPush)
	if err != nil {
		return nil, unavailable("list push subscriptions", err)
	}
	return out, nil
}

// DeletePushSubscription implements tocsin.PushSubscriptions.
func (s *Store) DeletePushSubscription(ctx context.Context, userID, id string) error {
	return s.write(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, sqlDeletePush, userID, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmpErr(err, deliveryrows.ErrNoPushSubscription)
		}
		return nil
	})
}

// AnyPushSubscriptions implements tocsin.PushSubscriptions.
func (s *Store) AnyPushSubscriptions(ctx context.Context) (bool, error) {
	var found bool
	if err := s.rs.QueryRowContext(ctx, sqlAnyPush).Scan(&found); err != nil {
		return false, unavailable("read push subscriptions", err)
	}
	return found, nil
}
