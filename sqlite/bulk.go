package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tocsin/tocsin"
)

// A publish to many userIds runs each of its statements over many rows at once,
// instead of once per recipient: a publish to 10,000 users is a few hundred
// statements, not 60,000.

// bulkMin is the recipient count from which a publish takes the bulk path.
const bulkMin = 8

// Rows per multi-row statement, kept well under SQLite's 32,766 parameters.
const (
	bulkNotificationRows = 1000  // × 20 parameters
	bulkKeyRows          = 10000 // × 1 parameter
	bulkEventRows        = 4000  // × 7 parameters
)

// publishBulk stores ns (distinct users, no group key, all unread) and their
// "notification" events.
func publishBulk(ctx context.Context, tx *wtx, ns []tocsin.Notification, now time.Time, res *tocsin.PublishResult) error {
	for i := range ns {
		ns[i].Normalize()
	}
	if err := chunked(len(ns), bulkNotificationRows, func(lo, hi int) error {
		args := make([]any, 0, (hi-lo)*20)
		for _, n := range ns[lo:hi] {
			tags, err := jsonTags(n.Tags)
			if err != nil {
				return err
			}
			args = append(args, n.ID, n.UserID, n.Type, n.Title, n.Body, n.Priority, tags, string(n.Data),
				n.ActorID, n.EntityType, n.EntityID, n.ActionURL, n.ImageURL, n.GroupKey, n.Count,
				n.CreatedAt.UnixMilli(), millis(n.SeenAt), millis(n.ReadAt), millis(n.ArchivedAt), millis(n.ExpiresAt))
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO notifications (`+notificationCols+`) VALUES `+
			placeholders(hi-lo, 20), args...)
		if err != nil {
			return fmt.Errorf("insert notifications: %w", err)
		}
		return nil
	}); err != nil {
		return err
	}

	// Each recipient gets one more unread; the counters' new values are the counts.
	counts := make(map[string]int, len(ns))
	if err := chunked(len(ns), bulkKeyRows, func(lo, hi int) error {
		args := make([]any, 0, hi-lo)
		for _, n := range ns[lo:hi] {
			args = append(args, n.UserID)
		}
		rows, err := tx.QueryContext(ctx, `INSERT INTO unread_counts (user_id, n) VALUES `+
			strings.TrimSuffix(strings.Repeat("(?, 1), ", hi-lo), ", ")+`
			ON CONFLICT (user_id) DO UPDATE SET n = n + 1 RETURNING user_id, n`, args...)
		if err != nil {
			return fmt.Errorf("unread counters: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var user string
			var c int
			if err := rows.Scan(&user, &c); err != nil {
				return err
			}
			counts[user] = c
		}
		return rows.Err()
	}); err != nil {
		return err
	}
	// Expired items the sweep has not removed yet are not unread any more: rare, so
	// the exact per-user count is taken only when some exist.
	var anyExpired bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM notifications INDEXED BY notifications_expires
		WHERE expires_at IS NOT NULL AND expires_at <= ? AND read_at IS NULL AND archived_at IS NULL)`,
		now.UnixMilli()).Scan(&anyExpired); err != nil {
		return fmt.Errorf("unread counts: %w", err)
	}
	if anyExpired {
		for _, n := range ns {
			c, err := unreadCount(ctx, tx, n.UserID, now)
			if err != nil {
				return err
			}
			counts[n.UserID] = c
		}
	}

	heads := make(map[string]uint64, len(ns))
	if err := chunked(len(ns), bulkKeyRows, func(lo, hi int) error {
		args := make([]any, 0, hi-lo)
		for _, n := range ns[lo:hi] {
			args = append(args, string(tocsin.UserStream(n.UserID)))
		}
		rows, err := tx.QueryContext(ctx, `INSERT INTO streams (stream, head) VALUES `+
			strings.TrimSuffix(strings.Repeat("(?, 1), ", hi-lo), ", ")+`
			ON CONFLICT (stream) DO UPDATE SET head = head + 1 RETURNING stream, head`, args...)
		if err != nil {
			return fmt.Errorf("advance stream heads: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var stream string
			var head uint64
			if err := rows.Scan(&stream, &head); err != nil {
				return err
			}
			heads[stream] = head
		}
		return rows.Err()
	}); err != nil {
		return err
	}

	res.Notifications = ns
	res.Events = make([]tocsin.Event, len(ns))
	for i := range ns {
		ev, err := notificationEvent(tocsin.EventNotification, &ns[i], now)
		if err != nil {
			return err
		}
		ev.Unread, ev.Seq = counts[ns[i].UserID], heads[string(ev.Stream)]
		if ev.Seq == 0 {
			return fmt.Errorf("bulk publish: no sequence for %s", ev.Stream)
		}
		res.Events[i] = ev
	}
	return chunked(len(ns), bulkEventRows, func(lo, hi int) error {
		args := make([]any, 0, (hi-lo)*7)
		for _, ev := range res.Events[lo:hi] {
			args = append(args, string(ev.Stream), ev.Seq, ev.Name, ev.Type, []byte(ev.Data), ev.Unread, ev.Time.UnixMilli())
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO events (stream, seq, name, type, data, unread, created_at) VALUES `+
			placeholders(hi-lo, 7), args...)
		if err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		return nil
	})
}

// chunked calls fn over [0, n) in ranges of at most size.
func chunked(n, size int, fn func(lo, hi int) error) error {
	for lo := 0; lo < n; lo += size {
		if err := fn(lo, min(lo+size, n)); err != nil {
			return err
		}
	}
	return nil
}

// placeholders returns rows groups of cols "?": "(?, ?), (?, ?)".
func placeholders(rows, cols int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(one+", ", rows), ", ")
}

func jsonTags(tags []string) (string, error) {
	b, err := json.Marshal(tags)
	return string(b), err
}

// distinctUsers reports whether every notification has its own user (the bulk path
// takes one sequence and one counter step per user).
func distinctUsers(ns []tocsin.Notification) bool {
	seen := make(map[string]struct{}, len(ns))
	for _, n := range ns {
		if _, dup := seen[n.UserID]; dup || n.UserID == "" {
			return false
		}
		seen[n.UserID] = struct{}{}
	}
	return true
}
