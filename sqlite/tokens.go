package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tocsin/tocsin"
)

const tokenCols = `id, hash, stream, scope, created_at, revoked_at`

func scanToken(sc scanner) (tocsin.StreamToken, error) {
	var t tocsin.StreamToken
	var stream string
	var created int64
	var revoked sql.NullInt64
	if err := sc.Scan(&t.ID, &t.Hash, &stream, &t.Scope, &created, &revoked); err != nil {
		return t, err
	}
	t.Stream, t.CreatedAt, t.RevokedAt = tocsin.StreamID(stream), fromMillis(created), nullTime(revoked)
	return t, nil
}

// PutToken implements tocsin.Store.
func (s *Store) PutToken(ctx context.Context, t tocsin.StreamToken) error {
	return s.write(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO stream_tokens (`+tokenCols+`) VALUES (?, ?, ?, ?, ?, NULL)`,
			t.ID, t.Hash, string(t.Stream), t.Scope, t.CreatedAt.UnixMilli())
		return err
	})
}

// Token implements tocsin.Store.
func (s *Store) Token(ctx context.Context, hash string) (tocsin.StreamToken, error) {
	t, err := scanToken(s.rs.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM stream_tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return t, tocsin.Errorf(tocsin.ENotFound, "no such token")
	}
	if err != nil {
		return t, unavailable("read token", err)
	}
	return t, nil
}

// Tokens implements tocsin.Store.
func (s *Store) Tokens(ctx context.Context) ([]tocsin.StreamToken, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenCols+` FROM stream_tokens ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, unavailable("list tokens", err)
	}
	defer rows.Close()
	var out []tocsin.StreamToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken implements tocsin.Store.
func (s *Store) RevokeToken(ctx context.Context, idOrHash string, now time.Time) (tocsin.StreamToken, error) {
	var t tocsin.StreamToken
	err := s.write(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE stream_tokens SET revoked_at = ?
			WHERE (id = ? OR hash = ?) AND revoked_at IS NULL`, now.UnixMilli(), idOrHash, idOrHash); err != nil {
			return fmt.Errorf("revoke token: %w", err)
		}
		var err error
		t, err = scanToken(tx.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM stream_tokens WHERE id = ? OR hash = ?`, idOrHash, idOrHash))
		if errors.Is(err, sql.ErrNoRows) {
			return tocsin.Errorf(tocsin.ENotFound, "no such token")
		}
		return err
	})
	return t, err
}
