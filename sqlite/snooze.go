package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/tocsin/tocsin"
)

// updateState writes n's read state and snooze.
func updateState(ctx context.Context, q querier, n *tocsin.Notification) error {
	if _, err := q.ExecContext(ctx, sqlUpdateReadState, millis(n.SeenAt), millis(n.ReadAt), millis(n.ArchivedAt),
		millis(n.SnoozedUntil), n.ID); err != nil {
		return fmt.Errorf("update notification: %w", err)
	}
	return nil
}

// replaceWake makes n's pending wake job match its snooze, in the transaction that
// changed it: the old one (re-snooze, unsnooze) goes, and a snooze gets a new one
// due at SnoozedUntil. A claim running the old one meanwhile finds the item
// re-snoozed or awake and changes nothing (tocsin.Patch.Wake).
func (s *Store) replaceWake(ctx context.Context, q querier, n *tocsin.Notification, now time.Time) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM jobs INDEXED BY jobs_ref WHERE ref = ? AND kind = ? AND state = 'pending'`,
		n.ID, string(tocsin.JobWake)); err != nil {
		return fmt.Errorf("cancel wake: %w", err)
	}
	if n.SnoozedUntil == nil {
		return nil
	}
	_, err := q.ExecContext(ctx, sqlAddJob, s.jobIDs.New(now), string(tocsin.JobWake), "", n.UserID, n.ID, "", "",
		"", 0, n.SnoozedUntil.UnixMilli(), nil, now.UnixMilli())
	if err != nil {
		return fmt.Errorf("add wake: %w", err)
	}
	return nil
}

// UpdateMany implements tocsin.Store: the items one by one in one transaction,
// then one event for all that changed.
func (s *Store) UpdateMany(ctx context.Context, userID string, ids []string, p tocsin.Patch, now time.Time) ([]tocsin.Notification, []tocsin.Event, error) {
	if err := tocsin.CheckBulk(ids, p); err != nil {
		return nil, nil, err
	}
	var changed []tocsin.Notification
	var evs []tocsin.Event
	err := s.write(ctx, func(tx *wtx) error {
		evs = nil
		var delta int
		var moved bool
		var err error
		changed, delta, moved, err = tocsin.ApplyEach(ids, p, now,
			func(id string) (tocsin.Notification, error) { return getNotification(ctx, tx, userID, id, now) },
			func(n *tocsin.Notification) error { return updateState(ctx, tx, n) })
		if err != nil || len(changed) == 0 {
			return err
		}
		if err := adjustUnread(ctx, tx, userID, delta); err != nil {
			return err
		}
		ev, err := tocsin.UpdatedManyEvent(userID, changed, now)
		if err != nil {
			return err
		}
		if err := appendChange(ctx, tx, &ev, "", userID, moved, now); err != nil {
			return err
		}
		// The event carries each item's content: removing one forgets it there.
		for i := range changed {
			if _, err := tx.ExecContext(ctx, `INSERT INTO event_refs (ref, stream, seq) VALUES (?, ?, ?)`,
				changed[i].ID, string(ev.Stream), ev.Seq); err != nil {
				return fmt.Errorf("event refs: %w", err)
			}
		}
		evs = []tocsin.Event{ev}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return changed, evs, nil
}
