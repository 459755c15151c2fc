package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tocsin/tocsin"
)

// AppendCustom implements tocsin.Store.
func (s *Store) AppendCustom(ctx context.Context, stream tocsin.StreamID, name string, data []byte, now time.Time) (tocsin.Event, error) {
	ev := tocsin.Event{Stream: stream, Name: name, Type: name, Data: data, Unread: tocsin.UnreadUnchanged, Time: now}
	err := s.write(ctx, func(tx pgx.Tx) error {
		first, err := reserve(ctx, tx, []tocsin.StreamID{stream})
		if err != nil {
			return err
		}
		ev.Seq = first[stream]
		return appendEvents(ctx, tx, []tocsin.Event{ev}, nil)
	})
	return ev, err
}

// lockStream locks a stream's row (creating it empty) without taking a sequence, for
// changes that learn only later whether they append anything.
func lockStream(ctx context.Context, tx pgx.Tx, stream tocsin.StreamID) (uint64, error) {
	var head int64
	err := tx.QueryRow(ctx, `INSERT INTO streams AS st (stream, head) VALUES ($1, 0)
		ON CONFLICT (stream) DO UPDATE SET head = st.head RETURNING head`, string(stream)).Scan(&head)
	if err != nil {
		return 0, fmt.Errorf("lock stream: %w", err)
	}
	return uint64(head), nil
}

// appendLocked appends evs (about refs: see appendEvents) to the locked stream whose
// head was head, and moves it.
func appendLocked(ctx context.Context, tx pgx.Tx, stream tocsin.StreamID, head uint64, evs []tocsin.Event, refs []eventRef) error {
	if len(evs) == 0 {
		return nil
	}
	for i := range evs {
		evs[i].Seq = head + uint64(i) + 1
	}
	if _, err := tx.Exec(ctx, `UPDATE streams SET head = $2 WHERE stream = $1`, string(stream), int64(head)+int64(len(evs))); err != nil {
		return fmt.Errorf("advance stream head: %w", err)
	}
	return appendEvents(ctx, tx, evs, refs)
}

// Update implements tocsin.Store.
func (s *Store) Update(ctx context.Context, userID, id string, p tocsin.Patch, now time.Time) (tocsin.Notification, []tocsin.Event, error) {
	var n tocsin.Notification
	var evs []tocsin.Event
	stream := tocsin.UserStream(userID)
	err := s.write(ctx, func(tx pgx.Tx) error {
		evs = nil
		head, err := lockStream(ctx, tx, stream)
		if err != nil {
			return err
		}
		if n, err = getNotification(ctx, tx, userID, id, now, false); err != nil {
			return err
		}
		wasUnread := n.Unread()
		if !p.Apply(&n, now) {
			return nil
		}
		if err := updateState(ctx, tx, &n); err != nil {
			return err
		}
		if p.SnoozedUntil.Set {
			if err := s.replaceWake(ctx, tx, &n, now); err != nil {
				return err
			}
		}
		ev, err := n.Event(tocsin.EventUpdated, now)
		if err != nil {
			return err
		}
		if wasUnread != n.Unread() {
			if ev.Unread, err = unreadCount(ctx, tx, userID, now); err != nil {
				return err
			}
		}
		evs = []tocsin.Event{ev}
		return appendLocked(ctx, tx, stream, head, evs, []eventRef{{id: n.ID}})
	})
	return n, evs, err
}

// Delete implements tocsin.Store.
func (s *Store) Delete(ctx context.Context, userID, id string, now time.Time) ([]tocsin.Event, error) {
	var evs []tocsin.Event
	stream := tocsin.UserStream(userID)
	err := s.write(ctx, func(tx pgx.Tx) error {
		evs = nil
		head, err := lockStream(ctx, tx, stream)
		if err != nil {
			return err
		}
		n, err := getNotification(ctx, tx, userID, id, now, false)
		if err != nil {
			return err
		}
		var seq *int64
		if err := tx.QueryRow(ctx, `DELETE FROM notifications WHERE id = $1 RETURNING seq`, n.ID).Scan(&seq); err != nil {
			return fmt.Errorf("delete notification: %w", err)
		}
		if err := forget(ctx, tx, []gone{{stream: stream, id: n.ID, seq: seq}}); err != nil {
			return err
		}
		ev := tocsin.Event{Stream: stream, Name: tocsin.EventDeleted, Type: n.Type, Data: tombstone(n.ID),
			Unread: tocsin.UnreadUnchanged, Time: now}
		if n.Unread() {
			if ev.Unread, err = unreadCount(ctx, tx, userID, now); err != nil {
				return err
			}
		}
		evs = []tocsin.Event{ev}
		return appendLocked(ctx, tx, stream, head, evs, nil)
	})
	return evs, err
}

// ReadAll implements tocsin.Store: one statement marks the items read and one event
// tells the streams.
func (s *Store) ReadAll(ctx context.Context, userID string, now time.Time) (int, []tocsin.Event, error) {
	var evs []tocsin.Event
	var read int
	stream := tocsin.UserStream(userID)
	err := s.write(ctx, func(tx pgx.Tx) error {
		evs, read = nil, 0
		head, err := lockStream(ctx, tx, stream)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `UPDATE notifications SET read_at = $2, seen_at = coalesce(seen_at, $2)
			WHERE user_id = $1 AND `+unreadCond+`
			AND (expires_at IS NULL OR expires_at > $2) RETURNING id`, userID, now.UnixMilli())
		if err != nil {
			return fmt.Errorf("mark read: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("mark read: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		data, err := tocsin.ReadAllData(ids, now)
		if err != nil {
			return err
		}
		ev := tocsin.Event{Stream: stream, Name: tocsin.EventRead, Data: data, Time: now}
		if ev.Unread, err = unreadCount(ctx, tx, userID, now); err != nil {
			return err
		}
		evs, read = []tocsin.Event{ev}, len(ids)
		return appendLocked(ctx, tx, stream, head, evs, nil)
	})
	return read, evs, err
}

// PutTicket implements tocsin.Store. It also sweeps expired tickets.
func (s *Store) PutTicket(ctx context.Context, t tocsin.Ticket) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM tickets WHERE expires_at <= $1`, time.Now().UnixMilli()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO tickets (hash, user_id, expires_at) VALUES ($1, $2, $3)`,
			t.Hash, t.UserID, t.ExpiresAt.UnixMilli())
		return err
	})
}

// RedeemTicket implements tocsin.Store: the DELETE makes it single-use even when two
// nodes redeem the same ticket at once.
func (s *Store) RedeemTicket(ctx context.Context, hash string, now time.Time) (string, error) {
	var user string
	var exp int64
	err := s.pool.QueryRow(ctx, `DELETE FROM tickets WHERE hash = $1 RETURNING user_id, expires_at`, hash).Scan(&user, &exp)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && exp <= now.UnixMilli()) {
		return "", tocsin.Errorf(tocsin.EUnauthorized, "stream ticket is unknown, used or expired")
	}
	return user, classify(err)
}
