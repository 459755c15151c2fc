package delivery

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/webpush"
)

// Dismiss everywhere (PRODUCT.md §8): when a pushed notification is read,
// archived or deleted on one device, a {"type":"dismiss"} push closes it on every
// device of the user.

// maxDismissIDs bounds one dismiss message (and the delivery-log reads that
// check which ids were pushed): a read-all of thousands dismisses the newest.
const maxDismissIDs = 100

// dismissState is what dismissCandidates reads of an item in an event's data.
type dismissState struct {
	ID         string           `json:"id"`
	ReadAt     *json.RawMessage `json:"readAt"`
	ArchivedAt *json.RawMessage `json:"archivedAt"`
	Snoozed    *json.RawMessage `json:"snoozedUntil"`
}

// gone reports whether the item is off the user's devices: read, archived or
// snoozed (a snoozed item left the unread list; it comes back by a new push only if
// a channel still fires, so its old one must not linger on the lock screen).
func (d *dismissState) gone() bool {
	return d.ID != "" && (d.ReadAt != nil || d.ArchivedAt != nil || d.Snoozed != nil)
}

// dismissCandidates are the ids a committed event takes off the user's devices,
// and for a read-all past ReadAllMaxIDs the newest id it read ("before").
func dismissCandidates(ev *tocsin.Event) (ids []string, before string) {
	var d struct {
		dismissState
		IDs           []string       `json:"ids"`
		Before        string         `json:"before"`
		Notifications []dismissState `json:"notifications"`
	}
	switch ev.Name {
	case tocsin.EventUpdated, tocsin.EventDeleted, tocsin.EventRead, tocsin.EventUpdatedMany:
	default:
		return nil, ""
	}
	if json.Unmarshal(ev.Data, &d) != nil {
		return nil, ""
	}
	switch ev.Name {
	case tocsin.EventUpdated:
		if d.gone() {
			return []string{d.ID}, ""
		}
	case tocsin.EventUpdatedMany:
		for i := range d.Notifications {
			if d.Notifications[i].gone() {
				ids = append(ids, d.Notifications[i].ID)
			}
		}
		return ids, ""
	case tocsin.EventDeleted:
		if d.ID != "" {
			return []string{d.ID}, ""
		}
	case tocsin.EventRead:
		return d.IDs, d.Before
	}
	return nil, ""
}

// dismiss queues a dismiss push per subscription for each user whose committed
// events took pushed notifications away. Only those events cost store reads: the
// user's subscriptions first (none, the common case, ends it), then which ids
// were pushed.
func (e *Engine) dismiss(evs []tocsin.Event) {
	var ctx context.Context
	var jobs []tocsin.Job
	for i := range evs {
		ev := &evs[i]
		userID, ok := ev.Stream.UserID()
		if !ok {
			continue
		}
		ids, before := dismissCandidates(ev)
		if len(ids) == 0 && before == "" {
			continue
		}
		if ctx == nil {
			c, cancel := context.WithTimeout(context.Background(), committedTimeout)
			defer cancel()
			ctx = c
			if !e.pushInUse(ctx) {
				return // no user has a subscription: nothing to dismiss anywhere
			}
		}
		js, err := e.dismissJobs(ctx, ev, userID, ids, before)
		if err != nil {
			e.log.Warn("push dismiss", "user", userID, "err", err)
			e.obs.Error("dismiss")
			continue
		}
		jobs = append(jobs, js...)
	}
	if len(jobs) == 0 {
		return
	}
	if _, err := e.store.AddJobs(ctx, jobs); err != nil {
		e.log.Warn("queueing push dismisses", "err", err, "messages", len(jobs))
		e.obs.Error("dismiss")
		return
	}
	e.added(jobs)
}

func (e *Engine) dismissJobs(ctx context.Context, ev *tocsin.Event, userID string, ids []string, before string) ([]tocsin.Job, error) {
	subs, err := e.store.PushSubscriptions(ctx, userID)
	if err != nil || len(subs) == 0 {
		return nil, err
	}
	if before != "" {
		// A read-all too large to list its ids: the notifications pushed up to
		// before, newest first, as far as the push outbox remembers them.
		done, _, err := e.store.ListJobs(ctx, tocsin.JobQuery{Kind: tocsin.JobPush, UserID: userID,
			State: tocsin.JobDone, Limit: maxDismissIDs})
		if err != nil {
			return nil, err
		}
		for _, j := range done {
			if j.Channel == tocsin.ChannelPush && j.Ref <= before && !slices.Contains(ids, j.Ref) {
				ids = append(ids, j.Ref)
			}
		}
	}
	if len(ids) > maxDismissIDs {
		slices.Sort(ids)
		ids = ids[len(ids)-maxDismissIDs:]
	}
	var pushed []string
	for _, id := range ids {
		ok, err := e.pushed(ctx, userID, id)
		if err != nil {
			return nil, err
		}
		if ok {
			pushed = append(pushed, id)
		}
	}
	if len(pushed) == 0 {
		return nil, nil
	}
	unread := ev.Unread
	if unread == tocsin.UnreadUnchanged {
		if unread, err = e.store.UnreadCount(ctx, userID); err != nil {
			return nil, err
		}
	}
	msg, err := json.Marshal(pushMessage{Type: "dismiss", IDs: pushed, UnreadCount: unread})
	if err != nil {
		return nil, err
	}
	env := pushEnvelope{Message: msg, TTL: dismissTTL, Urgency: webpush.UrgencyNormal}
	if len(pushed) == 1 {
		// The same topic as the notification's push: a push service still holding
		// that push for an offline browser replaces it with the dismiss.
		env.Topic = webpush.TopicOf(pushed[0])
	}
	return e.pushJobs(subs, userID, pushed[0], "", "dismiss", string(ev.Stream)+":"+strconv.FormatUint(ev.Seq, 10), &env)
}
