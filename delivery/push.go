package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/webpush"
)

// Web Push (PRODUCT.md §8): an escalation on "push" queues one outbox job per
// subscription of the user; each job encrypts and sends its message with the
// PushSender and handles the push service's answer (webpush/doc.go).

// PushSender sends one Web Push message (webpush.Sender).
type PushSender interface {
	Send(ctx context.Context, sub webpush.Subscription, payload []byte, opts webpush.Options) (int, error)
}

// ReasonNoPushSubscription: the user has no browser subscribed to push.
const ReasonNoPushSubscription = "no push subscription"

// dismissTTL: a dismiss that cannot reach a device within a day has nothing
// left to close (the device's notification is long stale, or the device gone).
const dismissTTL = 24 * time.Hour

// pushEnvelope is a JobPush's payload: the message (the JSON the service worker
// gets) and the options it is sent with. ExpiresAt, not a TTL, is kept so that a
// retry's TTL is what is left of it.
type pushEnvelope struct {
	Message   json.RawMessage `json:"message"`
	ExpiresAt *time.Time      `json:"expiresAt,omitempty"`
	TTL       time.Duration   `json:"ttl,omitempty"` // when ExpiresAt is nil; 0: webpush.DefaultTTL
	Urgency   string          `json:"urgency,omitempty"`
	Topic     string          `json:"topic,omitempty"`
}

func (p *pushEnvelope) options(now time.Time) webpush.Options {
	o := webpush.Options{TTL: p.TTL, Urgency: p.Urgency, Topic: p.Topic}
	if p.ExpiresAt != nil {
		o.TTL = max(p.ExpiresAt.Sub(now), -1) // expired: only a connected browser
		if o.TTL == 0 {
			o.TTL = -1
		}
	}
	return o
}

// pushMessage is the service worker's message.
type pushMessage struct {
	Type         string                     `json:"type"` // "notification" or "dismiss"
	Notification map[string]json.RawMessage `json:"notification,omitempty"`
	IDs          []string                   `json:"ids,omitempty"`
	UnreadCount  int                        `json:"unreadCount"`
	ReadTicket   string                     `json:"readTicket,omitempty"`
}

// pushChannel is the "push" channel: one job per subscription; the jobs log sent
// (when any browser's push service took it) or failed.
type pushChannel struct{ e *Engine }

func (c pushChannel) Deliver(ctx context.Context, d Escalation) (Outcome, error) {
	e := c.e
	n := &d.Notification
	subs, err := e.store.PushSubscriptions(ctx, n.UserID)
	if err != nil {
		return Outcome{}, err
	}
	if len(subs) == 0 {
		return skipped(ReasonNoPushSubscription), nil
	}
	unread, err := e.store.UnreadCount(ctx, n.UserID)
	if err != nil {
		return Outcome{}, err
	}
	raw, err := json.Marshal(n)
	if err != nil {
		return Outcome{}, err
	}
	var ticket string
	if e.cfg.ReadTicket != nil {
		ticket = e.cfg.ReadTicket(n.UserID, n.ID)
	}
	msg, err := json.Marshal(struct {
		Type         string          `json:"type"`
		Notification json.RawMessage `json:"notification"`
		UnreadCount  int             `json:"unreadCount"`
		ReadTicket   string          `json:"readTicket,omitempty"`
	}{"notification", raw, unread, ticket})
	if err != nil {
		return Outcome{}, err
	}
	env := pushEnvelope{Message: msg, ExpiresAt: n.ExpiresAt, Urgency: webpush.UrgencyOf(n.Priority),
		Topic: webpush.TopicOf(n.ID)}
	jobs, err := e.pushJobs(subs, n.UserID, n.ID, tocsin.ChannelPush, "push", n.ID, &env)
	if err != nil {
		return Outcome{}, err
	}
	// The push jobs log sent or failed; until then the row says scheduled.
	if err := e.record(ctx, d.Job.UserID, d.Job.Ref, tocsin.ChannelPush, tocsin.DeliveryScheduled, "", d.Job.Attempts); err != nil {
		return Outcome{}, err
	}
	if _, err := e.store.AddJobs(ctx, jobs); err != nil {
		return Outcome{}, err
	}
	e.added(jobs)
	return Outcome{}, nil
}

// pushJobs makes one JobPush per subscription, each keyed kind:subscription:what
// (so a replayed escalation or event queues nothing twice).
func (e *Engine) pushJobs(subs []tocsin.PushSubscription, userID, ref, channel, kind, what string, env *pushEnvelope) ([]tocsin.Job, error) {
	payload, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	now := e.now()
	jobs := make([]tocsin.Job, 0, len(subs))
	for i := range subs {
		jobs = append(jobs, tocsin.Job{
			ID: e.ids.New(now), CreatedAt: now, Kind: tocsin.JobPush, Key: kind + ":" + subs[i].ID + ":" + what,
			UserID: userID, Ref: ref, Channel: channel, Target: subs[i].ID, DueAt: now, Payload: payload,
		})
	}
	return jobs, nil
}

// pushUseCache is whether any user has a push subscription, and when that was
// read: a server whose users never subscribed adds no push timers (each would
// cost a publish store writes only to log "skipped").
type pushUseCache struct {
	any bool
	at  time.Time
}

// pushInUse reports whether any user has a push subscription, as read at most
// endpointRefresh ago (a subscription on another node counts within that).
func (e *Engine) pushInUse(ctx context.Context) bool {
	now := e.now()
	if c := e.pushUse.Load(); c != nil && now.Sub(c.at) < endpointRefresh && now.Sub(c.at) >= 0 {
		return c.any
	}
	found, err := e.store.AnyPushSubscriptions(ctx)
	if err != nil {
		return true // let the timer find out
	}
	e.pushUse.Store(&pushUseCache{found, now})
	return found
}

// PushSubscribed tells the engine that a user subscribed on this node, so that
// the next publish adds push timers without waiting for the cache to expire.
func (e *Engine) PushSubscribed() { e.pushUse.Store(&pushUseCache{true, e.now()}) }

// errNoSubscription: the job's subscription was removed before it ran.
var errNoSubscription = errors.New("push subscription gone")

// runPush sends one push message: done when the push service took it; failed
// (and the subscription deleted) when the service says it is gone; retried with
// backoff when the service is unavailable; a message too large is sent again
// without the notification's data, then without its body.
func (e *Engine) runPush(ctx context.Context, j tocsin.Job) error {
	if e.cfg.Push == nil {
		return e.finish(ctx, j, tocsin.JobFailed, "push is off", 0)
	}
	sub, err := e.pushSubscription(ctx, j.UserID, j.Target)
	if errors.Is(err, errNoSubscription) {
		return e.pushFailed(ctx, j, err, 0)
	}
	if err != nil {
		return err
	}
	var env pushEnvelope
	if err := json.Unmarshal(j.Payload, &env); err != nil {
		return e.pushFailed(ctx, j, fmt.Errorf("bad push job payload: %w", err), 0)
	}
	ws := webpush.Subscription{Endpoint: sub.Endpoint, P256dh: sub.P256dh, Auth: sub.Auth}
	msg := []byte(env.Message)
	var status int
	for _, drop := range []string{"", "data", "body"} {
		if drop != "" {
			if msg, err = withoutField(msg, drop); err != nil {
				err = tocsin.PermanentError(0, err)
				break
			}
		}
		status, err = e.cfg.Push.Send(ctx, ws, msg, env.options(e.now()))
		if !errors.Is(err, webpush.ErrTooLarge) {
			break
		}
	}
	if err == nil {
		// Done first, then the row: a concurrent failure of another subscription
		// that wrote its row in between sees this job done (recordPush).
		if err := e.finish(ctx, j, tocsin.JobDone, "", status); err != nil || j.Channel != tocsin.ChannelPush {
			return err
		}
		return e.record(ctx, j.UserID, j.Ref, tocsin.ChannelPush, tocsin.DeliverySent, "", j.Attempts)
	}
	if status == 0 {
		status = statusOf(err)
	}
	switch {
	case errors.Is(err, webpush.ErrGone):
		// The browser unsubscribed, or the subscription expired: it never works again.
		if derr := e.store.DeletePushSubscription(ctx, j.UserID, j.Target); derr != nil && tocsin.ErrorCodeOf(derr) != tocsin.ENotFound {
			return derr
		}
		return e.pushFailed(ctx, j, errors.New("gone"), status)
	case !tocsin.IsPermanent(err):
		gaveUp, ferr := e.retry(ctx, j, err, status)
		if ferr != nil {
			return ferr
		}
		if gaveUp {
			return e.recordPushFailure(ctx, j, err)
		}
		return e.recordPush(ctx, j, tocsin.DeliveryScheduled, retryingReason+err.Error())
	}
	return e.pushFailed(ctx, j, err, status)
}

func (e *Engine) pushSubscription(ctx context.Context, userID, id string) (tocsin.PushSubscription, error) {
	subs, err := e.store.PushSubscriptions(ctx, userID)
	if err != nil {
		return tocsin.PushSubscription{}, err
	}
	for _, s := range subs {
		if s.ID == id {
			return s, nil
		}
	}
	return tocsin.PushSubscription{}, errNoSubscription
}

func (e *Engine) pushFailed(ctx context.Context, j tocsin.Job, cause error, status int) error {
	if err := e.finish(ctx, j, tocsin.JobFailed, cause.Error(), status); err != nil {
		return err
	}
	return e.recordPushFailure(ctx, j, cause)
}

// recordPushFailure logs a notification push's failure, unless another
// subscription of the user took it already: the row says sent when any did.
func (e *Engine) recordPushFailure(ctx context.Context, j tocsin.Job, cause error) error {
	return e.recordPush(ctx, j, tocsin.DeliveryFailed, cause.Error())
}

// recordPush logs a notification push's status (failed, or scheduled while it is
// retried) unless another browser took it: the row stays or becomes sent. A
// dismiss has no row.
//
// The jobs of one notification's subscriptions run concurrently, and a success
// finishes its job before it writes sent. So after writing its own row, a
// failure looks for a done job of the notification: if one finished before that
// look, the failure writes sent back; if not, that job's sent comes later and
// wins. Either way the row ends sent when any browser took the push.
func (e *Engine) recordPush(ctx context.Context, j tocsin.Job, status, reason string) error {
	if j.Channel != tocsin.ChannelPush {
		return nil
	}
	if sent, err := e.pushed(ctx, j.UserID, j.Ref); err != nil || sent {
		return err
	}
	if err := e.record(ctx, j.UserID, j.Ref, tocsin.ChannelPush, status, reason, j.Attempts); err != nil {
		return err
	}
	done, _, err := e.store.ListJobs(ctx, tocsin.JobQuery{Kind: tocsin.JobPush, UserID: j.UserID, Ref: j.Ref,
		State: tocsin.JobDone, Limit: 2 * tocsin.MaxPushSubscriptions})
	if err != nil {
		return err
	}
	for _, d := range done {
		if d.Channel == tocsin.ChannelPush { // not a dismiss (whose Ref may be the same id)
			return e.record(ctx, j.UserID, j.Ref, tocsin.ChannelPush, tocsin.DeliverySent, "", d.Attempts)
		}
	}
	return nil
}

// pushed reports whether the user's notification id was pushed (its push row
// says sent).
func (e *Engine) pushed(ctx context.Context, userID, id string) (bool, error) {
	rows, err := e.store.Deliveries(ctx, userID, id)
	if err != nil {
		return false, err
	}
	for _, d := range rows {
		if d.Channel == tocsin.ChannelPush && d.Status == tocsin.DeliverySent {
			return true, nil
		}
	}
	return false, nil
}

// withoutField is a notification message without the notification's field.
func withoutField(msg []byte, field string) ([]byte, error) {
	var m pushMessage
	if err := json.Unmarshal(msg, &m); err != nil {
		return nil, err
	}
	if m.Notification == nil {
		return nil, webpush.ErrTooLarge // a dismiss has nothing to drop
	}
	delete(m.Notification, field)
	return json.Marshal(m)
}
