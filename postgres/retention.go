package postgres

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tocsin/tocsin"
)

// pruneBatch bounds the rows one pruning transaction removes.
const pruneBatch = 2000

// Expire implements tocsin.Store. Every node runs it; the row locks make each
// expired item deleted (and announced) by exactly one of them. Expired inbox items
// are deleted and their earlier events forgotten; then, in a transaction of its own
// (streams are locked in one sorted order, and "topic:" sorts before "user:"),
// expired topic notifications (events only) are forgotten in their topics' logs.
func (s *Store) Expire(ctx context.Context, now time.Time, limit int) ([]tocsin.Event, error) {
	evs, err := s.expireItems(ctx, now, limit)
	if err != nil || len(evs) >= limit {
		return evs, err
	}
	topics, err := s.expireTopicEvents(ctx, now, limit-len(evs))
	return append(evs, topics...), err
}

// expireItems deletes expired inbox items, one user at a time.
func (s *Store) expireItems(ctx context.Context, now time.Time, limit int) ([]tocsin.Event, error) {
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
				AND expires_at IS NOT NULL AND expires_at <= $2 RETURNING id, type, seq`, u, now.UnixMilli())
			if err != nil {
				return fmt.Errorf("delete expired: %w", err)
			}
			var id, typ string
			var seq *int64
			var mine []tocsin.Event
			var gs []gone
			if _, err := pgx.ForEachRow(rows, []any{&id, &typ, &seq}, func() error {
				mine = append(mine, tocsin.Event{Stream: stream, Name: tocsin.EventDeleted, Type: typ,
					Data: tombstone(id), Unread: tocsin.UnreadUnchanged, Time: now})
				gs = append(gs, gone{stream: stream, id: id, seq: seq})
				return nil
			}); err != nil {
				return fmt.Errorf("delete expired: %w", err)
			}
			if len(mine) == 0 {
				continue
			}
			if err := forget(ctx, tx, gs); err != nil {
				return err
			}
			n, err := unreadCount(ctx, tx, u, now)
			if err != nil {
				return err
			}
			for i := range mine {
				mine[i].Unread = n
			}
			if err := appendLocked(ctx, tx, stream, head, mine, nil); err != nil {
				return err
			}
			evs = append(evs, mine...)
		}
		return nil
	})
	return evs, err
}

// expireTopicEvents forgets topic notifications whose expiresAt has passed, each with
// a notification:deleted event on its topic's stream. A node that finds them already
// forgotten (another node was first: it waited for that one's stream lock) appends
// nothing.
func (s *Store) expireTopicEvents(ctx context.Context, now time.Time, limit int) ([]tocsin.Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT stream FROM events
		WHERE expires_at IS NOT NULL AND expires_at <= $1 LIMIT $2`, now.UnixMilli(), limit)
	if err != nil {
		return nil, classify(err)
	}
	streams, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(streams) == 0 {
		return nil, classify(err)
	}
	sort.Strings(streams)
	var evs []tocsin.Event
	err = s.write(ctx, func(tx pgx.Tx) error {
		evs = nil
		for _, name := range streams {
			stream := tocsin.StreamID(name)
			head, err := lockStream(ctx, tx, stream)
			if err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `WITH x AS (
				SELECT seq, ref, type FROM events WHERE stream = $1 AND expires_at IS NOT NULL AND expires_at <= $2
				ORDER BY seq)
				UPDATE events e SET name = '`+tocsin.EventDeleted+`', data = convert_to('{"id":"' || x.ref || '"}', 'UTF8'),
					ref = NULL, expires_at = NULL
				FROM x WHERE e.stream = $1 AND e.seq = x.seq RETURNING x.seq, x.ref, x.type`, name, now.UnixMilli())
			if err != nil {
				return fmt.Errorf("forget expired topic events: %w", err)
			}
			var id, typ string
			var seq int64
			var mine []tocsin.Event
			var order []int64
			if _, err := pgx.ForEachRow(rows, []any{&seq, &id, &typ}, func() error {
				mine = append(mine, tocsin.Event{Stream: stream, Name: tocsin.EventDeleted, Type: typ,
					Data: tombstone(id), Unread: tocsin.UnreadUnchanged, Time: now})
				order = append(order, seq)
				return nil
			}); err != nil {
				return fmt.Errorf("forget expired topic events: %w", err)
			}
			// Announced in the order they were published.
			sort.Sort(bySeq{mine, order})
			if err := appendLocked(ctx, tx, stream, head, mine, nil); err != nil {
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
		rows, err := tx.Query(ctx, `DELETE FROM notifications WHERE id IN (
			SELECT id FROM notifications WHERE created_at < $1 LIMIT $2) RETURNING user_id, id, seq`, cutoff, pruneBatch)
		if err != nil {
			return 0, fmt.Errorf("prune notifications: %w", err)
		}
		var gs []gone
		var user, id string
		var seq *int64
		if _, err := pgx.ForEachRow(rows, []any{&user, &id, &seq}, func() error {
			gs = append(gs, gone{stream: tocsin.UserStream(user), id: id, seq: seq})
			return nil
		}); err != nil {
			return 0, fmt.Errorf("prune notifications: %w", err)
		}
		// A pruned item's later events (read, archived: newer than the cutoff, so
		// they stay) must not keep its content either.
		return len(gs), forget(ctx, tx, gs)
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

// bySeq sorts events by the positions in seqs, which move with them.
type bySeq struct {
	evs  []tocsin.Event
	seqs []int64
}

func (b bySeq) Len() int           { return len(b.evs) }
func (b bySeq) Less(i, j int) bool { return b.seqs[i] < b.seqs[j] }
func (b bySeq) Swap(i, j int) {
	b.evs[i], b.evs[j] = b.evs[j], b.evs[i]
	b.seqs[i], b.seqs[j] = b.seqs[j], b.seqs[i]
}
