package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tocsin/tocsin"
)

// Stream tokens and API keys are both credentials: stored with their hash, looked up
// by it, listed newest first and revoked once. credTable is that one behaviour over
// either table; its SQL is built once, here, so the read pool keeps one prepared
// statement per text (reads.go).
type credTable[T any] struct {
	noun, nouns string                   // "token", "tokens": in error messages
	scan        func(scanner) (T, error) // one row of cols
	args        func(T) []any            // the values of cols but revoked_at, for insert

	insert, byHash, list, revoke, byKey string
	keyArgs                             int // how many times the condition key takes the key
}

// newCredTable builds the statements of table, whose columns are cols, ending with
// revoked_at. key is the condition naming the credential to revoke, with ? for the key.
func newCredTable[T any](table, cols, key, noun, nouns string, scan func(scanner) (T, error), args func(T) []any) credTable[T] {
	ph := strings.Repeat("?, ", strings.Count(cols, ",")) // every column but revoked_at
	return credTable[T]{
		noun: noun, nouns: nouns, scan: scan, args: args, keyArgs: strings.Count(key, "?"),
		insert: `INSERT INTO ` + table + ` (` + cols + `) VALUES (` + ph + `NULL)`,
		byHash: `SELECT ` + cols + ` FROM ` + table + ` WHERE hash = ?`,
		list:   `SELECT ` + cols + ` FROM ` + table + ` ORDER BY created_at DESC, id`,
		revoke: `UPDATE ` + table + ` SET revoked_at = ? WHERE (` + key + `) AND revoked_at IS NULL`,
		byKey:  `SELECT ` + cols + ` FROM ` + table + ` WHERE ` + key,
	}
}

func (c *credTable[T]) put(ctx context.Context, s *Store, v T) error {
	return s.write(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, c.insert, c.args(v)...)
		return err
	})
}

func (c *credTable[T]) get(ctx context.Context, s *Store, hash string) (T, error) {
	v, err := c.scan(s.rs.QueryRowContext(ctx, c.byHash, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return v, tocsin.Errorf(tocsin.ENotFound, "no such %s", c.noun)
	}
	if err != nil {
		return v, unavailable("read "+c.noun, err)
	}
	return v, nil
}

func (c *credTable[T]) all(ctx context.Context, s *Store) ([]T, error) {
	rows, err := s.r.QueryContext(ctx, c.list)
	if err != nil {
		return nil, unavailable("list "+c.nouns, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := c.scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// revokeAt marks the credential named by key revoked at now, unless it already is,
// and returns it.
func (c *credTable[T]) revokeAt(ctx context.Context, s *Store, key string, now time.Time) (T, error) {
	var v T
	keys := make([]any, c.keyArgs)
	for i := range keys {
		keys[i] = key
	}
	err := s.write(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, c.revoke, append([]any{now.UnixMilli()}, keys...)...); err != nil {
			return fmt.Errorf("revoke %s: %w", c.noun, err)
		}
		var err error
		v, err = c.scan(tx.QueryRowContext(ctx, c.byKey, keys...))
		if errors.Is(err, sql.ErrNoRows) {
			return tocsin.Errorf(tocsin.ENotFound, "no such %s", c.noun)
		}
		return err
	})
	return v, err
}

// tokens: a token is revoked by its id or its hash (tocsin token revoke takes either).
var tokens = newCredTable("stream_tokens", `id, hash, stream, scope, created_at, revoked_at`, `id = ? OR hash = ?`,
	"token", "tokens", scanToken, func(t tocsin.StreamToken) []any {
		return []any{t.ID, t.Hash, string(t.Stream), t.Scope, t.CreatedAt.UnixMilli()}
	})

// apiKeys: an API key is revoked by its id.
var apiKeys = newCredTable("api_keys", `id, hash, name, created_at, revoked_at`, `id = ?`,
	"API key", "API keys", scanAPIKey, func(k tocsin.APIKeyRecord) []any {
		return []any{k.ID, k.Hash, k.Name, k.CreatedAt.UnixMilli()}
	})

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
