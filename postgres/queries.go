package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tocsin/tocsin"
)

// Get implements tocsin.Store.
func (s *Store) Get(ctx context.Context, userID, id string) (tocsin.Notification, error) {
	n, err := scanNotification(s.pool.QueryRow(ctx, `SELECT `+selectCols+` FROM notifications
		WHERE id = $1 AND user_id = $2 AND (expires_at IS NULL OR expires_at > $3)`, id, userID, s.now().UnixMilli()))
	if errors.Is(err, pgx.ErrNoRows) {
		return n, tocsin.Errorf(tocsin.ENotFound, "notification not found")
	}
	return n, classify(err)
}

// UnreadCount implements tocsin.Store.
func (s *Store) UnreadCount(ctx context.Context, userID string) (int, error) {
	n, err := unreadCount(ctx, s.pool, userID, s.now())
	return n, classify(err)
}

// List implements tocsin.Store.
func (s *Store) List(ctx context.Context, userID string, q tocsin.ListQuery) (tocsin.Page, error) {
	if q.Now.IsZero() {
		q.Now = s.now()
	}
	p, err := list(ctx, s.pool, userID, q)
	return p, classify(err)
}

func list(ctx context.Context, db querier, userID string, q tocsin.ListQuery) (tocsin.Page, error) {
	if q.Limit <= 0 || q.Limit > tocsin.MaxListLimit {
		q.Limit = tocsin.DefaultListLimit
	}
	if q.Q != "" {
		return search(ctx, db, userID, q)
	}
	now := q.Now // set by the caller
	args := []any{userID, now.UnixMilli()}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where := listFilters(q, arg)
	if q.Before != "" {
		where = append(where, "id < "+arg(q.Before))
	}
	rows, err := db.Query(ctx, `SELECT `+selectCols+` FROM notifications WHERE `+
		strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT `+arg(q.Limit+1), args...)
	if err != nil {
		return tocsin.Page{}, fmt.Errorf("list notifications: %w", err)
	}
	ns, err := collectNotifications(rows)
	if err != nil {
		return tocsin.Page{}, fmt.Errorf("list notifications: %w", err)
	}
	page := tocsin.Page{Notifications: ns}
	if len(ns) > q.Limit {
		page.Notifications = ns[:q.Limit]
		page.NextBefore = ns[q.Limit-1].ID
	}
	page.UnreadCount, err = unreadCount(ctx, db, userID, now)
	return page, err
}

// listFilters is the WHERE of a list or a search: the user's ($1), unexpired ($2:
// now) items of q's status, types and tag; arg adds a parameter and names it.
func listFilters(q tocsin.ListQuery, arg func(any) string) []string {
	where := []string{"user_id = $1", "(expires_at IS NULL OR expires_at > $2)"}
	switch q.Status {
	case tocsin.StatusUnread:
		where = append(where, unreadCond)
	case tocsin.StatusRead:
		where = append(where, "read_at IS NOT NULL AND archived_at IS NULL")
	case tocsin.StatusArchived:
		where = append(where, "archived_at IS NOT NULL")
	default:
		where = append(where, "archived_at IS NULL")
	}
	if len(q.Types) > 0 {
		where = append(where, "type = ANY("+arg(q.Types)+")")
	}
	if q.Tag != "" {
		where = append(where, arg(q.Tag)+" = ANY(tags)")
	}
	return where
}

// Snapshot implements tocsin.Store: one repeatable-read transaction, so the list, the
// count and the head are of the same instant.
func (s *Store) Snapshot(ctx context.Context, userID string, q tocsin.ListQuery) (tocsin.Snapshot, error) {
	if q.Now.IsZero() {
		q.Now = s.now()
	}
	var snap tocsin.Snapshot
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		page, err := list(ctx, tx, userID, q)
		if err != nil {
			return err
		}
		head, _, err := streamBounds(ctx, tx, tocsin.UserStream(userID))
		snap = tocsin.Snapshot{Notifications: page.Notifications, UnreadCount: page.UnreadCount, Head: head}
		return err
	})
	return snap, classify(err)
}

// streamBounds returns the head and the oldest kept seq of a stream (0 and 1 when
// the stream has no events yet).
func streamBounds(ctx context.Context, q querier, stream tocsin.StreamID) (head, first uint64, err error) {
	var h, f int64
	err = q.QueryRow(ctx, `SELECT head, first_seq FROM streams WHERE stream = $1`, string(stream)).Scan(&h, &f)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 1, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("read stream head: %w", err)
	}
	return uint64(h), uint64(f), nil
}

// Head implements tocsin.Store.
func (s *Store) Head(ctx context.Context, stream tocsin.StreamID) (uint64, error) {
	head, _, err := streamBounds(ctx, s.pool, stream)
	return head, classify(err)
}

// Events implements tocsin.Store. The head is read in the same snapshot as the
// events, and a stream's commits are serialised, so no event at or below the head is
// still uncommitted: the page has no holes.
func (s *Store) Events(ctx context.Context, stream tocsin.StreamID, after uint64, limit int) ([]tocsin.Event, error) {
	var out []tocsin.Event
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		head, first, err := streamBounds(ctx, tx, stream)
		if err != nil {
			return err
		}
		if after > head || after+1 < first {
			return tocsin.Errorf(tocsin.EGone, "events after position %d are not available", after)
		}
		if after == head {
			return nil
		}
		rows, err := tx.Query(ctx, `SELECT seq, name, type, data, unread, created_at FROM events
			WHERE stream = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4`, string(stream), int64(after), int64(head), limit)
		if err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		var seq, created int64
		var name, typ string
		var data []byte
		var unread int32
		_, err = pgx.ForEachRow(rows, []any{&seq, &name, &typ, &data, &unread, &created}, func() error {
			out = append(out, tocsin.Event{Stream: stream, Seq: uint64(seq), Name: name, Type: typ,
				Data: append([]byte(nil), data...), Unread: int(unread), Time: fromMillis(created)})
			return nil
		})
		return err
	})
	return out, classify(err)
}

// Heads implements tocsin.Store: one query per tocsin.HeadsBatch ids.
func (s *Store) Heads(ctx context.Context, streams []tocsin.StreamID) ([]uint64, error) {
	heads := make([]uint64, len(streams))
	ids := make([]string, 0, min(len(streams), tocsin.HeadsBatch))
	found := make(map[string]uint64, min(len(streams), tocsin.HeadsBatch))
	for start := 0; start < len(streams); start += tocsin.HeadsBatch {
		batch := streams[start:min(start+tocsin.HeadsBatch, len(streams))]
		ids = ids[:0]
		for _, st := range batch {
			ids = append(ids, string(st))
		}
		clear(found)
		rows, err := s.pool.Query(ctx, `SELECT stream, head FROM streams WHERE stream = ANY($1)`, ids)
		if err != nil {
			return nil, classify(fmt.Errorf("read stream heads: %w", err))
		}
		var stream string
		var head int64
		if _, err := pgx.ForEachRow(rows, []any{&stream, &head}, func() error {
			found[stream] = uint64(head)
			return nil
		}); err != nil {
			return nil, classify(fmt.Errorf("read stream heads: %w", err))
		}
		for i, st := range batch {
			heads[start+i] = found[string(st)] // absent: no events yet
		}
	}
	return heads, nil
}
