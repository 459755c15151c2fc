package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tocsin/tocsin"
)

// Publish implements tocsin.Store. The publish is queued for the writers (writer.go),
// which commit it together with whatever other publishes are queued: one
// transaction, one WAL flush, a handful of multi-row statements for all of them. It
// returns once that transaction has committed. A publish that must read before it
// writes and also carries an Idempotency-Key (a group key) runs alone instead, as
// does one whose key is past its window.
func (s *Store) Publish(ctx context.Context, req *tocsin.PublishRequest) (tocsin.PublishResult, error) {
	if len(req.Notifications) == 0 {
		return tocsin.PublishResult{}, tocsin.Errorf(tocsin.EInvalid, "nothing to publish")
	}
	j, err := newPubJob(ctx, req)
	if err != nil {
		return tocsin.PublishResult{}, err
	}
	if j != nil {
		for attempt := 0; ; attempt++ {
			err = s.queue(ctx, j)
			// A retry lost a race on its Idempotency-Key or repeated a key of its own
			// batch: once the other has committed, it runs again and replays it.
			if errors.Is(err, errRetry) && attempt < maxRetries {
				j.reset()
				continue
			}
			break
		}
		switch {
		case err == nil:
			return j.res, nil
		case !errors.Is(err, errSolo) && !errors.Is(err, errRetry):
			return tocsin.PublishResult{}, err
		}
	}
	return s.publishSolo(ctx, req)
}

// publishSolo runs a publish in a transaction of its own.
func (s *Store) publishSolo(ctx context.Context, req *tocsin.PublishRequest) (tocsin.PublishResult, error) {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return tocsin.PublishResult{}, errClosed
	}
	var res tocsin.PublishResult
	for attempt := 0; ; attempt++ {
		err := s.write(ctx, func(tx pgx.Tx) error {
			res = tocsin.PublishResult{}
			return publishTx(ctx, tx, req, &res)
		})
		// Two requests with one new Idempotency-Key raced: the loser runs again and
		// finds the winner's result.
		if attempt == 0 && isKeyRace(err) {
			continue
		}
		return res, err
	}
}

// isKeyRace reports whether err is the unique violation of an Idempotency-Key that a
// concurrent request committed first.
func isKeyRace(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && pe.TableName == "idempotency"
}

// publishTx is a publish statement by statement, for the one that runs alone and for
// a group-key publish in a writer's batch (each in a savepoint there). All
// recipients' streams are locked (in sorted order) first, so a concurrent publish to
// the same users, or a grouping fold, runs after this one and never interleaves.
func publishTx(ctx context.Context, tx pgx.Tx, req *tocsin.PublishRequest, res *tocsin.PublishResult) error {
	now := req.Notifications[0].CreatedAt
	if req.IdempotencyKey != "" {
		replayed, err := checkIdempotency(ctx, tx, req, now, res)
		if err != nil || replayed {
			return err
		}
	}
	if req.Topic != "" {
		n := req.Notifications[0]
		n.Normalize()
		ev, err := n.Event(tocsin.EventNotification, now)
		if err != nil {
			return err
		}
		ev.Stream = tocsin.TopicStream(req.Topic)
		first, err := reserve(ctx, tx, []tocsin.StreamID{ev.Stream})
		if err != nil {
			return err
		}
		ev.Seq = first[ev.Stream]
		if err := appendEvents(ctx, tx, []tocsin.Event{ev}, topicRefs(&n)); err != nil {
			return err
		}
		res.Notifications, res.Events = []tocsin.Notification{n}, []tocsin.Event{ev}
		return rememberIdempotency(ctx, tx, req, now, res)
	}
	ns := req.Notifications
	streams := make([]tocsin.StreamID, len(ns))
	users := make([]string, len(ns))
	for i := range ns {
		ns[i].Normalize()
		streams[i], users[i] = tocsin.UserStream(ns[i].UserID), ns[i].UserID
	}
	first, err := reserve(ctx, tx, streams)
	if err != nil {
		return err
	}
	tmpl := ns[0]
	groups := map[string]tocsin.Notification{} // user → unread item of the group key
	if tmpl.GroupKey != "" {
		if groups, err = groupTargets(ctx, tx, users, tmpl.GroupKey, now); err != nil {
			return err
		}
	}
	var fresh []tocsin.Notification
	var seqs []int64
	refs := make([]eventRef, len(ns))
	res.Notifications = make([]tocsin.Notification, len(ns))
	for i, n := range ns {
		if g, ok := groups[n.UserID]; ok {
			if err := fold(ctx, tx, &g, &n); err != nil {
				return err
			}
			res.Notifications[i] = g
			refs[i].id = g.ID // its event carries the item's content
			continue
		}
		fresh = append(fresh, n)
		seqs = append(seqs, int64(first[streams[i]]))
		res.Notifications[i] = n
	}
	if err := insertNotifications(ctx, tx, fresh, seqs); err != nil {
		return err
	}
	counts, err := unreadCounts(ctx, tx, users, now)
	if err != nil {
		return err
	}
	res.Events = make([]tocsin.Event, len(ns))
	var enc tocsin.NotificationEncoder // what the fresh copies share is encoded once
	for i := range res.Notifications {
		n := &res.Notifications[i]
		name := tocsin.EventNotification
		if _, folded := groups[n.UserID]; folded {
			name = tocsin.EventUpdated
		}
		ev, err := enc.Event(n, name, now)
		if err != nil {
			return err
		}
		if name == tocsin.EventNotification {
			ev.Unread = counts[n.UserID]
		}
		ev.Seq = first[ev.Stream]
		res.Events[i] = ev
	}
	if err := appendEvents(ctx, tx, res.Events, refs); err != nil {
		return err
	}
	return rememberIdempotency(ctx, tx, req, now, res)
}

// rememberIdempotency records the result of a publish with an Idempotency-Key.
func rememberIdempotency(ctx context.Context, tx pgx.Tx, req *tocsin.PublishRequest, now time.Time, res *tocsin.PublishResult) error {
	if req.IdempotencyKey == "" {
		return nil
	}
	result, err := json.Marshal(res.Notifications)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO idempotency (scope, key, request_hash, result, created_at)
		VALUES ($1, $2, $3, $4, $5)`, req.IdempotencyScope, req.IdempotencyKey, req.RequestHash, result, now.UnixMilli())
	return err // a unique violation makes Publish run again and replay
}

// checkIdempotency reports whether req repeats a remembered request, filling res
// with the first result; a key reused with another request is EConflict.
func checkIdempotency(ctx context.Context, tx pgx.Tx, req *tocsin.PublishRequest, now time.Time, res *tocsin.PublishResult) (bool, error) {
	var hash string
	var result []byte
	var created int64
	err := tx.QueryRow(ctx, `SELECT request_hash, result, created_at FROM idempotency
		WHERE scope = $1 AND key = $2`, req.IdempotencyScope, req.IdempotencyKey).Scan(&hash, &result, &created)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read idempotency key: %w", err)
	case now.Sub(fromMillis(created)) >= tocsin.IdempotencyWindow:
		_, err := tx.Exec(ctx, `DELETE FROM idempotency WHERE scope = $1 AND key = $2`, req.IdempotencyScope, req.IdempotencyKey)
		return false, err
	case hash != req.RequestHash:
		return false, tocsin.Errorf(tocsin.EConflict, "Idempotency-Key was already used with a different request")
	}
	if err := json.Unmarshal(result, &res.Notifications); err != nil {
		return false, fmt.Errorf("idempotency result: %w", err)
	}
	res.Replayed = true
	return true, nil
}

// insertNotifications inserts ns, which share everything but id and user (one
// publish's copies), in one statement however many recipients there are, each with
// the position of its event (seqs), so that deleting it forgets the event.
func insertNotifications(ctx context.Context, tx pgx.Tx, ns []tocsin.Notification, seqs []int64) error {
	if len(ns) == 0 {
		return nil
	}
	ids := make([]string, len(ns))
	users := make([]string, len(ns))
	for i := range ns {
		ids[i], users[i] = ns[i].ID, ns[i].UserID
	}
	n := ns[0]
	_, err := tx.Exec(ctx, `INSERT INTO notifications (`+notificationCols+`, seq)
		SELECT id, uid, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, seq
		FROM unnest($1::text[], $2::text[], $21::bigint[]) AS t(id, uid, seq)`,
		ids, users, n.Type, n.Title, n.Body, n.Priority, n.Tags, string(n.Data), n.ActorID, n.EntityType,
		n.EntityID, n.ActionURL, n.ImageURL, n.GroupKey, n.Count, n.CreatedAt.UnixMilli(),
		millis(n.SeenAt), millis(n.ReadAt), millis(n.ArchivedAt), millis(n.ExpiresAt), seqs)
	if err != nil {
		return fmt.Errorf("insert notifications: %w", err)
	}
	return nil
}

// groupTargets finds, per user, the newest unread item with the group key.
func groupTargets(ctx context.Context, tx pgx.Tx, users []string, key string, now time.Time) (map[string]tocsin.Notification, error) {
	// A snoozed item is not folded into (see sqlite's foldIntoGroup).
	rows, err := tx.Query(ctx, `SELECT DISTINCT ON (user_id) `+selectCols+` FROM notifications
		WHERE user_id = ANY($1) AND group_key = $2 AND `+unreadCond+`
		AND (expires_at IS NULL OR expires_at > $3) ORDER BY user_id, id DESC`, users, key, now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("find groups: %w", err)
	}
	ns, err := collectNotifications(rows)
	if err != nil {
		return nil, fmt.Errorf("find groups: %w", err)
	}
	out := make(map[string]tocsin.Notification, len(ns))
	for _, n := range ns {
		out[n.UserID] = n
	}
	return out, nil
}

// fold makes g the latest repeat n of its group (see sqlite's foldIntoGroup).
func fold(ctx context.Context, tx pgx.Tx, g, n *tocsin.Notification) error {
	g.Count++
	g.Title, g.Body, g.Data, g.Tags = n.Title, n.Body, n.Data, n.Tags
	g.ActorID, g.EntityType, g.EntityID = n.ActorID, n.EntityType, n.EntityID
	g.ActionURL, g.ImageURL, g.ExpiresAt = n.ActionURL, n.ImageURL, n.ExpiresAt
	g.Priority = max(g.Priority, n.Priority)
	g.SeenAt = nil
	g.Normalize()
	_, err := tx.Exec(ctx, `UPDATE notifications SET count = $1, title = $2, body = $3, data = $4, tags = $5,
		actor_id = $6, entity_type = $7, entity_id = $8, action_url = $9, image_url = $10, expires_at = $11,
		priority = $12, seen_at = NULL WHERE id = $13`,
		g.Count, g.Title, g.Body, string(g.Data), g.Tags, g.ActorID, g.EntityType, g.EntityID,
		g.ActionURL, g.ImageURL, millis(g.ExpiresAt), g.Priority, g.ID)
	if err != nil {
		return fmt.Errorf("fold into group: %w", err)
	}
	return nil
}

// unreadCounts returns the unread count of each user (0 for users with none).
func unreadCounts(ctx context.Context, tx pgx.Tx, users []string, now time.Time) (map[string]int, error) {
	rows, err := tx.Query(ctx, `SELECT user_id, count(*) FROM notifications
		WHERE user_id = ANY($1) AND `+unreadCond+`
		AND (expires_at IS NULL OR expires_at > $2) GROUP BY user_id`, users, now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("unread counts: %w", err)
	}
	out := make(map[string]int, len(users))
	var user string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&user, &n}, func() error { out[user] = n; return nil })
	if err != nil {
		return nil, fmt.Errorf("unread counts: %w", err)
	}
	return out, nil
}

// topicRefs is what a topic notification's event is about: an item that expires is
// found (and forgotten) by its expiry and id, having no inbox row.
func topicRefs(n *tocsin.Notification) []eventRef {
	if n.ExpiresAt == nil {
		return nil
	}
	return []eventRef{{id: n.ID, expires: n.ExpiresAt}}
}
