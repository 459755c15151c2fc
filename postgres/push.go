package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/internal/deliveryrows"
)

// Web Push subscriptions (tocsin.PushSubscriptions).

const (
	// An endpoint already stored (for any user) keeps its row and id: the browser
	// profile is the same, only its owner or keys changed.
	sqlPutPush = `INSERT INTO push_subscriptions (` + deliveryrows.PushCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id, device_id = excluded.device_id,
		p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at
		RETURNING ` + deliveryrows.PushCols
	// Everything of the user past the newest MaxPushSubscriptions.
	sqlTrimPush = `DELETE FROM push_subscriptions WHERE id IN (SELECT id FROM push_subscriptions
		WHERE user_id = $1 ORDER BY created_at DESC, id DESC OFFSET $2)`
	sqlPushes     = `SELECT ` + deliveryrows.PushCols + ` FROM push_subscriptions WHERE user_id = $1 ORDER BY created_at, id`
	sqlDeletePush = `DELETE FROM push_subscriptions WHERE user_id = $1 AND id = $2`
	sqlAnyPush    = `SELECT EXISTS (SELECT 1 FROM push_subscriptions)`
)

// PutPushSubscription implements tocsin.PushSubscriptions: the upsert and the trim
// to MaxPushSubscriptions in one transaction.
func (s *Store) PutPushSubscription(ctx context.Context, p tocsin.PushSubscription) (tocsin.PushSubscription, error) {
	if err := deliveryrows.CheckPush(p); err != nil {
		return tocsin.PushSubscription{}, err
	}
	p.CreatedAt = p.CreatedAt.UTC().Truncate(time.Millisecond)
	var stored tocsin.PushSubscription
	err := s.write(ctx, func(tx pgx.Tx) error {
		var err error
		stored, err = deliveryrows.ScanPush(tx.QueryRow(ctx, sqlPutPush, p.ID, p.UserID, p.DeviceID, p.Endpoint,
			p.P256dh, p.Auth, p.CreatedAt.UnixMilli()))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, sqlTrimPush, p.UserID, tocsin.MaxPushSubscriptions)
		return err
	})
	if err != nil {
		return tocsin.PushSubscription{}, err
	}
	return stored, nil
}

// PushSubscriptions implements tocsin.PushSubscriptions.
func (s *Store) PushSubscriptions(ctx context.Context, userID string) ([]tocsin.PushSubscription, error) {
	rows, err := s.pool.Query(ctx, sqlPushes, userID)
	if err != nil {
		return nil, classify(err)
	}
	out, err := collectAll(rows, deliveryrows.ScanPush)
	return out, classify(err)
}

// DeletePushSubscription implements tocsin.PushSubscriptions.
func (s *Store) DeletePushSubscription(ctx context.Context, userID, id string) error {
	n, err := s.exec(ctx, sqlDeletePush, userID, id)
	if err == nil && n == 0 {
		return deliveryrows.ErrNoPushSubscription
	}
	return err
}

// AnyPushSubscriptions implements tocsin.PushSubscriptions.
func (s *Store) AnyPushSubscriptions(ctx context.Context) (bool, error) {
	var found bool
	if err := s.pool.QueryRow(ctx, sqlAnyPush).Scan(&found); err != nil {
		return false, classify(err)
	}
	return found, nil
}
