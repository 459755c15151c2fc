package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tocsin/tocsin"
)

// querier is what both *sql.DB, *sql.Tx and *sql.Conn offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const notificationCols = `id, user_id, type, title, body, priority, tags, data, actor_id, entity_type,
	entity_id, action_url, image_url, group_key, count, created_at, seen_at, read_at, archived_at, expires_at`

// selectCols are the columns a read scans: notificationCols, which inserts write
// (a new item is never snoozed), and the snooze.
const selectCols = notificationCols + `, snoozed_until`

// unreadCond is the condition of an item that is unread: not read, not archived,
// not snoozed (tocsin.Notification.Unread).
const unreadCond = `read_at IS NULL AND archived_at IS NULL AND snoozed_until IS NULL`

type scanner interface{ Scan(dest ...any) error }

// The statements every change runs; stmts.go prepares them once.
const (
	sqlSavepoint          = `SAVEPOINT change`
	sqlRelease            = `RELEASE change`
	sqlRollbackRelease    = `ROLLBACK TO change`
	sqlInsertNotification = `INSERT INTO notifications (` + notificationCols + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlGetNotification = `SELECT ` + selectCols + ` FROM notifications
		WHERE id = ? AND user_id = ? AND (expires_at IS NULL OR expires_at > ?)`
	sqlUpdateReadState = `UPDATE notifications SET seen_at = ?, read_at = ?, archived_at = ?, snoozed_until = ? WHERE id = ?`
	sqlAdvanceHead     = `INSERT INTO streams (stream, head) VALUES (?, 1)
		ON CONFLICT (stream) DO UPDATE SET head = head + 1 RETURNING head`
	sqlInsertEvent = `INSERT INTO events (stream, seq, name, type, data, unread, created_at, ref, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	// A removed notification's earlier events become tombstones (forget.go): the one
	// at its publish's position, and those that name it as their ref.
	sqlForgetSeq = `UPDATE events SET name = '` + tocsin.EventDeleted + `', data = ?, ref = NULL, expires_at = NULL
		WHERE stream = ? AND seq = ?`
	sqlForgetRef = `UPDATE events INDEXED BY events_ref SET name = '` + tocsin.EventDeleted + `', data = ?, ref = NULL, expires_at = NULL
		WHERE ref = ? AND stream = ?`
	// The kept counter, less the expired items the sweep has not removed yet (found
	// through the expiry index: at most a second's worth).
	sqlUnreadCount = `SELECT coalesce((SELECT unread FROM streams WHERE stream = 'user:' || ?), 0) -
		(SELECT count(*) FROM notifications INDEXED BY notifications_expires
		 WHERE expires_at IS NOT NULL AND expires_at <= ?
		 AND user_id = ? AND ` + unreadCond + `)`
	// The counter lives in the user's stream row (a new row has no events: head 0).
	sqlAdjustUnread = `INSERT INTO streams (stream, head, unread) VALUES ('user:' || ?, 0, ?)
		ON CONFLICT (stream) DO UPDATE SET unread = unread + excluded.unread`
	sqlIdempotencyGet = `SELECT request_hash, result, created_at FROM idempotency WHERE scope = ? AND key = ?`
	sqlIdempotencyPut = `INSERT INTO idempotency (scope, key, request_hash, result, created_at)
		VALUES (?, ?, ?, ?, ?)`
	// Whether any unread item has expired and not been swept yet (rare: the sweep
	// runs every second by default), and how many of one user's.
	sqlAnyExpiredUnread = `SELECT EXISTS (SELECT 1 FROM notifications INDEXED BY notifications_expires
		WHERE expires_at IS NOT NULL AND expires_at <= ? AND ` + unreadCond + `)`
	sqlExpiredUnread = `SELECT count(*) FROM notifications INDEXED BY notifications_expires
		WHERE expires_at IS NOT NULL AND expires_at <= ? AND user_id = ? AND ` + unreadCond
)

func scanNotification(sc scanner) (tocsin.Notification, error) {
	var n tocsin.Notification
	var tags, data string
	var created int64
	var seen, read, archived, expires, snoozed sql.NullInt64
	err := sc.Scan(&n.ID, &n.UserID, &n.Type, &n.Title, &n.Body, &n.Priority, &tags, &data,
		&n.ActorID, &n.EntityType, &n.EntityID, &n.ActionURL, &n.ImageURL, &n.GroupKey, &n.Count,
		&created, &seen, &read, &archived, &expires, &snoozed)
	if err != nil {
		return n, err
	}
	if err := json.Unmarshal([]byte(tags), &n.Tags); err != nil {
		return n, fmt.Errorf("notification %s: tags: %w", n.ID, err)
	}
	n.Data = json.RawMessage(data)
	n.CreatedAt = fromMillis(created)
	n.SeenAt, n.ReadAt, n.ArchivedAt, n.ExpiresAt = nullTime(seen), nullTime(read), nullTime(archived), nullTime(expires)
	n.SnoozedUntil = nullTime(snoozed)
	n.Normalize()
	return n, nil
}

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func nullTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMillis(v.Int64)
	return &t
}

func millis(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

func insertNotification(ctx context.Context, q querier, n *tocsin.Notification) error {
	n.Normalize()
	tags, err := json.Marshal(n.Tags)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, sqlInsertNotification,
		n.ID, n.UserID, n.Type, n.Title, n.Body, n.Priority, string(tags), string(n.Data),
		n.ActorID, n.EntityType, n.EntityID, n.ActionURL, n.ImageURL, n.GroupKey, n.Count,
		n.CreatedAt.UnixMilli(), millis(n.SeenAt), millis(n.ReadAt), millis(n.ArchivedAt), millis(n.ExpiresAt))
	if err != nil {
		return fmt.Errorf("insert notification: %w", err)
	}
	return nil
}

// getNotification reads one of a user's notifications that has not expired.
func getNotification(ctx context.Context, q querier, userID, id string, now time.Time) (tocsin.Notification, error) {
	row := q.QueryRowContext(ctx, sqlGetNotification, id, userID, now.UnixMilli())
	n, err := scanNotification(row)
	if err == sql.ErrNoRows {
		return n, tocsin.Errorf(tocsin.ENotFound, "notification not found")
	}
	return n, err
}

// unreadCount returns a user's count of notifications that are not read, not
// archived and not expired at now: the kept counter, less the expired items the sweep
// has not removed yet (found through the expiry index: at most a second's worth).
func unreadCount(ctx context.Context, q querier, userID string, now time.Time) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, sqlUnreadCount, userID, now.UnixMilli(), userID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("unread count: %w", err)
	}
	return n, nil
}

// adjustUnread moves a user's unread counter by delta, in the change's transaction.
func adjustUnread(ctx context.Context, q querier, userID string, delta int) error {
	if delta == 0 {
		return nil
	}
	_, err := q.ExecContext(ctx, sqlAdjustUnread, userID, delta)
	if err != nil {
		return fmt.Errorf("unread counter: %w", err)
	}
	return nil
}

// unreadDelta is how a change from wasUnread to isUnread moves the counter.
func unreadDelta(wasUnread, isUnread bool) int {
	switch {
	case wasUnread && !isUnread:
		return -1
	case !wasUnread && isUnread:
		return 1
	}
	return 0
}

// appendChange appends ev for userID, about notification ref ("" for none: see
// appendEvent); when unreadChanged it first fills in the user's new unread count, so
// the stream's "unread" frame comes from the same transaction.
func appendChange(ctx context.Context, q querier, ev *tocsin.Event, ref, userID string, unreadChanged bool, now time.Time) error {
	if unreadChanged {
		n, err := unreadCount(ctx, q, userID, now)
		if err != nil {
			return err
		}
		ev.Unread = n
	}
	return appendEvent(ctx, q, ev, ref, nil)
}

// appendEvent appends one event to stream, assigning the next sequence number in the
// writer's transaction (the only writer, so sequences are gap-free in commit order).
// ref is the notification whose content the event carries, so that removing it
// forgets the event (forget.go); "" for an event that carries none. expires, when
// set, is when a topic notification's event is to be forgotten.
func appendEvent(ctx context.Context, q querier, ev *tocsin.Event, ref string, expires *time.Time) error {
	err := q.QueryRowContext(ctx, sqlAdvanceHead, string(ev.Stream)).Scan(&ev.Seq)
	if err != nil {
		return fmt.Errorf("advance stream head: %w", err)
	}
	var r any
	if ref != "" {
		r = ref
	}
	_, err = q.ExecContext(ctx, sqlInsertEvent, string(ev.Stream), ev.Seq, ev.Name, ev.Type, []byte(ev.Data), ev.Unread,
		ev.Time.UnixMilli(), r, millis(expires))
	if err != nil {
		return fmt.Errorf("insert event: %w", err)
	}
	return nil
}
