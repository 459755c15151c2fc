package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tocsin/tocsin"
)

// updateState writes n's read state and snooze.
func updateState(ctx context.Context, tx pgx.Tx, n *tocsin.Notification) error {
	if _, err := tx.Exec(ctx, `UPDATE notifications SET seen_at = $1, read_at = $2, archived_at = $3, snoozed_until = $4
		WHERE id = $5`, millis(n.SeenAt), millis(n.ReadAt), millis(n.ArchivedAt), millis(n.SnoozedUntil), n.ID); err != nil {
		return fmt.Errorf("update notification: %w", err)
	}
	return nil
}

// replaceWake makes n's pending wake job match its snooze, in the transaction that
// changed it: the old one (re-snooze, unsnooze) goes, and a snooze gets a new one
// due at SnoozedUntil. A claim running the old one meanwhile finds the item
// re-snoozed or awake and changes nothing (tocsin.Patch.Wake).
func (s *Store) replaceWake(ctx context.Context, tx pgx.Tx, n *tocsin.Notification, now time.Time) error {
	if _, err := tx.Exec(ctx, `DELETE FROM jobs WHERE ref = $1 AND kind = $2 AND state = 'pending'`,
		n.ID, string(tocsin.JobWake)); err != nil {
		return fmt.Errorf("cancel wake: %w", err)
	}
	if n.SnoozedUntil == nil {
		return nil
	}
	_, err := tx.Exec(ctx, sqlAddJob, s.jobIDs.New(now), string(tocsin.JobWake), "", n.UserID, n.ID, "", "",
		"", int64(0), n.SnoozedUntil.UnixMilli(), []byte(nil), now.UnixMilli())
	if err != nil {
		return fmt.Errorf("add wake: %w", err)
	}
	return nil
}

// UpdateMany implements tocsin.Store: with the user's stream locked (as every
// change of the user's inbox), the items one by one, then one event for all that
// changed.
func (s *Store) UpdateMany(ctx context.Context, userID string, ids []string, p tocsin.Patch, now time.Time) ([]tocsin.Notification, []tocsin.Event, error) {
	if err := tocsin.CheckBulk(ids, p); err != nil {
		return nil, nil, err
	}
	var changed []tocsin.Notification
	var evs []tocsin.Event
	stream := tocsin.UserStream(userID)
	err := s.write(ctx, func(tx pgx.Tx) error {
		evs = nil
		head, err := lockStream(ctx, tx, stream)
		if err != nil {
			return err
		}
		var countMoved bool
		changed, _, countMoved, err = tocsin.ApplyEach(ids, p, now,
			func(id string) (tocsin.Notification, error) { return getNotification(ctx, tx, userID, id, now, false) },
			func(n *tocsin.Notification) error { return updateState(ctx, tx, n) })
		if err != nil || len(changed) == 0 {
			return err
		}
		ev, err := tocsin.UpdatedManyEvent(userID, changed, now)
		if err != nil {
			return err
		}
		if countMoved {
			if ev.Unread, err = unreadCount(ctx, tx, userID, now); err != nil {
				return err
			}
		}
		evs = []tocsin.Event{ev}
		if err := appendLocked(ctx, tx, stream, head, evs, nil); err != nil {
			return err
		}
		// The event carries each item's content: removing one forgets it there.
		refs := make([]string, len(changed))
		for i := range changed {
			refs[i] = changed[i].ID
		}
		if _, err := tx.Exec(ctx, `INSERT INTO event_refs (ref, stream, seq) SELECT unnest($1::text[]), $2, $3`,
			refs, string(stream), int64(evs[0].Seq)); err != nil {
			return fmt.Errorf("event refs: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return changed, evs, nil
}
