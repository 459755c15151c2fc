package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tocsin/tocsin"
)

// pruneBatch bounds the rows one pruning transaction removes.
const pruneBatch = 2000

// Expire implements tocsin.Store. Every node runs it; the row locks make each
// expired item deleted (and announced) by exactly one of them.
func (s *Store) Expire(ctx context.Context, now time.Time, limit int) ([]tocsin.Event, error) {
	var users []string
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT user_id FROM notifications
		WHERE expires_at IS NOT NULL AND expires_at <= $1 LIMIT $2`, now.UnixMilli(), limit)
	if err != nil {
		return nil, classify(err)
	}
	if users, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil || len(users) == 0 {
		return nil, classify(err)
	}
	sort.Strings(users)
	var evs []tocsin.Event
	err = s.write(ctx, func(tx pgx.Tx) error {
		evs = nil
		for _, u := range users { // one user at a time, streams locked in sorted order
			stream := tocsin.UserStream(u)
			head, err := lockStream(ctx, tx, stream)
			if err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `DELETE FROM notifications WHERE user_id = $1
				AND expires_at IS NOT NULL AND expires_at <= $2 RETURNING id, type`, u, now.UnixMilli())
			if err != nil {
				return fmt.Errorf("delete expired: %w", err)
			}
			var id, typ string
			var mine []tocsin.Event
			if _, err := pgx.ForEachRow(rows, []any{&id, &typ}, func() error {
				data, _ := json.Marshal(map[string]string{"id": id})
				mine = append(mine, tocsin.Event{Stream: stream, Name: tocsin.EventDeleted, Type: typ,
					Data: data, Unread: tocsin.UnreadUnchanged, Time: now})
				return nil
			}); err != nil {
				return fmt.Errorf("delete expired: %w", err)
			}
			if len(mine) == 0 {
				continue
			}
			n, err := unreadCount(ctx, tx, u, now)
			if err != nil {
				return err
			}
			for i := range mine {
				mine[i].Unread = n
			}
			if err := appendLocked(ctx, tx, stream, head, mine); err != nil {
				return err
			}
			evs = append(evs, mine...)
		}
		return nil
	})
	return evs, err
}

// Prune implements tocsin.Store, in batches; each batch of events raises its streams'
// first_seq in the same transaction.
func (s *Store) Prune(ctx context.Context, before time.Time, depth int) (int, int, error) {
	cutoff := before.UnixMilli()
	notifications, err := s.pruneLoop(ctx, func(tx pgx.Tx) (int, error) {
		tag, err := tx.Exec(ctx, `DELETE FROM notifications WHERE id IN (
			SELECT id FROM notifications WHERE created_at < $1 LIMIT $2)`, cutoff, pruneBatch)
		return int(tag.RowsAffected()), err
	})
	if err != nil {
		return notifications, 0, err
	}
	events, err := s.pruneLoop(ctx, func(tx pgx.Tx) (int, error) {
		return deleteEvents(ctx, tx, `SELECT stream, seq FROM events WHERE created_at < $1 LIMIT $2`, cutoff, pruneBatch)
	})
	if err != nil || depth <= 0 {
		return notifications, events, err
	}
	deep, err := s.pruneLoop(ctx, func(tx pgx.Tx) (int, error) {
		return deleteEvents(ctx, tx, `SELECT e.stream, e.seq FROM events e JOIN streams st ON st.stream = e.stream
			WHERE e.seq <= st.head - $1 LIMIT $2`, depth, pruneBatch)
	})
	return notifications, events + deep, err
}

func (s *Store) pruneLoop(ctx context.Context, batch func(tx pgx.Tx) (int, error)) (int, error) {
	total := 0
	for {
		var n int
		err := s.write(ctx, func(tx pgx.Tx) error {
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

func deleteEvents(ctx context.Context, tx pgx.Tx, selectQuery string, args ...any) (int, error) {
	rows, err := tx.Query(ctx, `DELETE FROM events WHERE (stream, seq) IN (`+selectQuery+`) RETURNING stream, seq`, args...)
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	newest := map[string]int64{}
	n := 0
	var stream string
	var seq int64
	if _, err := pgx.ForEachRow(rows, []any{&stream, &seq}, func() error {
		newest[stream] = max(newest[stream], seq)
		n++
		return nil
	}); err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	names := make([]string, 0, len(newest))
	for s := range newest {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, s := range names {
		if _, err := tx.Exec(ctx, `UPDATE streams SET first_seq = greatest(first_seq, $2) WHERE stream = $1`, s, newest[s]+1); err != nil {
			return 0, fmt.Errorf("prune: stream bounds: %w", err)
		}
	}
	return n, nil
}
