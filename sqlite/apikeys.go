package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tocsin/tocsin"
)

const apiKeyCols = `id, hash, name, created_at, revoked_at`

func scanAPIKey(sc scanner) (tocsin.APIKeyRecord, error) {
	var k tocsin.APIKeyRecord
	var created int64
	var revoked sql.NullInt64
	if err := sc.Scan(&k.ID, &k.Hash, &k.Name, &created, &revoked); err != nil {
		return k, err
	}
	k.CreatedAt, k.RevokedAt = fromMillis(created), nullTime(revoked)
	return k, nil
}

// PutAPIKey implements tocsin.Store.
func (s *Store) PutAPIKey(ctx context.Context, k tocsin.APIKeyRecord) error {
	return s.write(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (`+apiKeyCols+`) VALUES (?, ?, ?, ?, NULL)`,
			k.ID, k.Hash, k.Name, k.CreatedAt.UnixMilli())
		return err
	})
}

// APIKey implements tocsin.Store.
func (s *Store) APIKey(ctx context.Context, hash string) (tocsin.APIKeyRecord, error) {
	k, err := scanAPIKey(s.rs.QueryRowContext(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return k, tocsin.Errorf(tocsin.ENotFound, "no such API key")
	}
	if err != nil {
		return k, unavailable("read API key", err)
	}
	return k, nil
}

// APIKeys implements tocsin.Store.
func (s *Store) APIKeys(ctx context.Context) ([]tocsin.APIKeyRecord, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+apiKeyCols+` FROM api_keys ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, unavailable("list API keys", err)
	}
	defer rows.Close()
	var out []tocsin.APIKeyRecord
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeAPIKey implements tocsin.Store.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, now time.Time) (tocsin.APIKeyRecord, error) {
	var k tocsin.APIKeyRecord
	err := s.write(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`,
			now.UnixMilli(), id); err != nil {
			return fmt.Errorf("revoke API key: %w", err)
		}
		var err error
		k, err = scanAPIKey(tx.QueryRowContext(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return tocsin.Errorf(tocsin.ENotFound, "no such API key")
		}
		return err
	})
	return k, err
}
