package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tocsin/tocsin"
)

// Stream tokens and API keys are both credentials: stored with their hash, looked up
// by it, listed newest first and revoked once. credTable is that one behaviour over
// either table, with its SQL built once, here.
type credTable[T any] struct {
	noun string                   // "token", "API key": in error messages
	scan func(pgx.Row) (T, error) // one row of cols
	args func(T) []any            // the values of cols but revoked_at, for insert

	insert, byHash, list, revoke, byKey string
}

// newCredTable builds the statements of table, whose columns are cols, ending with
// revoked_at. key is the condition naming the credential to revoke, with $1 for the key.
func newCredTable[T any](table, cols, key, noun string, scan func(pgx.Row) (T, error), args func(T) []any) credTable[T] {
	var ph strings.Builder
	for i := range strings.Count(cols, ",") { // every column but revoked_at
		fmt.Fprintf(&ph, "$%d, ", i+1)
	}
	return credTable[T]{
		noun: noun, scan: scan, args: args,
		insert: `INSERT INTO ` + table + ` (` + cols + `) VALUES (` + ph.String() + `NULL)`,
		byHash: `SELECT ` + cols + ` FROM ` + table + ` WHERE hash = $1`,
		list:   `SELECT ` + cols + ` FROM ` + table + ` ORDER BY created_at DESC, id`,
		revoke: `UPDATE ` + table + ` SET revoked_at = $2 WHERE (` + key + `) AND revoked_at IS NULL`,
		byKey:  `SELECT ` + cols + ` FROM ` + table + ` WHERE ` + key,
	}
}

func (c *credTable[T]) put(ctx context.Context, s *Store, v T) error {
	_, err := s.pool.Exec(ctx, c.insert, c.args(v)...)
	return classify(err)
}

func (c *credTable[T]) get(ctx context.Context, s *Store, hash string) (T, error) {
	v, err := c.scan(s.pool.QueryRow(ctx, c.byHash, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return v, tocsin.Errorf(tocsin.ENotFound, "no such %s", c.noun)
	}
	return v, classify(err)
}

func (c *credTable[T]) all(ctx context.Context, s *Store) ([]T, error) {
	rows, err := s.pool.Query(ctx, c.list)
	if err != nil {
		return nil, classify(err)
	}
	vs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return c.scan(r) })
	return vs, classify(err)
}

// revokeAt marks the credential named by key revoked at now, unless it already is,
// and returns it.
func (c *credTable[T]) revokeAt(ctx context.Context, s *Store, key string, now time.Time) (T, error) {
	var v T
	err := s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, c.revoke, key, now.UnixMilli()); err != nil {
			return err
		}
		var err error
		v, err = c.scan(tx.QueryRow(ctx, c.byKey, key))
		if errors.Is(err, pgx.ErrNoRows) {
			return tocsin.Errorf(tocsin.ENotFound, "no such %s", c.noun)
		}
		return err
	})
	return v, err
}

// tokens: a token is revoked by its id or its hash (tocsin token revoke takes either).
var tokens = newCredTable("stream_tokens", `id, hash, stream, scope, created_at, revoked_at`, `id = $1 OR hash = $1`,
	"token", scanToken, func(t tocsin.StreamToken) []any {
		return []any{t.ID, t.Hash, string(t.Stream), t.Scope, t.CreatedAt.UnixMilli()}
	})

// apiKeys: an API key is revoked by its id.
var apiKeys = newCredTable("api_keys", `id, hash, name, created_at, revoked_at`, `id = $1`,
	"API key", scanAPIKey, func(k tocsin.APIKeyRecord) []any {
		return []any{k.ID, k.Hash, k.Name, k.CreatedAt.UnixMilli()}
	})

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

// PutToken implements tocsin.Store.
func (s *Store) PutToken(ctx context.Context, t tocsin.StreamToken) error {
	return tokens.put(ctx, s, t)
}

// Token implements tocsin.Store.
func (s *Store) Token(ctx context.Context, hash string) (tocsin.StreamToken, error) {
	return tokens.get(ctx, s, hash)
}

// Tokens implements tocsin.Store.
func (s *Store) Tokens(ctx context.Context) ([]tocsin.StreamToken, error) { return tokens.all(ctx, s) }

// RevokeToken implements tocsin.Store.
func (s *Store) RevokeToken(ctx context.Context, idOrHash string, now time.Time) (tocsin.StreamToken, error) {
	return tokens.revokeAt(ctx, s, idOrHash, now)
}

// PutAPIKey implements tocsin.Store.
func (s *Store) PutAPIKey(ctx context.Context, k tocsin.APIKeyRecord) error {
	return apiKeys.put(ctx, s, k)
}

// APIKey implements tocsin.Store.
func (s *Store) APIKey(ctx context.Context, hash string) (tocsin.APIKeyRecord, error) {
	return apiKeys.get(ctx, s, hash)
}

// APIKeys implements tocsin.Store.
func (s *Store) APIKeys(ctx context.Context) ([]tocsin.APIKeyRecord, error) {
	return apiKeys.all(ctx, s)
}

// RevokeAPIKey implements tocsin.Store.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, now time.Time) (tocsin.APIKeyRecord, error) {
	return apiKeys.revokeAt(ctx, s, id, now)
}
