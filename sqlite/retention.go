package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tocsin/tocsin"
)

// pruneBatch bounds the rows one pruning transaction removes, so retention never
// holds the single writer (and so publishes) for long.
const pruneBatch = 2000

// Expire implements tocsin.Store. It looks for expired items on a reader first, so
// the common case (nothing expired) costs the writer nothing.
func (s *Store) Expire(ctx context.Context, now time.Time, limit int) ([]tocsin.Event, error) {
	var any int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM notifications
		WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT 1)`, now.UnixMilli()).Scan(&any)
	if err != nil {
		return nil, unavailable("find expired", err)
	}
	if any == 0 {
		return nil, nil
	}
	var evs []tocsin.Event
	err = s.write(ctx, func(tx *wtx) error {
		evs = nil
		rows, err := tx.QueryContext(ctx, `DELETE FROM notifications WHERE id IN (
			SELECT id FROM notifications WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at LIMIT ?)
			RETURNING id, user_id, type, read_at IS NULL AND archived_at IS NULL`, now.UnixMilli(), limit)
		if err != nil {
			return fmt.Errorf("delete expired: %w", err)
		}
		type gone struct {
			id, user, typ string
			unread        bool
		}
		var all []gone
		for rows.Next() {
			var g gone
			if err := rows.Scan(&g.id, &g.user, &g.typ, &g.unread); err != nil {
				rows.Close()
				return err
			}
			all = append(all, g)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for _, g := range all {
			if err := adjustUnread(ctx, tx, g.user, unreadDelta(g.unread, false)); err != nil {
				return err
			}
			data, _ := json.Marshal(map[string]string{"id": g.id})
			ev := tocsin.Event{Stream: tocsin.UserStream(g.user), Name: tocsin.EventDeleted, Type: g.typ,
				Data: data, Unread: tocsin.UnreadUnchanged, Time: now}
			if err := appendChange(ctx, tx, &ev, g.user, true, now); err != nil {
				return err
			}
			evs = append(evs, ev)
		}
		return nil
	})
	return evs, err
}

// Prune implements tocsin.Store, in batches of pruneBatch rows. Each batch of events
// moves its streams' first_seq in the same transaction, so a reader never finds a
// resume point honoured whose events are gone.
func (s *Store) Prune(ctx context.Context, before time.Time, depth int) (int, int, error) {
	cutoff := before.UnixMilli()
	notifications, err := s.pruneLoop(ctx, func(tx *wtx) (int, error) {
		rows, err := tx.QueryContext(ctx, `DELETE FROM notifications WHERE id IN (
			SELECT id FROM notifications WHERE created_at < ? LIMIT ?)
			RETURNING user_id, read_at IS NULL AND archived_at IS NULL`, cutoff, pruneBatch)
		if err != nil {
			return 0, fmt.Errorf("prune notifications: %w", err)
		}
		n, unread := 0, map[string]int{}
		for rows.Next() {
			var user string
			var isUnread bool
			if err := rows.Scan(&user, &isUnread); err != nil {
				rows.Close()
				return 0, err
			}
			n++
			if isUnread {
				unread[user]--
			}
		}
		if err := rows.Close(); err != nil {
			return 0, err
		}
		for user, d := range unread {
			if err := adjustUnread(ctx, tx, user, d); err != nil {
				return 0, err
			}
		}
		return n, nil
	})
	if err != nil {
		return notifications, 0, err
	}
	events, err := s.pruneLoop(ctx, func(tx *wtx) (int, error) {
		return deleteEvents(ctx, tx, `SELECT stream, seq FROM events WHERE created_at < ? LIMIT ?`, cutoff, pruneBatch)
	})
	if err != nil || depth <= 0 {
		return notifications, events, err
	}
	deep, err := s.pruneLoop(ctx, func(tx *wtx) (int, error) {
		return deleteEvents(ctx, tx, `SELECT e.stream, e.seq FROM events e JOIN streams st ON st.stream = e.stream
			WHERE e.seq <= st.head - ? LIMIT ?`, depth, pruneBatch)
	})
	return notifications, events + deep, err
}

// pruneLoop runs batch in write transactions until a batch removes fewer than
// pruneBatch rows, and returns the total removed.
func (s *Store) pruneLoop(ctx context.Context, batch func(tx *wtx) (int, error)) (int, error) {
	total := 0
	for {
		var n int
		err := s.write(ctx, func(tx *wtx) error {
			var err error
			n, err = batch(tx)
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}

// deleteEvents deletes the events that selectQuery names and raises the first_seq
// of their streams past the newest deleted one.
func deleteEvents(ctx context.Context, tx *wtx, selectQuery string, args ...any) (int, error) {
	rows, err := tx.QueryContext(ctx, `DELETE FROM events WHERE (stream, seq) IN (`+selectQuery+`)
		RETURNING stream, seq`, args...)
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	newest := map[string]int64{}
	n := 0
	for rows.Next() {
		var stream string
		var seq int64
		if err := rows.Scan(&stream, &seq); err != nil {
			rows.Close()
			return 0, err
		}
		newest[stream] = max(newest[stream], seq)
		n++
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	for stream, seq := range newest {
		if _, err := tx.ExecContext(ctx, `UPDATE streams SET first_seq = max(first_seq, ?) WHERE stream = ?`,
			seq+1, stream); err != nil {
			return 0, fmt.Errorf("prune: stream bounds: %w", err)
		}
	}
	return n, nil
}
