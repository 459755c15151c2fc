package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tocsin/tocsin"
)

// gone is a notification removed in this transaction (deleted, expired or pruned):
// its stream, id, and the position of the event of its publish (notifications.seq;
// nil for an item published before the column existed, whose events name it as
// their ref instead).
type gone struct {
	stream tocsin.StreamID
	id     string
	seq    *int64
}

// sqlForget rewrites the earlier events of removed notifications into tombstones:
// notification:deleted {"id": ...} at the same positions, so a resume from before the
// removal replays that, never the title, body or data (PRODUCT.md §6), and ids and
// order stay exact. An item's events are the one at its publish's position and every
// later one that carried its content (ref): two index lookups each, never a scan of
// the stream (one OR of both conditions made PostgreSQL read the whole stream).
const sqlForget = `WITH g AS (SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bytea[]) AS g(stream, id, seq, data)),
t AS (SELECT e.stream, e.seq, g.data FROM g JOIN events e ON e.ref = g.id AND e.stream = g.stream
	UNION SELECT g.stream, g.seq, g.data FROM g WHERE g.seq IS NOT NULL)
UPDATE events e SET name = '` + tocsin.EventDeleted + `', data = t.data, ref = NULL, expires_at = NULL
FROM t WHERE e.stream = t.stream AND e.seq = t.seq`

// forget forgets the events of gs (see sqlForget) in one statement.
func forget(ctx context.Context, tx pgx.Tx, gs []gone) error {
	if len(gs) == 0 {
		return nil
	}
	streams, ids, seqs, datas := make([]string, len(gs)), make([]string, len(gs)), make([]*int64, len(gs)), make([][]byte, len(gs))
	for i, g := range gs {
		streams[i], ids[i], seqs[i], datas[i] = string(g.stream), g.id, g.seq, tombstone(g.id)
	}
	if _, err := tx.Exec(ctx, sqlForget, streams, ids, seqs, datas); err != nil {
		return fmt.Errorf("forget events: %w", err)
	}
	return forgetInBulk(ctx, tx, streams, ids)
}

// forgetInBulk takes the removed notifications (ids[i] of streams[i]) out of the
// bulk updates that carried them (event_refs), and drops their rows there.
func forgetInBulk(ctx context.Context, tx pgx.Tx, streams, ids []string) error {
	rows, err := tx.Query(ctx, `DELETE FROM event_refs r USING unnest($1::text[], $2::text[]) AS g(stream, id)
		WHERE r.ref = g.id AND r.stream = g.stream RETURNING r.stream, r.seq, r.ref`, streams, ids)
	if err != nil {
		return fmt.Errorf("forget in bulk events: %w", err)
	}
	type pos struct {
		stream string
		seq    int64
	}
	gone := map[pos]map[string]bool{}
	var p pos
	var ref string
	if _, err := pgx.ForEachRow(rows, []any{&p.stream, &p.seq, &ref}, func() error {
		if gone[p] == nil {
			gone[p] = map[string]bool{}
		}
		gone[p][ref] = true
		return nil
	}); err != nil {
		return fmt.Errorf("forget in bulk events: %w", err)
	}
	for at, refs := range gone {
		var data []byte
		err := tx.QueryRow(ctx, `SELECT data FROM events WHERE stream = $1 AND seq = $2 AND name = $3`,
			at.stream, at.seq, tocsin.EventUpdatedMany).Scan(&data)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // pruned already
		}
		if err != nil {
			return fmt.Errorf("forget in bulk events: %w", err)
		}
		rest, removed, err := tocsin.ForgetInUpdatedMany(data, func(id string) bool { return refs[id] })
		if err != nil {
			return err
		}
		if !removed {
			continue
		}
		if _, err := tx.Exec(ctx, `UPDATE events SET data = $1 WHERE stream = $2 AND seq = $3`, rest, at.stream, at.seq); err != nil {
			return fmt.Errorf("forget in bulk events: %w", err)
		}
	}
	return nil
}

// tombstone is the data of a notification:deleted event: {"id": "..."}.
func tombstone(id string) []byte {
	b, _ := json.Marshal(map[string]string{"id": id})
	return b
}
