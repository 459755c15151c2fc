package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tocsin/tocsin"
)

const tokenCols = `id, hash, stream, scope, created_at, revoked_at`

func scanToken(row pgx.Row) (tocsin.StreamToken, error) {
	var t tocsin.StreamToken
	var stream string
	var created int64
	var revoked *int64
	if err := row.Scan(&t.ID, &t.Hash, &stream, &t.Scope, &created, &revoked); err != nil {
		return t, err
	}
	t.Stream, t.CreatedAt, t.RevokedAt = tocsin.StreamID(stream), fromMillis(created), nullTime(revoked)
	return t, nil
}

// PutToken implements tocsin.Store.
func (s *Store) PutToken(ctx context.Context, t tocsin.StreamToken) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO stream_tokens (`+tokenCols+`) VALUES ($1, $2, $3, $4, $5, NULL)`,
		t.ID, t.Hash, string(t.Stream), t.Scope, t.CreatedAt.UnixMilli())
	return classify(err)
}

// Token implements tocsin.Store.
func (s *Store) Token(ctx context.Context, hash string) (tocsin.StreamToken, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenCols+` FROM stream_tokens WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, tocsin.Errorf(tocsin.ENotFound, "no such token")
	}
	return t, classify(err)
}

// Tokens implements tocsin.Store.
func (s *Store) Tokens(ctx context.Context) ([]tocsin.StreamToken, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenCols+` FROM stream_tokens ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, classify(err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tocsin.StreamToken, error) { return scanToken(r) })
	return ts, classify(err)
}

// RevokeToken implements tocsin.Store.
func (s *Store) RevokeToken(ctx context.Context, idOrHash string, now time.Time) (tocsin.StreamToken, error) {
	var t tocsin.StreamToken
	err := s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE stream_tokens SET revoked_at = $1
			WHERE (id = $2 OR hash = $2) AND revoked_at IS NULL`, now.UnixMilli(), idOrHash); err != nil {
			return err
		}
		var err error
		t, err = scanToken(tx.QueryRow(ctx, `SELECT `+tokenCols+` FROM stream_tokens WHERE id = $1 OR hash = $1`, idOrHash))
		if errors.Is(err, pgx.ErrNoRows) {
			return tocsin.Errorf(tocsin.ENotFound, "no such token")
		}
		return err
	})
	return t, err
}
