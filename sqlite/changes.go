package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tocsin/tocsin"
)

// Publish implements tocsin.Store.
func (s *Store) Publish(ctx context.Context, req *tocsin.PublishRequest) (tocsin.PublishResult, error) {
	if len(req.Notifications) == 0 {
		return tocsin.PublishResult{}, tocsin.Errorf(tocsin.EInvalid, "nothing to publish")
	}
	var res tocsin.PublishResult
	job, err := newPubJob(req, &res)
	if err != nil {
		return res, err
	}
	c := &change{pub: job, fn: func(tx *wtx) error {
		res = tocsin.PublishResult{}
		return publishTx(tx, req, job, &res)
	}}
	if err := s.queue(ctx, c); err != nil {
		return tocsin.PublishResult{}, err
	}
	return res, nil
}

// publishTx is a publish on its own (not merged with others): one with a topic or a
// group key, or one the writer could not merge.
func publishTx(tx *wtx, req *tocsin.PublishRequest, job *pubJob, res *tocsin.PublishResult) error {
	now := req.Notifications[0].CreatedAt
	if req.IdempotencyKey != "" {
		replayed, err := checkIdempotency(tx, req, now, res, true)
		if err != nil || replayed {
			return err
		}
	}
	if job != nil {
		return publishRows(tx, []*pubJob{job})
	}
	if req.Topic != "" {
		if err := publishTopic(bg, tx, req, now, res); err != nil {
			return err
		}
		return rememberIdempotency(bg, tx, req, now, res)
	}
	res.Notifications = make([]tocsin.Notification, len(req.Notifications))
	res.Events = make([]tocsin.Event, 0, len(req.Notifications))
	var enc tocsin.NotificationEncoder // what the copies share is encoded once
	for i := range req.Notifications {
		n := req.Notifications[i]
		if n.GroupKey != "" {
			grouped, ev, ok, err := foldIntoGroup(bg, tx, &n, now)
			if err != nil {
				return err
			}
			if ok {
				res.Notifications[i] = grouped
				res.Events = append(res.Events, ev)
				continue
			}
		}
		if err := insertNotification(bg, tx, &n); err != nil {
			return err
		}
		if err := adjustUnread(bg, tx, n.UserID, unreadDelta(false, n.Unread())); err != nil {
			return err
		}
		ev, err := enc.Event(&n, tocsin.EventNotification, now)
		if err != nil {
			return err
		}
		if ev.Unread, err = unreadCount(bg, tx, n.UserID, now); err != nil {
			return err
		}
		if err := appendEvent(bg, tx, &ev, n.ID, nil); err != nil {
			return err
		}
		res.Notifications[i] = n
		res.Events = append(res.Events, ev)
	}
	return rememberIdempotency(bg, tx, req, now, res)
}

// errKeyExpired: the request's Idempotency-Key was used more than the window ago;
// the old record must go before the key is used again.
var errKeyExpired = errors.New("idempotency key expired")

// checkIdempotency looks req's key up. A repeat of the same request fills res with
// the first result (replayed); a different request with the key is EConflict. A key
// older than the window is deleted when del is set, else errKeyExpired.
func checkIdempotency(tx *wtx, req *tocsin.PublishRequest, now time.Time, res *tocsin.PublishResult, del bool) (bool, error) {
	var hash string
	var result []byte
	var created int64
	err := tx.QueryRowContext(bg, sqlIdempotencyGet, req.IdempotencyScope, req.IdempotencyKey).Scan(&hash, &result, &created)
	switch {
	case err == sql.ErrNoRows:
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read idempotency key: %w", err)
	case now.Sub(fromMillis(created)) >= tocsin.IdempotencyWindow:
		if !del {
			return false, errKeyExpired
		}
		if _, err := tx.ExecContext(bg, `DELETE FROM idempotency WHERE scope = ? AND key = ?`,
			req.IdempotencyScope, req.IdempotencyKey); err != nil {
			return false, err
		}
		return false, nil
	case hash != req.RequestHash:
		return false, tocsin.Errorf(tocsin.EConflict, "Idempotency-Key was already used with a different request")
	default:
		if err := json.Unmarshal(result, &res.Notifications); err != nil {
			return false, fmt.Errorf("idempotency result: %w", err)
		}
		res.Replayed = true
		return true, nil
	}
}

// rememberIdempotency records the result of a publish with an Idempotency-Key.
func rememberIdempotency(ctx context.Context, tx *wtx, req *tocsin.PublishRequest, now time.Time, res *tocsin.PublishResult) error {
	if req.IdempotencyKey == "" {
		return nil
	}
	result, err := json.Marshal(res.Notifications)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, sqlIdempotencyPut, req.IdempotencyScope, req.IdempotencyKey, req.RequestHash, result, now.UnixMilli()); err != nil {
		return fmt.Errorf("store idempotency key: %w", err)
	}
	return nil
}

// publishTopic appends the request's one notification to the topic's stream.
func publishTopic(ctx context.Context, tx *wtx, req *tocsin.PublishRequest, now time.Time, res *tocsin.PublishResult) error {
	n := req.Notifications[0]
	n.Normalize()
	ev, err := n.Event(tocsin.EventNotification, now)
	if err != nil {
		return err
	}
	ev.Stream = tocsin.TopicStream(req.Topic)
	// A topic notification has no inbox row: one that expires is found (and
	// forgotten) by its event's expiry and ref.
	ref := ""
	if n.ExpiresAt != nil {
		ref = n.ID
	}
	if err := appendEvent(ctx, tx, &ev, ref, n.ExpiresAt); err != nil {
		return err
	}
	res.Notifications, res.Events = []tocsin.Notification{n}, []tocsin.Event{ev}
	return nil
}

// foldIntoGroup folds n into the user's unread notification with the same group key,
// if there is one: its count grows, its content becomes n's (the latest repeat) and
// it is unseen again. It runs in the writer's transaction, so concurrent publishes of
// one group fold one after another and no repeat is lost.
func foldIntoGroup(ctx context.Context, tx *wtx, n *tocsin.Notification, now time.Time) (tocsin.Notification, tocsin.Event, bool, error) {
	// A snoozed item is not folded into: the repeat is news, not something to hide
	// until the snooze ends.
	row := tx.QueryRowContext(ctx, `SELECT `+selectCols+` FROM notifications
		WHERE user_id = ? AND group_key = ? AND `+unreadCond+`
		AND (expires_at IS NULL OR expires_at > ?) ORDER BY id DESC LIMIT 1`, n.UserID, n.GroupKey, now.UnixMilli())
	g, err := scanNotification(row)
	if err == sql.ErrNoRows {
		return g, tocsin.Event{}, false, nil
	}
	if err != nil {
		return g, tocsin.Event{}, false, fmt.Errorf("find group: %w", err)
	}
	g.Count++
	g.Title, g.Body, g.Data, g.Tags = n.Title, n.Body, n.Data, n.Tags
	g.ActorID, g.EntityType, g.EntityID = n.ActorID, n.EntityType, n.EntityID
	g.ActionURL, g.ImageURL, g.ExpiresAt = n.ActionURL, n.ImageURL, n.ExpiresAt
	g.Priority = max(g.Priority, n.Priority)
	g.SeenAt = nil
	g.Normalize()
	tags, err := json.Marshal(g.Tags)
	if err != nil {
		return g, tocsin.Event{}, false, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE notifications SET count = ?, title = ?, body = ?, data = ?, tags = ?,
		actor_id = ?, entity_type = ?, entity_id = ?, action_url = ?, image_url = ?, expires_at = ?,
		priority = ?, seen_at = NULL WHERE id = ?`,
		g.Count, g.Title, g.Body, string(g.Data), string(tags), g.ActorID, g.EntityType, g.EntityID,
		g.ActionURL, g.ImageURL, millis(g.ExpiresAt), g.Priority, g.ID); err != nil {
		return g, tocsin.Event{}, false, fmt.Errorf("fold into group: %w", err)
	}
	ev, err := g.Event(tocsin.EventUpdated, now)
	if err != nil {
		return g, ev, false, err
	}
	// Still one unread item: the count does not change.
	if err := appendEvent(ctx, tx, &ev, g.ID, nil); err != nil {
		return g, ev, false, err
	}
	return g, ev, true, nil
}

// AppendCustom implements tocsin.Store.
func (s *Store) AppendCustom(ctx context.Context, stream tocsin.StreamID, name string, data []byte, now time.Time) (tocsin.Event, error) {
	ev := tocsin.Event{Stream: stream, Name: name, Type: name, Data: data, Unread: tocsin.UnreadUnchanged, Time: now}
	err := s.write(ctx, func(tx *wtx) error { return appendEvent(ctx, tx, &ev, "", nil) })
	return ev, err
}

// Update implements tocsin.Store.
func (s *Store) Update(ctx context.Context, userID, id string, p tocsin.Patch, now time.Time) (tocsin.Notification, []tocsin.Event, error) {
	var n tocsin.Notification
	var evs []tocsin.Event
	err := s.write(ctx, func(tx *wtx) error {
		evs = nil
		var err error
		if n, err = getNotification(ctx, tx, userID, id, now); err != nil {
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
		if err := adjustUnread(ctx, tx, userID, unreadDelta(wasUnread, n.Unread())); err != nil {
			return err
		}
		if err := appendChange(ctx, tx, &ev, n.ID, userID, wasUnread != n.Unread(), now); err != nil {
			return err
		}
		evs = []tocsin.Event{ev}
		return nil
	})
	return n, evs, err
}

// Delete implements tocsin.Store.
func (s *Store) Delete(ctx context.Context, userID, id string, now time.Time) ([]tocsin.Event, error) {
	var evs []tocsin.Event
	err := s.write(ctx, func(tx *wtx) error {
		evs = nil
		n, err := getNotification(ctx, tx, userID, id, now)
		if err != nil {
			return err
		}
		var seq sql.NullInt64
		if err := tx.QueryRowContext(ctx, `DELETE FROM notifications WHERE id = ? RETURNING seq`, n.ID).Scan(&seq); err != nil {
			return fmt.Errorf("delete notification: %w", err)
		}
		stream := tocsin.UserStream(userID)
		if err := forget(tx, stream, n.ID, seq); err != nil {
			return err
		}
		ev := tocsin.Event{Stream: stream, Name: tocsin.EventDeleted, Type: n.Type,
			Data: tombstone(n.ID), Unread: tocsin.UnreadUnchanged, Time: now}
		if err := adjustUnread(ctx, tx, userID, unreadDelta(n.Unread(), false)); err != nil {
			return err
		}
		if err := appendChange(ctx, tx, &ev, "", userID, n.Unread(), now); err != nil {
			return err
		}
		evs = []tocsin.Event{ev}
		return nil
	})
	return evs, err
}

// ReadAll implements tocsin.Store: one statement marks the items read (through the
// index of unread items) and one event tells the streams.
func (s *Store) ReadAll(ctx context.Context, userID string, now time.Time) (int, []tocsin.Event, error) {
	var evs []tocsin.Event
	var read int
	err := s.write(ctx, func(tx *wtx) error {
		evs, read = nil, 0
		rows, err := tx.QueryContext(ctx, `UPDATE notifications SET read_at = ?1, seen_at = coalesce(seen_at, ?1)
			WHERE user_id = ?2 AND `+unreadCond+`
			AND (expires_at IS NULL OR expires_at > ?1) RETURNING id`, now.UnixMilli(), userID)
		if err != nil {
			return fmt.Errorf("mark read: %w", err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("mark read: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		if err := adjustUnread(ctx, tx, userID, -len(ids)); err != nil {
			return err
		}
		data, err := tocsin.ReadAllData(ids, now)
		if err != nil {
			return err
		}
		ev := tocsin.Event{Stream: tocsin.UserStream(userID), Name: tocsin.EventRead, Data: data,
			Unread: tocsin.UnreadUnchanged, Time: now}
		if err := appendChange(ctx, tx, &ev, "", userID, true, now); err != nil {
			return err
		}
		evs, read = []tocsin.Event{ev}, len(ids)
		return nil
	})
	return read, evs, err
}

// PutTicket implements tocsin.Store. It also sweeps expired tickets.
func (s *Store) PutTicket(ctx context.Context, t tocsin.Ticket) error {
	return s.write(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM tickets WHERE expires_at <= ?`, time.Now().UnixMilli()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO tickets (hash, user_id, expires_at) VALUES (?, ?, ?)`,
			t.Hash, t.UserID, t.ExpiresAt.UnixMilli())
		return err
	})
}

// RedeemTicket implements tocsin.Store.
func (s *Store) RedeemTicket(ctx context.Context, hash string, now time.Time) (string, error) {
	var user string
	err := s.write(ctx, func(tx *wtx) error {
		var exp int64
		err := tx.QueryRowContext(ctx, `DELETE FROM tickets WHERE hash = ? RETURNING user_id, expires_at`, hash).Scan(&user, &exp)
		if err == sql.ErrNoRows || (err == nil && exp <= now.UnixMilli()) {
			return tocsin.Errorf(tocsin.EUnauthorized, "stream ticket is unknown, used or expired")
		}
		return err
	})
	return user, err
}
