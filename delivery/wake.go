package delivery

import (
	"context"
	"time"

	"github.com/tocsin/tocsin"
)

// wakeSkew is how long a wake waits to try again when the hub's clock says its
// snooze has not ended yet (nodes' clocks differ a little): the snooze must end,
// never be dropped.
const wakeSkew = time.Second

// runWake ends a snooze (tocsin.JobWake) through the hub, so the item's
// notification:updated and unread count are announced on the bus to every node,
// and the webhooks and dismisses of any update follow. The store changes nothing
// when the item is no longer snoozed until at or before now (woken already,
// unsnoozed, or re-snoozed: that snooze has its own job), so a second run is a
// no-op; a deleted or expired item is one too.
func (e *Engine) runWake(ctx context.Context, j tocsin.Job) error {
	n, err := e.cfg.Hub.Update(ctx, j.UserID, j.Ref, tocsin.Patch{Wake: true})
	switch {
	case tocsin.ErrorCodeOf(err) == tocsin.ENotFound:
		return e.finish(ctx, j, tocsin.JobDone, "notification gone", 0)
	case err != nil:
		_, err := e.retry(ctx, j, err, 0)
		return err
	case n.SnoozedUntil != nil && n.SnoozedUntil.Equal(j.DueAt):
		// Still this snooze: the hub's now is before its end (clock skew).
		return ended(e.store.RetryJob(ctx, j.ID, j.DueAt.Add(wakeSkew), "not due yet by the hub's clock", 0))
	}
	return e.finish(ctx, j, tocsin.JobDone, "woken", 0)
}
