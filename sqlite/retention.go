package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tocsin/tocsin"
)

// pruneBatch bounds the rows one pruning transaction removes, so retention never
// holds the single writer (and so publishes) for long.
const pruneBatch = 2000

// Expire implements tocsin.Store. It looks for expired items on a reader first, so
// the common case (nothing expired) costs the writer nothing. Expired inbox items are
// deleted and their earlier events forgotten; an expired topic notification (an event
// only) is forgotten in its topic's log. Each gets a notification:deleted event.
func (s *Store) Expire(ctx context.Context, now time.Time, limit int) ([]tocsin.Event, error) {
	var any int
	err := s.r.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM (SELECT 1 FROM notifications
		WHERE expires_at IS NOT NULL AND expires_at <= ?1 LIMIT 1)) + (SELECT count(*) FROM (SELECT 1 FROM events
		INDEXED BY events_expires WHERE expires_at IS NOT NULL AND expires_at <= ?1 LIMIT 1))`, now.UnixMilli()).Scan(&any)
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
			RETURNING id, user_id, type, `+unreadCond+`, seq`, now.UnixMilli(), limit)
		if err != nil {
			return fmt.Errorf("delete expired: %w", err)
		}
		type gone struct {
			id, user, typ string
			unread        bool
			seq           sql.NullInt64
		}
		var all []gone
		for rows.Next() {
			var g gone
			if err := rows.Scan(&g.id, &g.user, &g.typ, &g.unread, &g.seq); err != nil {
				rows.Close()
				return err
			}
			all = append(all, g)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for _, g := range all {
			stream := tocsin.UserStream(g.user)
			if err := forget(tx, stream, g.id, g.seq); err != nil {
				return err
			}
			if err := adjustUnread(ctx, tx, g.user, unreadDelta(g.unread, false)); err != nil {
				return err
			}
			ev := tocsin.Event{Stream: stream, Name: tocsin.EventDeleted, Type: g.typ,
				Data: tombstone(g.id), Unread: tocsin.UnreadUnchanged, Time: now}
			if err := appendChange(ctx, tx, &ev, "", g.user, true, now); err != nil {
				return err
			}
			evs = append(evs, ev)
		}
		if len(all) >= limit {
			return nil
		}
		topics, err := expireTopicEvents(tx, now, limit-len(all))
		evs = append(evs, topics...)
		return err
	})
	return evs, err
}

// expireTopicEvents forgets up to limit topic notifications whose expiresAt is at or
// before now, each with a notification:deleted event on its topic's stream.
func expireTopicEvents(tx *wtx, now time.Time, limit int) ([]tocsin.Event, error) {
	rows, err := tx.QueryContext(bg, `SELECT stream, seq, type, ref FROM events INDEXED BY events_expires
		WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at LIMIT ?`, now.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("find expired topic events: %w", err)
	}
	type gone struct {
		stream, typ, id string
		seq             int64
	}
	var all []gone
	for rows.Next() {
		var g gone
		var ref sql.NullString
		if err := rows.Scan(&g.stream, &g.seq, &g.typ, &ref); err != nil {
			rows.Close()
			return nil, err
		}
		g.id = ref.String
		all = append(all, g)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	var evs []tocsin.Event
	for _, g := range all {
		stream := tocsin.StreamID(g.stream)
		if err := forget(tx, stream, g.id, sql.NullInt64{Int64: g.seq, Valid: true}); err != nil {
			return nil, err
		}
		ev := tocsin.Event{Stream: stream, Name: tocsin.EventDeleted, Type: g.typ,
			Data: tombstone(g.id), Unread: tocsin.UnreadUnchanged, Time: now}
		if err := appendEvent(bg, tx, &ev, "", nil); err != nil {
			return nil, err
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// Prune implements tocsin.Store, in batches of pruneBatch rows. Each batch of events
// moves its streams' first_seq in the same transaction, so a reader never finds a
// resume point honoured whose events are gone.
func (s *Store) Prune(ctx context.Context, before time.Time, depth int) (int, int, error) {
	cutoff := before.UnixMilli()
	notifications, err := s.pruneLoop(ctx, func(tx *wtx) (int, error) {
		rows, err := tx.QueryContext(ctx, `DELETE FROM notifications WHERE id IN (
			SELECT id FROM notifications WHERE created_at < ? LIMIT ?)
			RETURNING id, user_id, `+unreadCond+`, seq`, cutoff, pruneBatch)
		if err != nil {
			return 0, fmt.Errorf("prune notifications: %w", err)
		}
		type gone struct {
			id, user string
			seq      sql.NullInt64
		}
		var all []gone
		unread := map[string]int{}
		for rows.Next() {
			var g gone
			var isUnread bool
			if err := rows.Scan(&g.id, &g.user, &isUnread, &g.seq); err != nil {
				rows.Close()
				return 0, err
			}
			all = append(all, g)
			if isUnread {
				unread[g.user]--
			}
		}
		if err := rows.Close(); err != nil {
			return 0, err
		}
		// A pruned item's later events (read, archived: newer than the cutoff, so
		// they stay) must not keep its content either.
		for _, g := range all {
			if err := forget(tx, tocsin.UserStream(g.user), g.id, g.seq); err != nil {
				return 0, err
			}
		}
		n := len(all)
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
