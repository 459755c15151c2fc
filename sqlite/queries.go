package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tocsin/tocsin"
)

// Get implements tocsin.Store.
func (s *Store) Get(ctx context.Context, userID, id string) (tocsin.Notification, error) {
	return getNotification(ctx, s.rs, userID, id, s.now())
}

// UnreadCount implements tocsin.Store.
func (s *Store) UnreadCount(ctx context.Context, userID string) (int, error) {
	return unreadCount(ctx, s.rs, userID, s.now())
}

// List implements tocsin.Store.
func (s *Store) List(ctx context.Context, userID string, q tocsin.ListQuery) (tocsin.Page, error) {
	if q.Now.IsZero() {
		q.Now = s.now()
	}
	return list(ctx, s.rs, userID, q)
}

func list(ctx context.Context, db querier, userID string, q tocsin.ListQuery) (tocsin.Page, error) {
	if q.Limit <= 0 || q.Limit > tocsin.MaxListLimit {
		q.Limit = tocsin.DefaultListLimit
	}
	if q.Q != "" {
		return search(ctx, db, userID, q)
	}
	now := q.Now // set by the caller
	where, args := listFilters(userID, q)
	if q.Before != "" {
		where = append(where, "id < ?")
		args = append(args, q.Before)
	}
	args = append(args, q.Limit+1)
	rows, err := db.QueryContext(ctx, `SELECT `+selectCols+` FROM notifications WHERE `+
		strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return tocsin.Page{}, fmt.Errorf("list notifications: %w", err)
	}
	defer rows.Close()
	var page tocsin.Page
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return page, err
		}
		page.Notifications = append(page.Notifications, n)
	}
	if err := rows.Err(); err != nil {
		return page, err
	}
	if len(page.Notifications) > q.Limit {
		page.Notifications = page.Notifications[:q.Limit]
		page.NextBefore = page.Notifications[q.Limit-1].ID
	}
	page.UnreadCount, err = unreadCount(ctx, db, userID, now)
	return page, err
}

// listFilters is the WHERE of a list or a search: the user's, unexpired items of
// q's status, types and tag. The columns it names are the notifications table's
// (qualified where a search's join could read them as the index's).
func listFilters(userID string, q tocsin.ListQuery) ([]string, []any) {
	where := []string{"user_id = ?", "(expires_at IS NULL OR expires_at > ?)"}
	args := []any{userID, q.Now.UnixMilli()}
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
		where = append(where, "type IN (?"+strings.Repeat(", ?", len(q.Types)-1)+")")
		for _, t := range q.Types {
			args = append(args, t)
		}
	}
	if q.Tag != "" {
		where = append(where, "EXISTS (SELECT 1 FROM json_each(notifications.tags) WHERE json_each.value = ?)")
		args = append(args, q.Tag)
	}
	return where, args
}

// Snapshot implements tocsin.Store: one read transaction, so the list, the count and
// the head are of the same instant.
func (s *Store) Snapshot(ctx context.Context, userID string, q tocsin.ListQuery) (tocsin.Snapshot, error) {
	if q.Now.IsZero() {
		q.Now = s.now()
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return tocsin.Snapshot{}, unavailable("begin read", err)
	}
	defer tx.Rollback()
	q2 := s.rs.in(tx)
	page, err := list(ctx, q2, userID, q)
	if err != nil {
		return tocsin.Snapshot{}, err
	}
	head, _, err := streamBounds(ctx, q2, tocsin.UserStream(userID))
	if err != nil {
		return tocsin.Snapshot{}, err
	}
	return tocsin.Snapshot{Notifications: page.Notifications, UnreadCount: page.UnreadCount, Head: head}, nil
}

// streamBounds returns the head and the oldest kept seq of a stream (0 and 1 when
// the stream has no events yet).
func streamBounds(ctx context.Context, q querier, stream tocsin.StreamID) (head, first uint64, err error) {
	err = q.QueryRowContext(ctx, `SELECT head, first_seq FROM streams WHERE stream = ?`, string(stream)).Scan(&head, &first)
	if err == sql.ErrNoRows {
		return 0, 1, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("read stream head: %w", err)
	}
	return head, first, nil
}

// Head implements tocsin.Store.
func (s *Store) Head(ctx context.Context, stream tocsin.StreamID) (uint64, error) {
	head, _, err := streamBounds(ctx, s.rs, stream)
	return head, err
}

// Heads implements tocsin.Store: one query per tocsin.HeadsBatch ids, which travel
// as one JSON array, so the statement's text is the same for every batch and is
// prepared once (reads.go).
func (s *Store) Heads(ctx context.Context, streams []tocsin.StreamID) ([]uint64, error) {
	heads := make([]uint64, len(streams))
	found := make(map[string]uint64, min(len(streams), tocsin.HeadsBatch))
	for start := 0; start < len(streams); start += tocsin.HeadsBatch {
		batch := streams[start:min(start+tocsin.HeadsBatch, len(streams))]
		ids, err := json.Marshal(batch)
		if err != nil {
			return nil, err
		}
		clear(found)
		if err := s.readHeads(ctx, ids, found); err != nil {
			return nil, err
		}
		for i, st := range batch {
			heads[start+i] = found[string(st)] // absent: no events yet
		}
	}
	return heads, nil
}

// readHeads adds to found the head of each stream of the JSON array ids that has one.
func (s *Store) readHeads(ctx context.Context, ids []byte, found map[string]uint64) error {
	rows, err := s.rs.QueryContext(ctx, `SELECT stream, head FROM streams
		WHERE stream IN (SELECT value FROM json_each(?))`, string(ids))
	if err != nil {
		return fmt.Errorf("read stream heads: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var stream string
		var head uint64
		if err := rows.Scan(&stream, &head); err != nil {
			return fmt.Errorf("read stream heads: %w", err)
		}
		found[stream] = head
	}
	return rows.Err()
}

// Events implements tocsin.Store.
func (s *Store) Events(ctx context.Context, stream tocsin.StreamID, after uint64, limit int) ([]tocsin.Event, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, unavailable("begin read", err)
	}
	defer tx.Rollback()
	q := s.rs.in(tx)
	head, first, err := streamBounds(ctx, q, stream)
	if err != nil {
		return nil, err
	}
	if after > head || after+1 < first {
		return nil, tocsin.Errorf(tocsin.EGone, "events after position %d are not available", after)
	}
	if after == head {
		return nil, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT seq, name, type, data, unread, created_at FROM events
		WHERE stream = ? AND seq > ? ORDER BY seq LIMIT ?`, string(stream), after, limit)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	var out []tocsin.Event
	for rows.Next() {
		ev := tocsin.Event{Stream: stream}
		var data []byte
		var created int64
		if err := rows.Scan(&ev.Seq, &ev.Name, &ev.Type, &data, &ev.Unread, &created); err != nil {
			return nil, err
		}
		ev.Data = data
		ev.Time = fromMillis(created)
		out = append(out, ev)
	}
	return out, rows.Err()
}
