package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tocsin/tocsin"
)

const apiKeyCols = `id, hash, name, created_at, revoked_at`

func scanAPIKey(row pgx.Row) (tocsin.APIKeyRecord, error) {
	var k tocsin.APIKeyRecord
	var created int64
	var revoked *int64
	if err := row.Scan(&k.ID, &k.Hash, &k.Name, &created, &revoked); err != nil {
		return k, err
	}
	k.CreatedAt, k.RevokedAt = fromMillis(created), nullTime(revoked)
	return k, nil
}

// PutAPIKey implements tocsin.Store.
func (s *Store) PutAPIKey(ctx context.Context, k tocsin.APIKeyRecord) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (`+apiKeyCols+`) VALUES ($1, $2, $3, $4, NULL)`,
		k.ID, k.Hash, k.Name, k.CreatedAt.UnixMilli())
	return classify(err)
}

// APIKey implements tocsin.Store.
func (s *Store) APIKey(ctx context.Context, hash string) (tocsin.APIKeyRecord, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return k, tocsin.Errorf(tocsin.ENotFound, "no such API key")
	}
	return k, classify(err)
}

// APIKeys implements tocsin.Store.
func (s *Store) APIKeys(ctx context.Context) ([]tocsin.APIKeyRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyCols+` FROM api_keys ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, classify(err)
	}
	ks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tocsin.APIKeyRecord, error) { return scanAPIKey(r) })
	return ks, classify(err)
}

// RevokeAPIKey implements tocsin.Store.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, now time.Time) (tocsin.APIKeyRecord, error) {
	var k tocsin.APIKeyRecord
	err := s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, now.UnixMilli(), id); err != nil {
			return err
		}
		var err error
		k, err = scanAPIKey(tx.QueryRow(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE id = $1`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return tocsin.Errorf(tocsin.ENotFound, "no such API key")
		}
		return err
	})
	return k, err
}
